package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opennimble/opennimble"
)

const (
	sqlGetIdempotency = `SELECT request_hash, response, created_at, expires_at FROM idempotency WHERE key = $1`
	sqlPutIdempotency = `
		INSERT INTO idempotency AS i (key, request_hash, response, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (key) DO UPDATE SET request_hash = excluded.request_hash, response = excluded.response,
			created_at = excluded.created_at, expires_at = excluded.expires_at
		WHERE i.expires_at <= excluded.created_at`
	sqlPurgeIdempotency = `
		DELETE FROM idempotency WHERE key IN (
			SELECT key FROM idempotency WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`
)

// GetIdempotency returns the remembered outcome for key, expired or not, or
// an error wrapping ErrNoRecord.
func (t *tx) GetIdempotency(ctx context.Context, key string) (*opennimble.IdempotencyRecord, error) {
	r := opennimble.IdempotencyRecord{Key: key}
	err := t.queryRow(ctx, sqlGetIdempotency, []byte(key)).Scan(&r.RequestHash, &r.Response, &r.CreatedAt, &r.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: idempotency key %q: %w", key, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: idempotency key %q: %w", key, err)
	}
	r.CreatedAt, r.ExpiresAt = r.CreatedAt.UTC(), r.ExpiresAt.UTC()
	return &r, nil
}

// PutIdempotency remembers r; it fails with an error wrapping
// ErrVersionConflict if r.Key is taken by a record that has not expired by
// r.CreatedAt. A zero CreatedAt is set to now. When another replica stores
// the same key at the same moment, one of the two transactions fails to
// serialize and Update runs it again, so that it finds the other's record
// and replays it. Now and then (at random, so that replicas rarely compete
// for the same rows) a batch of expired records is deleted after the
// transaction commits.
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
	tag, err := t.exec(ctx, sqlPutIdempotency, []byte(r.Key), r.RequestHash, blob(r.Response), created, toTime(r.Expiry()))
	if err != nil {
		return fmt.Errorf("postgres: idempotency key %q: %w", r.Key, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: idempotency key %q exists: %w", r.Key, opennimble.ErrVersionConflict)
	}
	r.CreatedAt = created
	if rand.IntN(opennimble.IdempotencyPurgeEvery) == 0 {
		// After the commit, outside the serializable transaction: a range
		// read of the expiry index inside it would take predicate locks that
		// make concurrent writers fail to serialize.
		t.purgeBefore = created
	}
	return nil
}

// purgeIdempotency deletes a batch of records expired by before, in a
// statement of its own (read committed). It is housekeeping: a failure only
// leaves the batch for a later purge.
func purgeIdempotency(ctx context.Context, conn *pgxpool.Conn, before time.Time) {
	_, _ = conn.Exec(ctx, sqlPurgeIdempotency, before, opennimble.IdempotencyPurgeBatch)
}
