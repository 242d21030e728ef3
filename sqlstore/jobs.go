package sqlstore

import (
	"context"
	"time"

	"github.com/opennimble/opennimble"
)

// Jobs keep run_at as the earliest moment a claim can succeed: the requested
// time while the job is free, the end of the lease while it is leased, so that
// claiming and NextJobAt are one range scan on jobs_by_run_at. An enqueue that
// arrives during a lease is remembered in next_run_at (the earliest one wins)
// and becomes run_at again when the lease is released.
//
// Enqueue, retry and the two counts are shared. Claiming, completing and
// renewing are each store's own: PostgreSQL does each in one statement (FOR
// UPDATE SKIP LOCKED, a DELETE in a WITH, a sorted locking read) that other
// replicas cannot interleave with, and SQLite, whose single writer leaves
// nothing to interleave, in a few simple ones.

// jobQueries are the shared job statements in one dialect.
type jobQueries struct {
	nextGen, enqueue, retry, nextJobAt, countJobs string
	deleteJob, releaseJob                         string
	// enqueueTake is enqueue that also leases a free job (see
	// EnqueueTakeStatement); only where JobGen numbers an enqueue.
	enqueueTake string
}

func buildJobQueries(d *Dialect) jobQueries {
	gen := d.JobGen
	if gen == "" {
		gen = "$4"
	}
	// An enqueue during a lease asks for a run after it, at the earliest
	// time asked for (asked is the run time the enqueue asked for).
	nextRunAt := func(asked string) string {
		return `next_run_at = CASE
					WHEN jobs.lease_owner IS NULL THEN NULL
					WHEN jobs.next_run_at IS NULL THEN ` + asked + `
					ELSE ` + d.Min + `(jobs.next_run_at, ` + asked + `) END`
	}
	// Columns of the stored row are named by the table: PostgreSQL finds a
	// bare name in an upsert ambiguous (it could be excluded's).
	q := jobQueries{
		nextGen: d.NextGen,
		enqueue: `
			INSERT INTO jobs (kind, resource_id, run_at, gen) VALUES ($1, $2, $3, ` + gen + `)
			ON CONFLICT (kind, resource_id) DO UPDATE SET
				gen = excluded.gen,
				run_at = CASE WHEN jobs.lease_owner IS NULL THEN ` + d.Min + `(jobs.run_at, excluded.run_at)
					ELSE jobs.run_at END,
				` + nextRunAt("excluded.run_at"),
		retry: `
			UPDATE jobs SET
				run_at = CASE
					WHEN gen = $1 THEN $2
					WHEN lease_owner IS NULL THEN ` + d.Min + `(run_at, $2)
					WHEN next_run_at IS NULL THEN $2
					ELSE ` + d.Min + `(next_run_at, $2) END,
				attempts = attempts + CASE WHEN gen = $1 THEN 1 ELSE 0 END,
				lease_owner = NULL, lease_until = NULL, next_run_at = NULL
			WHERE kind = $3 AND resource_id = $4`,
		nextJobAt: `SELECT min(run_at) FROM jobs`,
		countJobs: `SELECT count(*) FROM jobs`,
		deleteJob: `DELETE FROM jobs WHERE kind = $1 AND resource_id = $2 AND gen = $3`,
		releaseJob: `
			UPDATE jobs SET lease_owner = NULL, lease_until = NULL,
				run_at = coalesce(next_run_at, run_at), next_run_at = NULL
			WHERE kind = $1 AND resource_id = $2 AND lease_owner IS NOT NULL`,
	}
	if d.JobGen != "" {
		// A leased job's run_at is its lease's end, as after a claim.
		q.enqueueTake = d.sql(`
			INSERT INTO jobs (kind, resource_id, run_at, gen, lease_owner, lease_until)
			VALUES ($1, $2, $5, ` + d.JobGen + `, $4, $5)
			ON CONFLICT (kind, resource_id) DO UPDATE SET
				gen = excluded.gen,
				lease_owner = coalesce(jobs.lease_owner, excluded.lease_owner),
				lease_until = CASE WHEN jobs.lease_owner IS NULL THEN excluded.lease_until ELSE jobs.lease_until END,
				run_at = CASE WHEN jobs.lease_owner IS NULL THEN excluded.run_at ELSE jobs.run_at END,
				` + nextRunAt("$3") + `
			RETURNING gen, attempts, next_run_at IS NULL`)
	}
	for _, p := range []*string{&q.enqueue, &q.retry, &q.deleteJob, &q.releaseJob} {
		*p = d.sql(*p)
	}
	return q
}

func (q *jobQueries) all() []string {
	out := []string{q.enqueue, q.retry, q.nextJobAt, q.countJobs, q.deleteJob, q.releaseJob}
	if q.nextGen != "" {
		out = append(out, q.nextGen)
	}
	return out
}

// NextJobAtSQL is the statement of NextJobAt (for tests of its plan).
func (d *Dialect) NextJobAtSQL() string { return d.jq.nextJobAt }

