// Package sqlstore holds what the SQLite and PostgreSQL stores share: the
// statements of resources, listing, idempotency records, server-wide values
// and credentials, written once with $n placeholders, and the Go code around
// them. A Dialect says how the two databases differ in what those
// statements need: placeholders, time encoding, state-list arguments, index
// hints, text the database cannot hold, and when expired idempotency
// records are purged.
//
// What is not shared stays in the store packages: how a transaction begins,
// commits and retries (SQLite's group commit and record cache, PostgreSQL's
// serializable retry), the job queue (SQLite's single writer against
// PostgreSQL's FOR UPDATE SKIP LOCKED), migrations and reset.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Conn runs statements: a transaction, or a connection pool outside one.
type Conn interface {
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
}

// Rows are the rows of a query, as database/sql and pgx both give them.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// ErrNoRows is returned by queryRow when a query returns no row.
var ErrNoRows = errors.New("sqlstore: no rows")

// Dialect describes a database for the shared statements. Build one with
// New; its fields must not change afterwards.
type Dialect struct {
	// Name prefixes every error ("sqlite", "postgres").
	Name string
	// QuestionParams turns the statements' $n placeholders into ?n.
	QuestionParams bool
	// Time is the argument a time is stored as; Stored is the time as it
	// reads back (UTC, at the column's precision).
	Time   func(time.Time) any
	Stored func(time.Time) time.Time
	// TimeType is the column type of a time.
	TimeType string
	// Key is the argument an idempotency key is stored as (its parts are
	// joined with NUL bytes).
	Key func(string) any
	// Storable reports whether a string can be stored as text; nil: all
	// can. A lookup of a value that cannot be stored finds nothing.
	Storable func(string) bool
	// IndexHint is what follows "FROM resources" to name the index that
	// serves a list ("" to leave the choice to the planner).
	IndexHint func(index string) string
	// Text is a text placeholder in a comparison with ''.
	Text func(param string) string
	// StateIn is the condition "state is (not) in the list param, or the
	// list is NULL"; StateList is a list as that argument (NULL when empty).
	StateIn   func(param string, not bool) string
	StateList func([]string) (any, error)
	// NoLimit is the LIMIT argument that means none.
	NoLimit any
	// Min is the function that returns the smaller of two values.
	Min string
	// JobGen is the expression that numbers an enqueue ("" for $4), and
	// NextGen, when set, the statement whose result is passed as $4.
	JobGen, NextGen string
	// UpdateInPlace first tries each update with a statement that assigns
	// only the columns no index holds, on the condition that the indexed
	// ones keep their values, and runs the full update only when that
	// matches no row. SQLite rewrites the entries of every index whose
	// columns an UPDATE assigns, changed or not: four pages written for
	// a record's change of state instead of one. (PostgreSQL compares the
	// values, and keeps such an update HOT without it.)
	UpdateInPlace bool
	// PurgeAfterCommit defers the purge of expired idempotency records to
	// after the commit (see Tx.PurgeBefore) instead of running it in the
	// transaction.
	PurgeAfterCommit bool

	// ErrReadOnly is returned by the writing methods of a read-only Tx.
	ErrReadOnly error
	q           queries
	jq          jobQueries
}

// New completes d: it writes every shared statement in d's dialect.
func New(d Dialect) *Dialect {
	d.ErrReadOnly = fmt.Errorf("%s: write in a read-only transaction", d.Name)
	d.q = buildQueries(&d)
	d.jq = buildJobQueries(&d)
	return &d
}

var param = regexp.MustCompile(`\$(\d+)`)

// sql writes query, spelled with $n placeholders, in d's dialect.
func (d *Dialect) sql(query string) string {
	if d.QuestionParams {
		return param.ReplaceAllString(query, "?$1")
	}
	return query
}

// storable reports whether all of ss can be stored as text. (ss does not
// escape, so a call does not allocate.)
func (d *Dialect) storable(ss ...string) bool {
	if d.Storable == nil {
		return true
	}
	for _, s := range ss {
		if !d.Storable(s) {
			return false
		}
	}
	return true
}

// Queries returns the text of every shared statement, for a store that
// prepares its statements up front.
func (d *Dialect) Queries() []string { return append(d.q.all(), d.jq.all()...) }

// errorf formats an error with d's prefix.
func (d *Dialect) errorf(format string, args ...any) error {
	return fmt.Errorf(d.Name+": "+format, args...)
}

// queryRow scans the first row of query into dest, or returns ErrNoRows.
func queryRow(ctx context.Context, c Conn, query string, args []any, dest ...any) error {
	rows, err := c.Query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return ErrNoRows
	}
	if err := rows.Scan(dest...); err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}

// timeDest scans a time stored either way: unix nanoseconds (0 for the zero
// time) or a timestamp; it reads back in UTC, and NULL as the zero time.
type timeDest struct{ t *time.Time }

func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
	case int64:
		*d.t = FromNanos(v)
	case time.Time:
		*d.t = v.UTC()
	default:
		return fmt.Errorf("sqlstore: cannot scan %T as a time", src)
	}
	return nil
}

// ToNanos is a time as unix nanoseconds, the zero time as 0 (the SQLite
// store's encoding).
func ToNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromNanos is the inverse of ToNanos, in UTC.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Blob keeps an empty document from being stored as NULL (the stores'
// own statements use it too).
func Blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
