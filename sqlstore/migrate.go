package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/opennimble/opennimble/internal/migrate"
)

// Migrate applies, on c, every migration of ms not yet recorded in
// schema_migrations. The store runs it in one transaction of its own, so
// that a database is never left half migrated, and keeps other processes
// from migrating at the same time.
func (d *Dialect) Migrate(ctx context.Context, c Conn, ms []migrate.Migration) error {
	if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		name       text    NOT NULL,
		applied_at `+d.TimeType+` NOT NULL
	)`); err != nil {
		return err
	}
	rows, err := c.Query(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return err
	}
	var applied []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return err
		}
		applied = append(applied, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	pending, err := migrate.Pending(ms, applied)
	if err != nil {
		return err
	}
	for _, m := range pending {
		// Without arguments both drivers run a file of several statements.
		if _, err := c.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := c.Exec(ctx, d.sql(`INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`),
			m.Version, m.Name, d.Time(time.Now())); err != nil {
			return err
		}
	}
	return nil
}
