package sqlite

import (
	"context"
	"fmt"
)

// CountJobs returns how many lifecycle jobs wait or run (metrics).
func (s *Store) CountJobs(ctx context.Context) (int, error) {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM jobs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count jobs: %w", err)
	}
	return n, nil
}
