package service

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/sqlite"
)

// countingStore counts the transactions and single-record reads a store
// serves.
type countingStore struct {
	opennimble.Store
	views, updates, gets, completes atomic.Int64
}

func (c *countingStore) View(ctx context.Context, fn func(opennimble.Tx) error) error {
	c.views.Add(1)
	return c.Store.View(ctx, fn)
}

func (c *countingStore) Update(ctx context.Context, fn func(opennimble.Tx) error) error {
	c.updates.Add(1)
	return c.Store.Update(ctx, fn)
}

func (c *countingStore) CompleteJob(ctx context.Context, j opennimble.Job) error {
	c.completes.Add(1)
	return c.Store.CompleteJob(ctx, j)
}

func (c *countingStore) GetRecord(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	c.gets.Add(1)
	return c.Store.(opennimble.RecordGetter).GetRecord(ctx, kind, id)
}

func (c *countingStore) counts() [4]int64 {
	return [4]int64{c.views.Load(), c.updates.Load(), c.gets.Load(), c.completes.Load()}
}

func (c *countingStore) reset() {
	c.views.Store(0)
	c.updates.Store(0)
	c.gets.Store(0)
	c.completes.Store(0)
}

func newCountingRig(t *testing.T) (*sessRig, *countingStore) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "opennimble.db"), sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &countingStore{Store: st}
	return newSessRigOn(t, c), c
}

// readFirst reads a single record without a transaction, more in a
// read-only transaction, and goes to a write transaction only when the look
// writes, even when fn drops the error its write got.
func TestReadFirst(t *testing.T) {
	r, c := newCountingRig(t)
	ctx := t.Context()
	kind := opennimble.KindLaunchProfile
	look := func(fn func(*txn) error) [4]int64 {
		t.Helper()
		c.reset()
		if err := r.svc.readFirst(ctx, fn); err != nil {
			t.Fatalf("readFirst: %v", err)
		}
		return c.counts()
	}
	one := func(t *txn) error {
		d, _, err := get[launchProfileDoc](ctx, t, kind, rigProfile)
		if err == nil && d == nil {
			err = errors.New("no launch profile")
		}
		return err
	}
	if got := look(one); got != [4]int64{0, 0, 1, 0} {
		t.Errorf("one record: views, updates, gets, completes = %v, want a single GetRecord", got)
	}
	two := func(t *txn) error {
		if err := one(t); err != nil {
			return err
		}
		_, _, err := get[streamingImageDoc](ctx, t, opennimble.KindStreamingImage, rigImage)
		return err
	}
	if got := look(two); got[0] != 1 || got[1] != 0 {
		t.Errorf("two records: views, updates, gets, completes = %v, want one view and no update", got)
	}
	var runs int
	swallow := func(t *txn) error {
		runs++
		d, rec, err := get[launchProfileDoc](ctx, t, kind, rigProfile)
		if err != nil {
			return err
		}
		d.Description = "written"
		_, _ = put(ctx, t, rec, d) // a careless look that drops the error
		return nil
	}
	if got := look(swallow); got[1] != 1 || runs != 2 {
		t.Errorf("a write: views, updates, gets, completes = %v after %d runs, want one update after the read", got, runs)
	}
	c.reset()
	if err := r.svc.readFirst(ctx, one); err != nil {
		t.Fatal(err)
	}
	var desc string
	err := r.store.View(ctx, func(tx opennimble.Tx) error {
		d, _, err := get[launchProfileDoc](ctx, tx, kind, rigProfile)
		if d != nil {
			desc = d.Description
		}
		return err
	})
	if err != nil || desc != "written" {
		t.Fatalf("the write was not committed: %q %v", desc, err)
	}
}

