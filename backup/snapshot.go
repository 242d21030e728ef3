package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/restic/chunker"
)

// SnapshotOptions name a snapshot.
type SnapshotOptions struct {
	// ID names the backup; it must be ValidID.
	ID string
	// Parent, when set, names an earlier backup of the same directory: a
	// file whose size, modification time, inode and change time are those
	// the parent recorded is taken over without being read. A parent that
	// does not exist (any more) only makes the snapshot read everything.
	Parent string
	// Meta is kept in the manifest (the local driver records the session).
	Meta map[string]string
}

// SnapshotStats say what a snapshot found and stored.
type SnapshotStats struct {
	// Existed: the backup was already complete; nothing was done.
	Existed                        bool
	Files, Dirs, Symlinks, Skipped int
	Bytes                          int64 // the files' total size
	ReadFiles                      int   // files read; the others were taken over from the parent
	ReadBytes                      int64
	NewChunks                      int   // chunks the store did not have
	NewBytes                       int64 // their stored (compressed) size
	ManifestBytes                  int64
	Duration                       time.Duration
}

// Stored is what the snapshot added to the store.
func (s SnapshotStats) Stored() int64 { return s.NewBytes + s.ManifestBytes }

// Snapshot backs up the tree at dir as backup o.ID. It holds the store's
// lock shared, so garbage collection cannot remove a chunk it counts on.
// New chunks are written (and synced) first, the manifest last: until the
// manifest is in place the backup does not exist, and a snapshot that dies
// half-way leaves only chunks that the next snapshot reuses or garbage
// collection removes. A backup that exists already is not taken again.
//
// Failures to read dir are *SourceError.
func (r *Repo) Snapshot(ctx context.Context, dir string, o SnapshotOptions) (SnapshotStats, error) {
	began := time.Now()
	var st SnapshotStats
	if !ValidID(o.ID) {
		return st, fmt.Errorf("backup: invalid id %q", o.ID)
	}
	unlock, err := r.store.Lock(ctx, false)
	if err != nil {
		return st, err
	}
	defer unlock()
	if ok, err := r.Exists(ctx, o.ID); err != nil || ok {
		st.Existed = ok
		return st, err
	}
	s := &snapshot{r: r, dir: dir, known: map[ChunkID]bool{}, st: &st}
	m := &Manifest{ID: o.ID, Created: began.UTC(), Meta: o.Meta}
	if parent := r.parentManifest(ctx, o.Parent); parent != nil {
		// The parent's chunks exist (no GC runs while we hold the lock);
		// any other chunk is looked up before it is written.
		m.Parent = o.Parent
		s.parent, s.stat = map[string]*Entry{}, true
		for i := range parent.Entries {
			e := &parent.Entries[i]
			if e.Type == TypeFile {
				s.parent[e.Path] = e
			}
			for _, c := range e.Chunks {
				s.known[c] = true
			}
		}
	} else {
		// Without a parent, one listing answers every lookup.
		known, err := r.listChunks(ctx)
		if err != nil {
			return st, err
		}
		for id := range known {
			s.known[id] = true
		}
	}
	todo, err := s.walk(ctx, m)
	if err != nil {
		return st, err
	}
	if err := s.chunkFiles(ctx, m, todo); err != nil {
		return st, err
	}
	// The chunks' names must be durable before a manifest names them.
	if err := r.store.Sync(ctx); err != nil {
		return st, err
	}
	b, err := r.encodeManifest(m)
	if err != nil {
		return st, err
	}
	if err := r.store.Put(ctx, manifestKey(o.ID), b); err != nil {
		return st, err
	}
	if err := r.store.Sync(ctx); err != nil {
		return st, err
	}
	st.ManifestBytes = int64(len(b))
	st.Duration = time.Since(began)
	return st, nil
}

type snapshot struct {
	r      *Repo
	dir    string
	parent map[string]*Entry // the parent's files by path
	stat   bool              // known holds only the parent's chunks: ask the store about others
	st     *SnapshotStats

	mu    sync.Mutex
	known map[ChunkID]bool // chunks in the store, or being written by this snapshot
}

