package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// FSStore is a Backend in a directory of this host. An object is a file
// named by its key. Put writes a temporary file ".put-…" beside that name
// (and, for a large one such as a pack, starts writing it to disk without
// waiting: sync_file_range(2)) and returns; Sync then makes the data of
// every such file durable (an fsync each, or one syncfs(2) when there are
// many), renames them into place and fsyncs the directories whose entries
// changed (a Put also syncs by itself once many objects or bytes are
// waiting). So a file under its final name is always complete and synced.
// Objects waiting for Sync are seen at once through the same FSStore, by
// other processes once Sync has run. The lock is flock(2) on the file
// "lock", so it excludes other processes and dies with its holder.
type FSStore struct {
	root string

	mu      sync.Mutex
	dirty   map[string]bool       // directories whose entries changed since Sync
	made    map[string]bool       // directories known to exist
	pending map[string]pendingPut // by key: written, waiting for Sync
	waiting int64                 // bytes in pending

	syncMu sync.Mutex // one Sync at a time, so that a Sync returns only once earlier Puts are in place

	tmpPrefix string // unique to this FSStore, so that its temporary names never collide
	tmpSeq    atomic.Int64
}

// pendingPut is an object written to a temporary file.
type pendingPut struct {
	tmp  string
	size int64
}

// A Put syncs by itself once this many objects or bytes wait.
const (
	fsMaxPending      = 16384
	fsMaxPendingBytes = 512 << 20
)

var (
	_ Backend     = (*FSStore)(nil)
	_ TempCleaner = (*FSStore)(nil)
)

// The names FSStore keeps beside the objects.
const (
	fsTempPrefix = ".put-" // a temporary file, not an object
	fsLockFile   = "lock"
)

// OpenFS opens the store in dir, creating it when it does not exist.
func OpenFS(dir string) (*FSStore, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup store %s: %w", dir, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &FSStore{root: dir, dirty: map[string]bool{}, made: map[string]bool{dir: true}, pending: map[string]pendingPut{},
		tmpPrefix: hex.EncodeToString(b[:])}, nil
}

// Root is the store's directory.
func (s *FSStore) Root() string { return s.root }

func (s *FSStore) path(key string) (string, error) {
	if !validKey(key) || strings.HasPrefix(path.Base(key), fsTempPrefix) || key == fsLockFile {
		return "", fmt.Errorf("backup store: invalid key %q", key)
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// Put writes data to a temporary file, which Sync renames to key.
func (s *FSStore) Put(ctx context.Context, key string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.path(key); err != nil {
		return err
	}
	final, _ := s.path(key)
	if err := s.mkdirs(filepath.Dir(final)); err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(final), fmt.Sprintf("%s%s-%d", fsTempPrefix, s.tmpPrefix, s.tmpSeq.Add(1)))
	if err := writeNew(tmp, data); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("backup store: put %s: %w", key, err)
	}
	s.mu.Lock()
	if old, ok := s.pending[key]; ok {
		_ = os.Remove(old.tmp)
		s.waiting -= old.size
	}
	s.pending[key] = pendingPut{tmp: tmp, size: int64(len(data))}
	s.waiting += int64(len(data))
	full := len(s.pending) >= fsMaxPending || s.waiting >= fsMaxPendingBytes
	s.mu.Unlock()
	if full {
		return s.Sync(ctx)
	}
	return nil
}

// mkdirs creates dir and its missing parents, remembering which parents'
// entries changed.
func (s *FSStore) mkdirs(dir string) error {
	s.mu.Lock()
	known := s.made[dir]
	s.mu.Unlock()
	if known {
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir && len(parent) >= len(s.root) {
		if err := s.mkdirs(parent); err != nil {
			return err
		}
	}
	err := os.Mkdir(dir, 0o700)
	switch {
	case err == nil:
		s.markDirty(filepath.Dir(dir))
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	s.mu.Lock()
	s.made[dir] = true
	s.mu.Unlock()
	return nil
}

func (s *FSStore) markDirty(dir string) {
	s.mu.Lock()
	s.dirty[dir] = true
	s.mu.Unlock()
}

// Get reads the object key.
func (s *FSStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path, err := s.path(key)
	if err != nil {
		return nil, err
	}
	if p, ok := s.waitingPut(key); ok {
		path = p.tmp
	}
	b, err := readFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotExist
	}
	return b, err
}

// GetRange reads length bytes of the object key from offset on.
func (s *FSStore) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	path, err := s.path(key)
	if err != nil {
		return nil, err
	}
	if p, ok := s.waitingPut(key); ok {
		path = p.tmp
	}
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("backup store: invalid range %d+%d of %s", offset, length, key)
	}
	b, err := readRange(path, offset, length)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotExist
	}
	return b, err
}

// Stat returns the size of the object key.
func (s *FSStore) Stat(ctx context.Context, key string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	path, err := s.path(key)
	if err != nil {
		return 0, err
	}
	if p, ok := s.waitingPut(key); ok {
		return p.size, nil
	}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, ErrNotExist
	}
	if err != nil {
		return 0, err
	}
	if !fi.Mode().IsRegular() {
		return 0, ErrNotExist
	}
	return fi.Size(), nil
}

