package local

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// replaceVolume makes the session's volume of generation gen: fill writes
// it into a scratch directory, which is synced and renamed into place, and
// only then is the new generation recorded. A crash half-way leaves either
// the old volume or the new one under the session's name, the old
// generation recorded, and the operation to run again: it makes the volume
// anew and records it.
func (d *Driver) replaceVolume(ctx context.Context, id string, st *sessionState, gen int64, source string, fill func(dir string) error) error {
	scratch := filepath.Join(d.staging, id+".g"+strconv.FormatInt(gen, 10))
	if err := removeAll(scratch); err != nil {
		return err
	}
	if err := fill(scratch); err != nil {
		_ = removeAll(scratch)
		return err
	}
	if err := ctx.Err(); err != nil {
		_ = removeAll(scratch)
		return err
	}
	if err := syncFS(scratch); err != nil {
		return err
	}
	if err := d.removeVolume(id); err != nil {
		return err
	}
	if err := os.Rename(scratch, d.VolumePath(id)); err != nil {
		return err
	}
	if err := syncDir(d.volumes); err != nil {
		return err
	}
	st.Volume = &volumeState{Generation: gen, Source: source}
	return nil
}

// removeVolume moves the session's volume to the trash (atomically) and
// deletes it there.
func (d *Driver) removeVolume(id string) error {
	vol := d.VolumePath(id)
	gone := filepath.Join(d.trash, fmt.Sprintf("%s.%d", id, time.Now().UnixNano()))
	if err := os.Rename(vol, gone); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	if err := syncDir(d.volumes); err != nil {
		return err
	}
	return removeAll(gone)
}

// fromImage gives the session a new volume made from the image: a copy of
// its source directory, the contents of its source archive, or nothing.
func (d *Driver) fromImage(ctx context.Context, id string, st *sessionState, gen int64, imageID, source string) error {
	label := "image:" + imageID
	var fill func(dir string) error
	if source == "" {
		fill = func(dir string) error { return os.Mkdir(dir, 0o755) }
	} else {
		src, err := d.resolveSource(source)
		if err != nil {
			return err
		}
		label += " " + src
		fill = func(dir string) error {
			err := makeFromSource(ctx, src, dir)
			if err != nil && ctx.Err() == nil {
				return failf("cannot make a volume from image %s (source %s): %v", imageID, source, err)
			}
			return err
		}
	}
	return d.replaceVolume(ctx, id, st, gen, label, fill)
}

// resolveSource finds an image source in the image roots: a relative one
// in the first root, an absolute one in any, after resolving symlinks, so
// that a studio's image cannot copy arbitrary files of the server into a
// volume.
func (d *Driver) resolveSource(source string) (string, error) {
	p := source
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.roots[0], p)
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", failf("image source %s cannot be read: %v", source, err)
	}
	for _, root := range d.roots {
		r, err := filepath.EvalSymlinks(root)
		if err != nil {
			continue
		}
		if rel, err := filepath.Rel(r, real); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return real, nil
		}
	}
	return "", failf("image source %s is not inside an image root of this server (%s)", source, strings.Join(d.roots, ", "))
}

// makeFromSource fills dir, which must not exist, from a directory or a
// tar archive (plain, gzip or zstd).
func makeFromSource(ctx context.Context, src, dir string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if fi.IsDir() {
		return copyTree(ctx, src, root)
	}
	return extract(ctx, src, root)
}

// copyTree copies the directory src into root: directories, regular files
// and symlinks with their modes and modification times.
func copyTree(ctx context.Context, src string, root *os.Root) error {
	var dirs []dirMeta
	err := filepath.WalkDir(src, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		fi, err := e.Info()
		if err != nil {
			return err
		}
		switch fi.Mode().Type() {
		case fs.ModeDir:
			if rel != "." {
				if err := root.Mkdir(rel, 0o700); err != nil {
					return err
				}
			}
			dirs = append(dirs, dirMeta{rel, fi.Mode(), fi.ModTime()})
		case fs.ModeSymlink:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := root.Symlink(target, rel); err != nil {
				return err
			}
			return lutimes(root, rel, fi.ModTime())
		case 0:
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			return writeFile(root, rel, in, fi.Mode(), fi.ModTime())
		}
		return nil // devices, sockets, pipes are not copied
	})
	if err != nil {
		return err
	}
	return setDirs(root, dirs)
}

type dirMeta struct {
	path  string
	mode  fs.FileMode
	mtime time.Time
}

// setDirs gives directories their modes and times, deepest first, once
// nothing more is written into them.
func setDirs(root *os.Root, dirs []dirMeta) error {
	for i := len(dirs) - 1; i >= 0; i-- {
		m := dirs[i]
		if err := root.Chmod(m.path, m.mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
		if err := root.Chtimes(m.path, time.Time{}, m.mtime); err != nil {
			return err
		}
	}
	return nil
}

func writeFile(root *os.Root, name string, r io.Reader, mode fs.FileMode, mtime time.Time) error {
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if err == nil {
		err = out.Chmod(mode & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Chtimes(name, time.Time{}, mtime)
	}
	return err
}

// extract unpacks a tar archive into root. os.Root keeps every entry,
// symlinks and "../" included, inside the volume.
func extract(ctx context.Context, src string, root *os.Root) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	magic, _ := br.Peek(4)
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer gz.Close()
		r = gz
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	tr := tar.NewReader(r)
	var dirs []dirMeta
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "/"))
		if name == "." || name == ".." || strings.HasPrefix(name, "../") {
			if h.Typeflag == tar.TypeDir && name == "." {
				dirs = append(dirs, dirMeta{".", h.FileInfo().Mode(), h.ModTime})
			}
			continue
		}
		if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			dirs = append(dirs, dirMeta{name, h.FileInfo().Mode(), h.ModTime})
		case tar.TypeReg:
			if err := writeFile(root, name, tr, h.FileInfo().Mode(), h.ModTime); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.Symlink(h.Linkname, name); err != nil {
				return err
			}
			if err := lutimes(root, name, h.ModTime); err != nil {
				return err
			}
		case tar.TypeLink:
			if err := root.Link(path.Clean(strings.TrimPrefix(h.Linkname, "/")), name); err != nil {
				return err
			}
		}
	}
	return setDirs(root, dirs)
}

// lutimes sets a symlink's own modification time.
func lutimes(root *os.Root, name string, mtime time.Time) error {
	dir, err := root.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer dir.Close()
	ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(mtime.UnixNano())}
	return unix.UtimesNanoAt(int(dir.Fd()), filepath.Base(name), ts, unix.AT_SYMLINK_NOFOLLOW)
}

// syncFS makes everything written under dir durable (syncfs(2)).
func syncFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
