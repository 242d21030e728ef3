package sqlstore

import (
	"context"
	"errors"

	"github.com/opennimble/opennimble"
)

// GetMeta returns the value stored under key, or an error wrapping
// ErrNoRecord.
func (t *Tx) GetMeta(ctx context.Context, key string) ([]byte, error) {
	d := t.D
	if !d.storable(key) {
		return nil, d.errorf("meta %q: %w", key, opennimble.ErrNoRecord)
	}
	var v []byte
	err := queryRow(ctx, t.C, d.q.getMeta, []any{key}, &v)
	if errors.Is(err, ErrNoRows) {
		return nil, d.errorf("meta %q: %w", key, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, d.errorf("meta %q: %w", key, err)
	}
	return v, nil
}

// PutMeta stores value under key, replacing any previous value.
func (t *Tx) PutMeta(ctx context.Context, key string, value []byte) error {
	d := t.D
	if !t.Writable {
		return d.ErrReadOnly
	}
	if !d.storable(key) {
		return d.errorf("meta %q: the key holds a NUL byte or invalid UTF-8", key)
	}
	if _, err := t.C.Exec(ctx, d.q.putMeta, key, Blob(value)); err != nil {
		return d.errorf("meta %q: %w", key, err)
	}
	return nil
}
