package backup

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// syncFiles makes the data of files durable. On Linux one syncfs(2) of the
// filesystem holding dir does it for all of them.
func syncFiles(dir string, _ []string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

// setMTime sets the modification time of an open file, leaving its access
// time (futimens(3): utimensat with a NULL path).
func setMTime(f *os.File, mtime time.Time) error {
	ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(mtime.UnixNano())}
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, f.Fd(), 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	if errno != 0 {
		return &os.PathError{Op: "futimens", Path: f.Name(), Err: errno}
	}
	return nil
}

// openBeneath opens the file name under root for writing, creating it
// (it must not exist) when create is set, with one openat2(2) that refuses
// symlinks and "..": os.Root would open every directory on the way, which
// costs as much as writing a small file.
func openBeneath(root *os.Root, dir *os.File, name string, create bool) (*os.File, error) {
	how := unix.OpenHow{Flags: unix.O_WRONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
	if create {
		how.Flags |= unix.O_CREAT | unix.O_EXCL
		how.Mode = 0o600 // openat2 takes a mode only with O_CREAT
	}
	fd, err := unix.Openat2(int(dir.Fd()), name, &how)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		return root.OpenFile(name, int(how.Flags&^(unix.O_CLOEXEC|unix.O_NOFOLLOW)), 0o600) // kernels before 5.6, seccomp
	}
	if err != nil {
		return nil, &os.PathError{Op: "openat2", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir.Name(), name)), nil
}

// writeNew creates the file path, which must not exist, holding data. It
// uses the system calls directly: os.OpenFile also asks fcntl and epoll
// about every file, which costs as much again as creating a small one.
//
// A large file (a pack) is written with O_DIRECT where the filesystem
// allows it: a backup is written once and read rarely, so it has no
// business in the page cache, and copying into the page cache (and
// writing it back) cost this project's machine four times the CPU time of
// the direct write (2 s of system time for the 800 MB of a first backup).
// The rest, the tail that is not a whole number of blocks or all of a
// file the filesystem will not write directly, goes through the page
// cache, whose writeback is started at once (sync_file_range(2)), so
// that the Sync making it durable has little left to wait for.
func writeNew(path string, data []byte) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	big := len(data) >= writebackMin
	if big && uintptr(unsafe.Pointer(unsafe.SliceData(data)))%directAlign == 0 && setDirect(fd, true) == nil {
		n := len(data) &^ (directAlign - 1)
		err = writeAll(fd, data[:n])
		if errors.Is(err, unix.EINVAL) { // the filesystem accepts O_DIRECT but not these writes
			_, err = unix.Seek(fd, 0, io.SeekStart)
			n = 0
		}
		if ferr := setDirect(fd, false); err == nil {
			err = ferr
		}
		data = data[n:]
	}
	if err == nil {
		err = writeAll(fd, data)
	}
	if err == nil && big {
		_ = unix.SyncFileRange(fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// directAlign is the alignment of the memory, offsets and lengths of
// O_DIRECT writes: a page, which is also the largest logical block size of
// the disks in use.
const directAlign = 4096

// writeAll writes data to fd.
func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// writeNew writes files of this size or more (packs) directly, or starts
// their writeback at once.
const writebackMin = 1 << 20

// rawFile reads a file through the system calls directly (see writeNew).
type rawFile struct {
	fd   int
	name string
}

// openRead opens an existing file for reading without following a final
// symlink.
func openRead(name string) (*rawFile, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return &rawFile{fd: fd, name: name}, nil
}

func (f *rawFile) Read(b []byte) (int, error) {
	for {
		n, err := unix.Read(f.fd, b)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return 0, &os.PathError{Op: "read", Path: f.name, Err: err}
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *rawFile) Close() error { return unix.Close(f.fd) }

// readFile reads a whole file (see writeNew).
func readFile(name string) ([]byte, error) {
	f, err := openRead(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	b := make([]byte, 0, st.Size+1) // +1: the read that finds the end
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// readRange reads length bytes of a file from offset on (see writeNew).
func readRange(name string, offset, length int64) ([]byte, error) {
	f, err := openRead(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if length == 0 {
		var st unix.Stat_t
		if err := unix.Fstat(f.fd, &st); err != nil {
			return nil, &os.PathError{Op: "stat", Path: name, Err: err}
		}
		if offset > st.Size {
			return nil, &os.PathError{Op: "pread", Path: name, Err: fmt.Errorf("from %d: the file ends at %d: %w", offset, st.Size, io.ErrUnexpectedEOF)}
		}
		return []byte{}, nil
	}
	b := make([]byte, length)
	for n := 0; n < len(b); {
		m, err := unix.Pread(f.fd, b[n:], offset+int64(n))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return nil, &os.PathError{Op: "pread", Path: name, Err: err}
		case m == 0:
			return nil, &os.PathError{Op: "pread", Path: name, Err: fmt.Errorf("%d bytes from %d: the file ends at %d: %w", length, offset, offset+int64(n), io.ErrUnexpectedEOF)}
		}
		n += m
	}
	return b, nil
}

// setDirect turns O_DIRECT on or off for fd.
func setDirect(fd int, on bool) error {
	flags := 0
	if on {
		flags = unix.O_DIRECT
	}
	_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags)
	return err
}
