package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

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
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL
		)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		applied := make([]int, len(versions))
		for i, v := range versions {
			applied[i] = int(v)
		}
		pending, err := migrate.Pending(ms, applied)
		if err != nil {
			return err
		}
		for _, m := range pending {
			// Exec without arguments uses the simple protocol, which runs
			// a file of several statements.
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx,
				`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}
