package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// trickyTree makes a tree whose names sort differently as paths and as
// names: bytes below and above '/' and '.', a directory and files that
// share its name as a prefix.
func trickyTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, p := range []string{
		"a/c", "a/b/z", "a-b", "a.b", "a b", "a!", "a0", "ab/x", "-x", "!", "~", "é/e", "a/b.c", "a/b-c", "a/b/y z",
	} {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// A snapshot finds the parent's entry for a file by walking both lists
// in step, so walkOrder must order paths exactly as scanTree lists them.
func TestWalkOrderIsScanOrder(t *testing.T) {
	entries, _, err := scanTree(t.Context(), trickyTree(t), 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 20 {
		t.Fatalf("scanned %d entries", len(entries))
	}
	for i := 2; i < len(entries); i++ {
		a, b := entries[i-1].Path, entries[i].Path
		if walkOrder(a, b) >= 0 || walkOrder(b, a) <= 0 {
			t.Errorf("scanTree lists %q before %q, walkOrder disagrees", a, b)
		}
	}
	if walkOrder("a/b", "a/b") != 0 {
		t.Error("walkOrder of equal paths is not 0")
	}
}

// An unchanged tree with such names is taken over whole from its parent.
func TestUnchangedSnapshotReadsNothing(t *testing.T) {
	r, err := Open(t.Context(), NewMemStore(), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := trickyTree(t)
	if _, err := r.Snapshot(t.Context(), dir, SnapshotOptions{ID: "one"}); err != nil {
		t.Fatal(err)
	}
	st, err := r.Snapshot(t.Context(), dir, SnapshotOptions{ID: "two", Parent: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if st.ReadFiles != 0 || st.Files != 15 {
		t.Fatalf("the unchanged snapshot read %d of %d files", st.ReadFiles, st.Files)
	}
}

// A parent a Repo remembers may since have been deleted, and its chunks
// collected, by another process: the next snapshot reads the files again
// rather than take over chunks the store no longer holds.
func TestRememberedParentDeletedElsewhere(t *testing.T) {
	ctx := t.Context()
	store := NewMemStore()
	mine, err := Open(ctx, store, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer mine.Close()
	other, err := Open(ctx, store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	dir := trickyTree(t)
	if _, err := mine.Snapshot(ctx, dir, SnapshotOptions{ID: "one"}); err != nil {
		t.Fatal(err)
	}
	if err := other.Delete(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if gc, err := other.GC(ctx); err != nil || gc.DeletedPacks == 0 {
		t.Fatalf("GC = %+v, %v", gc, err)
	}
	st, err := mine.Snapshot(ctx, dir, SnapshotOptions{ID: "two", Parent: "one"})
	if err != nil {
		t.Fatal(err)
	}
	if st.ReadFiles != st.Files {
		t.Fatalf("read %d of %d files, taking the others over from a collected parent", st.ReadFiles, st.Files)
	}
	out := filepath.Join(t.TempDir(), "out")
	if _, err := mine.Restore(ctx, "two", out); err != nil {
		t.Fatal(err)
	}
	if rep, err := mine.Verify(ctx, VerifyOptions{}); err != nil || len(rep.Problems) > 0 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}

// A repository of another format, or whose chunking this program does not
// know, is refused rather than misread.
func TestOpenRefusesOtherFormats(t *testing.T) {
	good := `{"version":3,"chunker":"fastcdc-v1.0.0","chunkerKey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","chunkMin":524288,"chunkNormal":1048576,"chunkMax":4194304}`
	store := NewMemStore()
	if err := store.Put(t.Context(), configKey, []byte(good)); err != nil {
		t.Fatal(err)
	}
	r, err := Open(t.Context(), store, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	for _, cfg := range []string{
		`{"version":2,"chunkerPolynomial":"0x3dea92648f6e83"}`,
		`{"version":3,"chunker":"rabin","chunkerKey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","chunkMin":524288,"chunkNormal":1048576,"chunkMax":4194304}`,
		`{"version":3,"chunker":"fastcdc-v1.0.0","chunkerKey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","chunkMin":524288,"chunkNormal":1048576,"chunkMax":16777216}`,
	} {
		store := NewMemStore()
		if err := store.Put(t.Context(), configKey, []byte(cfg)); err != nil {
			t.Fatal(err)
		}
		if r, err := Open(t.Context(), store, Options{}); err == nil {
			r.Close()
			t.Errorf("Open accepted %s", cfg)
		}
	}
}

// A snapshot reads again a file deep in a directory that did not change
// otherwise, whatever in it changed: its contents with its size and
// modification time kept (the change time tells), only its modification
// time, or the file itself, replaced by another of the same size and
// modification time (the inode tells). The other files are taken over,
// and an unchanged snapshot takes over its parent's encoded manifest.
func TestSnapshotNoticesChanges(t *testing.T) {
	ctx := t.Context()
	r, err := Open(ctx, NewMemStore(), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := trickyTree(t)
	deep := filepath.Join(dir, "x", "y", "z", "deep")
	if err := os.MkdirAll(filepath.Dir(deep), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(deep, []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "x", "y", "z", "sibling"), []byte("sibling"), 0o644); err != nil {
		t.Fatal(err)
	}
	mtime := time.Unix(1600000000, 123456789)
	if err := os.Chtimes(deep, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	n := 0
	snap := func() SnapshotStats {
		t.Helper()
		n++
		o := SnapshotOptions{ID: fmt.Sprint("s", n)}
		if n > 1 {
			o.Parent = fmt.Sprint("s", n-1)
		}
		st, err := r.Snapshot(ctx, dir, o)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := snap()
	if st := snap(); st.ReadFiles != 0 {
		t.Fatalf("the unchanged snapshot read %d files", st.ReadFiles)
	}
	if a, b := r.recent.get("s1").parts, r.recent.get("s2").parts; a == nil || b == nil || &a.streams[0][0] != &b.streams[0][0] {
		t.Error("the unchanged snapshot encoded its manifest again")
	}
	// changed waits until the change time of deep is not the one the last
	// snapshot saw (on a kernel whose timestamps are coarse, a change made
	// just after the scan could have the same), then snapshots.
	changed := func(want string) {
		t.Helper()
		m, err := r.Manifest(ctx, fmt.Sprint("s", n))
		if err != nil {
			t.Fatal(err)
		}
		seen := m.Entries[slicesIndexPath(m.Entries, "x/y/z/deep")]
		for {
			var st unix.Stat_t
			if err := unix.Lstat(deep, &st); err != nil {
				t.Fatal(err)
			}
			if st.Ctim.Nano() != seen.CTime || st.Ino != seen.Inode {
				break
			}
			if err := os.Chmod(deep, 0o644); err != nil { // a new change time
				t.Fatal(err)
			}
		}
		st := snap()
		if st.ReadFiles != 1 || st.Files != first.Files {
			t.Fatalf("read %d of %d files, want only %s", st.ReadFiles, st.Files, deep)
		}
		out := filepath.Join(t.TempDir(), "out")
		if _, err := r.Restore(ctx, fmt.Sprint("s", n), out); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(out, "x", "y", "z", "deep")); err != nil || string(got) != want {
			t.Fatalf("restored %q, %v; want %q", got, err, want)
		}
	}

	if err := os.WriteFile(deep, []byte("modified"), 0o644); err != nil { // the same size
		t.Fatal(err)
	}
	if err := os.Chtimes(deep, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	changed("modified")

	mtime = mtime.Add(time.Second)
	if err := os.Chtimes(deep, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	changed("modified")

	other := filepath.Join(dir, "x", "other")
	if err := os.WriteFile(other, []byte("replaced"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(other, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, deep); err != nil {
		t.Fatal(err)
	}
	changed("replaced")
}
