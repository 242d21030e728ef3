package storetest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/opennimble/opennimble"
)

var txTests = []test{
	{"Rollback", testRollback},
	{"ErrorReturnedUnchanged", testErrorReturnedUnchanged},
	{"PanicRollsBack", testPanicRollsBack},
	{"CanceledContext", testCanceledContext},
	{"ReadOwnWrites", testReadOwnWrites},
	{"FailedPutKeepsTxUsable", testFailedPutKeepsTxUsable},
	{"ViewSnapshot", testViewSnapshot},
	{"ConcurrentCounter", testConcurrentCounter},
}

// writeEverything makes one write of every kind a Tx offers.
func writeEverything(t *testing.T, tx opennimble.Tx) error {
	ctx := t.Context()
	if err := tx.Put(ctx, session("s-1")); err != nil {
		return err
	}
	if err := tx.EnqueueJob(ctx, opennimble.KindStreamingSession, "s-1", at(0)); err != nil {
		return err
	}
	if err := tx.PutIdempotency(ctx, &opennimble.IdempotencyRecord{Key: "k", RequestHash: "h"}); err != nil {
		return err
	}
	return tx.PutMeta(ctx, "m", []byte("v"))
}

// wantNothingWritten checks that no write of writeEverything is visible.
func wantNothingWritten(t *testing.T, s opennimble.Store) {
	t.Helper()
	ctx := t.Context()
	view(t, s, func(tx opennimble.Tx) error {
		if _, err := tx.Get(ctx, opennimble.KindStreamingSession, "s-1"); !errors.Is(err, opennimble.ErrNoRecord) {
			t.Errorf("record after rollback: Get returned %v", err)
		}
		if _, err := tx.GetIdempotency(ctx, "k"); !errors.Is(err, opennimble.ErrNoRecord) {
			t.Errorf("idempotency record after rollback: GetIdempotency returned %v", err)
		}
		if _, err := tx.GetMeta(ctx, "m"); !errors.Is(err, opennimble.ErrNoRecord) {
			t.Errorf("meta after rollback: GetMeta returned %v", err)
		}
		return nil
	})
	if next, ok, err := s.NextJobAt(ctx); err != nil || ok {
		t.Errorf("job after rollback: NextJobAt = %v, %v, %v", next, ok, err)
	}
	if jobs, err := s.ClaimJobs(ctx, "w", at(1e12), 0, 10); err != nil || len(jobs) != 0 {
		t.Errorf("job after rollback: ClaimJobs = %v, %v", jobs, err)
	}
}

func testRollback(t *testing.T, s opennimble.Store) {
	boom := errors.New("boom")
	err := s.Update(t.Context(), func(tx opennimble.Tx) error {
		if err := writeEverything(t, tx); err != nil {
			t.Fatalf("writeEverything: %v", err)
		}
		return boom
	})
	if err != boom {
		t.Fatalf("Update returned %v, want the error fn returned", err)
	}
	wantNothingWritten(t, s)

	// The store is usable afterwards, and the same writes now commit.
	update(t, s, func(tx opennimble.Tx) error { return writeEverything(t, tx) })
	get(t, s, opennimble.KindStreamingSession, "s-1")
}

func testErrorReturnedUnchanged(t *testing.T, s opennimble.Store) {
	want := opennimble.NotFound("StreamingSession", "s-1")
	err := s.Update(t.Context(), func(tx opennimble.Tx) error { return want })
	if got, ok := err.(*opennimble.Error); !ok || got != want {
		t.Errorf("Update returned %#v, want the *opennimble.Error fn returned", err)
	}
	err = s.View(t.Context(), func(tx opennimble.Tx) error { return want })
	if got, ok := err.(*opennimble.Error); !ok || got != want {
		t.Errorf("View returned %#v, want the *opennimble.Error fn returned", err)
	}
}

func testPanicRollsBack(t *testing.T, s opennimble.Store) {
	func() {
		defer func() {
			if recover() == nil {
				t.Errorf("the panic in fn did not reach the caller of Update")
			}
		}()
		s.Update(t.Context(), func(tx opennimble.Tx) error {
			if err := writeEverything(t, tx); err != nil {
				t.Fatalf("writeEverything: %v", err)
			}
			panic("boom")
		})
	}()
	wantNothingWritten(t, s)
	update(t, s, func(tx opennimble.Tx) error { return writeEverything(t, tx) })
}

