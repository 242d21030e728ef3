package backuptest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opennimble/opennimble/backup"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func openRepo(t *testing.T, s backup.Store) *backup.Repo {
	t.Helper()
	r, err := backup.Open(bg, s, backup.Options{Create: true, Logger: quiet})
	check(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// tree returns a directory filled by FillTree.
func tree(t *testing.T, seed uint64) string {
	t.Helper()
	dir := t.TempDir()
	check(t, FillTree(dir, seed))
	return dir
}

func describe(t *testing.T, dir string) map[string]Node {
	t.Helper()
	d, err := Describe(dir)
	check(t, err)
	return d
}

// restoreMatches restores id and compares the result with want.
func restoreMatches(t *testing.T, r *backup.Repo, id string, want map[string]Node) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "restored")
	if _, err := r.Restore(bg, id, dst); err != nil {
		t.Fatalf("restore %s: %v", id, err)
	}
	if d := Diff(want, describe(t, dst)); d != nil {
		t.Fatalf("restore of %s differs:\n%s", id, strings.Join(d, "\n"))
	}
}

func snap(t *testing.T, r *backup.Repo, dir, id, parent string) backup.SnapshotStats {
	t.Helper()
	st, err := r.Snapshot(bg, dir, backup.SnapshotOptions{ID: id, Parent: parent})
	if err != nil {
		t.Fatalf("snapshot %s: %v", id, err)
	}
	return st
}

func verifyOK(t *testing.T, r *backup.Repo) backup.Report {
	t.Helper()
	rep, err := r.Verify(bg, backup.VerifyOptions{})
	check(t, err)
	if !rep.OK() {
		t.Fatalf("verify: %s", strings.Join(rep.Problems, "\n"))
	}
	return rep
}

// chunkKeys lists the chunks in the store.
func chunkKeys(t *testing.T, s backup.Store) []string {
	t.Helper()
	var keys []string
	check(t, s.List(bg, "chunks/", func(k string, _ int64) error { keys = append(keys, k); return nil }))
	return keys
}

func testRoundTrip(t *testing.T, s backup.Store) {
	r := openRepo(t, s)
	dir := tree(t, 1)
	st := snap(t, r, dir, "b1", "")
	if st.Files != 12 || st.Symlinks != 5 || st.Skipped != 0 || st.NewChunks == 0 || st.Existed {
		t.Fatalf("stats %+v", st)
	}
	restoreMatches(t, r, "b1", describe(t, dir))
	list, err := r.List(bg)
	check(t, err)
	if len(list) != 1 || list[0].ID != "b1" || list[0].Files != 12 || list[0].Bytes != st.Bytes {
		t.Fatalf("List = %+v", list)
	}
	// An empty directory is a backup too.
	empty := t.TempDir()
	snap(t, r, empty, "b-empty", "")
	restoreMatches(t, r, "b-empty", describe(t, empty))
}

func testIncremental(t *testing.T, s backup.Store) {
	r := openRepo(t, s)
	dir := tree(t, 2)
	before := describe(t, dir)
	first := snap(t, r, dir, "b1", "")
	second := snap(t, r, dir, "b2", "b1")
	if second.ReadFiles != 0 || second.NewChunks != 0 || second.Stored() != second.ManifestBytes || second.Bytes != first.Bytes {
		t.Fatalf("an unchanged snapshot with a parent read or stored data: %+v", second)
	}
	noParent := snap(t, r, dir, "b3", "")
	if noParent.ReadFiles != noParent.Files || noParent.NewChunks != 0 {
		t.Fatalf("an unchanged snapshot without a parent stored chunks: %+v", noParent)
	}
	// Change 100 bytes in the middle of a large file and add a file.
	f, err := os.OpenFile(filepath.Join(dir, "project/assets/big-scene.bin"), os.O_WRONLY, 0)
	check(t, err)
	_, err = f.WriteAt([]byte(strings.Repeat("changed!", 13)), 4_000_000)
	check(t, err)
	check(t, f.Close())
	check(t, os.WriteFile(filepath.Join(dir, "home/new.txt"), []byte("new work"), 0o644))
	third := snap(t, r, dir, "b4", "b2")
	if third.ReadFiles != 2 || third.NewChunks < 2 || third.NewChunks > 4 || third.NewBytes > first.NewBytes/2 {
		t.Fatalf("a slightly changed snapshot: %+v (first stored %d bytes)", third, first.NewBytes)
	}
	restoreMatches(t, r, "b4", describe(t, dir))
	restoreMatches(t, r, "b1", before)
	verifyOK(t, r)
}

