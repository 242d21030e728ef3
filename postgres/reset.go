package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Reset deletes every resource, lifecycle job and idempotency record in one
// transaction; credentials and server-wide values (the pagination key) stay.
// The transaction first locks the three tables, so that it waits for the
// transactions using them and holds off new ones: every reader, on any
// replica, sees either everything or nothing. The resources' sequence starts
// again, so that a server that is reset and then sent the same requests
// answers the same pages; nextToken values issued before lose their meaning.
func (s *Store) Reset(ctx context.Context) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		for _, q := range []string{
			`LOCK TABLE resources, jobs, idempotency IN ACCESS EXCLUSIVE MODE`,
			`DELETE FROM resources`,
			`DELETE FROM jobs`,
			`DELETE FROM idempotency`,
			`ALTER TABLE resources ALTER COLUMN seq RESTART`,
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: reset: %w", err)
	}
	return nil
}
