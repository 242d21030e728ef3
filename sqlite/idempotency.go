package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opennimble/opennimble"
)

var (
	sqlGetIdempotency = stmt(`SELECT request_hash, response, created_at FROM idempotency WHERE key = ?`)
	sqlPutIdempotency = stmt(`
		INSERT INTO idempotency (key, request_hash, response, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (key) DO NOTHING`)
)

// GetIdempotency returns the remembered outcome for key, or an error wrapping
// ErrNoRecord.
func (t *tx) GetIdempotency(ctx context.Context, key string) (*opennimble.IdempotencyRecord, error) {
	r := opennimble.IdempotencyRecord{Key: key}
	var created int64
	err := t.queryRow(ctx, sqlGetIdempotency, key).Scan(&r.RequestHash, &r.Response, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: idempotency key %q: %w", key, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: idempotency key %q: %w", key, err)
	}
	r.CreatedAt = fromNanos(created)
	return &r, nil
}

// PutIdempotency remembers r; it fails with an error wrapping
// ErrVersionConflict if r.Key is already taken. A zero CreatedAt is set to now.
func (t *tx) PutIdempotency(ctx context.Context, r *opennimble.IdempotencyRecord) error {
	if !t.writable {
		return errReadOnly
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	res, err := t.exec(ctx, sqlPutIdempotency, r.Key, r.RequestHash, blob(r.Response), toNanos(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("sqlite: idempotency key %q: %w", r.Key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: idempotency key %q: %w", r.Key, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: idempotency key %q exists: %w", r.Key, opennimble.ErrVersionConflict)
	}
	r.CreatedAt = fromNanos(toNanos(r.CreatedAt))
	return nil
}
