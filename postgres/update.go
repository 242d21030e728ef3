package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/opennimble/opennimble"
)

// retryFor bounds how long Update keeps starting over after serialization
// failures. It is a time, not a count of attempts: transactions that read
// the same range (CreateStreamingSession counts the studio's sessions for
// its quota) fail each other, and of N such transactions running at once
// only one may commit per round, so the last of a burst can need as many
// attempts as there were writers, each slower on a busy machine. A retried
// transaction never fails again on the same conflict, so it gets through; the
// bound only keeps a pathological case from spinning forever.
const retryFor = 30 * time.Second

// The statements that open transactions. They are not sent on their own:
// the first statement of a transaction travels with its BEGIN, in one round
// trip, and a transaction that runs no statement is never begun.
const (
	sqlBeginView   = `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`
	sqlBeginUpdate = `BEGIN ISOLATION LEVEL SERIALIZABLE`
)

// View runs fn in a read-only transaction on one snapshot of the database.
// A View that runs no statement still checks that the database answers, so
// that an empty View is a health check.
func (s *Store) View(ctx context.Context, fn func(opennimble.Tx) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin read: %w", err)
	}
	t := newTx(s, conn, sqlBeginView, false)
	defer t.end(ctx)
	if err := fn(t); err != nil {
		return err
	}
	if t.begin != "" {
		if err := conn.Ping(ctx); err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
	}
	return nil
}

// Update runs fn in a SERIALIZABLE transaction and commits it when fn
// returns nil. An error from fn rolls the transaction back and is returned
// unchanged. When PostgreSQL reports a serialization failure or a deadlock,
// at any statement or at the commit, the transaction starts over and fn runs
// again, even if fn swallowed the error.
func (s *Store) Update(ctx context.Context, fn func(opennimble.Tx) error) error {
	start := time.Now()
	for attempt := 1; ; attempt++ {
		retry, err := s.updateOnce(ctx, fn)
		if !retry || time.Since(start) > retryFor {
			return err
		}
		s.retries.Add(1)
		if s.onRetry != nil {
			s.onRetry()
		}
		// Jittered exponential backoff, so that transactions that collided
		// do not collide again in lock step.
		d := time.Duration(rand.Int64N(int64(min(time.Millisecond<<min(attempt, 7), 100*time.Millisecond)) + 1))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
}

// updateOnce runs one attempt and reports whether to start over.
func (s *Store) updateOnce(ctx context.Context, fn func(opennimble.Tx) error) (retry bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: begin: %w", err)
	}
	t := newTx(s, conn, sqlBeginUpdate, true)
	defer t.end(ctx)
	if err := fn(t); err != nil {
		return t.conflict != nil, err
	}
	switch {
	case t.conflict != nil:
		// fn carried on after a failed statement; the transaction is void.
		return true, fmt.Errorf("postgres: %w", t.conflict)
	case t.failed != nil:
		return false, fmt.Errorf("postgres: a statement failed, so the transaction cannot commit: %w", t.failed)
	}
	// A context canceled while fn ran must not commit: the caller has been
	// told the Update failed.
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if t.begin != "" && len(t.queued) == 0 {
		// Nothing was sent or queued: nothing to commit.
		for _, j := range t.completions {
			_ = s.CompleteJob(ctx, j) // a failure: see tx.CompleteJob
		}
		return false, nil
	}
	tag, err := t.commit(ctx)
	if err != nil {
		return retryable(err), fmt.Errorf("postgres: commit: %w", err)
	}
	if tag.String() != "COMMIT" { // PostgreSQL answers a doomed COMMIT with ROLLBACK
		return false, fmt.Errorf("postgres: commit: %w", pgx.ErrTxCommitRollback)
	}
	t.committed = true
	if !t.PurgeBefore.IsZero() {
		// Housekeeping in a statement of its own (read committed): a
		// failure only leaves the batch for a later purge.
		_ = dialect.PurgeIdempotency(ctx, poolConn{conn}, t.PurgeBefore)
	}
	return false, nil
}

// commit sends, in one round trip, what is still to be sent (the BEGIN of a
// transaction that only enqueued, the queued statements), the COMMIT, and
// then the completions of jobs, in a transaction of their own with
// asynchronous commit (see tx.CompleteJob). After an error PostgreSQL skips
// the rest of the batch: a transaction that failed completes nothing. It
// returns the COMMIT's outcome; the completions' is not waited for by
// anyone.
func (t *tx) commit(ctx context.Context) (pgconn.CommandTag, error) {
	b := &pgx.Batch{}
	l := t.lead(b)
	b.Queue("COMMIT")
	if len(t.completions) > 0 {
		b.Queue("BEGIN")
		b.Queue("SET LOCAL synchronous_commit TO off")
		for _, j := range t.completions {
			b.Queue(sqlComplete, string(j.Kind), j.ResourceID, j.Gen)
		}
		b.Queue("COMMIT")
	}
	br := t.conn.SendBatch(ctx, b)
	err := l.read(br)
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	_ = br.Close()
	return tag, t.note(err)
}

// end rolls back whatever transaction the connection is still in (one that
// failed or was not committed, or a completion that failed after the
// commit), returns the connection to the pool (which discards it if it
// is still in a transaction, after a failed rollback), and hands the jobs
// the transaction leased to the worker (none unless it committed).
func (t *tx) end(ctx context.Context) {
	if t.conn.Conn().PgConn().TxStatus() != 'I' {
		_, _ = t.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	}
	t.conn.Release()
	t.handOver()
}

// retryable reports whether err is a serialization failure or a deadlock:
// the transaction lost a race and running it again is the cure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	}
	return false
}