func testSnapshotOnce(t *testing.T, s backup.Store) {
	r := openRepo(t, s)
	dir := tree(t, 3)
	want := describe(t, dir)
	snap(t, r, dir, "b1", "")
	check(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("changed"), 0o644))
	if st := snap(t, r, dir, "b1", ""); !st.Existed {
		t.Fatalf("a second snapshot of b1 was taken: %+v", st)
	}
	restoreMatches(t, r, "b1", want)
}

func testMissingBackup(t *testing.T, s backup.Store) {
	r := openRepo(t, s)
	if _, err := r.Restore(bg, "nope", filepath.Join(t.TempDir(), "x")); !errors.Is(err, backup.ErrNoBackup) {
		t.Fatalf("Restore = %v, want ErrNoBackup", err)
	}
	if ok, err := r.Exists(bg, "nope"); ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
	check(t, r.Delete(bg, "nope"))
	if _, err := r.Snapshot(bg, t.TempDir(), backup.SnapshotOptions{ID: "../escape"}); err == nil {
		t.Fatal("an invalid id was accepted")
	}
	if _, err := backup.Open(bg, backup.NewMemStore(), backup.Options{}); !errors.Is(err, backup.ErrNoRepo) {
		t.Fatalf("Open of an empty store without Create = %v", err)
	}
}

// chunksOf returns the chunk ids a backup uses.
func chunksOf(t *testing.T, r *backup.Repo, id string) map[backup.ChunkID]bool {
	t.Helper()
	m, err := r.Manifest(bg, id)
	check(t, err)
	out := map[backup.ChunkID]bool{}
	for _, e := range m.Entries {
		for _, c := range e.Chunks {
			out[c] = true
		}
	}
	return out
}

func testGC(t *testing.T, s backup.Store) {
	r := openRepo(t, s)
	dir := tree(t, 4)
	snap(t, r, dir, "a", "")
	// Replace one large file entirely: b shares everything else with a.
	p := filepath.Join(dir, "project/assets/texture.raw")
	check(t, os.Remove(p))
	check(t, os.WriteFile(p, []byte(strings.Repeat("new texture ", 300_000)), 0o644))
	snap(t, r, dir, "b", "a")
	want := describe(t, dir)
	onlyA := 0
	ca, cb := chunksOf(t, r, "a"), chunksOf(t, r, "b")
	for c := range ca {
		if !cb[c] {
			onlyA++
		}
	}
	if onlyA == 0 {
		t.Fatal("a has no chunks of its own")
	}
	if st, err := r.GC(bg); err != nil || st.FreedChunks != 0 {
		t.Fatalf("GC with every chunk in use = %+v, %v", st, err)
	}
	check(t, r.Delete(bg, "a"))
	st, err := r.GC(bg)
	check(t, err)
	if st.FreedChunks != onlyA || st.Chunks != len(cb) || st.Backups != 1 {
		t.Fatalf("GC = %+v, want %d freed and %d kept", st, onlyA, len(cb))
	}
	if n := len(chunkKeys(t, s)); n != len(cb) {
		t.Fatalf("%d chunks stored, want %d", n, len(cb))
	}
	restoreMatches(t, r, "b", want)
	if rep := verifyOK(t, r); rep.Unreferenced != 0 {
		t.Fatalf("after GC: %+v", rep)
	}
	check(t, r.Delete(bg, "b"))
	_, err = r.GC(bg)
	check(t, err)
	if n := len(chunkKeys(t, s)); n != 0 {
		t.Fatalf("%d chunks stored with no backup", n)
	}
}

func testGCWaits(t *testing.T, s backup.Store) {
	r := openRepo(t, s)
	unlock, err := s.Lock(bg, false) // as a snapshot in progress holds it
	check(t, err)
	ctx, cancel := context.WithTimeout(bg, 150*time.Millisecond)
	defer cancel()
	if _, err := r.GC(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("GC during a snapshot = %v, want to wait", err)
	}
	unlock()
	_, err = r.GC(bg)
	check(t, err)
}