func testCanceledContext(t *testing.T, s opennimble.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ran := false
	err := s.Update(ctx, func(tx opennimble.Tx) error { ran = true; return nil })
	if err == nil && ran {
		t.Errorf("Update with a canceled context ran and committed")
	}

	// Canceling while fn runs: the Update fails and nothing is written.
	ctx, cancel = context.WithCancel(t.Context())
	err = s.Update(ctx, func(tx opennimble.Tx) error {
		if err := writeEverything(t, tx); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update canceled during fn returned %v, want context.Canceled", err)
	}
	wantNothingWritten(t, s)
	update(t, s, func(tx opennimble.Tx) error { return writeEverything(t, tx) })
}

func testReadOwnWrites(t *testing.T, s opennimble.Store) {
	ctx := t.Context()
	update(t, s, func(tx opennimble.Tx) error {
		r := session("s-1")
		if err := writeEverything(t, tx); err != nil {
			return err
		}
		got, err := tx.Get(ctx, r.Kind, r.ID)
		if err != nil {
			t.Fatalf("Get of own insert: %v", err)
		}
		if got.Version != 1 || got.Seq <= 0 {
			t.Errorf("own insert read back with Version=%d Seq=%d", got.Version, got.Seq)
		}
		got.State = "READY"
		if err := tx.Put(ctx, got); err != nil {
			t.Fatalf("update of own insert: %v", err)
		}
		q := opennimble.ListQuery{Kind: r.Kind, StudioID: r.StudioID, States: []string{"READY"}}
		if rs, err := tx.List(ctx, q); err != nil || len(rs) != 1 || rs[0].Version != 2 {
			t.Errorf("List of own write: %v, %v", rs, err)
		}
		if n, err := tx.Count(ctx, q); err != nil || n != 1 {
			t.Errorf("Count of own write: %d, %v", n, err)
		}
		if ir, err := tx.GetIdempotency(ctx, "k"); err != nil || ir.RequestHash != "h" {
			t.Errorf("GetIdempotency of own write: %v, %v", ir, err)
		}
		if v, err := tx.GetMeta(ctx, "m"); err != nil || string(v) != "v" {
			t.Errorf("GetMeta of own write: %q, %v", v, err)
		}
		if err := tx.Delete(ctx, r.Kind, r.ID); err != nil {
			t.Fatalf("Delete of own insert: %v", err)
		}
		if _, err := tx.Get(ctx, r.Kind, r.ID); !errors.Is(err, opennimble.ErrNoRecord) {
			t.Errorf("Get of own delete: %v", err)
		}
		return nil
	})
}

func testFailedPutKeepsTxUsable(t *testing.T, s opennimble.Store) {
	put(t, s, session("s-1"))
	update(t, s, func(tx opennimble.Tx) error {
		err := tx.Put(t.Context(), session("s-1"))
		wantErr(t, "insert of an existing record", err, opennimble.ErrVersionConflict)
		stale := session("s-1")
		stale.Version = 7
		wantErr(t, "stale update", tx.Put(t.Context(), stale), opennimble.ErrVersionConflict)
		missing := session("s-9")
		missing.Version = 1
		wantErr(t, "update of a missing record", tx.Put(t.Context(), missing), opennimble.ErrNoRecord)
		_, err = tx.Get(t.Context(), opennimble.KindStudio, "nope")
		wantErr(t, "Get of a missing record", err, opennimble.ErrNoRecord)
		// The failures did not spoil the transaction.
		return tx.Put(t.Context(), session("s-2"))
	})
	get(t, s, opennimble.KindStreamingSession, "s-2")
}

func testViewSnapshot(t *testing.T, s opennimble.Store) {
	put(t, s, session("s-1"))
	view(t, s, func(tx opennimble.Tx) error {
		if _, err := tx.Get(t.Context(), opennimble.KindStreamingSession, "s-1"); err != nil {
			t.Errorf("View does not see a committed Update: %v", err)
		}
		return nil
	})
}

// testConcurrentCounter increments one record from 8 goroutines; the store
// must neither lose nor duplicate an increment.
func testConcurrentCounter(t *testing.T, s opennimble.Store) {
	const workers, increments = 8, 25
	put(t, s, &opennimble.Record{Kind: opennimble.KindStudio, ID: "counter", Data: []byte("0")})
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range increments {
				if err := increment(t, s); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("increment: %v", err)
	}
	r := get(t, s, opennimble.KindStudio, "counter")
	if string(r.Data) != strconv.Itoa(workers*increments) || r.Version != workers*increments+1 {
		t.Errorf("counter = %s at Version %d, want %d at Version %d",
			r.Data, r.Version, workers*increments, workers*increments+1)
	}
}

// increment adds one to the counter, starting over when another writer got
// there first.
func increment(t *testing.T, s opennimble.Store) error {
	for {
		err := s.Update(t.Context(), func(tx opennimble.Tx) error {
			r, err := tx.Get(t.Context(), opennimble.KindStudio, "counter")
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(string(r.Data))
			if err != nil {
				return err
			}
			r.Data = []byte(strconv.Itoa(n + 1))
			return tx.Put(t.Context(), r)
		})
		if !errors.Is(err, opennimble.ErrVersionConflict) {
			return err
		}
	}
}
