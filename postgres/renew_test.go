package postgres_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/internal/testwait"
)

// TestRenewLocksInOrder: RenewJobs locks the rows of its batch in (kind, id)
// order whatever the order of the batch, so that two replicas renewing
// overlapping batches queue behind each other instead of deadlocking
// (PostgreSQL's 40P01, seen in CI). Another transaction holds job a; a
// renewal of [b, a] must then wait for a holding nothing, so that the
// holder can go on to lock b, in the same order, and both finish. A renewal
// that locked b first would deadlock with it.
func TestRenewLocksInOrder(t *testing.T) {
	dsn := cluster.Database(t)
	s := open(t, dsn)
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	for _, id := range []string{"a", "b"} {
		err := s.Update(ctx, func(tx opennimble.Tx) error {
			return tx.EnqueueJob(ctx, opennimble.KindStreamingSession, id, now)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	jobs, err := s.ClaimJobs(ctx, "w", now, time.Hour, 10)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("ClaimJobs = %v, %v", jobs, err)
	}
	if jobs[0].ResourceID == "a" {
		jobs[0], jobs[1] = jobs[1], jobs[0] // b first
	}

	other, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	holder, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	lock := `SELECT 1 FROM jobs WHERE kind = $1 AND resource_id = $2 FOR UPDATE`
	if _, err := holder.Exec(ctx, lock, string(opennimble.KindStreamingSession), "a"); err != nil {
		t.Fatal(err)
	}

	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := s.RenewJobs(ctx, "w", jobs, now.Add(2*time.Hour))
		done <- result{n, err}
	}()
	testwait.Eventually(t, "the renewal to wait for the held row", func() bool {
		var waiting int
		probe, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return false
		}
		defer probe.Close(ctx)
		err = probe.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting)
		return err == nil && waiting > 0
	})
	if _, err := holder.Exec(ctx, lock, string(opennimble.KindStreamingSession), "b"); err != nil {
		t.Fatalf("locking b after a while a renewal waits: %v", err)
	}
	if err := holder.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.n != 2 || r.err != nil {
		t.Fatalf("RenewJobs = %d, %v; want 2, nil", r.n, r.err)
	}
}