// testConcurrent runs snapshots of similar trees, deletes and garbage
// collections at once; every backup left must restore.
func testConcurrent(t *testing.T, s backup.Store) {
	r := openRepo(t, s)
	const writers, rounds = 3, 3
	dirs := make([]string, writers)
	for i := range dirs {
		dirs[i] = tree(t, 5)
		check(t, os.WriteFile(filepath.Join(dirs[i], "own.txt"), []byte(fmt.Sprint("writer ", i)), 0o644))
	}
	ctx, cancel := context.WithCancel(bg)
	var wg sync.WaitGroup
	gcErr := make(chan error, 1)
	go func() {
		defer close(gcErr)
		for ctx.Err() == nil {
			if _, err := r.GC(ctx); err != nil && ctx.Err() == nil {
				gcErr <- err
				return
			}
		}
	}()
	errs := make(chan error, writers*rounds*2)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if err := os.WriteFile(filepath.Join(dirs[w], fmt.Sprintf("round-%d", i)), []byte(strings.Repeat("r", 1000*i)), 0o644); err != nil {
					errs <- err
					return
				}
				if _, err := r.Snapshot(bg, dirs[w], backup.SnapshotOptions{ID: fmt.Sprintf("w%d-%d", w, i)}); err != nil {
					errs <- err
					return
				}
				if i > 0 {
					errs <- r.Delete(bg, fmt.Sprintf("w%d-%d", w, i-1))
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	if err := <-gcErr; err != nil {
		t.Fatal(err)
	}
	close(errs)
	for err := range errs {
		check(t, err)
	}
	verifyOK(t, r)
	_, err := r.GC(bg)
	check(t, err)
	for w := range writers {
		restoreMatches(t, r, fmt.Sprintf("w%d-%d", w, rounds-1), describe(t, dirs[w]))
	}
}

func corruptionSetup(t *testing.T, s backup.Store) (*backup.Repo, string) {
	r := openRepo(t, s)
	dir := tree(t, 6)
	snap(t, r, dir, "b1", "")
	return r, dir
}

func testCorruptChunk(t *testing.T, s backup.Store) {
	r, _ := corruptionSetup(t, s)
	keys := chunkKeys(t, s)
	victim := keys[len(keys)/2]
	b, err := s.Get(bg, victim)
	check(t, err)
	b[len(b)/2] ^= 0x40
	check(t, s.Put(bg, victim, b))
	_, err = r.Restore(bg, "b1", filepath.Join(t.TempDir(), "r"))
	if !errors.Is(err, backup.ErrCorrupt) || !strings.Contains(err.Error(), victim) {
		t.Fatalf("restore with a corrupt chunk = %v, want ErrCorrupt naming %s", err, victim)
	}
	rep, err := r.Verify(bg, backup.VerifyOptions{})
	check(t, err)
	if rep.OK() || len(rep.Damaged) != 1 || rep.Damaged[0] != "b1" || !strings.Contains(strings.Join(rep.Problems, "\n"), "corrupt") {
		t.Fatalf("verify did not find the corrupt chunk: %+v", rep)
	}
}

func testMissingChunk(t *testing.T, s backup.Store) {
	r, _ := corruptionSetup(t, s)
	keys := chunkKeys(t, s)
	check(t, s.Delete(bg, keys[0]))
	if _, err := r.Restore(bg, "b1", filepath.Join(t.TempDir(), "r")); !errors.Is(err, backup.ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("restore with a missing chunk = %v", err)
	}
	rep, err := r.Verify(bg, backup.VerifyOptions{Quick: true})
	check(t, err)
	if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "missing") {
		t.Fatalf("quick verify did not find the missing chunk: %+v", rep)
	}
}

func testCorruptManifest(t *testing.T, s backup.Store) {
	r, _ := corruptionSetup(t, s)
	b, err := s.Get(bg, "manifests/b1")
	check(t, err)
	b[len(b)-1] ^= 1
	check(t, s.Put(bg, "manifests/b1", b))
	if _, err := r.Restore(bg, "b1", filepath.Join(t.TempDir(), "r")); !errors.Is(err, backup.ErrCorrupt) {
		t.Fatalf("restore with a corrupt manifest = %v", err)
	}
	n := len(chunkKeys(t, s))
	if _, err := r.GC(bg); err == nil {
		t.Fatal("GC ran with a manifest it cannot read")
	}
	if len(chunkKeys(t, s)) != n {
		t.Fatal("GC deleted chunks although a manifest was unreadable")
	}
	if rep, err := r.Verify(bg, backup.VerifyOptions{}); err != nil || rep.OK() {
		t.Fatalf("verify of a corrupt manifest = %+v, %v", rep, err)
	}
}

