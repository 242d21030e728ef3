package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/sqlstore"
)

// dialect is PostgreSQL's for the shared statements: $n placeholders,
// timestamps at microsecond precision, idempotency keys as bytea (they hold
// NUL bytes), state lists as text arrays, and text that cannot hold NUL
// bytes or invalid UTF-8. Expired idempotency records are purged after the
// commit, outside the serializable transaction.
var dialect = sqlstore.New(sqlstore.Dialect{
	Name:      "postgres",
	Time:      func(t time.Time) any { return toTime(t) },
	Stored:    toTime,
	TimeType:  "timestamptz",
	Key:       func(k string) any { return []byte(k) },
	Storable:  func(s string) bool { return storable(s) },
	IndexHint: func(string) string { return "" },
	Text:      func(p string) string { return p + "::text" },
	StateIn: func(p string, not bool) string {
		if not {
			return "(" + p + "::text[] IS NULL OR state <> ALL (" + p + "))"
		}
		return "(" + p + "::text[] IS NULL OR state = ANY (" + p + "))"
	},
	StateList: func(v []string) (any, error) {
		if len(v) == 0 {
			return nil, nil
		}
		return v, nil
	},
	PurgeAfterCommit: true,
	Min:              "least",
	JobGen:           "nextval('job_gen')",
})

// errReadOnly is returned by the writing methods of a View transaction.
var errReadOnly = dialect.ErrReadOnly

// tx is an opennimble.Tx on a pooled connection: the shared statements and
// EnqueueJob. Its BEGIN is sent with its first statement (see update.go).
type tx struct {
	sqlstore.Tx
	s     *Store
	conn  *pgxpool.Conn
	begin string // the BEGIN to send with the next statement; "" once sent
	// conflict is the first serialization failure or deadlock a statement
	// hit: the transaction is void from then on and Update starts over.
	conflict error
	// failed is the first error of any statement: PostgreSQL refuses every
	// later statement of the transaction, and its commit.
	failed error
	// queued are statements whose outcome fn does not wait for (enqueues):
	// they are sent with the next statement, or with the COMMIT, in the
	// same round trip and in order.
	queued []queuedStmt
	// completions are the jobs to complete once the transaction has
	// committed, sent with the COMMIT (see CompleteJob).
	completions []opennimble.Job
	// reserved are places in this process's worker for the jobs that the
	// transaction's enqueues lease to it (see EnqueueJob), and taken those
	// jobs; end hands them to the worker once the transaction committed.
	reserved  opennimble.JobReservation
	taken     map[jobKey]*opennimble.Job
	committed bool
	// read holds the addresses of the records read (see tid.go).
	read map[recordKey]pgtype.TID
}

// jobKey names a job: its resource.
type jobKey struct {
	kind opennimble.Kind
	id   string
}

// queuedStmt is a statement waiting for the transaction's next round trip.
type queuedStmt struct {
	sql  string
	args []any
	what string // for errors
	// scan, when set, reads the statement's one row of results.
	scan func(pgx.Row) error
}

var _ opennimble.Tx = (*tx)(nil)

func newTx(s *Store, conn *pgxpool.Conn, begin string, writable bool) *tx {
	t := &tx{s: s, conn: conn, begin: begin}
	t.Tx = sqlstore.Tx{D: dialect, C: txConn{t}, Writable: writable}
	return t
}

// note remembers err if it spoils the transaction.
func (t *tx) note(err error) error {
	if err == nil || errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if t.failed == nil {
		t.failed = err
	}
	if t.conflict == nil && retryable(err) {
		t.conflict = err
	}
	return err
}

// query runs a statement that returns rows, with the transaction's BEGIN
// when it is the first.
func (t *tx) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.begin == "" && len(t.queued) == 0 {
		rows, err := t.conn.Query(ctx, sql, args...)
		return rows, t.note(err)
	}
	br, lead := t.sendWithLead(ctx, sql, args)
	if err := lead.read(br); err != nil {
		br.Close()
		return nil, t.note(err)
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, t.note(err)
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *tx) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.begin == "" && len(t.queued) == 0 {
		tag, err := t.conn.Exec(ctx, sql, args...)
		return tag, t.note(err)
	}
	br, lead := t.sendWithLead(ctx, sql, args)
	err := lead.read(br)
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, t.note(err)
}

// sendWithLead sends, in one round trip, the transaction's BEGIN if it is
// still to be sent, the queued statements, and then the statement; the
// caller reads the lead's results first.
func (t *tx) sendWithLead(ctx context.Context, sql string, args []any) (pgx.BatchResults, lead) {
	b := &pgx.Batch{}
	l := t.lead(b)
	b.Queue(sql, args...)
	return t.conn.SendBatch(ctx, b), l
}

// lead is what a batch sends before the statement it was sent for.
type lead struct {
	begin  bool
	queued []queuedStmt
}

// lead queues in b the transaction's BEGIN, if still to be sent, and the
// queued statements, which are then no longer the transaction's to send.
func (t *tx) lead(b *pgx.Batch) lead {
	l := lead{begin: t.begin != "", queued: t.queued}
	if l.begin {
		b.Queue(t.begin)
	}
	for _, q := range t.queued {
		b.Queue(q.sql, q.args...)
	}
	t.begin, t.queued = "", nil
	return l
}