func (s *FSStore) waitingPut(key string) (pendingPut, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[key]
	return p, ok
}

// List walks the directory of prefix and reports the files under it, and
// the objects waiting for Sync.
func (s *FSStore) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	s.mu.Lock()
	waiting := map[string]int64{}
	for k, p := range s.pending {
		if strings.HasPrefix(k, prefix) {
			waiting[k] = p.size
		}
	}
	s.mu.Unlock()
	for k, size := range waiting {
		if err := fn(k, size); err != nil {
			return err
		}
	}
	start := s.root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(s.root, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(start, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // a directory removed while listing
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.root, path)
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			if key != "." && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if _, ok := waiting[key]; ok || key == fsLockFile || strings.HasPrefix(e.Name(), fsTempPrefix) || !strings.HasPrefix(key, prefix) || !e.Type().IsRegular() {
			return nil
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		return fn(key, fi.Size())
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Delete removes the object key.
func (s *FSStore) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	path, err := s.path(key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if p, ok := s.pending[key]; ok {
		delete(s.pending, key)
		s.waiting -= p.size
		_ = os.Remove(p.tmp)
	}
	s.mu.Unlock()
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s.markDirty(filepath.Dir(path))
	return nil
}

// Sync makes the data of the objects waiting for it durable (syncfs),
// renames them into place, and fsyncs every directory whose entries
// changed.
func (s *FSStore) Sync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	s.mu.Lock()
	batch := s.pending
	s.pending, s.waiting = map[string]pendingPut{}, 0
	s.mu.Unlock()
	if err := s.place(batch); err != nil {
		// Keep what was not placed: a later Sync tries again.
		s.mu.Lock()
		for k, p := range batch {
			if _, newer := s.pending[k]; !newer {
				s.pending[k] = p
				s.waiting += p.size
			}
		}
		s.mu.Unlock()
		return fmt.Errorf("backup store: sync: %w", err)
	}
	s.mu.Lock()
	dirs := s.dirty
	s.dirty = map[string]bool{}
	s.mu.Unlock()
	if err := syncNames(s.root, dirs); err != nil {
		s.mu.Lock()
		for dir := range dirs {
			s.dirty[dir] = true
		}
		s.mu.Unlock()
		return fmt.Errorf("backup store: sync: %w", err)
	}
	return nil
}

// syncData makes the contents of files durable: one syncfs(2) when there
// are many, otherwise an fsync each (syncfs also waits for everything else
// written to the filesystem, which is more than a manifest should wait for).
func syncData(root string, files []string) error {
	if len(files) > 16 {
		return syncFiles(root, files)
	}
	for _, name := range files {
		if err := syncDir(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err // a file that vanished is the caller's to notice
		}
	}
	return nil
}

// syncNames makes the changed entries of dirs durable: one syncfs(2) when
// there are many (it commits the filesystem's journal once), otherwise an
// fsync of each directory.
func syncNames(root string, dirs map[string]bool) error {
	if len(dirs) > 8 {
		return syncFiles(root, nil)
	}
	var errs []error
	for dir := range dirs {
		if err := syncDir(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// place syncs the temporary files of batch and renames them to their keys,
// removing from batch those it placed.
func (s *FSStore) place(batch map[string]pendingPut) error {
	if len(batch) == 0 {
		return nil
	}
	tmps := make([]string, 0, len(batch))
	for _, p := range batch {
		tmps = append(tmps, p.tmp)
	}
	if err := syncData(s.root, tmps); err != nil {
		return err
	}
	var lost []string
	for key, p := range batch {
		path, _ := s.path(key)
		dir := filepath.Dir(path)
		if err := s.mkdirs(dir); err != nil {
			return err
		}
		err := os.Rename(p.tmp, path)
		if errors.Is(err, fs.ErrNotExist) {
			// Removed by another process's CleanTemp while no lock was
			// held (the Put's snapshot had failed): the object was never
			// stored. This Sync fails, so that no manifest can name it.
			lost = append(lost, key)
			delete(batch, key)
			continue
		}
		if err != nil {
			return err
		}
		s.markDirty(dir)
		delete(batch, key)
	}
	if len(lost) > 0 {
		return fmt.Errorf("%d objects waiting to be synced were removed (%s…)", len(lost), lost[0])
	}
	return nil
}

// syncDir fsyncs a directory or file.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Lock takes flock(2) on the store's lock file, polling so that ctx can
// interrupt the wait. Each call opens the file anew: flock locks belong to
// an open file, so two holders in one process exclude each other as two
// processes do.
func (s *FSStore) Lock(ctx context.Context, exclusive bool) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.root, fsLockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	wait := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("backup store: lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
			f.Close()
		})
	}, nil
}

// CleanTemp removes the temporary files of Puts that never reached a Sync
// in a process that died (or in this one: a Put whose Sync failed keeps
// its file for the next Sync).
func (s *FSStore) CleanTemp(ctx context.Context) (int, error) {
	s.mu.Lock()
	mine := map[string]bool{}
	for _, p := range s.pending {
		mine[p.tmp] = true
	}
	s.mu.Unlock()
	n := 0
	err := filepath.WalkDir(s.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() || !strings.HasPrefix(e.Name(), fsTempPrefix) || mine[p] {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		n++
		return nil
	})
	return n, err
}
