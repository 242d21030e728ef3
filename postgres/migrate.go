package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/opennimble/opennimble/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrateLock is the advisory lock key migrations hold (advisory locks are
// per database): "opnm" in ASCII.
const migrateLock = 0x6f706e6d

// migrate applies every migration not yet recorded in schema_migrations, all
// in one transaction (PostgreSQL's DDL is transactional), so a database is
// never left half migrated. The transaction first takes an advisory lock:
// replicas starting together migrate one after the other, and the later ones
// find the work done. It runs at READ COMMITTED so that what it reads after
// the lock includes what the previous holder committed.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
			return err
		}
		return dialect.Migrate(ctx, poolConn{tx}, ms)
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}