// read reads the lead's results: the first error, if any. (After an error
// PostgreSQL skips the rest of the batch, and every later result is an
// error too.)
func (l lead) read(br pgx.BatchResults) error {
	if l.begin {
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	for _, q := range l.queued {
		var err error
		if q.scan != nil {
			err = q.scan(br.QueryRow())
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", q.what, err)
		}
	}
	return nil
}

// EnqueueJob schedules a look at kind/id at runAt (see sqlstore.Tx). Its
// statement is sent with the transaction's next statement, or with its
// COMMIT, rather than alone: a round trip fewer for each. An enqueue
// returns nothing fn could act on, and if it fails the statement sent with
// it, or the COMMIT, fails too, so the transaction never commits without it
// (and a serialization failure starts the transaction over, as always).
func (t *tx) EnqueueJob(ctx context.Context, kind opennimble.Kind, id string, runAt time.Time) error {
	if !t.Writable {
		return errReadOnly
	}
	sql, args, err := dialect.EnqueueStatement(kind, id, runAt)
	if err != nil {
		return err
	}
	q := queuedStmt{sql: sql, args: args, what: "postgres: enqueue " + string(kind) + " " + id}
	if res, ok := t.reserve(runAt); ok {
		// Leased to this process's worker, unless leased already: a
		// reading of the row before the upsert, in the SERIALIZABLE
		// transaction, locked the index pages of other jobs against their
		// enqueues (nimblebench: 0.7 transactions started over a cycle
		// instead of 0.02), so the statement says whether it leased.
		k := jobKey{kind, id}
		if q.sql, q.args, err = dialect.EnqueueTakeStatement(kind, id, runAt, res.Owner, res.Now.Add(res.Lease)); err != nil {
			return err
		}
		q.scan = func(row pgx.Row) error {
			j := opennimble.Job{Kind: kind, ResourceID: id, RunAt: runAt}
			var taken bool
			if err := row.Scan(&j.Gen, &j.Attempts, &taken); err != nil {
				return err
			}
			if prev := t.taken[k]; prev != nil {
				prev.Gen = j.Gen // enqueued again after this transaction leased it
			} else if taken {
				t.taken[k] = &j
			}
			return nil
		}
	}
	t.queued = append(t.queued, q)
	return nil
}

// reserve reserves a place in this process's worker for a job enqueued to
// run at runAt, if the store has a worker to lease jobs to, the job is due
// on the worker's clock and the worker has room.
func (t *tx) reserve(runAt time.Time) (opennimble.JobReservation, bool) {
	r := t.s.runner.Load()
	if r == nil {
		return opennimble.JobReservation{}, false
	}
	res := (*r).Reserve(1)
	if res.Got == 0 || runAt.After(res.Now) {
		(*r).Take(res, nil)
		return res, false
	}
	if t.taken == nil {
		t.taken = map[jobKey]*opennimble.Job{}
	}
	t.reserved.Got++
	t.reserved.Owner, t.reserved.Now, t.reserved.Lease = res.Owner, res.Now, res.Lease
	return res, true
}

// handOver gives the worker the jobs that the transaction leased to it, if
// it committed, and frees the places reserved for the others.
func (t *tx) handOver() {
	if t.reserved.Got == 0 {
		return
	}
	var jobs []opennimble.Job
	if t.committed {
		for _, j := range t.taken {
			jobs = append(jobs, *j)
		}
	}
	(*t.s.runner.Load()).Take(t.reserved, jobs)
	t.reserved.Got = 0
}

// CompleteJob completes a claimed job once the transaction has committed,
// in a statement sent with the COMMIT: nothing is completed if the
// transaction does not commit. The completion runs after the commit, in a
// transaction of its own with asynchronous commit, exactly like Store's
// CompleteJob, and not inside the SERIALIZABLE transaction: its read of the
// job conflicted with concurrent enqueues of other jobs (the jobs' index
// pages), and completing in the transaction tripled the transactions
// started over. If the completion itself fails after the commit (the
// connection broke) the job's lease runs out and the job runs again, which
// reconcilers are built for. As in the transaction, an enqueue of the job
// made in the transaction counts: the job is then released, not deleted.
func (t *tx) CompleteJob(ctx context.Context, j opennimble.Job) error {
	if !t.Writable {
		return errReadOnly
	}
	t.completions = append(t.completions, j)
	return nil
}

// batchRows are the rows of a statement sent with its BEGIN; closing them
// finishes the batch.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	_ = r.br.Close()
}

// txConn runs the shared statements in t; every error, including those
// that end a result set, is noted by t.
type txConn struct{ t *tx }

func (c txConn) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	return c.t.queryNoted(ctx, sql, args...)
}

// queryNoted is query whose rows' errors are noted by t too.
func (t *tx) queryNoted(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := t.query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return notedRows{rows, t}, nil
}

func (c txConn) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := c.t.exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

type notedRows struct {
	pgx.Rows
	t *tx
}

func (r notedRows) Scan(dest ...any) error { return r.t.note(r.Rows.Scan(dest...)) }
func (r notedRows) Err() error             { return r.t.note(r.Rows.Err()) }

// querier is a pool or a pgx transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// poolConn runs the shared statements outside Update: on the pool, one
// statement a transaction, or in a pgx transaction of the store's own.
type poolConn struct{ q querier }

func (c poolConn) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	return c.q.Query(ctx, sql, args...)
}

func (c poolConn) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := c.q.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

// GetRecord returns the committed record kind/id, or an error wrapping
// ErrNoRecord, in one statement outside any transaction: the polling
// clients' reads cost one round trip. There is no cache: other replicas
// write the same database, so only the database knows the latest version.
//
// It reads the row at its known address, and learns the address for the
// Updates that read the record next (see tid.go).
func (s *Store) GetRecord(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	if !storable(string(kind), id) {
		return dialect.GetRecord(ctx, poolConn{s.pool}, kind, id)
	}
	r, _, err := s.getAt(ctx, s.pool.Query, kind, id)
	return r, err
}
