// Package postgres implements opennimble.Store on PostgreSQL, the store that
// several server replicas share.
//
// Update runs SERIALIZABLE transactions and starts over when PostgreSQL
// reports a serialization failure or a deadlock, so every Update behaves as
// if it ran alone, exactly as with the single-writer SQLite store, and the
// service layer needs no knowledge of which store it runs on. View runs
// REPEATABLE READ READ ONLY transactions: one snapshot, never waiting for a
// writer. The job queue runs single statements outside Update, at READ
// COMMITTED, and claims with FOR UPDATE SKIP LOCKED, so that replicas
// claiming at the same moment take different jobs instead of waiting for (or
// failing on) each other.
//
// Statements go through a pgxpool pool; pgx prepares each distinct
// statement once per connection and reuses it.
//
// The statements it shares with the SQLite store live in sqlstore; this
// package adds PostgreSQL's dialect, its transactions and their retry, and
// its side of the job queue.
package postgres

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opennimble/opennimble"
)

// Options tune how the database is opened. The zero value is the default.
type Options struct {
	// MaxConns is the size of the connection pool; pool_max_conns in the
	// URL wins, and the default is the larger of 8 and 2×GOMAXPROCS.
	MaxConns int
}

// Store is an opennimble.Store on a PostgreSQL database. It is safe for
// concurrent use, and any number of Stores, in any number of processes, may
// share one database.
type Store struct {
	pool *pgxpool.Pool
	// jobs runs the job queue's statements (claim, complete, retry) with
	// asynchronous commit; see jobs.go.
	jobs *pgxpool.Pool
	// onRetry is called before each retry of a serialization failure; tests only.
	onRetry func()
	retries atomic.Int64 // transactions started over (TxRetries)
	tids    tidCache     // records' addresses (see tid.go)
	// runner is this process's lifecycle worker, to which transactions
	// lease the due jobs they enqueue (see SetJobTaker); nil until set.
	runner atomic.Pointer[opennimble.JobRunner]
}

// TxRetries counts the write transactions started over after a
// serialization failure or a deadlock.
func (s *Store) TxRetries() int64 { return s.retries.Load() }

var (
	_ opennimble.Store          = (*Store)(nil)
	_ opennimble.RecordGetter   = (*Store)(nil)
	_ opennimble.TxRetryCounter = (*Store)(nil)
	_ opennimble.JobTaker       = (*Store)(nil)
)

// IsURL reports whether s names a PostgreSQL database (postgres:// or
// postgresql://), as opposed to the default embedded store.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database named by a postgres:// URL (or a libpq
// key=value string) and brings its schema up to date. Replicas opening the
// same database at once take turns at the migrations.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = int32(max(8, 2*runtime.GOMAXPROCS(0)))
		if opts.MaxConns > 0 {
			cfg.MaxConns = int32(opts.MaxConns)
		}
	}
	rp := cfg.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = "opennimble"
	}
	// The job statements rely on READ COMMITTED (each statement sees the
	// latest commits, SKIP LOCKED skips rather than fails); a database whose
	// default is stricter must not change that. Update and View name their
	// level explicitly.
	rp["default_transaction_isolation"] = "read committed"
	// Every statement of the store is shaped for an index range scan, but
	// on small tables the planner prefers sequential scans, and under
	// SERIALIZABLE a sequential scan locks the whole table against every
	// concurrent write: a storm of needless serialization failures (the
	// PostgreSQL manual advises encouraging index scans for this reason).
	// Measured on the stop/start cycle: retries fell from 14% to 5% of
	// Updates, and throughput rose by half.
	rp["enable_seqscan"] = "off"
	jobsCfg := cfg.Copy()
	jobsCfg.MaxConns = max(4, cfg.MaxConns/2)
	jobsCfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	jobs, err := pgxpool.NewWithConfig(ctx, jobsCfg)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, jobs: jobs}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes every connection.
func (s *Store) Close() error {
	s.pool.Close()
	s.jobs.Close()
	return nil
}

// toTime is the form a time is stored in: PostgreSQL keeps microseconds, so
// the store truncates (never rounds: a claim at now must not see a job due a
// fraction of a microsecond later), in UTC.
func toTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// storable reports whether s can be a text value: PostgreSQL text holds
// neither NUL bytes nor invalid UTF-8. A lookup of a value that cannot be
// stored finds nothing rather than failing.
func storable(ss ...string) bool {
	for _, s := range ss {
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			return false
		}
	}
	return true
}
