package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/restic/chunker"
	"golang.org/x/sys/unix"
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
	NewPacks                       int   // the packs they were written to
	NewBytes                       int64 // the packs' size (chunks compressed, and the packs' headers)
	IndexBytes                     int64 // the index file listing the new packs
	ManifestBytes                  int64
	Duration                       time.Duration
}

// Stored is what the snapshot added to the store.
func (s SnapshotStats) Stored() int64 { return s.NewBytes + s.IndexBytes + s.ManifestBytes }

// Snapshot backs up the tree at dir as backup o.ID. It holds the store's
// lock shared, so garbage collection cannot remove a chunk it counts on.
// New chunks are appended to packs, which are written (and synced) first;
// then an index file listing them, and the manifest last: until the
// manifest is in place the backup does not exist, and a snapshot that dies
// half-way leaves only packs whose chunks the next snapshot reuses or
// garbage collection removes. A backup that exists already is not taken
// again.
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
	// While the tree is scanned, the index is brought up to date (it then
	// knows every chunk in the store, and no GC removes one while we hold
	// the lock) and the parent's manifest read.
	var parent *Manifest
	var storeErr error
	read := make(chan struct{})
	go func() {
		defer close(read)
		if storeErr = r.idx.refresh(ctx, r); storeErr == nil {
			parent = r.parentManifest(ctx, o.Parent)
		}
	}()
	entries, skipped, err := scanTree(ctx, dir, r.opts.Workers)
	<-read
	if err != nil {
		return st, err
	}
	if storeErr != nil {
		return st, storeErr
	}
	s := &snapshot{r: r, dir: dir, mine: map[ChunkID]bool{}, st: &st, pk: r.newPacker()}
	m := &Manifest{ID: o.ID, Created: began.UTC(), Meta: o.Meta, Entries: entries, Skipped: skipped}
	if parent != nil {
		m.Parent = o.Parent
		s.parent = make(map[string]*Entry, len(parent.Entries))
		for i := range parent.Entries {
			if e := &parent.Entries[i]; e.Type == TypeFile {
				s.parent[e.Path] = e
			}
		}
	}
	todo := s.walk(m)
	walked := time.Now()
	if err := s.chunkFiles(ctx, m, todo); err != nil {
		return st, err
	}
	if err := s.pk.flush(ctx); err != nil {
		return st, err
	}
	chunked := time.Now()
	st.NewPacks, st.NewBytes = len(s.pk.written), s.pk.bytes
	// The packs' names must be durable before a manifest names their
	// chunks.
	if err := r.store.Sync(ctx); err != nil {
		return st, err
	}
	if len(s.pk.written) > 0 {
		if _, st.IndexBytes, err = r.writeIndexes(ctx, s.pk.written); err != nil {
			return st, err
		}
	}
	b, err := r.encodeManifest(m)
	if err != nil {
		return st, err
	}
	encoded := time.Now()
	if err := r.store.Put(ctx, manifestKey(o.ID), b); err != nil {
		return st, err
	}
	if err := r.store.Sync(ctx); err != nil {
		return st, err
	}
	st.ManifestBytes = int64(len(b))
	st.Duration = time.Since(began)
	r.opts.Logger.Debug("backup: snapshot taken", "id", o.ID, "walk", walked.Sub(began), "chunk", chunked.Sub(walked),
		"encode", encoded.Sub(chunked), "write", time.Since(encoded), "newPacks", st.NewPacks, "newBytes", st.NewBytes)
	return st, nil
}

type snapshot struct {
	r      *Repo
	dir    string
	parent map[string]*Entry // the parent's files by path
	st     *SnapshotStats
	pk     *packer

	mu   sync.Mutex
	mine map[ChunkID]bool // chunks this snapshot added to its packs
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

// walk counts the entries of the tree scanned into m and returns the
// indexes of the files whose contents must be read: those it cannot take
// over from the parent.
func (s *snapshot) walk(m *Manifest) []int {
	s.st.Skipped = len(m.Skipped)
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
	return todo
}

// scanTree lists the tree at dir in the order of filepath.WalkDir (a
// directory, then what it holds, by name), reading directories on several
// goroutines: an unchanged snapshot is mostly this walk, and it is mostly
// waiting for lstat(2).
func scanTree(ctx context.Context, dir string, workers int) ([]Entry, []string, error) {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return nil, nil, &SourceError{Err: &os.PathError{Op: "lstat", Path: dir, Err: err}}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
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
	rootEntry := entryOf(".", &st)
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
	// lstat(2) relative to the open directory (fstatat), into a Stat_t on
	// the stack: a path lookup from the root and an os.FileInfo for each
	// of tens of thousands of files cost a third of an unchanged snapshot.
	d, err := os.Open(full)
	if err != nil {
		w.fail(&SourceError{Err: err})
		return
	}
	defer d.Close()
	des, err := d.ReadDir(-1)
	if err != nil {
		w.fail(&SourceError{Err: err})
		return
	}
	slices.SortFunc(des, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	dfd := int(d.Fd())
	n.entries = make([]Entry, 0, len(des))
	n.subs = make([]*dirNode, 0, len(des))
	for _, de := range des {
		var st unix.Stat_t
		if err := unix.Fstatat(dfd, de.Name(), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			w.fail(&SourceError{Err: &os.PathError{Op: "lstat", Path: filepath.Join(full, de.Name()), Err: err}})
			return
		}
		childRel := de.Name() // rel is clean, and a name has no slash
		if rel != "." {
			childRel = rel + "/" + childRel
		}
		e := entryOf(childRel, &st)
		switch e.Type {
		case "":
			n.skipped = append(n.skipped, childRel)
			continue
		case TypeSymlink:
			if e.Target, err = os.Readlink(filepath.Join(full, de.Name())); err != nil {
				w.fail(&SourceError{Err: err})
				return
			}
		}
		var sub *dirNode
		if e.Type == TypeDir {
			childFull := filepath.Join(full, de.Name())
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
func entryOf(rel string, st *unix.Stat_t) Entry {
	mode := fs.FileMode(st.Mode & 0o777)
	if st.Mode&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	e := Entry{Path: rel, Mode: mode, MTime: st.Mtim.Nano(), UID: int(st.Uid), GID: int(st.Gid)}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		e.Type = TypeDir
	case unix.S_IFLNK:
		e.Type = TypeSymlink
	case unix.S_IFREG:
		e.Type, e.Size, e.Inode, e.CTime = TypeFile, st.Size, st.Ino, st.Ctim.Nano()
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
	if !s.r.idx.hasAll(p.Chunks) {
		return false
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
			w := &worker{buf: make([]byte, 0, chunkMaxSize), out: make([]byte, 0, chunkMaxSize+chunkMaxSize/64+1024)}
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
		s.r.delay()
		format, blob := s.r.encodeChunk(&w.out, c.Data)
		if err := s.pk.add(ctx, id, format, len(c.Data), blob); err != nil {
			return err
		}
		s.mu.Lock()
		s.st.NewChunks++
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

// claim reports whether this goroutine is the one to write chunk id: the
// store does not have it, and no other goroutine of this snapshot added
// it to a pack.
func (s *snapshot) claim(id ChunkID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mine[id] || s.r.idx.has(id) {
		return false
	}
	s.mine[id] = true
	return true
}
