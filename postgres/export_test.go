package postgres

import (
	"context"

	"github.com/opennimble/opennimble"
)

// OnRetry makes s call fn before each retry of a serialization failure.
func OnRetry(s *Store, fn func()) { s.onRetry = fn }

// Settings returns a setting as the connections of the main pool and of the
// job pool see it.
func Settings(s *Store, name string) (main, jobs string, err error) {
	ctx := context.Background()
	if err = s.pool.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&main); err != nil {
		return
	}
	err = s.jobs.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&jobs)
	return
}

// PredicateLocks lists the SIREAD locks tx's transaction holds, as
// "locktype relation" (tx must come from Update).
func PredicateLocks(ctx context.Context, t opennimble.Tx) ([]string, error) {
	rows, err := t.(*tx).query(ctx, `SELECT locktype || ' ' || coalesce(relation::regclass::text, '') FROM pg_locks
		WHERE pid = pg_backend_pid() AND mode = 'SIReadLock' ORDER BY 1`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Analyze has PostgreSQL gather the statistics of the store's tables, as
// autovacuum does on a live database: the planner picks indexes by them.
func Analyze(ctx context.Context, s *Store) error {
	_, err := s.pool.Exec(ctx, "ANALYZE")
	return err
}
