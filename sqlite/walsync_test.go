package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opennimble/opennimble"
)

// TestAckWaitsForFlush checks that a write is acknowledged only after a
// flush of the WAL that began after its commit, that a relaxed write does
// not wait for one, and that a failed flush fails the writes it covered.
func TestAckWaitsForFlush(t *testing.T) {
	s := openInternal(t, Options{})
	ctx := t.Context()
	started := make(chan struct{}, 16)
	release := make(chan error)
	s.syncer.flush = func() error {
		started <- struct{}{}
		return <-release
	}
	put := func(id string) chan error {
		done := make(chan error, 1)
		go func() {
			done <- s.Update(ctx, func(tx opennimble.Tx) error {
				return tx.Put(ctx, &opennimble.Record{Kind: opennimble.KindStudio, ID: id, Data: []byte(`{}`)})
			})
		}()
		return done
	}
	committed := func(id string) bool {
		_, err := s.GetRecord(ctx, opennimble.KindStudio, id)
		return err == nil
	}

	first := put("a")
	<-started // a is committed; its flush is running
	if !committed("a") {
		t.Fatal("a flush began before a's commit")
	}
	second := put("b") // commits while the flush of a runs
	for !committed("b") {
		time.Sleep(time.Millisecond)
	}
	// A relaxed write is acknowledged without a flush.
	if err := s.writeRelaxed(ctx, func(*tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-first:
		t.Fatalf("a acknowledged (%v) before its flush ended", err)
	case err := <-second:
		t.Fatalf("b acknowledged (%v) before any flush after its commit", err)
	default:
	}
	release <- nil // a's flush ends; b needs the next one
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	<-started
	select {
	case err := <-second:
		t.Fatalf("b acknowledged (%v) before the flush after its commit ended", err)
	case <-time.After(20 * time.Millisecond):
	}
	release <- errors.New("disk on fire")
	if err := <-second; err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("b after a failed flush: %v, want the flush's error", err)
	}
}

// TestFlushFollowsANewWAL checks that the flush opens the WAL again when the
// file at its path was replaced.
func TestFlushFollowsANewWAL(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "db")
	if err := os.WriteFile(db+"-wal", []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWALSyncer(db)
	defer w.close()
	if err := w.fdatasync(); err != nil {
		t.Fatal(err)
	}
	first := w.ino
	if err := os.WriteFile(filepath.Join(dir, "new"), []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "new"), db+"-wal"); err != nil {
		t.Fatal(err)
	}
	if err := w.fdatasync(); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(db+"-wal", &st); err != nil {
		t.Fatal(err)
	}
	if w.ino == first || w.ino != st.Ino {
		t.Fatalf("flushing inode %d after the WAL was replaced by inode %d (was %d)", w.ino, st.Ino, first)
	}
}

// TestGroupOutlivesACancelledWriter checks that a writer whose context ends
// while its fn runs, in a group with others, is rolled back alone: its
// statements are not interrupted (SQLite would roll back the whole shared
// transaction), and the others commit.
func TestGroupOutlivesACancelledWriter(t *testing.T) {
	s := openInternal(t, Options{Sync: "normal"})
	ctx := t.Context()
	inFn := make(chan struct{})
	proceed := make(chan struct{})
	// A first write holds the loop so that the next two share a group.
	first := make(chan error, 1)
	go func() {
		first <- s.Update(ctx, func(tx opennimble.Tx) error {
			close(inFn)
			<-proceed
			return nil
		})
	}()
	<-inFn
	cctx, cancel := context.WithCancel(ctx)
	doomed, other := make(chan error, 1), make(chan error, 1)
	go func() {
		doomed <- s.Update(cctx, func(tx opennimble.Tx) error {
			if err := tx.Put(cctx, &opennimble.Record{Kind: opennimble.KindStudio, ID: "doomed", Data: []byte(`{}`)}); err != nil {
				return err
			}
			cancel() // the caller gives up while its write runs
			return tx.Put(cctx, &opennimble.Record{Kind: opennimble.KindStudio, ID: "doomed-2", Data: []byte(`{}`)})
		})
	}()
	go func() {
		other <- s.Update(ctx, func(tx opennimble.Tx) error {
			return tx.Put(ctx, &opennimble.Record{Kind: opennimble.KindStudio, ID: "kept", Data: []byte(`{}`)})
		})
	}()
	time.Sleep(20 * time.Millisecond) // let both queue behind the first
	close(proceed)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := <-doomed; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled writer: %v, want context.Canceled", err)
	}
	if err := <-other; err != nil {
		t.Fatalf("the other writer of the group: %v", err)
	}
	for id, want := range map[string]bool{"doomed": false, "doomed-2": false, "kept": true} {
		_, err := s.GetRecord(ctx, opennimble.KindStudio, id)
		if got := err == nil; got != want {
			t.Errorf("record %s stored: %v, want %v", id, got, want)
		}
	}
}

// TestClaimWaitsForFlush checks that a claim is acknowledged only after a
// flush: a job must not run before what enqueued it is on disk, and other
// connections see a commit before its flush.
func TestClaimWaitsForFlush(t *testing.T) {
	s := openInternal(t, Options{})
	ctx := t.Context()
	err := s.Update(ctx, func(tx opennimble.Tx) error {
		return tx.EnqueueJob(ctx, opennimble.KindStreamingSession, "ses-1", time.Unix(1, 0))
	})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{}, 4)
	release := make(chan error)
	s.syncer.flush = func() error {
		started <- struct{}{}
		return <-release
	}
	claimed := make(chan []opennimble.Job, 1)
	go func() {
		jobs, err := s.ClaimJobs(ctx, "w", time.Unix(2, 0), time.Minute, 8)
		if err != nil {
			t.Error(err)
		}
		claimed <- jobs
	}()
	<-started
	select {
	case jobs := <-claimed:
		t.Fatalf("claimed %v before the flush after the claim ended", jobs)
	case <-time.After(20 * time.Millisecond):
	}
	release <- nil
	if jobs := <-claimed; len(jobs) != 1 || jobs[0].ResourceID != "ses-1" {
		t.Fatalf("claimed %+v, want the job of ses-1", jobs)
	}
}
