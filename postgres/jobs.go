package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/opennimble/opennimble"
)

// The job queue's own statements (see sqlstore/jobs.go for the shared ones
// and the meaning of the columns).
//
// EnqueueJob runs inside Update's SERIALIZABLE transaction. The other job
// statements run alone, each one statement (so atomic) at READ COMMITTED:
// they see the latest committed row whatever their snapshot, and ClaimJobs
// skips rows another replica is claiming (FOR UPDATE SKIP LOCKED) rather than
// waiting for them. A serializable enqueue that races with them fails with a
// serialization error and Update runs it again on the new row.
//
// Claims, completions and retries commit asynchronously (their connections
// have synchronous_commit off): they do not wait for the WAL to reach the
// disk, which takes two of the four waits for a flush off each lifecycle
// step. A database crash may forget the last few of them, and that is
// harmless: a forgotten claim or retry leaves the job to run again, a
// forgotten completion runs it once more, and reconcilers are built to run
// again. Whatever a reconcile records goes through Update, durably, and
// flushes the WAL before it, claims included.

const (
	// sqlClaim leases the earliest due jobs. A leased job is due when its
	// lease has expired: its worker is presumed dead and the claim counts an
	// attempt. RETURNING gives the run_at before the claim.
	sqlClaim = `
		WITH due AS (
			SELECT kind, resource_id, run_at, lease_owner IS NOT NULL AS leased FROM jobs
			WHERE run_at <= $1 ORDER BY run_at LIMIT $2
			FOR UPDATE SKIP LOCKED)
		UPDATE jobs AS j SET lease_owner = $3, lease_until = $4, run_at = $4, next_run_at = NULL,
			attempts = j.attempts + CASE WHEN j.lease_owner IS NULL THEN 0 ELSE 1 END
		FROM due WHERE j.kind = due.kind AND j.resource_id = due.resource_id
		RETURNING j.kind, j.resource_id, due.run_at, j.attempts, j.gen, due.leased`
	// sqlComplete deletes the job if its gen is unchanged, and otherwise
	// releases the lease. The release runs only when the delete deleted
	// nothing, so no row is changed twice by the one statement.
	sqlComplete = `
		WITH gone AS (DELETE FROM jobs WHERE kind = $1 AND resource_id = $2 AND gen = $3 RETURNING 1)
		UPDATE jobs SET lease_owner = NULL, lease_until = NULL,
			run_at = coalesce(next_run_at, run_at), next_run_at = NULL
		WHERE kind = $1 AND resource_id = $2 AND lease_owner IS NOT NULL
			AND NOT EXISTS (SELECT FROM gone)`
	// sqlRenew locks the rows it renews in (kind, resource_id) order before
	// it updates them: a row is locked as it leaves the sort, so two
	// replicas renewing overlapping batches wait for each other in one
	// order and never deadlock (an UPDATE ... FROM unnest locks in the
	// batch's order, and two batches in different orders did, 40P01).
	sqlRenew = `
		WITH held AS (
			SELECT j.kind, j.resource_id FROM jobs AS j
			JOIN unnest($2::text[], $3::text[]) AS r(kind, resource_id)
				ON j.kind = r.kind AND j.resource_id = r.resource_id
			WHERE j.lease_owner = $4
			ORDER BY j.kind, j.resource_id
			FOR UPDATE OF j)
		UPDATE jobs AS j SET lease_until = $1, run_at = $1
		FROM held WHERE j.kind = held.kind AND j.resource_id = held.resource_id`
)

// SetJobTaker makes the transactions that enqueue a due job lease it to r,
// when r has room, and hand it to r once committed (opennimble.JobTaker).
func (s *Store) SetJobTaker(r opennimble.JobRunner) { s.runner.Store(&r) }

// ClaimJobs leases to owner, until now+lease, up to limit jobs that are due:
// free jobs whose RunAt is not after now, and leased jobs whose lease has
// expired. The earliest due come first. Jobs that another replica is
// claiming at this moment are skipped, not waited for.
func (s *Store) ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]opennimble.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.jobs.Query(ctx, sqlClaim, toTime(now), limit, owner, toTime(now.Add(lease)))
	if err != nil {
		return nil, fmt.Errorf("postgres: claim jobs: %w", err)
	}
	defer rows.Close()
	var jobs []opennimble.Job
	for rows.Next() {
		var j opennimble.Job
		var kind string
		if err := rows.Scan(&kind, &j.ResourceID, &j.RunAt, &j.Attempts, &j.Gen, &j.TakenOver); err != nil {
			return nil, fmt.Errorf("postgres: claim jobs: %w", err)
		}
		j.Kind, j.RunAt = opennimble.Kind(kind), j.RunAt.UTC()
		jobs = append(jobs, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: claim jobs: %w", err)
	}
	// RETURNING keeps no order.
	slices.SortStableFunc(jobs, func(a, b opennimble.Job) int { return a.RunAt.Compare(b.RunAt) })
	return jobs, nil
}

// CompleteJob deletes a claimed job if nobody enqueued it since the claim
// (its Gen is unchanged); otherwise it releases the lease so that the job runs
// again at the time asked for. Completing a job that is gone is not an error.
func (s *Store) CompleteJob(ctx context.Context, j opennimble.Job) error {
	if _, err := s.jobs.Exec(ctx, sqlComplete, string(j.Kind), j.ResourceID, j.Gen); err != nil {
		return fmt.Errorf("postgres: complete job %s %s: %w", j.Kind, j.ResourceID, err)
	}
	return nil
}

// RetryJob releases a claimed job to run again at runAt, in one statement
// that commits asynchronously; see sqlstore.Dialect.RetryJob.
func (s *Store) RetryJob(ctx context.Context, j opennimble.Job, runAt time.Time) error {
	return dialect.RetryJob(ctx, poolConn{s.jobs}, j, runAt)
}

// RenewJobs extends to until the leases that owner still holds on jobs, in
// one statement. Like a claim it commits asynchronously: a renewal lost in a
// database crash only shortens a lease.
func (s *Store) RenewJobs(ctx context.Context, owner string, jobs []opennimble.Job, until time.Time) (int, error) {
	kinds, ids := make([]string, len(jobs)), make([]string, len(jobs))
	for i, j := range jobs {
		kinds[i], ids[i] = string(j.Kind), j.ResourceID
	}
	tag, err := s.jobs.Exec(ctx, sqlRenew, toTime(until), kinds, ids, owner)
	if err != nil {
		return 0, fmt.Errorf("postgres: renew %d job leases: %w", len(jobs), err)
	}
	return int(tag.RowsAffected()), nil
}

// NextJobAt returns the earliest moment a claim could succeed.
func (s *Store) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	return dialect.NextJobAt(ctx, poolConn{s.jobs})
}

// CountJobs returns how many lifecycle jobs wait or run, for all replicas
// (metrics).
func (s *Store) CountJobs(ctx context.Context) (int, error) {
	return dialect.CountJobs(ctx, poolConn{s.pool})
}
