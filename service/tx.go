package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// txn is a write transaction of the service: the store's Tx plus what the
// service must do once it commits.
type txn struct {
	opennimble.Tx
	s      *Service
	kicked bool
}

// schedule asks the lifecycle to look at a resource at t.
func (t *txn) schedule(ctx context.Context, kind opennimble.Kind, id string, at time.Time) error {
	if !at.After(t.s.clock.Now()) {
		t.kicked = true
	}
	return t.EnqueueJob(ctx, kind, id, at)
}

// update runs fn in a write transaction and wakes the lifecycle afterwards
// when fn scheduled work that is already due.
func (s *Service) update(ctx context.Context, fn func(*txn) error) error {
	var t *txn
	err := s.store.Update(ctx, func(tx opennimble.Tx) error {
		t = &txn{Tx: tx, s: s}
		return fn(t)
	})
	if err == nil && t != nil && t.kicked {
		s.kick()
	}
	return err
}

func (s *Service) view(ctx context.Context, fn func(opennimble.Tx) error) error {
	return s.store.View(ctx, fn)
}

// read runs fn in a read transaction and returns its answer: the shape of
// every read handler, as idempotent is that of the writes.
func read[O any](ctx context.Context, s *Service, fn func(opennimble.Tx) (*O, error)) (*O, error) {
	var out *O
	err := s.view(ctx, func(tx opennimble.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	return out, err
}

// idempotent runs fn in a write transaction. When the request carried a
// client token, the first successful result is stored under (caller,
// operation, token) in the same transaction, and a replay returns it without
// running fn again; the same token with other parameters is refused.
func idempotent[O any](ctx context.Context, s *Service, op, token string, in any, fn func(*txn) (*O, error)) (*O, error) {
	var out *O
	err := s.update(ctx, func(t *txn) error {
		out = nil
		if token == "" {
			o, err := fn(t)
			out = o
			return err
		}
		key := caller(ctx) + "\x00" + op + "\x00" + token
		hash := requestHash(in)
		prev, err := t.GetIdempotency(ctx, key)
		switch {
		case err == nil:
			if prev.RequestHash != hash {
				return opennimble.Errorf(opennimble.ErrConflict,
					"The client token %q was already used with different parameters for %s", token, op).With("clientToken", token)
			}
			var o O
			if err := json.Unmarshal(prev.Response, &o); err != nil {
				return err
			}
			out = &o
			return nil
		case !errors.Is(err, opennimble.ErrNoRecord):
			return err
		}
		o, err := fn(t)
		if err != nil {
			return err
		}
		resp, err := json.Marshal(o)
		if err != nil {
			return err
		}
		if err := t.PutIdempotency(ctx, &opennimble.IdempotencyRecord{Key: key, RequestHash: hash, Response: resp, CreatedAt: s.now()}); err != nil {
			return err
		}
		out = o
		return nil
	})
	return out, err
}

// requestHash hashes every field of an input struct (labels, query and
// headers included, the client token excluded).
func requestHash(in any) string {
	v := reflect.Indirect(reflect.ValueOf(in))
	fields := map[string]any{}
	if v.Kind() == reflect.Struct {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Name == "ClientToken" || !f.IsExported() {
				continue
			}
			fields[f.Name] = v.Field(i).Interface()
		}
	}
	b, _ := json.Marshal(fields)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