// EnqueueJob schedules a look at kind/id at runAt. A free job keeps the
// earlier of its run time and runAt; a leased job keeps its lease and will run
// again, at the earliest time asked for during the lease, once it is released.
// Every enqueue gives the job a new Gen.
func (t *Tx) EnqueueJob(ctx context.Context, kind opennimble.Kind, id string, runAt time.Time) error {
	d := t.D
	if !t.Writable {
		return d.ErrReadOnly
	}
	if !d.storable(string(kind), id) {
		return d.errorf("enqueue %s %q: the id holds a NUL byte or invalid UTF-8", kind, id)
	}
	args := []any{string(kind), id, d.Time(runAt)}
	if d.jq.nextGen != "" {
		var gen int64
		if err := queryRow(ctx, t.C, d.jq.nextGen, nil, &gen); err != nil {
			return d.errorf("enqueue %s %s: %w", kind, id, err)
		}
		args = append(args, gen)
	}
	if _, err := t.C.Exec(ctx, d.jq.enqueue, args...); err != nil {
		return d.errorf("enqueue %s %s: %w", kind, id, err)
	}
	return nil
}

// EnqueueStatement returns the statement and arguments of
// Tx.EnqueueJob(kind, id, runAt), for a store that sends the statement
// itself (PostgreSQL sends it with the transaction's next statement). Only
// for a dialect whose JobGen numbers an enqueue in the statement.
func (d *Dialect) EnqueueStatement(kind opennimble.Kind, id string, runAt time.Time) (string, []any, error) {
	if d.jq.nextGen != "" || d.JobGen == "" {
		return "", nil, d.errorf("enqueue %s %s: the dialect numbers enqueues in a statement of its own", kind, id)
	}
	if !d.storable(string(kind), id) {
		return "", nil, d.errorf("enqueue %s %q: the id holds a NUL byte or invalid UTF-8", kind, id)
	}
	return d.jq.enqueue, []any{string(kind), id, d.Time(runAt)}, nil
}

// EnqueueTakeStatement returns the statement and arguments of an enqueue of
// kind/id, due at runAt, that also leases the job to owner until until when
// the job is free, for a store that hands the jobs a transaction enqueues to
// its own worker (opennimble.JobTaker). A job leased already keeps its
// lease, and the enqueue asks for a run after it, which sets its
// next_run_at: so the statement leased the job when next_run_at is NULL
// after it. Its one row is the job's gen, its attempts and whether the
// statement leased it. Only for a dialect whose JobGen numbers an enqueue
// in the statement.
func (d *Dialect) EnqueueTakeStatement(kind opennimble.Kind, id string, runAt time.Time, owner string, until time.Time) (string, []any, error) {
	if d.jq.enqueueTake == "" {
		return "", nil, d.errorf("enqueue %s %s: the dialect numbers enqueues in a statement of its own", kind, id)
	}
	if !d.storable(string(kind), id) {
		return "", nil, d.errorf("enqueue %s %q: the id holds a NUL byte or invalid UTF-8", kind, id)
	}
	return d.jq.enqueueTake, []any{string(kind), id, d.Time(runAt), owner, d.Time(until)}, nil
}

// CompleteJob deletes a claimed job if nobody enqueued it since the claim
// (its Gen is unchanged, counting enqueues earlier in this transaction);
// otherwise it releases the lease so that the job runs again at the time
// asked for. Completing a job that is gone is not an error.
func (t *Tx) CompleteJob(ctx context.Context, j opennimble.Job) error {
	if !t.Writable {
		return t.D.ErrReadOnly
	}
	return t.D.CompleteJob(ctx, t.C, j)
}

// CompleteJob is Tx.CompleteJob on c, which must be in a write transaction
// (two statements: the release runs only when the delete found nothing).
func (d *Dialect) CompleteJob(ctx context.Context, c Conn, j opennimble.Job) error {
	n, err := c.Exec(ctx, d.jq.deleteJob, string(j.Kind), j.ResourceID, j.Gen)
	if err == nil && n == 0 {
		_, err = c.Exec(ctx, d.jq.releaseJob, string(j.Kind), j.ResourceID)
	}
	if err != nil {
		return d.errorf("complete job %s %s: %w", j.Kind, j.ResourceID, err)
	}
	return nil
}

// RetryJob releases a claimed job to run again at runAt and counts an
// attempt. If the job was enqueued since the claim it runs at the earlier of
// runAt and the time asked for, without counting an attempt. It returns an
// error wrapping ErrNoRecord if the job is gone.
func (d *Dialect) RetryJob(ctx context.Context, c Conn, j opennimble.Job, runAt time.Time) error {
	n, err := c.Exec(ctx, d.jq.retry, j.Gen, d.Time(runAt), string(j.Kind), j.ResourceID)
	if err == nil && n == 0 {
		err = opennimble.ErrNoRecord
	}
	if err != nil {
		return d.errorf("retry job %s %s: %w", j.Kind, j.ResourceID, err)
	}
	return nil
}

// NextJobAt returns the earliest moment a claim could succeed: the RunAt of
// the earliest free job or the lease end of the earliest leased one.
func (d *Dialect) NextJobAt(ctx context.Context, c Conn) (time.Time, bool, error) {
	var at time.Time
	if err := queryRow(ctx, c, d.jq.nextJobAt, nil, timeDest{&at}); err != nil {
		return time.Time{}, false, d.errorf("next job: %w", err)
	}
	return at, !at.IsZero(), nil
}

// CountJobs returns how many lifecycle jobs wait or run, for every process
// that shares the database (metrics).
func (d *Dialect) CountJobs(ctx context.Context, c Conn) (int, error) {
	var n int
	if err := queryRow(ctx, c, d.jq.countJobs, nil, &n); err != nil {
		return 0, d.errorf("count jobs: %w", err)
	}
	return n, nil
}
