package backup

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// RestoreStats say what a restore wrote.
type RestoreStats struct {
	Files, Dirs, Symlinks int
	Bytes                 int64
	Duration              time.Duration
}

// Restore writes the tree of backup id to dir, which must not exist: file
// contents, modes, symlinks, empty directories, modification times, and
// owners when running as root. Every chunk is checked against its hash as
// it is read; a damaged or missing one fails the restore with a
// *CorruptError naming it and the file it belongs to. The tree is complete
// only when Restore returns nil: a caller writes to a scratch directory and
// renames it into place.
//
// ErrNoBackup when the backup does not exist; failures to write dir are
// *SourceError.
func (r *Repo) Restore(ctx context.Context, id, dir string) (RestoreStats, error) {
	began := time.Now()
	var st RestoreStats
	unlock, err := r.store.Lock(ctx, false)
	if err != nil {
		return st, err
	}
	defer unlock()
	m, err := r.Manifest(ctx, id)
	if err != nil {
		return st, err
	}
	if err := r.idx.refresh(ctx, r); err != nil {
		return st, err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return st, &SourceError{Err: err}
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return st, &SourceError{Err: err}
	}
	defer root.Close()
	rs := &restore{r: r, key: manifestKey(id), root: root, chown: os.Geteuid() == 0, st: &st}
	if rs.dirFD, err = os.Open(dir); err != nil {
		return st, &SourceError{Err: err}
	}
	defer rs.dirFD.Close()
	var files []int
	for i, e := range m.Entries[1:] {
		var err error
		switch e.Type {
		case TypeDir:
			err = root.Mkdir(e.Path, 0o700)
			st.Dirs++
		case TypeSymlink:
			if err = root.Symlink(e.Target, e.Path); err == nil {
				err = rs.setMeta(e)
			}
			st.Symlinks++
		case TypeFile:
			files = append(files, i+1)
		}
		if err != nil {
			return st, &SourceError{Err: err}
		}
	}
	if err := rs.writeFiles(ctx, m, files); err != nil {
		return st, err
	}
	// Directories last, deepest first: writing into a directory changes its
	// modification time, and a read-only one could not be written into.
	for i := len(m.Entries) - 1; i >= 0; i-- {
		if e := m.Entries[i]; e.Type == TypeDir {
			if err := rs.setMeta(e); err != nil {
				return st, &SourceError{Err: err}
			}
		}
	}
	st.Duration = time.Since(began)
	return st, nil
}

type restore struct {
	r     *Repo
	key   string // the manifest's
	root  *os.Root
	dirFD *os.File // the root, for openBeneath
	chown bool
	st    *RestoreStats
	mu    sync.Mutex
}

// setMeta gives an entry its owner, mode and modification time.
func (rs *restore) setMeta(e Entry) error {
	if rs.chown {
		if err := rs.root.Lchown(e.Path, e.UID, e.GID); err != nil {
			return err
		}
	}
	mtime := time.Unix(0, e.MTime)
	if e.Type == TypeSymlink {
		return lutimes(rs.root, e.Path, mtime)
	}
	// Chmod after chown: chown clears setuid and setgid.
	if err := rs.root.Chmod(e.Path, e.Mode); err != nil {
		return err
	}
	return rs.root.Chtimes(e.Path, time.Time{}, mtime)
}

// lutimes sets a symlink's own modification time, which os.Root cannot.
func lutimes(root *os.Root, name string, mtime time.Time) error {
	dir, err := root.Open(path.Dir(name))
	if err != nil {
		return err
	}
	defer dir.Close()
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(mtime.UnixNano())}
	if err := unix.UtimesNanoAt(int(dir.Fd()), path.Base(name), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "lutimes", Path: name, Err: err}
	}
	return nil
}

// missingChunk is the error for a chunk that no pack holds, naming the
// packs whose header cannot be read (which may hold it).
func (r *Repo) missingChunk(id ChunkID) error {
	reason := "missing from the store"
	if bad := r.idx.badPacks(); len(bad) > 0 {
		reason += fmt.Sprintf(" (packs whose header is damaged, which may hold it: %s)", strings.Join(bad, ", "))
	}
	return &CorruptError{Key: "chunk " + id.String(), Reason: reason}
}
