package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/opennimble/opennimble"
)

var (
	sqlGetIdempotency = stmt(`SELECT request_hash, response, created_at, expires_at FROM idempotency WHERE key = ?`)
	sqlPutIdempotency = stmt(`
		INSERT INTO idempotency (key, request_hash, response, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, response = excluded.response,
			created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE idempotency.expires_at <= excluded.created_at`)
	sqlPurgeIdempotency = stmt(`
		DELETE FROM idempotency WHERE key IN (
			SELECT key FROM idempotency WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`)
)

// GetIdempotency returns the remembered outcome for key, expired or not, or
// an error wrapping ErrNoRecord.
func (t *tx) GetIdempotency(ctx context.Context, key string) (*opennimble.IdempotencyRecord, error) {
	r := opennimble.IdempotencyRecord{Key: key}
	var created, expires int64
	err := t.queryRow(ctx, sqlGetIdempotency, key).Scan(&r.RequestHash, &r.Response, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: idempotency key %q: %w", key, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: idempotency key %q: %w", key, err)
	}
	r.CreatedAt, r.ExpiresAt = fromNanos(created), fromNanos(expires)
	return &r, nil
}

// PutIdempotency remembers r; it fails with an error wrapping
// ErrVersionConflict if r.Key is taken by a record that has not expired by
// r.CreatedAt. A zero CreatedAt is set to now. Now and then it also deletes a
// batch of expired records.
func (t *tx) PutIdempotency(ctx context.Context, r *opennimble.IdempotencyRecord) error {
	if !t.writable {
		return errReadOnly
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	created := toNanos(r.CreatedAt)
	res, err := t.exec(ctx, sqlPutIdempotency, r.Key, r.RequestHash, blob(r.Response), created, toNanos(r.Expiry()))
	if err != nil {
		return fmt.Errorf("sqlite: idempotency key %q: %w", r.Key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: idempotency key %q: %w", r.Key, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: idempotency key %q exists: %w", r.Key, opennimble.ErrVersionConflict)
	}
	r.CreatedAt = fromNanos(created)
	if rand.IntN(opennimble.IdempotencyPurgeEvery) == 0 {
		if _, err := t.exec(ctx, sqlPurgeIdempotency, created, opennimble.IdempotencyPurgeBatch); err != nil {
			return fmt.Errorf("sqlite: purge expired idempotency records: %w", err)
		}
	}
	return nil
}
