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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opennimble/opennimble/backup"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testPackSize is the pack size of the repositories the suite opens: the
// trees it backs up (about 15 MB) then take several packs, as a volume
// takes many.
const testPackSize = 1 << 20

func openRepo(t *testing.T, s backup.Backend) *backup.Repo {
	t.Helper()
	return openRepoWith(t, s, backup.Options{PackSize: testPackSize})
}

func openRepoWith(t *testing.T, s backup.Backend, o backup.Options) *backup.Repo {
	t.Helper()
	o.Create, o.Logger = true, quiet
	r, err := backup.Open(bg, s, o)
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

// packKeys lists the packs in the store, sorted.
func packKeys(t *testing.T, s backup.Backend) []string {
	t.Helper()
	var keys []string
	check(t, s.List(bg, "chunks/", func(k string, _ int64) error { keys = append(keys, k); return nil }))
	slices.Sort(keys)
	return keys
}

func testRoundTrip(t *testing.T, s backup.Backend) {
	r := openRepo(t, s)
	dir := tree(t, 1)
	st := snap(t, r, dir, "b1", "")
	if st.Files != 12 || st.Symlinks != 5 || st.Skipped != 0 || st.NewChunks == 0 || st.NewPacks < 5 || st.NewPacks >= st.NewChunks ||
		st.IndexBytes == 0 || st.Existed {
		t.Fatalf("stats %+v", st)
	}
	if n := len(packKeys(t, s)); n != st.NewPacks {
		t.Fatalf("%d packs stored, the snapshot wrote %d", n, st.NewPacks)
	}
	restoreMatches(t, r, "b1", describe(t, dir))
	list, err := r.List(bg)
	check(t, err)
	if len(list) != 1 || list[0].ID != "b1" || list[0].Files != 12 || list[0].Bytes != st.Bytes {
		t.Fatalf("List = %+v", list)
	}
	// With the default pack size, a tree of 15 MB fits one pack.
	other := tree(t, 11)
	r16 := openRepoWith(t, s, backup.Options{})
	if st := snap(t, r16, other, "b16", ""); st.NewPacks != 1 || st.NewChunks < 10 {
		t.Fatalf("stats with 16 MiB packs: %+v", st)
	}
	restoreMatches(t, r16, "b16", describe(t, other))
	restoreMatches(t, r, "b16", describe(t, other))
	// An empty directory is a backup too.
	empty := t.TempDir()
	snap(t, r, empty, "b-empty", "")
	restoreMatches(t, r, "b-empty", describe(t, empty))
}

func testIncremental(t *testing.T, s backup.Backend) {
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

// testManyFiles backs up many small files, each its own chunk: they share
// packs, a second snapshot stores no chunk (with or without a parent),
// and the manifest is large enough to be compressed in parts.
func testManyFiles(t *testing.T, s backup.Backend) {
	r := openRepo(t, s)
	dir := t.TempDir()
	const n = 12_000 // with their paths, more than 2 MiB of manifest before compression
	for d := range 12 {
		sub := filepath.Join(dir, fmt.Sprintf("a-directory-with-a-rather-long-name-as-they-often-are-%02d", d))
		check(t, os.Mkdir(sub, 0o755))
		for i := range n / 12 {
			check(t, os.WriteFile(filepath.Join(sub, fmt.Sprintf("a-file-with-a-long-name-too-%05d.conf", i)), fmt.Appendf(nil, "setting = %d\n", d*n+i), 0o644))
		}
	}
	want := describe(t, dir)
	first := snap(t, r, dir, "b1", "")
	if first.NewChunks != n || first.NewPacks != 1 || first.ManifestBytes < 400<<10 {
		t.Fatalf("first snapshot: %+v", first)
	}
	if st := snap(t, r, dir, "b2", ""); st.NewChunks != 0 || st.ReadFiles != n {
		t.Fatalf("a second snapshot without a parent stored chunks: %+v", st)
	}
	if st := snap(t, r, dir, "b3", "b1"); st.NewChunks != 0 || st.ReadFiles != 0 {
		t.Fatalf("a second snapshot with a parent read files: %+v", st)
	}
	// b3 took every file over from b1: restoring it through a repository
	// opened afresh (its index read back from the store) covers both.
	restoreMatches(t, openRepo(t, s), "b3", want)
}

func testSnapshotOnce(t *testing.T, s backup.Backend) {
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

func testMissingBackup(t *testing.T, s backup.Backend) {
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

func testGC(t *testing.T, s backup.Backend) {
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
	if st, err := r.GC(bg); err != nil || st.FreedChunks != 0 || st.DeletedPacks != 0 || st.NewPacks != 0 || st.GarbageChunks != 0 {
		t.Fatalf("GC with every chunk in use = %+v, %v", st, err)
	}
	check(t, r.Delete(bg, "a"))
	st, err := r.GC(bg)
	check(t, err)
	// a's own chunks are freed, or left in packs mostly in use.
	if st.Backups != 1 || st.FreedChunks == 0 || st.DeletedPacks == 0 || st.FreedChunks+st.GarbageChunks != onlyA ||
		st.Chunks != len(cb)+st.GarbageChunks || st.FreedBytes <= 0 {
		t.Fatalf("GC = %+v; a had %d chunks of its own, b has %d", st, onlyA, len(cb))
	}
	if n := len(packKeys(t, s)); n != st.Packs {
		t.Fatalf("%d packs stored, GC says %d", n, st.Packs)
	}
	restoreMatches(t, r, "b", want)
	rep := verifyOK(t, r)
	if rep.Chunks != st.Chunks || rep.Unreferenced != st.GarbageChunks || rep.UnreferencedBytes > rep.ChunkBytes/2 {
		t.Fatalf("after GC: %+v (GC: %+v)", rep, st)
	}
	if again, err := r.GC(bg); err != nil || again.DeletedPacks != 0 || again.NewPacks != 0 || again.FreedChunks != 0 {
		t.Fatalf("a second GC = %+v, %v: it should find nothing to do", again, err)
	}
	check(t, r.Delete(bg, "b"))
	_, err = r.GC(bg)
	check(t, err)
	if n := len(packKeys(t, s)); n != 0 {
		t.Fatalf("%d packs stored with no backup", n)
	}
	var left []string
	check(t, s.List(bg, "index/", func(k string, _ int64) error { left = append(left, k); return nil }))
	if len(left) != 0 {
		t.Fatalf("index files left with no pack: %v", left)
	}
}

// testRepack: a pack mostly garbage is rewritten with only what is in use;
// a pack mostly in use stays as it is.
func testRepack(t *testing.T, s backup.Backend) {
	r, dir, gone := repackSetup(t, s)
	check(t, r.Delete(bg, "a"))
	st, err := r.GC(bg)
	check(t, err)
	if st.RepackedPacks != 1 || st.NewPacks != 1 || st.DeletedPacks != 1 || st.FreedChunks != 2 {
		t.Fatalf("GC = %+v, want the first pack repacked", st)
	}
	if slices.Contains(packKeys(t, s), gone) {
		t.Fatalf("the repacked pack %s is still there", gone)
	}
	restoreMatches(t, r, "b", describe(t, dir))
	if rep := verifyOK(t, r); rep.Unreferenced != 0 {
		t.Fatalf("garbage left: %+v", rep)
	}
	// A new process finds the chunks in the new pack, through the index
	// file the GC wrote and, without it, through the pack's header.
	restoreMatches(t, openRepo(t, s), "b", describe(t, dir))
	var idx []string
	check(t, s.List(bg, "index/", func(k string, _ int64) error { idx = append(idx, k); return nil }))
	if len(idx) != 1 {
		t.Fatalf("index files after GC: %v, want one", idx)
	}
	check(t, s.Delete(bg, idx[0]))
	fresh := openRepo(t, s)
	restoreMatches(t, fresh, "b", describe(t, dir))
	verifyOK(t, fresh)
}

// repackSetup backs up, as "a", a tree whose first pack (one goroutine
// writes the largest files first, into packs of 1 MiB) holds two files
// that "b" no longer has and one it keeps. It returns the pack.
func repackSetup(t *testing.T, s backup.Backend) (*backup.Repo, string, string) {
	r := openRepoWith(t, s, backup.Options{PackSize: testPackSize, Workers: 1})
	dir := t.TempDir()
	rng := rand.NewChaCha8([32]byte{9})
	for _, f := range []struct {
		name string
		size int
	}{{"drop-1", 460_000}, {"drop-2", 450_000}, {"keep", 400_000}, {"small", 5000}, {"tiny", 10}} {
		b := make([]byte, f.size)
		_, _ = rng.Read(b)
		check(t, os.WriteFile(filepath.Join(dir, f.name), b, 0o644))
	}
	snap(t, r, dir, "a", "")
	packs := packKeys(t, s)
	if len(packs) != 2 {
		t.Fatalf("packs %v, want two", packs)
	}
	check(t, os.Remove(filepath.Join(dir, "drop-1")))
	check(t, os.Remove(filepath.Join(dir, "drop-2")))
	if st := snap(t, r, dir, "b", "a"); st.NewChunks != 0 {
		t.Fatalf("b wrote chunks: %+v", st)
	}
	// The first pack is the one with the three large files.
	first := packs[0]
	if size, _ := s.Stat(bg, packs[1]); size > 1_000_000 {
		first = packs[1]
	}
	return r, dir, first
}

func testGCWaits(t *testing.T, s backup.Backend) {
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
func testConcurrent(t *testing.T, s backup.Backend) {
	r := openRepo(t, s)
	const writers, rounds = 3, 2 // the second round deletes the first
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

func corruptionSetup(t *testing.T, s backup.Backend) (*backup.Repo, string) {
	r := openRepo(t, s)
	dir := tree(t, 6)
	snap(t, r, dir, "b1", "")
	return r, dir
}

func testCorruptChunk(t *testing.T, s backup.Backend) {
	r, _ := corruptionSetup(t, s)
	keys := packKeys(t, s)
	victim := keys[len(keys)/2]
	b, err := s.Get(bg, victim)
	check(t, err)
	b[len(b)/3] ^= 0x40 // among the chunks: the header is at the end
	check(t, s.Put(bg, victim, b))
	_, err = r.Restore(bg, "b1", filepath.Join(t.TempDir(), "r"))
	if !errors.Is(err, backup.ErrCorrupt) || !strings.Contains(err.Error(), victim) || !strings.Contains(err.Error(), "chunk ") {
		t.Fatalf("restore with a corrupt chunk = %v, want ErrCorrupt naming the pack %s and the chunk", err, victim)
	}
	rep, err := r.Verify(bg, backup.VerifyOptions{})
	check(t, err)
	problems := strings.Join(rep.Problems, "\n")
	if rep.OK() || len(rep.Damaged) != 1 || rep.Damaged[0] != "b1" || !strings.Contains(problems, "corrupt") || !strings.Contains(problems, victim) {
		t.Fatalf("verify did not find the corrupt chunk: %+v", rep)
	}
	// Once no backup uses it, the damaged pack goes like any other.
	check(t, r.Delete(bg, "b1"))
	_, err = r.GC(bg)
	check(t, err)
	if n := len(packKeys(t, s)); n != 0 {
		t.Fatalf("%d packs left", n)
	}
}

// testCorruptPackHeader: a pack whose header is damaged, with no index
// file to say what it holds, is named by restore and verify, and GC keeps
// it (it may hold chunks in use).
func testCorruptPackHeader(t *testing.T, s backup.Backend) {
	corruptionSetup(t, s)
	keys := packKeys(t, s)
	victim := keys[0]
	b, err := s.Get(bg, victim)
	check(t, err)
	b[len(b)-30] ^= 1 // the header's checksum, in the footer
	check(t, s.Put(bg, victim, b))
	check(t, s.List(bg, "index/", func(k string, _ int64) error { return s.Delete(bg, k) }))
	r := openRepo(t, s) // a new process, that reads the headers
	_, err = r.Restore(bg, "b1", filepath.Join(t.TempDir(), "r"))
	if !errors.Is(err, backup.ErrCorrupt) || !strings.Contains(err.Error(), victim) {
		t.Fatalf("restore with a damaged pack header = %v, want ErrCorrupt naming %s", err, victim)
	}
	for _, quick := range []bool{true, false} {
		rep, err := r.Verify(bg, backup.VerifyOptions{Quick: quick})
		check(t, err)
		if rep.OK() || len(rep.Damaged) != 1 || !strings.Contains(strings.Join(rep.Problems, "\n"), victim+" cannot be read") {
			t.Fatalf("verify (quick %v) did not name the damaged pack: %+v", quick, rep)
		}
	}
	if st, err := r.GC(bg); err != nil || st.DamagedPacks != 1 {
		t.Fatalf("GC = %+v, %v", st, err)
	}
	if !slices.Contains(packKeys(t, s), victim) {
		t.Fatal("GC deleted a pack whose contents it cannot know")
	}
}

// testIndexFiles: index files only spare reading the packs' headers: a
// damaged one is ignored, and GC replaces them all by one.
func testIndexFiles(t *testing.T, s backup.Backend) {
	r := openRepo(t, s)
	dir := tree(t, 8)
	snap(t, r, dir, "b1", "")
	check(t, os.WriteFile(filepath.Join(dir, "new"), []byte("new"), 0o644))
	snap(t, r, dir, "b2", "b1")
	indexes := func() []string {
		var keys []string
		check(t, s.List(bg, "index/", func(k string, _ int64) error { keys = append(keys, k); return nil }))
		slices.Sort(keys)
		return keys
	}
	idx := indexes()
	if len(idx) != 2 {
		t.Fatalf("index files %v, want one per snapshot", idx)
	}
	b, err := s.Get(bg, idx[0])
	check(t, err)
	b[len(b)/2] ^= 1
	check(t, s.Put(bg, idx[0], b))
	fresh := openRepo(t, s)
	restoreMatches(t, fresh, "b2", describe(t, dir))
	verifyOK(t, fresh)
	st, err := fresh.GC(bg)
	check(t, err)
	if st.FreedChunks != 0 || len(indexes()) != 1 {
		t.Fatalf("GC = %+v; index files %v, want one", st, indexes())
	}
	restoreMatches(t, openRepo(t, s), "b2", describe(t, dir))
}

func testMissingChunk(t *testing.T, s backup.Backend) {
	r, _ := corruptionSetup(t, s)
	keys := packKeys(t, s)
	check(t, s.Delete(bg, keys[0]))
	if _, err := r.Restore(bg, "b1", filepath.Join(t.TempDir(), "r")); !errors.Is(err, backup.ErrCorrupt) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("restore with a missing pack = %v", err)
	}
	rep, err := r.Verify(bg, backup.VerifyOptions{Quick: true})
	check(t, err)
	if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), "missing") {
		t.Fatalf("quick verify did not find the missing chunk: %+v", rep)
	}
}

func testCorruptManifest(t *testing.T, s backup.Backend) {
	r, _ := corruptionSetup(t, s)
	b, err := s.Get(bg, "manifests/b1")
	check(t, err)
	b[len(b)-1] ^= 1
	check(t, s.Put(bg, "manifests/b1", b))
	if _, err := r.Restore(bg, "b1", filepath.Join(t.TempDir(), "r")); !errors.Is(err, backup.ErrCorrupt) {
		t.Fatalf("restore with a corrupt manifest = %v", err)
	}
	n := len(packKeys(t, s))
	if _, err := r.GC(bg); err == nil {
		t.Fatal("GC ran with a manifest it cannot read")
	}
	if len(packKeys(t, s)) != n {
		t.Fatal("GC deleted packs although a manifest was unreadable")
	}
	if rep, err := r.Verify(bg, backup.VerifyOptions{}); err != nil || rep.OK() {
		t.Fatalf("verify of a corrupt manifest = %+v, %v", rep, err)
	}
}

var errCrash = errors.New("crash")

// crashStore fails every write from the n-th on, as a process killed at
// that moment would stop writing.
type crashStore struct {
	backup.Backend
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
	return c.Backend.Put(ctx, key, data)
}

func (c *crashStore) Delete(ctx context.Context, key string) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.Backend.Delete(ctx, key)
}

func (c *crashStore) Sync(ctx context.Context) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.Backend.Sync(ctx)
}

// crashing opens the repository on a store that crashes after n writes.
func crashing(t *testing.T, s backup.Backend, n int) *backup.Repo {
	cs := &crashStore{Backend: s}
	cs.left.Store(int64(n))
	r, err := backup.Open(bg, cs, backup.Options{Logger: quiet, Workers: 2, PackSize: testPackSize})
	check(t, err)
	return r
}

// testCrashes stops a snapshot and a garbage collection after every
// possible number of writes: after each crash the store must verify, no
// backup may be half there, and running the operation again finishes it.
func testCrashes(t *testing.T, s backup.Backend) {
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

	// A snapshot resumed after a crash reuses the packs the crashed one
	// wrote. (12 MB: several packs.)
	b := make([]byte, 12_000_000)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(b)
	check(t, os.WriteFile(filepath.Join(dir, "project/assets/texture.raw"), b, 0o644))
	want2 := describe(t, dir)
	before := verifyOK(t, r).Chunks
	cr := crashing(t, s, 2)
	if _, err := cr.Snapshot(bg, dir, backup.SnapshotOptions{ID: "b2", Parent: "b1"}); !errors.Is(err, errCrash) {
		t.Fatalf("snapshot = %v, want the crash", err)
	}
	_ = cr.Close()
	written := verifyOK(t, r).Chunks - before
	st := snap(t, r, dir, "b2", "b1")
	needed := 0
	c1 := chunksOf(t, r, "b1")
	for c := range chunksOf(t, r, "b2") {
		if !c1[c] {
			needed++
		}
	}
	if written < 2 || st.NewChunks != needed-written {
		t.Fatalf("the resumed snapshot wrote %d chunks; %d were new, %d written before the crash", st.NewChunks, needed, written)
	}
	restoreMatches(t, r, "b2", want2)

	// Garbage collection crashed at every write (copying chunks out of
	// packs mostly garbage, writing the index, deleting) frees only
	// garbage.
	check(t, r.Delete(bg, "b1"))
	gcCrashes(t, s, r, "b2", want2)
}

// gcCrashes runs a garbage collection that crashes after every possible
// number of writes, until one finishes: after each crash the store must
// verify (every chunk of every backup there and intact, read whole: a GC
// changes no manifest, so that is what a restore needs), and backup id
// restore once it is done. It returns the most packs seen after a crash.
func gcCrashes(t *testing.T, s backup.Backend, r *backup.Repo, id string, want map[string]Node) int {
	most := 0
	for n := 0; ; n++ {
		cr := crashing(t, s, n)
		_, err := cr.GC(bg)
		_ = cr.Close()
		verifyOK(t, r)
		most = max(most, len(packKeys(t, s)))
		if err == nil {
			break
		}
		if !errors.Is(err, errCrash) || n > 1000 {
			t.Fatalf("GC crashed after %d writes: %v", n, err)
		}
	}
	restoreMatches(t, r, id, want)
	if again, err := r.GC(bg); err != nil || again.DeletedPacks != 0 || again.NewPacks != 0 {
		t.Fatalf("a GC after the finished one = %+v, %v: it should find nothing to do", again, err)
	}
	if rep := verifyOK(t, r); rep.UnreferencedBytes > rep.ChunkBytes/2 {
		t.Fatalf("garbage left after GC: %+v", rep)
	}
	return most
}

// testRepackCrashes crashes a GC that repacks at every write: the chunks
// in use are always in the old pack, the new one, or both.
func testRepackCrashes(t *testing.T, s backup.Backend) {
	r, dir, gone := repackSetup(t, s)
	want := describe(t, dir)
	packs := len(packKeys(t, s))
	check(t, r.Delete(bg, "a"))
	if most := gcCrashes(t, s, r, "b", want); most <= packs {
		t.Fatalf("no crash left the new pack beside the old one (%d packs at most, %d before)", most, packs)
	}
	if slices.Contains(packKeys(t, s), gone) {
		t.Fatalf("the repacked pack %s is still there", gone)
	}
	if rep := verifyOK(t, r); rep.Unreferenced != 0 {
		t.Fatalf("garbage left: %+v", rep)
	}
}
