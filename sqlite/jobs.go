package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opennimble/opennimble"
)

// Jobs keep run_at as the earliest moment a claim can succeed: the requested
// time while the job is free, the end of the lease while it is leased, so that
// claiming and NextJobAt are one range scan on jobs_by_run_at. An enqueue that
// arrives during a lease is remembered in next_run_at (the earliest one wins)
// and becomes run_at again when the lease is released.

var (
	sqlEnqueue = stmt(`
		INSERT INTO jobs (kind, resource_id, run_at, gen) VALUES (?1, ?2, ?3, ?4)
		ON CONFLICT (kind, resource_id) DO UPDATE SET
			gen = ?4,
			run_at = CASE WHEN lease_owner IS NULL THEN min(run_at, ?3) ELSE run_at END,
			next_run_at = CASE
				WHEN lease_owner IS NULL THEN NULL
				WHEN next_run_at IS NULL THEN ?3
				ELSE min(next_run_at, ?3) END`)
	sqlNextGen = stmt(`UPDATE counters SET value = value + 1 WHERE name = 'job_gen' RETURNING value`)
	sqlDueJobs = stmt(`
		SELECT kind, resource_id, run_at, attempts, gen, lease_owner IS NOT NULL
		FROM jobs WHERE run_at <= ? ORDER BY run_at LIMIT ?`)
	sqlLeaseJob = stmt(`
		UPDATE jobs SET lease_owner = ?, lease_until = ?, run_at = ?, next_run_at = NULL,
			attempts = attempts + ?
		WHERE kind = ? AND resource_id = ?`)
	sqlDeleteJob  = stmt(`DELETE FROM jobs WHERE kind = ? AND resource_id = ? AND gen = ?`)
	sqlReleaseJob = stmt(`
		UPDATE jobs SET lease_owner = NULL, lease_until = NULL,
			run_at = coalesce(next_run_at, run_at), next_run_at = NULL
		WHERE kind = ? AND resource_id = ? AND lease_owner IS NOT NULL`)
	sqlRetryJob = stmt(`
		UPDATE jobs SET
			run_at = CASE
				WHEN gen = ?1 THEN ?2
				WHEN lease_owner IS NULL THEN min(run_at, ?2)
				WHEN next_run_at IS NULL THEN ?2
				ELSE min(next_run_at, ?2) END,
			attempts = attempts + (gen = ?1),
			lease_owner = NULL, lease_until = NULL, next_run_at = NULL
		WHERE kind = ?3 AND resource_id = ?4`)
	sqlRenewJob = stmt(`
		UPDATE jobs SET lease_until = ?1, run_at = ?1
		WHERE kind = ?2 AND resource_id = ?3 AND lease_owner = ?4`)
	sqlNextJobAt = stmt(`SELECT min(run_at) FROM jobs`)
)

// EnqueueJob schedules a look at kind/id at runAt. A free job keeps the
// earlier of its run time and runAt; a leased job keeps its lease and will run
// again, at the earliest time asked for during the lease, once it is released.
// Every enqueue gives the job a new Gen.
func (t *tx) EnqueueJob(ctx context.Context, kind opennimble.Kind, id string, runAt time.Time) error {
	if !t.Writable {
		return errReadOnly
	}
	var gen int64
	err := t.queryRow(ctx, sqlNextGen).Scan(&gen)
	if err != nil {
		return fmt.Errorf("sqlite: enqueue %s %s: %w", kind, id, err)
	}
	_, err = t.exec(ctx, sqlEnqueue, string(kind), id, toNanos(runAt), gen)
	if err != nil {
		return fmt.Errorf("sqlite: enqueue %s %s: %w", kind, id, err)
	}
	return nil
}

// ClaimJobs leases to owner, until now+lease, up to limit jobs that are due:
// free jobs whose RunAt is not after now, and leased jobs whose lease has
// expired (their worker is presumed dead; the claim counts an attempt). The
// earliest due come first.
func (s *Store) ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]opennimble.Job, error) {
	if limit <= 0 {
		return nil, nil
	}
	var jobs []opennimble.Job
	err := s.writeRelaxed(ctx, func(t *tx) error {
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
	err := s.writeRelaxed(ctx, func(t *tx) error {
		res, err := t.exec(ctx, sqlDeleteJob, string(j.Kind), j.ResourceID, j.Gen)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		_, err = t.exec(ctx, sqlReleaseJob, string(j.Kind), j.ResourceID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: complete job %s %s: %w", j.Kind, j.ResourceID, err)
	}
	return nil
}

// RetryJob releases a claimed job to run again at runAt and counts an
// attempt. If the job was enqueued since the claim it runs at the earlier of
// runAt and the time asked for, without counting an attempt. It returns an
// error wrapping ErrNoRecord if the job is gone.
func (s *Store) RetryJob(ctx context.Context, j opennimble.Job, runAt time.Time) error {
	err := s.writeRelaxed(ctx, func(t *tx) error {
		res, err := t.exec(ctx, sqlRetryJob, j.Gen, toNanos(runAt), string(j.Kind), j.ResourceID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return opennimble.ErrNoRecord
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: retry job %s %s: %w", j.Kind, j.ResourceID, err)
	}
	return nil
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

// NextJobAt returns the earliest moment a claim could succeed: the RunAt of
// the earliest free job or the lease end of the earliest leased one.
func (s *Store) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	if err := s.readerStmts[sqlNextJobAt].QueryRowContext(ctx).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("sqlite: next job: %w", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromNanos(at.Int64), true, nil
}
