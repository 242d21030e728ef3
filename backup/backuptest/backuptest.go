// Package backuptest is the conformance suite of backup.Backend: every store
// (a directory now, an S3-compatible bucket later) runs it, both the object
// contract and whole repositories on top of it (round trips, deduplication,
// garbage collection, corruption, crashes at every write). It also has the
// tree helpers that the driver and end-to-end tests compare volumes with.
package backuptest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opennimble/opennimble/backup"
)

// Run runs the suite; newStore returns a fresh, empty store for each test.
func Run(t *testing.T, newStore func(t *testing.T) backup.Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, backup.Backend)
	}{
		{"PutGetStat", testPutGetStat},
		{"PutReplaces", testPutReplaces},
		{"GetRange", testGetRange},
		{"MissingObjects", testMissing},
		{"InvalidKeys", testInvalidKeys},
		{"ListByPrefix", testList},
		{"DeleteIsIdempotent", testDelete},
		{"LargeObject", testLarge},
		{"ConcurrentPuts", testConcurrentPuts},
		{"SharedLocksShare", testSharedLocks},
		{"ExclusiveLockExcludes", testExclusiveLock},
		{"LockWaitHonoursContext", testLockContext},
		{"RepoRoundTrip", testRoundTrip},
		{"RepoIncremental", testIncremental},
		{"RepoManySmallFiles", testManyFiles},
		{"RepoSnapshotIsTakenOnce", testSnapshotOnce},
		{"RepoMissingBackup", testMissingBackup},
		{"RepoGCFreesOnlyUnused", testGC},
		{"RepoGCRepacksPacksMostlyGarbage", testRepack},
		{"RepoGCWaitsForSnapshots", testGCWaits},
		{"RepoConcurrentSnapshotsDeletesAndGC", testConcurrent},
		{"RepoCorruptChunk", testCorruptChunk},
		{"RepoCorruptPackHeader", testCorruptPackHeader},
		{"RepoIndexFilesAreACache", testIndexFiles},
		{"RepoMissingChunk", testMissingChunk},
		{"RepoCorruptManifest", testCorruptManifest},
		{"RepoCrashAtEveryWrite", testCrashes},
		{"RepoCrashAtEveryRepackWrite", testRepackCrashes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

var bg = context.Background()

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testPutGetStat(t *testing.T, s backup.Backend) {
	check(t, s.Put(bg, "a/b/c", []byte("hello")))
	check(t, s.Sync(bg))
	got, err := s.Get(bg, "a/b/c")
	check(t, err)
	if string(got) != "hello" {
		t.Fatalf("Get = %q", got)
	}
	n, err := s.Stat(bg, "a/b/c")
	if err != nil || n != 5 {
		t.Fatalf("Stat = %d, %v", n, err)
	}
	check(t, s.Put(bg, "empty", nil))
	if got, err := s.Get(bg, "empty"); err != nil || len(got) != 0 {
		t.Fatalf("Get(empty) = %q, %v", got, err)
	}
}

func testGetRange(t *testing.T, s backup.Backend) {
	b := make([]byte, 1000)
	for i := range b {
		b[i] = byte(i)
	}
	check(t, s.Put(bg, "r/x", b)) // read before and after Sync
	for range 2 {
		for _, r := range [][2]int64{{0, 1000}, {10, 5}, {999, 1}, {1000, 0}, {0, 0}} {
			got, err := s.GetRange(bg, "r/x", r[0], r[1])
			if err != nil || !bytes.Equal(got, b[r[0]:r[0]+r[1]]) {
				t.Fatalf("GetRange(%d, %d) = %v, %v", r[0], r[1], got, err)
			}
		}
		for _, r := range [][2]int64{{995, 10}, {1001, 0}, {2000, 1}} {
			if _, err := s.GetRange(bg, "r/x", r[0], r[1]); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("GetRange(%d, %d) past the end = %v, want io.ErrUnexpectedEOF", r[0], r[1], err)
			}
		}
		check(t, s.Sync(bg))
	}
	if _, err := s.GetRange(bg, "r/nope", 0, 1); !errors.Is(err, backup.ErrNotExist) {
		t.Fatalf("GetRange of a missing object = %v", err)
	}
}

func testPutReplaces(t *testing.T, s backup.Backend) {
	check(t, s.Put(bg, "k", []byte("first, longer")))
	check(t, s.Put(bg, "k", []byte("second")))
	if got, _ := s.Get(bg, "k"); string(got) != "second" {
		t.Fatalf("Get = %q", got)
	}
}

func testMissing(t *testing.T, s backup.Backend) {
	if _, err := s.Get(bg, "nope"); !errors.Is(err, backup.ErrNotExist) {
		t.Fatalf("Get = %v, want ErrNotExist", err)
	}
	if _, err := s.Stat(bg, "no/pe"); !errors.Is(err, backup.ErrNotExist) {
		t.Fatalf("Stat = %v, want ErrNotExist", err)
	}
}

func testInvalidKeys(t *testing.T, s backup.Backend) {
	for _, k := range []string{"", "/abs", "a/../b", "..", "a//b", "trailing/", "sp ace", "a/./b"} {
		if err := s.Put(bg, k, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded", k)
		}
	}
}

func testList(t *testing.T, s backup.Backend) {
	keys := []string{"chunks/aa/aa1", "chunks/aa/aa2", "chunks/bb/bb1", "manifests/m1", "manifests/m2", "config"}
	for i, k := range keys {
		check(t, s.Put(bg, k, bytes.Repeat([]byte("x"), i)))
	}
	list := func(prefix string) []string {
		var out []string
		check(t, s.List(bg, prefix, func(key string, size int64) error {
			out = append(out, fmt.Sprintf("%s=%d", key, size))
			return nil
		}))
		slices.Sort(out)
		return out
	}
	if got := list("chunks/"); !slices.Equal(got, []string{"chunks/aa/aa1=0", "chunks/aa/aa2=1", "chunks/bb/bb1=2"}) {
		t.Errorf("List(chunks/) = %v", got)
	}
	if got := list("chunks/aa"); !slices.Equal(got, []string{"chunks/aa/aa1=0", "chunks/aa/aa2=1"}) {
		t.Errorf("List(chunks/aa) = %v", got)
	}
	if got := list("manifests/"); !slices.Equal(got, []string{"manifests/m1=3", "manifests/m2=4"}) {
		t.Errorf("List(manifests/) = %v", got)
	}
	if got := list(""); len(got) != len(keys) {
		t.Errorf("List() = %v", got)
	}
	if got := list("nothing/"); len(got) != 0 {
		t.Errorf("List(nothing/) = %v", got)
	}
	stop := errors.New("stop")
	if err := s.List(bg, "", func(string, int64) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("List did not return fn's error: %v", err)
	}
}

func testDelete(t *testing.T, s backup.Backend) {
	check(t, s.Put(bg, "x/y", []byte("1")))
	check(t, s.Delete(bg, "x/y"))
	check(t, s.Delete(bg, "x/y"))
	check(t, s.Delete(bg, "never/was"))
	check(t, s.Sync(bg))
	if _, err := s.Get(bg, "x/y"); !errors.Is(err, backup.ErrNotExist) {
		t.Fatalf("Get after Delete = %v", err)
	}
}

func testLarge(t *testing.T, s backup.Backend) {
	b := make([]byte, 9<<20)
	for i := range b {
		b[i] = byte(i * 7)
	}
	check(t, s.Put(bg, "big", b))
	got, err := s.Get(bg, "big")
	check(t, err)
	if !bytes.Equal(got, b) {
		t.Fatal("large object changed")
	}
}

func testConcurrentPuts(t *testing.T, s backup.Backend) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Put(bg, fmt.Sprintf("c/%02d", i%8), []byte(strings.Repeat("v", 1000)))
			_, err := s.Get(bg, fmt.Sprintf("c/%02d", (i+1)%8))
			if errors.Is(err, backup.ErrNotExist) {
				err = nil
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		check(t, err)
	}
	n := 0
	check(t, s.List(bg, "c/", func(_ string, size int64) error {
		if size != 1000 {
			t.Errorf("object of %d bytes: a reader saw a partial Put", size)
		}
		n++
		return nil
	}))
	if n != 8 {
		t.Fatalf("%d objects, want 8", n)
	}
}

