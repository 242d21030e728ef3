package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// scanTree finds what filepath.WalkDir and os.Lstat find, in the same
// order: in a directory too large for one getdents(2) call, behind a long
// symlink, beside a pipe (skipped) and under names that sort unlike paths.
func TestScanTreeIsWalkDir(t *testing.T) {
	dir := trickyTree(t)
	big := filepath.Join(dir, "big", "deeper")
	if err := os.MkdirAll(big, 0o750); err != nil {
		t.Fatal(err)
	}
	for i := range 2000 { // some 160 KB of records: several calls
		name := fmt.Sprintf("%s-%04d", strings.Repeat("n", 60), (i*7919)%2000)
		if err := os.WriteFile(filepath.Join(big, name), []byte(name[:i%50]), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	target := strings.Repeat("long/", 60) + "target"
	if err := os.Symlink(target, filepath.Join(dir, "a", "link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "a", "b", "pipe"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "a0"), 0o4751); err != nil {
		t.Fatal(err)
	}
	entries, skipped, err := scanTree(t.Context(), dir, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || skipped[0] != "a/b/pipe" {
		t.Errorf("skipped %q", skipped)
	}
	i := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeNamedPipe != 0 {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if i >= len(entries) {
			return fmt.Errorf("scanTree has no entry for %s", rel)
		}
		e := entries[i]
		i++
		st := fi.Sys().(*syscall.Stat_t)
		want := Entry{Path: filepath.ToSlash(rel), Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky),
			UID: int(st.Uid), GID: int(st.Gid), MTime: fi.ModTime().UnixNano()}
		switch {
		case fi.IsDir():
			want.Type = TypeDir
		case fi.Mode()&fs.ModeSymlink != 0:
			want.Type = TypeSymlink
			want.Target, _ = os.Readlink(p)
		default:
			want.Type, want.Size, want.Inode, want.CTime = TypeFile, fi.Size(), st.Ino, st.Ctim.Nano()
		}
		if !entriesEqual([]Entry{e}, []Entry{want}) {
			return fmt.Errorf("scanTree has %+v, want %+v", e, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != len(entries) || i < 2020 {
		t.Fatalf("scanTree has %d entries, WalkDir %d", len(entries), i)
	}
	if e := entries[slicesIndexPath(entries, "a/link")]; e.Target != target {
		t.Errorf("the link's target is %q", e.Target)
	}
}

func slicesIndexPath(es []Entry, p string) int {
	for i, e := range es {
		if e.Path == p {
			return i
		}
	}
	return -1
}

// A directory that cannot be read fails the scan with a *SourceError
// naming it.
func TestScanTreeUnreadableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every directory")
	}
	dir := trickyTree(t)
	locked := filepath.Join(dir, "a", "b")
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(locked, 0o755)
	_, _, err := scanTree(t.Context(), dir, 4)
	var se *SourceError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), locked) {
		t.Fatalf("scanTree = %v, want a SourceError naming %s", err, locked)
	}
}
