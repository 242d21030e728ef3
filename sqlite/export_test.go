package sqlite

import "context"

// Checkpoint copies the WAL into the database file and truncates it, as a
// long-running server's automatic checkpoints eventually do.
func (s *Store) Checkpoint(ctx context.Context) error {
	_, err := s.writer.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return err
}
