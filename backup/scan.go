package backup

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// scanTree lists the tree at dir in the order of filepath.WalkDir (a
// directory, then what it holds, by name), reading directories on several
// goroutines: an unchanged snapshot is mostly this walk, and most of the
// walk is lstat(2) of every file, which no snapshot that must notice every
// change can do without. The rest is kept small: directories are opened
// relative to their parent's descriptor and read with getdents(2) into a
// shared buffer, files are lstat'ed relative to their directory, and a
// directory's names and paths take one allocation each, not one per entry.
func scanTree(ctx context.Context, dir string, workers int) ([]Entry, []string, error) {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return nil, nil, &SourceError{Err: &os.PathError{Op: "lstat", Path: dir, Err: err}}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, nil, &SourceError{Err: fmt.Errorf("%s is not a directory", dir)}
	}
	fd, err := openDir(unix.AT_FDCWD, dir)
	if err != nil {
		return nil, nil, &SourceError{Err: &os.PathError{Op: "open", Path: dir, Err: err}}
	}
	w := &walker{ctx: ctx, sem: make(chan struct{}, workers)}
	root := &dirNode{}
	w.wg.Add(1)
	w.scan(fd, dir, ".", root)
	w.wg.Wait()
	if w.err != nil {
		return nil, nil, w.err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	out := make([]Entry, 1, 1+w.entries.Load())
	out[0] = entryOf(".", &st)
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
	ctx     context.Context
	sem     chan struct{}
	wg      sync.WaitGroup
	entries atomic.Int64 // found so far
	mu      sync.Mutex
	err     error
}

func (w *walker) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
}

// openDir opens the directory name (relative to the directory dfd) for
// reading, refusing a symlink put in its place since it was lstat'ed.
func openDir(dfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return fd, err
	}
}

// scan fills n with the directory open as fd (full on disk, rel in the
// tree), closes fd, and scans its subdirectories, on another goroutine
// when one is free.
func (w *walker) scan(fd int, full, rel string, n *dirNode) {
	defer w.wg.Done()
	defer unix.Close(fd)
	if w.ctx.Err() != nil {
		return
	}
	names, err := readNames(fd)
	if err != nil {
		w.fail(&SourceError{Err: &os.PathError{Op: "readdirent", Path: full, Err: err}})
		return
	}
	slices.Sort(names)
	paths := childPaths(rel, names)
	n.entries = make([]Entry, 0, len(names))
	n.subs = make([]*dirNode, 0, len(names))
	for i, name := range names {
		var st unix.Stat_t
		if err := fstatat(fd, name, &st); err != nil {
			w.fail(&SourceError{Err: &os.PathError{Op: "lstat", Path: filepath.Join(full, name), Err: err}})
			return
		}
		e := entryOf(paths[i], &st)
		switch e.Type {
		case "":
			n.skipped = append(n.skipped, paths[i])
			continue
		case TypeSymlink:
			if e.Target, err = readlinkat(fd, name, st.Size); err != nil {
				w.fail(&SourceError{Err: &os.PathError{Op: "readlink", Path: filepath.Join(full, name), Err: err}})
				return
			}
		}
		var sub *dirNode
		if e.Type == TypeDir {
			childFull := filepath.Join(full, name)
			cfd, err := openDir(fd, name)
			if err != nil {
				w.fail(&SourceError{Err: &os.PathError{Op: "open", Path: childFull, Err: err}})
				return
			}
			sub = &dirNode{}
			w.wg.Add(1)
			select {
			case w.sem <- struct{}{}:
				go func() {
					defer func() { <-w.sem }()
					w.scan(cfd, childFull, paths[i], sub)
				}()
			default:
				w.scan(cfd, childFull, paths[i], sub)
			}
		}
		n.entries = append(n.entries, e)
		n.subs = append(n.subs, sub)
	}
	w.entries.Add(int64(len(n.entries)))
}

// readlinkat reads the target of the symlink name in the directory dfd;
// size is what lstat said its length is (0 on some filesystems).
func readlinkat(dfd int, name string, size int64) (string, error) {
	for n := max(128, int(size)+1); ; n *= 2 {
		b := make([]byte, n)
		m, err := unix.Readlinkat(dfd, name, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return "", err
		}
		if m < n {
			return string(b[:m]), nil
		}
	}
}

// direntBufs hold what getdents(2) returns; one call fills a buffer with
// hundreds of entries.
var direntBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// readNames lists the names in the directory fd, but "." and "..". The
// names are cut from one string, in which each is followed by a NUL (see
// fstatat).
func readNames(fd int) ([]string, error) {
	buf := direntBufs.Get().(*[32 << 10]byte)
	defer direntBufs.Put(buf)
	var all []byte
	var ends []int
	for {
		n, err := unix.Getdents(fd, buf[:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		var ok bool
		if all, ends, ok = parseDirents(buf[:n], all, ends); !ok {
			return nil, errors.New("malformed directory entries")
		}
	}
	s := string(all)
	names := make([]string, len(ends))
	start := 0
	for i, end := range ends {
		names[i] = s[start:end]
		start = end + 1
	}
	return names, nil
}

// parseDirents appends the names of the linux_dirent64 records in b to
// all, each followed by a NUL, and where each ends to ends.
func parseDirents(b, all []byte, ends []int) ([]byte, []int, bool) {
	const nameOff = int(unsafe.Offsetof(unix.Dirent{}.Name))
	for len(b) > 0 {
		if len(b) < nameOff {
			return all, ends, false
		}
		reclen := int(binary.NativeEndian.Uint16(b[unsafe.Offsetof(unix.Dirent{}.Reclen):]))
		if reclen <= nameOff || reclen > len(b) {
			return all, ends, false
		}
		name := b[nameOff:reclen]
		if i := slices.Index(name, 0); i >= 0 {
			name = name[:i]
		}
		b = b[reclen:]
		if len(name) == 0 || string(name) == "." || string(name) == ".." {
			continue
		}
		all = append(all, name...)
		ends = append(ends, len(all))
		all = append(all, 0)
	}
	return all, ends, true
}

// childPaths are the paths in the tree of the entries names of the
// directory rel, cut from one string.
func childPaths(rel string, names []string) []string {
	prefix := ""
	if rel != "." { // rel is clean, and a name has no slash
		prefix = rel + "/"
	}
	var b strings.Builder
	b.Grow(len(names)*len(prefix) + sumLen(names))
	for _, name := range names {
		b.WriteString(prefix)
		b.WriteString(name)
	}
	s := b.String()
	paths := make([]string, len(names))
	start := 0
	for i, name := range names {
		end := start + len(prefix) + len(name)
		paths[i] = s[start:end]
		start = end
	}
	return paths
}

func sumLen(ss []string) int {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return n
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
