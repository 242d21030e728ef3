package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opennimble/opennimble"
)

const (
	sqlGetIdempotency = `SELECT request_hash, response, created_at FROM idempotency WHERE key = $1`
	sqlPutIdempotency = `
		INSERT INTO idempotency (key, request_hash, response, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key) DO NOTHING`
)

// GetIdempotency returns the remembered outcome for key, or an error wrapping
// ErrNoRecord.
func (t *tx) GetIdempotency(ctx context.Context, key string) (*opennimble.IdempotencyRecord, error) {
	r := opennimble.IdempotencyRecord{Key: key}
	err := t.queryRow(ctx, sqlGetIdempotency, []byte(key)).Scan(&r.RequestHash, &r.Response, &r.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: idempotency key %q: %w", key, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: idempotency key %q: %w", key, err)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	return &r, nil
}

// PutIdempotency remembers r; it fails with an error wrapping
// ErrVersionConflict if r.Key is already taken. A zero CreatedAt is set to
// now. When another replica stores the same key at the same moment, one of
// the two transactions fails to serialize and Update runs it again, so that
// it finds the other's record and replays it.
func (t *tx) PutIdempotency(ctx context.Context, r *opennimble.IdempotencyRecord) error {
	if !t.writable {
		return errReadOnly
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	if !storable(r.RequestHash) {
		return fmt.Errorf("postgres: idempotency key %q: the request hash holds a NUL byte or invalid UTF-8", r.Key)
	}
	created := toTime(r.CreatedAt)
	tag, err := t.exec(ctx, sqlPutIdempotency, []byte(r.Key), r.RequestHash, blob(r.Response), created)
	if err != nil {
		return fmt.Errorf("postgres: idempotency key %q: %w", r.Key, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: idempotency key %q exists: %w", r.Key, opennimble.ErrVersionConflict)
	}
	r.CreatedAt = created
	return nil
}
