package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opennimble/opennimble"
)

// The job queue's own statements (see sqlstore/jobs.go for the shared ones
// and the meaning of the columns). The single writer runs each operation as
// a few simple statements in one write transaction: nothing can interleave.

var (
	sqlDueJobs = stmt(`
		SELECT kind, resource_id, run_at, attempts, gen, lease_owner IS NOT NULL
		FROM jobs WHERE run_at <= ? ORDER BY run_at LIMIT ?`)
	sqlLeaseJob = stmt(`
		UPDATE jobs SET lease_owner = ?, lease_until = ?, run_at = ?, next_run_at = NULL,
			attempts = attempts + ?
		WHERE kind = ? AND resource_id = ?`)
	sqlRenewJob = stmt(`
		UPDATE jobs SET lease_until = ?1, run_at = ?1
		WHERE kind = ?2 AND resource_id = ?3 AND lease_owner = ?4`)
)

// ClaimJobs leases to owner, until now+lease, up to limit jobs that are due:
// free jobs whose RunAt is not after now, and leased jobs whose lease has
// expired (their worker is presumed dead; the claim counts an attempt). The
// earliest due come first.
func (s *Store) ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]opennimble.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	var jobs []opennimble.Job
	// A claim is acknowledged after a flush of the WAL (with Sync "full"),
	// like a request's write, although losing the claim itself would be
	// harmless: other connections see a commit before its flush
	// (walsync.go), so a job can be due whose enqueue is not on disk yet,
	// and what the job does (a driver deleting a pruned backup's data, say)
	// must not happen before what asked for it survives a power loss. The
	// flush after the claim covers every commit before it.
	err := s.write(ctx, func(t *tx) error {
		jobs = jobs[:0]
		rows, err := t.query(ctx, sqlDueJobs, toNanos(now), limit)
		if err != nil {
			return err
		}
		var expired []int
		for rows.Next() {
			var j opennimble.Job
			var kind string
			var runAt int64
			var leased bool
			if err := rows.Scan(&kind, &j.ResourceID, &runAt, &j.Attempts, &j.Gen, &leased); err != nil {
				rows.Close()
				return err
			}
			j.Kind, j.RunAt = opennimble.Kind(kind), fromNanos(runAt)
			if leased {
				j.Attempts++
				j.TakenOver = true
			}
			jobs = append(jobs, j)
			expired = append(expired, boolInt(leased))
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		until := toNanos(now.Add(lease))
		for i, j := range jobs {
			_, err := t.exec(ctx, sqlLeaseJob, owner, until, until, expired[i], string(j.Kind), j.ResourceID)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: claim jobs: %w", err)
	}
	return jobs, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CompleteJob deletes a claimed job if nobody enqueued it since the claim
// (its Gen is unchanged); otherwise it releases the lease so that the job runs
// again at the time asked for. Completing a job that is gone is not an error.
func (s *Store) CompleteJob(ctx context.Context, j opennimble.Job) error {
	return s.writeRelaxed(ctx, func(t *tx) error { return dialect.CompleteJob(ctx, t.C, j) })
}

// RetryJob releases a claimed job to run again at runAt; see
// sqlstore.Dialect.RetryJob.
func (s *Store) RetryJob(ctx context.Context, j opennimble.Job, runAt time.Time) error {
	return s.writeRelaxed(ctx, func(t *tx) error { return dialect.RetryJob(ctx, t.C, j, runAt) })
}

// RenewJobs extends to until the leases that owner still holds on jobs.
func (s *Store) RenewJobs(ctx context.Context, owner string, jobs []opennimble.Job, until time.Time) (int, error) {
	var n int64
	err := s.writeRelaxed(ctx, func(t *tx) error {
		n = 0
		for _, j := range jobs {
			res, err := t.exec(ctx, sqlRenewJob, toNanos(until), string(j.Kind), j.ResourceID, owner)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: renew %d job leases: %w", len(jobs), err)
	}
	return int(n), nil
}

// NextJobAt returns the earliest moment a claim could succeed.
func (s *Store) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	return dialect.NextJobAt(ctx, readConn{s})
}

// CountJobs returns how many lifecycle jobs wait or run (metrics).
func (s *Store) CountJobs(ctx context.Context) (int, error) {
	return dialect.CountJobs(ctx, readConn{s})
}
