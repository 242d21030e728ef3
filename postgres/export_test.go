package postgres

import "context"

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