// parentManifest reads the parent backup; nil when there is no usable one.
func (r *Repo) parentManifest(ctx context.Context, id string) *Manifest {
	if id == "" {
		return nil
	}
	m, err := r.Manifest(ctx, id)
	if err != nil {
		if !errors.Is(err, ErrNoBackup) {
			r.opts.Logger.Warn("backup: cannot use the parent backup; reading every file", "parent", id, "err", err)
		}
		return nil
	}
	return m
}

// walk records every entry of the tree in m and returns the indexes of the
// files whose contents must be read.
func (s *snapshot) walk(ctx context.Context, m *Manifest) ([]int, error) {
	entries, skipped, err := scanTree(ctx, s.dir, s.r.opts.Workers)
	if err != nil {
		return nil, err
	}
	m.Entries, m.Skipped = entries, skipped
	s.st.Skipped = len(skipped)
	var todo []int
	for i := range m.Entries {
		e := &m.Entries[i]
		switch e.Type {
		case TypeDir:
			s.st.Dirs++
		case TypeSymlink:
			s.st.Symlinks++
		case TypeFile:
			s.st.Files++
			s.st.Bytes += e.Size
			if !s.takeOver(e) {
				todo = append(todo, i)
			}
		}
	}
	return todo, nil
}

// scanTree lists the tree at dir in the order of filepath.WalkDir (a
// directory, then what it holds, by name), reading directories on several
// goroutines: an unchanged snapshot is mostly this walk, and it is mostly
// waiting for lstat(2).
func scanTree(ctx context.Context, dir string, workers int) ([]Entry, []string, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, nil, &SourceError{Err: err}
	}
	if !fi.IsDir() {
		return nil, nil, &SourceError{Err: fmt.Errorf("%s is not a directory", dir)}
	}
	w := &walker{ctx: ctx, sem: make(chan struct{}, workers)}
	root := &dirNode{}
	w.wg.Add(1)
	w.scan(dir, ".", root)
	w.wg.Wait()
	if w.err != nil {
		return nil, nil, w.err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	rootEntry := entryOf(".", fi)
	out := []Entry{rootEntry}
	var skipped []string
	var flatten func(n *dirNode)
	flatten = func(n *dirNode) {
		skipped = append(skipped, n.skipped...)
		for i, e := range n.entries {
			out = append(out, e)
			if n.subs[i] != nil {
				flatten(n.subs[i])
			}
		}
	}
	flatten(root)
	return out, skipped, nil
}

// dirNode is what one directory holds.
type dirNode struct {
	entries []Entry
	subs    []*dirNode // the node of entries[i] when it is a directory
	skipped []string
}

type walker struct {
	ctx context.Context
	sem chan struct{}
	wg  sync.WaitGroup
	mu  sync.Mutex
	err error
}

func (w *walker) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// scan fills n with the directory full (rel in the tree) and scans its
// subdirectories, on another goroutine when one is free.
func (w *walker) scan(full, rel string, n *dirNode) {
	defer w.wg.Done()
	if w.ctx.Err() != nil {
		return
	}
	des, err := os.ReadDir(full)
	if err != nil {
		w.fail(&SourceError{Err: err})
		return
	}
	n.entries = make([]Entry, 0, len(des))
	n.subs = make([]*dirNode, 0, len(des))
	for _, de := range des {
		childFull := filepath.Join(full, de.Name())
		childRel := path.Join(rel, de.Name())
		fi, err := de.Info()
		if err != nil {
			w.fail(&SourceError{Err: err})
			return
		}
		e := entryOf(childRel, fi)
		switch e.Type {
		case "":
			n.skipped = append(n.skipped, childRel)
			continue
		case TypeSymlink:
			if e.Target, err = os.Readlink(childFull); err != nil {
				w.fail(&SourceError{Err: err})
				return
			}
		}
		var sub *dirNode
		if e.Type == TypeDir {
			sub = &dirNode{}
			w.wg.Add(1)
			select {
			case w.sem <- struct{}{}:
				go func() {
					defer func() { <-w.sem }()
					w.scan(childFull, childRel, sub)
				}()
			default:
				w.scan(childFull, childRel, sub)
			}
		}
		n.entries = append(n.entries, e)
		n.subs = append(n.subs, sub)
	}
}

