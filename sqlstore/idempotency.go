package sqlstore

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/opennimble/opennimble"
)

// GetIdempotency returns the remembered outcome for key, expired or not, or
// an error wrapping ErrNoRecord.
func (t *Tx) GetIdempotency(ctx context.Context, key string) (*opennimble.IdempotencyRecord, error) {
	d := t.D
	r := opennimble.IdempotencyRecord{Key: key}
	err := queryRow(ctx, t.C, d.q.getIdempotency, []any{d.Key(key)},
		&r.RequestHash, &r.Response, timeDest{&r.CreatedAt}, timeDest{&r.ExpiresAt})
	if errors.Is(err, ErrNoRows) {
		return nil, d.errorf("idempotency key %q: %w", key, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, d.errorf("idempotency key %q: %w", key, err)
	}
	return &r, nil
}

// PutIdempotency remembers r; it fails with an error wrapping
// ErrVersionConflict if r.Key is taken by a record that has not expired by
// r.CreatedAt. A zero CreatedAt is set to now. When another replica stores
// the same key at the same moment (PostgreSQL), one of the two transactions
// fails to serialize and runs again, so that it finds the other's record and
// replays it.
//
// Now and then (at random, so that concurrent writers rarely compete for
// the same rows) a batch of expired records is deleted too: in the
// transaction, or after its commit with Dialect.PurgeAfterCommit, because
// under SERIALIZABLE a range read of the expiry index would take predicate
// locks that make concurrent writers fail to serialize.
func (t *Tx) PutIdempotency(ctx context.Context, r *opennimble.IdempotencyRecord) error {
	d := t.D
	if !t.Writable {
		return d.ErrReadOnly
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now()
	}
	if !d.storable(r.RequestHash) {
		return d.errorf("idempotency key %q: the request hash holds a NUL byte or invalid UTF-8", r.Key)
	}
	created := d.Stored(r.CreatedAt)
	n, err := t.C.Exec(ctx, d.q.putIdempotency, d.Key(r.Key), r.RequestHash, Blob(r.Response),
		d.Time(created), d.Time(r.Expiry()))
	if err != nil {
		return d.errorf("idempotency key %q: %w", r.Key, err)
	}
	if n == 0 {
		return d.errorf("idempotency key %q exists: %w", r.Key, opennimble.ErrVersionConflict)
	}
	r.CreatedAt = created
	if rand.IntN(opennimble.IdempotencyPurgeEvery) != 0 {
		return nil
	}
	if d.PurgeAfterCommit {
		t.PurgeBefore = created
		return nil
	}
	return d.PurgeIdempotency(ctx, t.C, created)
}

// PurgeIdempotency deletes up to IdempotencyPurgeBatch records expired by
// before.
func (d *Dialect) PurgeIdempotency(ctx context.Context, c Conn, before time.Time) error {
	if _, err := c.Exec(ctx, d.q.purgeIdempotency, d.Time(before), opennimble.IdempotencyPurgeBatch); err != nil {
		return d.errorf("purge expired idempotency records: %w", err)
	}
	return nil
}
