package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/opennimble/opennimble"
)

const (
	sqlGetMeta = `SELECT value FROM meta WHERE key = $1`
	sqlPutMeta = `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`
)

// GetMeta returns the value stored under key, or an error wrapping
// ErrNoRecord.
func (t *tx) GetMeta(ctx context.Context, key string) ([]byte, error) {
	if !storable(key) {
		return nil, fmt.Errorf("postgres: meta %q: %w", key, opennimble.ErrNoRecord)
	}
	var v []byte
	err := t.queryRow(ctx, sqlGetMeta, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: meta %q: %w", key, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: meta %q: %w", key, err)
	}
	return v, nil
}

// PutMeta stores value under key, replacing any previous value.
func (t *tx) PutMeta(ctx context.Context, key string, value []byte) error {
	if !t.writable {
		return errReadOnly
	}
	if !storable(key) {
		return fmt.Errorf("postgres: meta %q: the key holds a NUL byte or invalid UTF-8", key)
	}
	if _, err := t.exec(ctx, sqlPutMeta, key, blob(value)); err != nil {
		return fmt.Errorf("postgres: meta %q: %w", key, err)
	}
	return nil
}