// entryOf describes what lstat said of rel; its Type is "" for what a
// backup does not copy (devices, sockets, pipes).
func entryOf(rel string, fi fs.FileInfo) Entry {
	e := Entry{Path: rel, Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), MTime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		e.UID, e.GID = int(sys.Uid), int(sys.Gid)
		e.Inode, e.CTime = sys.Ino, time.Unix(int64(sys.Ctim.Sec), int64(sys.Ctim.Nsec)).UnixNano()
	}
	switch fi.Mode().Type() {
	case fs.ModeDir:
		e.Type, e.Inode, e.CTime = TypeDir, 0, 0
	case fs.ModeSymlink:
		e.Type, e.Inode, e.CTime = TypeSymlink, 0, 0
	case 0:
		e.Type, e.Size = TypeFile, fi.Size()
	}
	return e
}

// takeOver gives e the parent's chunks when the file is unchanged since the
// parent read it and every chunk is still in the store.
func (s *snapshot) takeOver(e *Entry) bool {
	p := s.parent[e.Path]
	if p == nil || e.Inode == 0 || p.Inode != e.Inode || p.CTime != e.CTime || p.MTime != e.MTime || p.Size != e.Size {
		return false
	}
	for _, c := range p.Chunks {
		if !s.known[c] {
			return false
		}
	}
	e.Chunks = slices.Clone(p.Chunks)
	return true
}

// worker holds one goroutine's buffers.
type worker struct {
	ch  *chunker.Chunker
	buf []byte // a chunk's contents
	out []byte // its stored form
}

// chunkFiles reads the files todo names, largest first, on several
// goroutines, and writes the chunks the store does not have.
func (s *snapshot) chunkFiles(ctx context.Context, m *Manifest, todo []int) error {
	slices.SortFunc(todo, func(a, b int) int { return int(min(max(m.Entries[b].Size-m.Entries[a].Size, -1), 1)) })
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(s.r.opts.Workers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &worker{buf: make([]byte, 0, chunkMaxSize)}
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= len(todo) {
					return
				}
				if err := s.chunkFile(ctx, w, &m.Entries[todo[i]]); err != nil {
					cancel(err)
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func (s *snapshot) chunkFile(ctx context.Context, w *worker, e *Entry) error {
	f, err := openRead(filepath.Join(s.dir, filepath.FromSlash(e.Path)))
	if err != nil {
		return &SourceError{Err: err}
	}
	defer f.Close()
	if w.ch == nil {
		w.ch = chunker.NewWithBoundaries(f, s.r.pol, chunkMinSize, chunkMaxSize)
	} else {
		w.ch.ResetWithBoundaries(f, s.r.pol, chunkMinSize, chunkMaxSize)
	}
	var size int64
	e.Chunks = e.Chunks[:0]
	for {
		c, err := w.ch.Next(w.buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return &SourceError{Err: err}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		id := hashChunk(c.Data)
		size += int64(len(c.Data))
		e.Chunks = append(e.Chunks, id)
		if !s.claim(id) {
			continue
		}
		if s.stat {
			if _, err := s.r.store.Stat(ctx, chunkKey(id)); err == nil {
				continue
			} else if !errors.Is(err, ErrNotExist) {
				return err
			}
		}
		s.r.delay()
		w.out = s.r.encodeChunk(w.out, c.Data)
		if err := s.r.store.Put(ctx, chunkKey(id), w.out); err != nil {
			return err
		}
		s.mu.Lock()
		s.st.NewChunks++
		s.st.NewBytes += int64(len(w.out))
		s.mu.Unlock()
	}
	// A file that grew or shrank while it was read is recorded as read.
	s.mu.Lock()
	s.st.ReadFiles++
	s.st.ReadBytes += size
	s.st.Bytes += size - e.Size
	s.mu.Unlock()
	e.Size = size
	return nil
}

// claim reports whether this goroutine is the one to write chunk id.
func (s *snapshot) claim(id ChunkID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.known[id] {
		return false
	}
	s.known[id] = true
	return true
}
