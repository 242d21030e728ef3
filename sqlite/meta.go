package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/opennimble/opennimble"
)

var (
	sqlGetMeta = stmt(`SELECT value FROM meta WHERE key = ?`)
	sqlPutMeta = stmt(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`)
)

// GetMeta returns the value stored under key, or an error wrapping
// ErrNoRecord.
func (t *tx) GetMeta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := t.queryRow(ctx, sqlGetMeta, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: meta %q: %w", key, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: meta %q: %w", key, err)
	}
	return v, nil
}

// PutMeta stores value under key, replacing any previous value.
func (t *tx) PutMeta(ctx context.Context, key string, value []byte) error {
	if !t.writable {
		return errReadOnly
	}
	_, err := t.exec(ctx, sqlPutMeta, key, blob(value))
	if err != nil {
		return fmt.Errorf("sqlite: meta %q: %w", key, err)
	}
	return nil
}
