package backuptest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Node is what a comparison of trees looks at in one entry: everything a
// restore must bring back exactly.
type Node struct {
	Type   string // "dir", "file", "symlink" or "other"
	Mode   fs.FileMode
	UID    uint32
	GID    uint32
	MTime  time.Time
	Size   int64
	SHA256 string // a file's contents
	Target string // a symlink's
}

func (n Node) String() string {
	s := fmt.Sprintf("%s %v uid=%d gid=%d mtime=%s", n.Type, n.Mode, n.UID, n.GID, n.MTime.UTC().Format(time.RFC3339Nano))
	switch n.Type {
	case "file":
		s += fmt.Sprintf(" size=%d sha256=%.12s", n.Size, n.SHA256)
	case "symlink":
		s += " -> " + n.Target
	}
	return s
}

// Describe reads the tree at dir, root included (as "."), without following
// symlinks.
func Describe(dir string) (map[string]Node, error) {
	out := map[string]Node{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		n := Node{Mode: fi.Mode(), MTime: fi.ModTime()}
		if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
			n.UID, n.GID = sys.Uid, sys.Gid
		}
		switch fi.Mode().Type() {
		case fs.ModeDir:
			n.Type = "dir"
		case fs.ModeSymlink:
			n.Type = "symlink"
			if n.Target, err = os.Readlink(p); err != nil {
				return err
			}
		case 0:
			n.Type, n.Size = "file", fi.Size()
			if n.SHA256, err = fileHash(p); err != nil {
				return err
			}
		default:
			n.Type = "other"
		}
		out[filepath.ToSlash(rel)] = n
		return nil
	})
	return out, err
}

func fileHash(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Diff lists how got differs from want, one line per entry; nil when the
// trees are the same.
func Diff(want, got map[string]Node) []string {
	var out []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: missing (want %s)", p, w))
		case !g.MTime.Equal(w.MTime) || g.Type != w.Type || g.Mode != w.Mode || g.UID != w.UID || g.GID != w.GID ||
			g.Size != w.Size || g.SHA256 != w.SHA256 || g.Target != w.Target:
			out = append(out, fmt.Sprintf("%s: got %s, want %s", p, g, w))
		}
	}
	for p, g := range got {
		if _, ok := want[p]; !ok {
			out = append(out, fmt.Sprintf("%s: unexpected %s", p, g))
		}
	}
	slices.Sort(out)
	return out
}

// DiffDirs compares the trees at two directories.
func DiffDirs(want, got string) ([]string, error) {
	w, err := Describe(want)
	if err != nil {
		return nil, err
	}
	g, err := Describe(got)
	if err != nil {
		return nil, err
	}
	return Diff(w, g), nil
}

// FillTree writes into dir (which must exist) a small tree with every kind
// of thing a restore must bring back: nested and empty directories, files
// of many sizes (several spanning more than one chunk), compressible and
// random contents, unusual modes, symlinks (relative, absolute, dangling,
// to directories), names with spaces and non-ASCII letters, and
// modification times in the past, to the nanosecond. seed varies the
// contents.
func FillTree(dir string, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x6f70656e6e696d62))
	base := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	files := []struct {
		path string
		size int
		mode fs.FileMode
		text bool
	}{
		{"README.md", 1200, 0o644, true},
		{"empty", 0, 0o600, false},
		{"bin/tool", 70_000, 0o755, false},
		{"bin/setuid-tool", 5000, 0o755 | fs.ModeSetuid, false},
		{"project/src/main.go", 9000, 0o644, true},
		{"project/src/lib/util.go", 30_000, 0o640, true},
		{"project/assets/texture.raw", 3_500_000, 0o644, false},
		{"project/assets/big-scene.bin", 9_000_000, 0o600, false},
		{"project/cache/compressible.dat", 2_600_000, 0o644, true},
		{"project/read-only.txt", 100, 0o444, true},
		{"home/notes with spaces.txt", 500, 0o600, true},
		{"home/ünïcødé/файл.txt", 64, 0o644, true},
	}
	for i, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		data := make([]byte, f.size)
		if f.text {
			fillText(rng, data)
		} else {
			fillRandom(rng, data)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return err
		}
		if err := os.Chmod(p, f.mode); err != nil {
			return err
		}
		mt := base.Add(time.Duration(i)*time.Hour + time.Duration(rng.IntN(1e9)))
		if err := os.Chtimes(p, mt, mt); err != nil {
			return err
		}
	}
	for _, d := range []string{"empty-dir", "project/empty/deeper", "private"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			return err
		}
	}
	links := map[string]string{
		"project/latest": "assets/big-scene.bin",
		"home/src":       "../project/src",
		"home/dangling":  "does/not/exist",
		"home/absolute":  "/etc/hostname",
		"self":           ".",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))); err != nil {
			return err
		}
	}
	// Modes and times of directories last: writing into one changes them.
	dirModes := map[string]fs.FileMode{"private": 0o700, "project/empty": 0o750, "empty-dir": 0o775 | fs.ModeSetgid, "project/cache": 0o777 | fs.ModeSticky}
	for d, m := range dirModes {
		if err := os.Chmod(filepath.Join(dir, filepath.FromSlash(d)), m); err != nil {
			return err
		}
	}
	return SetTimes(dir, base.Add(-time.Duration(rng.IntN(1e6))*time.Second))
}

// SetTimes gives every directory and symlink under dir, root included, a
// distinct modification time from t on, deepest first, so that a tree's
// times are not simply "now".
func SetTimes(dir string, t time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (d.IsDir() || d.Type() == fs.ModeSymlink) {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	for i := len(paths) - 1; i >= 0; i-- {
		ts := []unix.Timespec{unix.NsecToTimespec(t.UnixNano()), unix.NsecToTimespec(t.Add(time.Duration(i)*time.Minute + 123456789).UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set times of %s: %w", paths[i], err)
		}
	}
	return nil
}

// ClearDir removes everything inside dir but not dir itself.
func ClearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

var words = []string{"render", "shot", "frame", "texture", "the", "of", "layer", "camera", "light", "0.5", "float", "return", "func", "{", "}", "\n", "\t", "mesh", "vertex", "=", "1024", "scene"}

// fillText fills b with compressible, text-like bytes.
func fillText(rng *rand.Rand, b []byte) {
	for i := 0; i < len(b); {
		w := words[rng.IntN(len(words))]
		i += copy(b[i:], w)
		if i < len(b) {
			b[i] = ' '
			i++
		}
	}
}

// fillRandom fills b with incompressible bytes.
func fillRandom(rng *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(rng.Uint32())
	}
}
