package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/sqlstore"
)

// dialect is SQLite's for the shared statements: ?n placeholders, times as
// unix nanoseconds, state lists as JSON arrays read with json_each, and
// INDEXED BY to name the index that serves a list.
var dialect = sqlstore.New(sqlstore.Dialect{
	Name:           "sqlite",
	QuestionParams: true,
	Time:           func(t time.Time) any { return toNanos(t) },
	Stored:         func(t time.Time) time.Time { return fromNanos(toNanos(t)) },
	TimeType:       "INTEGER", // unix nanoseconds
	Key:            func(k string) any { return k },
	IndexHint:      func(ix string) string { return " INDEXED BY " + ix },
	Text:           func(p string) string { return p },
	StateIn: func(p string, not bool) string {
		in := "IN"
		if not {
			in = "NOT IN"
		}
		return "(" + p + " IS NULL OR state " + in + " (SELECT value FROM json_each(" + p + ")))"
	},
	StateList:     jsonList,
	NoLimit:       int64(-1),
	UpdateInPlace: true,
	Min:           "min",
	// A counter row numbers enqueues: SQLite has no sequences.
	NextGen: `UPDATE counters SET value = value + 1 WHERE name = 'job_gen' RETURNING value`,
})

// jsonList encodes a state list as a JSON array, or NULL when it is empty.
func jsonList(v []string) (any, error) {
	if len(v) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// errReadOnly is returned by the writing methods of a View transaction.
var errReadOnly = dialect.ErrReadOnly

// tx is an opennimble.Tx on a database/sql transaction: the shared
// statements, EnqueueJob, and a note of what it wrote for the record cache.
type tx struct {
	sqlstore.Tx
	tx     *sql.Tx
	stmts  stmts
	writes *txWrites // what a write transaction changed, for the record cache
	// In the group loop's write transaction: what the writes before this
	// one in the group changed, and the record cache, so that Get reads a
	// record nobody in the group changed from the cache (see Get).
	group *txWrites
	cache *recordCache
	// txStmts keeps the group loop transaction's own copies of the
	// prepared statements it ran.
	txStmts map[string]*sql.Stmt
}

var _ opennimble.Tx = (*tx)(nil)

func newTx(sqlTx *sql.Tx, st stmts, writable bool) *tx {
	t := &tx{tx: sqlTx, stmts: st}
	t.Tx = sqlstore.Tx{D: dialect, C: txConn{t}, Writable: writable, Watch: t}
	return t
}

// Get returns the record kind/id as this transaction sees it. In the group
// loop's write transaction, a record that no write of the group changed is
// the committed one, which the record cache holds exactly (this process is
// the only writer, and nothing commits while the group runs): it is read
// from there when cached, else from the database, filling the cache.
func (t *tx) Get(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	if t.cache == nil {
		return t.Tx.Get(ctx, kind, id)
	}
	k := cacheKey{kind, id}
	if r, known := t.writes.find(k); known {
		if r == nil {
			return t.Tx.Get(ctx, kind, id)
		}
		return r, nil
	}
	if r, known := t.group.find(k); known {
		if r == nil {
			return t.Tx.Get(ctx, kind, id)
		}
		return r, nil
	}
	if r, ok := t.cache.get(k); ok {
		return r, nil
	}
	gen := t.cache.begin()
	r, err := t.Tx.Get(ctx, kind, id)
	if err == nil {
		t.cache.fill(gen, r)
	}
	return r, err
}

// Wrote notes a record a write transaction stored, for the record cache.
func (t *tx) Wrote(r *opennimble.Record) {
	if t.writes != nil {
		t.writes.put = append(t.writes.put, *r)
	}
}

// Deleted notes a record a write transaction deleted, for the record cache.
func (t *tx) Deleted(kind opennimble.Kind, id string) {
	if t.writes != nil {
		t.writes.deleted = append(t.writes.deleted, cacheKey{kind, id})
	}
}

// txConn runs the shared statements in a transaction, prepared.
type txConn struct{ t *tx }

func (c txConn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := c.t.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (c txConn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.t.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// readConn runs the shared statements outside a transaction, on the
// read-only pool, prepared.
type readConn struct{ s *Store }

func (c readConn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	ctx = stmtCtx(ctx)
	var rows *sql.Rows
	var err error
	if st, ok := c.s.readerStmts[query]; ok {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = c.s.reader.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

func (c readConn) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	return 0, errReadOnly
}

// sqlRows are *sql.Rows as sqlstore.Rows.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// toNanos stores a time as unix nanoseconds; the zero time is 0.
func toNanos(t time.Time) int64 { return sqlstore.ToNanos(t) }

// fromNanos is the inverse of toNanos, in UTC.
func fromNanos(n int64) time.Time { return sqlstore.FromNanos(n) }
