package postgres

import (
	"context"
	"fmt"
)

// CountJobs returns how many lifecycle jobs wait or run, for all replicas
// (metrics).
func (s *Store) CountJobs(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count jobs: %w", err)
	}
	return n, nil
}
