package sqlite

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Durable commits without holding up the writer.
//
// With synchronous=FULL, SQLite flushes the WAL inside COMMIT: the one
// writer connection waits for the disk, and so does every write queued
// behind it. Instead the writer runs with synchronous=NORMAL (a commit
// writes its WAL frames and returns; checkpoints still flush the WAL before
// copying it and the database after) and, when Options.Sync is "full", the
// store flushes the WAL itself with fdatasync(2) on a descriptor of its own,
// on a goroutine of its own, while the writer already runs the next group.
// A group's writes are acknowledged only after a flush that began after its
// commit has returned, so every acknowledged write is on disk, as before; one
// flush covers every group committed before it, so under load flushes are
// shared across groups as well as within them.
//
// The price: other connections (and the record cache) see a group's writes
// from its commit, a flush before the writers are told. A read may thus
// return a change that a power loss in that window would undo; the writers
// themselves never hear of success for it, and a later acknowledged write
// is always flushed after every write it could have read. The lifecycle
// acts on what it reads only under a job it claimed, and a claim is
// acknowledged after a flush (ClaimJobs): whatever enqueued the job is on
// disk before a driver does anything for it. A crash of the process alone
// loses nothing: the frames are in the kernel's cache.

// walSyncer flushes the WAL for groups that the writer has committed.
type walSyncer struct {
	path string // of the WAL file
	// flush makes everything written to the WAL so far durable; tests
	// replace it.
	flush func() error

	mu      sync.Mutex
	cond    *sync.Cond
	pending []syncWait
	closed  bool
	done    chan struct{}

	f   *os.File // the WAL, opened by the syncer; nil until the first flush
	ino uint64   // its inode, to notice a WAL that SQLite replaced
}

// syncWait is a committed group waiting for its flush.
type syncWait struct {
	batch   []*writeReq
	results []writeResult
}

func newWALSyncer(dbPath string) *walSyncer {
	w := &walSyncer{path: dbPath + "-wal", done: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	w.flush = w.fdatasync
	go w.loop()
	return w
}

// after acknowledges batch with results once a flush that starts after this
// call has completed.
func (w *walSyncer) after(batch []*writeReq, results []writeResult) {
	w.mu.Lock()
	w.pending = append(w.pending, syncWait{batch, results})
	w.mu.Unlock()
	w.cond.Signal()
}

func (w *walSyncer) loop() {
	defer close(w.done)
	for {
		w.mu.Lock()
		for len(w.pending) == 0 && !w.closed {
			w.cond.Wait()
		}
		waiting := w.pending
		w.pending = nil
		closed := w.closed
		w.mu.Unlock()
		if len(waiting) == 0 && closed {
			if w.f != nil {
				w.f.Close()
			}
			return
		}
		err := w.flush()
		if err != nil {
			err = fmt.Errorf("sqlite: flushing the WAL: %w (the write is committed but may not survive a power loss)", err)
		}
		for _, g := range waiting {
			for i, r := range g.batch {
				if err != nil && g.results[i].err == nil && g.results[i].panic == nil {
					g.results[i].err = err
				}
				r.done <- g.results[i]
			}
		}
	}
}

// close acknowledges what is pending after a last flush and stops the loop.
func (w *walSyncer) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cond.Signal()
	<-w.done
}

// fdatasync flushes the WAL file. The descriptor stays open for the store's
// life (SQLite takes no locks on the WAL itself, so closing it could not
// drop one of SQLite's POSIX locks); when the path names another file than
// the one open (SQLite deletes the WAL when its last connection closes and
// makes a new one when one opens again), the new one is opened: the old
// file's frames were checkpointed, and flushed, before it was deleted.
func (w *walSyncer) fdatasync() error {
	var st unix.Stat_t
	if err := unix.Stat(w.path, &st); err != nil {
		return err
	}
	if w.f == nil || st.Ino != w.ino {
		f, err := os.OpenFile(w.path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		var fst unix.Stat_t
		if err := unix.Fstat(int(f.Fd()), &fst); err != nil {
			f.Close()
			return err
		}
		if w.f != nil {
			w.f.Close()
		}
		w.f, w.ino = f, fst.Ino
	}
	for {
		err := unix.Fdatasync(int(w.f.Fd()))
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
