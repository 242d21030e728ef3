package sqlite

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/opennimble/opennimble/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrate applies every migration not yet recorded in schema_migrations, all
// in one transaction, so a database is never left half migrated.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.Load(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	err = s.write(ctx, func(t *tx) error {
		tx := t.tx
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT    NOT NULL,
			applied_at INTEGER NOT NULL
		)`); err != nil {
			return err
		}
		var applied []int
		rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			applied = append(applied, v)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		pending, err := migrate.Pending(ms, applied)
		if err != nil {
			return err
		}
		for _, m := range pending {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, time.Now().UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", s.path, err)
	}
	return nil
}
