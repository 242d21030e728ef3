package sqlite

import (
	"context"
	"embed"
	"fmt"

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
	err = s.write(ctx, func(t *tx) error { return dialect.Migrate(ctx, t.C, ms) })
	if err != nil {
		return fmt.Errorf("sqlite: migrate %s: %w", s.path, err)
	}
	return nil
}
