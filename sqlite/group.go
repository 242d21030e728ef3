package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Group commit. Every write transaction of the process goes through one
// goroutine that owns the writer connection. It takes the writes that are
// waiting, runs each in a SAVEPOINT of one BEGIN IMMEDIATE transaction, and
// commits once: a write whose fn fails is rolled back to its savepoint
// without touching the others, and every write is acknowledged only after
// the commit (and, with Options.Sync "full", the flush of the WAL that
// follows it, see walsync.go) that made it durable.
// Under concurrency this shares one fsync among many writers; alone, a write
// costs what it did before.

// maxGroup bounds how many writes share a commit, so that one commit never
// holds the lock for long.
const maxGroup = 64

type writeReq struct {
	ctx  context.Context
	fn   func(*tx) error
	done chan writeResult
	// relaxed writes (lifecycle job completions and retries) need
	// not be on disk when acknowledged: a group made only of them is
	// acknowledged without waiting for a flush of the WAL (see walsync.go).
	// A later flush makes them durable with it (the WAL is written in
	// order); a power loss before that only makes a level-based job run
	// again.
	relaxed bool
}

type writeResult struct {
	err   error
	panic any
}

type grouper struct {
	once   sync.Once
	reqs   chan *writeReq
	closed chan struct{}
	wg     sync.WaitGroup
}

var errClosed = errors.New("sqlite: store is closed")

func (s *Store) startGroup() {
	s.group.once.Do(func() {
		s.group.reqs = make(chan *writeReq)
		s.group.closed = make(chan struct{})
		s.group.wg.Add(1)
		go s.groupLoop()
	})
}

// stopGroup ends the loop after the writes already taken; later writes fail.
func (s *Store) stopGroup() {
	s.startGroup()
	select {
	case <-s.group.closed:
	default:
		close(s.group.closed)
	}
	s.group.wg.Wait()
}

// write runs fn in a write transaction, shared with whatever other writes
// are waiting, and returns fn's error unchanged. A panic in fn rolls back its
// savepoint and is raised again in the caller.
func (s *Store) write(ctx context.Context, fn func(*tx) error) error {
	return s.submit(&writeReq{ctx: ctx, fn: fn, done: make(chan writeResult, 1)})
}

// writeRelaxed is write for changes that may be lost on a power failure
// without harm (see writeReq.relaxed).
func (s *Store) writeRelaxed(ctx context.Context, fn func(*tx) error) error {
	return s.submit(&writeReq{ctx: ctx, fn: fn, done: make(chan writeResult, 1), relaxed: true})
}

func (s *Store) submit(req *writeReq) error {
	ctx := req.ctx
	s.startGroup()
	select {
	case s.group.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.group.closed:
		return errClosed
	}
	res := <-req.done
	if res.panic != nil {
		panic(res.panic)
	}
	return res.err
}

func (s *Store) groupLoop() {
	defer s.group.wg.Done()
	for {
		var first *writeReq
		select {
		case first = <-s.group.reqs:
		case <-s.group.closed:
			return
		}
		batch := []*writeReq{first}
	drain:
		for len(batch) < maxGroup {
			select {
			case r := <-s.group.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.runGroup(batch)
	}
}

// runGroup commits batch, starting over when another process holds the
// database lock for longer than the busy timeout.
func (s *Store) runGroup(batch []*writeReq) {
	var results []writeResult
	for attempt := 1; ; attempt++ {
		var err error
		results, err = s.runGroupOnce(batch)
		if err == nil {
			break
		}
		if !isBusy(err) || attempt == busyRetries {
			for i := range results {
				if results[i].err == nil && results[i].panic == nil {
					results[i].err = err
				}
			}
			break
		}
		s.retries.Add(1)
		if s.onBusy != nil {
			s.onBusy()
		}
		time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
	}
	if s.syncer != nil && needsFlush(batch, results) {
		s.syncer.after(batch, results)
		return
	}
	for i, r := range batch {
		r.done <- results[i]
	}
}

// needsFlush reports whether a committed group holds a write that must be
// on disk before it is acknowledged: one that succeeded and is not relaxed.
func needsFlush(batch []*writeReq, results []writeResult) bool {
	for i, r := range batch {
		if !r.relaxed && results[i].err == nil && results[i].panic == nil {
			return true
		}
	}
	return false
}

// runGroupOnce runs batch in one transaction. It returns each write's own
// outcome, and an error for the transaction as a whole (begin or commit),
// which concerns the writes whose fn succeeded.
func (s *Store) runGroupOnce(batch []*writeReq) ([]writeResult, error) {
	results := make([]writeResult, len(batch))
	// The transaction must outlive any one writer's context: a cancelled
	// request rolls back only its own savepoint.
	sqlTx, err := s.writer.BeginTx(context.Background(), nil)
	if err != nil {
		return results, fmt.Errorf("sqlite: begin: %w", err)
	}
	t := newTx(sqlTx, s.writerStmts, true)
	single := len(batch) == 1
	if !single {
		t.txStmts = make(map[string]*sql.Stmt, 8)
	}
	ok := 0
	var written txWrites
	t.group, t.cache = &written, s.cache
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			results[i].err = err
			continue
		}
		if !single {
			if _, err := sqlTx.Exec("SAVEPOINT w"); err != nil {
				sqlTx.Rollback()
				return results, fmt.Errorf("sqlite: savepoint: %w", err)
			}
		}
		t.writes = &txWrites{}
		results[i] = call(r.fn, t)
		if results[i].err == nil && results[i].panic == nil && r.ctx.Err() != nil {
			// Cancelled while fn ran: the caller may have given up, so
			// nothing of fn may become durable.
			results[i].err = r.ctx.Err()
		}
		if results[i].err != nil || results[i].panic != nil {
			if single {
				sqlTx.Rollback()
				return results, nil
			}
			if _, err := sqlTx.Exec("ROLLBACK TO w"); err != nil {
				sqlTx.Rollback()
				return results, fmt.Errorf("sqlite: rollback to savepoint: %w", err)
			}
		} else {
			ok++
			written.merge(t.writes)
		}
		if !single {
			if _, err := sqlTx.Exec("RELEASE w"); err != nil {
				sqlTx.Rollback()
				return results, fmt.Errorf("sqlite: release savepoint: %w", err)
			}
		}
	}
	if ok == 0 {
		sqlTx.Rollback()
		return results, nil
	}
	if err := sqlTx.Commit(); err != nil {
		return results, fmt.Errorf("sqlite: commit: %w", err)
	}
	s.cache.commit(&written)
	return results, nil
}

// call runs fn, catching a panic so that it can be raised in the caller.
func call(fn func(*tx) error, t *tx) (res writeResult) {
	defer func() {
		if p := recover(); p != nil {
			res = writeResult{panic: p}
		}
	}()
	return writeResult{err: fn(t)}
}
