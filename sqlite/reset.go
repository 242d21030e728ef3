package sqlite

import (
	"context"
	"fmt"
)

// Reset deletes every resource, lifecycle job and idempotency record in one
// transaction, so that concurrent readers see either everything or nothing.
// Credentials and server-wide values (the pagination key) stay. The
// resources' sequence starts again, so that a server that is reset and then
// sent the same requests answers the same pages; nextToken values issued
// before the reset lose their meaning.
func (s *Store) Reset(ctx context.Context) error {
	err := s.write(ctx, func(t *tx) error {
		t.writes.all = true
		for _, q := range []string{
			`DELETE FROM resources`,
			`DELETE FROM jobs`,
			`DELETE FROM idempotency`,
			`DELETE FROM sqlite_sequence WHERE name = 'resources'`,
		} {
			if _, err := t.tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: reset: %w", err)
	}
	return nil
}