func testSharedLocks(t *testing.T, s backup.Backend) {
	ctx, cancel := context.WithTimeout(bg, 5*time.Second)
	defer cancel()
	u1, err := s.Lock(ctx, false)
	check(t, err)
	u2, err := s.Lock(ctx, false)
	check(t, err)
	u1()
	u2()
	u2() // unlocking twice is harmless
}

func testExclusiveLock(t *testing.T, s backup.Backend) {
	shared, err := s.Lock(bg, false)
	check(t, err)
	got := make(chan func(), 1)
	go func() {
		u, err := s.Lock(bg, true)
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	select {
	case <-got:
		t.Fatal("an exclusive lock was granted while a shared one was held")
	case <-time.After(100 * time.Millisecond):
	}
	shared()
	var excl func()
	select {
	case excl = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("the exclusive lock was not granted once the shared one was released")
	}
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(ctx, false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a shared lock during an exclusive one: %v", err)
	}
	excl()
	u, err := s.Lock(bg, false)
	check(t, err)
	u()
}

func testLockContext(t *testing.T, s backup.Backend) {
	u, err := s.Lock(bg, true)
	check(t, err)
	defer u()
	ctx, cancel := context.WithCancel(bg)
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if _, err := s.Lock(ctx, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock = %v, want context.Canceled", err)
	}
}