var errCrash = errors.New("crash")

// crashStore fails every write from the n-th on, as a process killed at
// that moment would stop writing.
type crashStore struct {
	backup.Store
	left atomic.Int64
}

func (c *crashStore) write() error {
	if c.left.Add(-1) < 0 {
		return errCrash
	}
	return nil
}

func (c *crashStore) Put(ctx context.Context, key string, data []byte) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.Store.Put(ctx, key, data)
}

func (c *crashStore) Delete(ctx context.Context, key string) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.Store.Delete(ctx, key)
}

func (c *crashStore) Sync(ctx context.Context) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.Store.Sync(ctx)
}

// crashing opens the repository on a store that crashes after n writes.
func crashing(t *testing.T, s backup.Store, n int) *backup.Repo {
	cs := &crashStore{Store: s}
	cs.left.Store(int64(n))
	r, err := backup.Open(bg, cs, backup.Options{Logger: quiet, Workers: 2})
	check(t, err)
	return r
}

// testCrashes stops a snapshot and a garbage collection after every
// possible number of writes: after each crash the store must verify, no
// backup may be half there, and running the operation again finishes it.
func testCrashes(t *testing.T, s backup.Store) {
	r := openRepo(t, s)
	dir := tree(t, 7)
	want := describe(t, dir)
	for n := 0; ; n++ {
		cr := crashing(t, s, n)
		_, err := cr.Snapshot(bg, dir, backup.SnapshotOptions{ID: "b1"})
		_ = cr.Close()
		verifyOK(t, r)
		if err == nil {
			break
		}
		if !errors.Is(err, errCrash) {
			t.Fatalf("snapshot crashed after %d writes: %v", n, err)
		}
		if n > 1000 {
			t.Fatal("the snapshot never finished")
		}
		if ok, _ := r.Exists(bg, "b1"); ok {
			// Crashed in the last Sync, after the manifest: it is complete.
			restoreMatches(t, r, "b1", want)
		}
	}
	restoreMatches(t, r, "b1", want)

	// A snapshot resumed after a crash reuses what the crashed one wrote.
	// (12 MB: more than the largest chunk, so at least two new chunks.)
	b := make([]byte, 12_000_000)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(b)
	check(t, os.WriteFile(filepath.Join(dir, "project/assets/texture.raw"), b, 0o644))
	want2 := describe(t, dir)
	cr := crashing(t, s, 2)
	if _, err := cr.Snapshot(bg, dir, backup.SnapshotOptions{ID: "b2", Parent: "b1"}); !errors.Is(err, errCrash) {
		t.Fatalf("snapshot = %v, want the crash", err)
	}
	_ = cr.Close()
	st := snap(t, r, dir, "b2", "b1")
	needed := 0
	c1 := chunksOf(t, r, "b1")
	for c := range chunksOf(t, r, "b2") {
		if !c1[c] {
			needed++
		}
	}
	if needed < 2 || st.NewChunks != needed-2 {
		t.Fatalf("the resumed snapshot wrote %d chunks; %d were new, 2 written before the crash", st.NewChunks, needed)
	}
	restoreMatches(t, r, "b2", want2)

	// Garbage collection crashed at every write frees only garbage.
	check(t, r.Delete(bg, "b1"))
	for n := 0; ; n++ {
		cr := crashing(t, s, n)
		_, err := cr.GC(bg)
		_ = cr.Close()
		verifyOK(t, r)
		restoreMatches(t, r, "b2", want2)
		if err == nil {
			break
		}
		if !errors.Is(err, errCrash) || n > 1000 {
			t.Fatalf("GC crashed after %d writes: %v", n, err)
		}
	}
	if rep := verifyOK(t, r); rep.Unreferenced != 0 {
		t.Fatalf("garbage left after GC: %+v", rep)
	}
}