// A stop is planned from the session's committed record, and its steps are
// recorded in one transaction each; the last one completes the session's
// lifecycle job, so that the worker has nothing left to write.
func TestReconcileCompletesJobInLastStep(t *testing.T) {
	r, c := newCountingRig(t)
	ctx := t.Context()
	s := r.create(r.alice, nil)
	r.until("READY", func() bool { return r.get(s.SessionId).State == api.StreamingSessionStateReady })
	if _, err := r.stop(s.SessionId, api.VolumeRetentionModeRetain); err != nil {
		t.Fatal(err)
	}
	jobs, err := r.store.ClaimJobs(ctx, "test", r.clock.Now(), 60e9, 10)
	if err != nil || len(jobs) != 1 || jobs[0].ResourceID != s.SessionId {
		t.Fatalf("claimed %+v, %v; want the session's job", jobs, err)
	}
	c.reset()
	held := &opennimble.HeldJob{Job: jobs[0]}
	if err := r.svc.Reconcile(opennimble.WithHeldJob(ctx, held), opennimble.KindStreamingSession, s.SessionId); err != nil {
		t.Fatal(err)
	}
	got := c.counts()
	if got[0] != 0 || got[1] != 1 || got[3] != 0 {
		t.Errorf("stop reconcile: views, updates, gets, completes = %v, want no view, one update (the stop and its snapshot, recorded together), no separate completion", got)
	}
	if !held.Completed() {
		t.Error("the job was not completed in the last step's transaction")
	}
	if r.get(s.SessionId).State != api.StreamingSessionStateStopped {
		t.Fatalf("state %s, want STOPPED", r.get(s.SessionId).State)
	}
	// Nothing is due for the session: its job is gone (the stopped session
	// has no time limit in the rig's profile), not merely released.
	if at, ok, err := r.store.NextJobAt(ctx); err != nil || (ok && !at.After(r.clock.Now())) {
		t.Errorf("a job is still due at %v (%v, %v)", at, ok, err)
	}

	// A reconcile whose held job is another resource's completes nothing.
	other := &opennimble.HeldJob{Job: opennimble.Job{Kind: opennimble.KindStreamingSession, ResourceID: "someone-else"}}
	if _, err := r.start(s.SessionId, ""); err != nil {
		t.Fatal(err)
	}
	if err := r.svc.Reconcile(opennimble.WithHeldJob(ctx, other), opennimble.KindStreamingSession, s.SessionId); err != nil {
		t.Fatal(err)
	}
	if other.Completed() {
		t.Error("completed a job the reconcile does not run under")
	}
}

// viewRecords reads any number of records as committed, without a
// transaction, and falls back to a read-only transaction for anything else.
func TestViewRecords(t *testing.T) {
	r, c := newCountingRig(t)
	ctx := t.Context()
	c.reset()
	err := r.svc.viewRecords(ctx, func(tx opennimble.Tx) error {
		for _, k := range []struct {
			kind opennimble.Kind
			id   string
		}{{opennimble.KindLaunchProfile, rigProfile}, {opennimble.KindStreamingImage, rigImage}, {opennimble.KindLaunchProfile, rigProfile}} {
			if _, err := tx.Get(ctx, k.kind, k.id); err != nil {
				return err
			}
		}
		return nil
	})
	if got := c.counts(); err != nil || got != [4]int64{0, 0, 3, 0} {
		t.Errorf("three record reads: views, updates, gets, completes = %v (%v), want three GetRecords", got, err)
	}
	c.reset()
	var runs int
	err = r.svc.viewRecords(ctx, func(tx opennimble.Tx) error {
		runs++
		if _, err := tx.Get(ctx, opennimble.KindLaunchProfile, rigProfile); err != nil {
			return err
		}
		_, err := tx.List(ctx, opennimble.ListQuery{Kind: opennimble.KindStreamingImage})
		return err
	})
	if got := c.counts(); err != nil || got[0] != 1 || got[1] != 0 || runs != 2 {
		t.Errorf("a list: views, updates, gets, completes = %v after %d runs (%v), want one view after the records", got, runs, err)
	}
}
