package service

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/klauspost/compress/zstd"

	opennimble "github.com/opennimble/opennimble"
)

// txn is a write transaction of the service: the store's Tx plus what the
// service must do once it commits.
type txn struct {
	opennimble.Tx
	s      *Service
	kicked bool
	// held is the lifecycle job this transaction completed (completeJob);
	// it is marked completed once the transaction commits.
	held *opennimble.HeldJob
}

// completeJob completes, in this transaction, the lifecycle job the
// reconcile of kind/id runs under, if ctx carries one: call it only in the
// reconcile's last transaction, after anything it schedules.
func (t *txn) completeJob(ctx context.Context, kind opennimble.Kind, id string) error {
	h := opennimble.HeldJobFor(ctx, kind, id)
	if h == nil {
		return nil
	}
	if err := t.CompleteJob(ctx, h.Job); err != nil {
		return err
	}
	t.held = h
	return nil
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
	if err == nil && t != nil {
		if t.held != nil {
			t.held.MarkCompleted()
		}
		if t.kicked {
			s.kick()
		}
	}
	return err
}

// lastUpdate is update for the last transaction of a reconcile of kind/id:
// when fn succeeds, the lifecycle job the reconcile runs under is completed
// in the same transaction.
func (s *Service) lastUpdate(ctx context.Context, kind opennimble.Kind, id string, fn func(*txn) error) error {
	return s.update(ctx, func(t *txn) error {
		if err := fn(t); err != nil {
			return err
		}
		return t.completeJob(ctx, kind, id)
	})
}

// errWrites is what a write returns in a transaction of readFirst's
// read-only attempt.
var errWrites = errors.New("service: the transaction writes")

// readOnlyTx refuses every write with errWrites, and remembers that one was
// asked for (in case fn did not pass the error on).
type readOnlyTx struct {
	opennimble.Tx
	wrote *bool
}

func (t readOnlyTx) refuse() error { *t.wrote = true; return errWrites }

func (t readOnlyTx) Put(context.Context, *opennimble.Record) error         { return t.refuse() }
func (t readOnlyTx) Delete(context.Context, opennimble.Kind, string) error { return t.refuse() }
func (t readOnlyTx) PutIdempotency(context.Context, *opennimble.IdempotencyRecord) error {
	return t.refuse()
}
func (t readOnlyTx) PutMeta(context.Context, string, []byte) error     { return t.refuse() }
func (t readOnlyTx) CompleteJob(context.Context, opennimble.Job) error { return t.refuse() }
func (t readOnlyTx) EnqueueJob(context.Context, opennimble.Kind, string, time.Time) error {
	return t.refuse()
}

// readFirst runs fn as a read and, only when fn wants to write, again in a
// write transaction. Most looks the lifecycle takes before a driver step
// change nothing (the step is recorded afterwards), and a read costs much
// less than a write: no turn at the single writer on SQLite, no
// serialization conflicts on PostgreSQL. A look that reads a single record
// reads it as the store's RecordGetter has it committed (on SQLite, from
// its exact cache: no transaction, no query); one that reads more runs in a
// read-only transaction. fn must not keep anything from an attempt that
// failed.
func (s *Service) readFirst(ctx context.Context, fn func(*txn) error) error {
	var wrote bool
	err := s.readCommitted(ctx, false, &wrote, func(tx opennimble.Tx) error { return fn(&txn{Tx: tx, s: s}) })
	if wrote {
		return s.update(ctx, fn)
	}
	return err
}

// readCommitted runs fn on the records as the store's RecordGetter has them
// committed (one record, or with many any number of them, each as of its
// read) and, when fn reads anything else (or a second record without
// many), again in a read-only transaction. A write fn attempts is refused
// and noted in wrote.
func (s *Service) readCommitted(ctx context.Context, many bool, wrote *bool, fn func(opennimble.Tx) error) error {
	err := errReadsMore
	if g, ok := s.store.(opennimble.RecordGetter); ok {
		one := &oneRecordTx{readOnlyTx: readOnlyTx{wrote: wrote}, g: g, many: many}
		if err = fn(one); one.more {
			err = errReadsMore
		}
	}
	if !*wrote && errors.Is(err, errReadsMore) {
		err = s.view(ctx, func(tx opennimble.Tx) error { return fn(readOnlyTx{Tx: tx, wrote: wrote}) })
	}
	return err
}

// errReadsMore is what oneRecordTx returns for a read of a second record,
// or of anything but a record.
var errReadsMore = errors.New("service: the look reads more than one record")

// oneRecordTx is a read-only transaction that may read one record, as
// committed: a single read is a consistent snapshot on its own. Any other
// read returns errReadsMore, and is remembered.
type oneRecordTx struct {
	readOnlyTx // its Tx is nil: every read method is overridden
	g          opennimble.RecordGetter
	read       *recordKey
	more       bool
	// many lets it read any number of records, each as committed when
	// read (see viewRecords).
	many bool
}

type recordKey struct {
	kind opennimble.Kind
	id   string
}

func (t *oneRecordTx) readsMore() error { t.more = true; return errReadsMore }

func (t *oneRecordTx) Get(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	k := recordKey{kind, id}
	if t.read != nil && *t.read != k && !t.many {
		return nil, t.readsMore()
	}
	t.read = &k
	return t.g.GetRecord(ctx, kind, id)
}

func (t *oneRecordTx) List(context.Context, opennimble.ListQuery) ([]*opennimble.Record, error) {
	return nil, t.readsMore()
}
func (t *oneRecordTx) Count(context.Context, opennimble.ListQuery) (int, error) {
	return 0, t.readsMore()
}
func (t *oneRecordTx) GetIdempotency(context.Context, string) (*opennimble.IdempotencyRecord, error) {
	return nil, t.readsMore()
}
func (t *oneRecordTx) GetMeta(context.Context, string) ([]byte, error) { return nil, t.readsMore() }

// viewRecords runs fn as a read in which every record read is the one
// committed at the moment of its read, not all from one snapshot: for reads
// that need no snapshot (each record stands on its own, and one read a
// moment later would do as well), such as a workstation's configuration at
// boot. On SQLite they come from the exact record cache, without a
// transaction. When fn reads anything but records, it runs again in a
// read-only transaction.
func (s *Service) viewRecords(ctx context.Context, fn func(opennimble.Tx) error) error {
	var wrote bool
	return s.readCommitted(ctx, true, &wrote, fn)
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
		now := s.now()
		prev, err := t.GetIdempotency(ctx, key)
		switch {
		case err == nil && prev.Expiry().After(now):
			if prev.RequestHash != hash {
				return opennimble.Errorf(opennimble.ErrConflict,
					"The client token %q was already used with different parameters for %s", token, op).With("clientToken", token)
			}
			o, err := decodeResponse[O](prev.Response)
			out = o
			return err
		case err != nil && !errors.Is(err, opennimble.ErrNoRecord):
			return err
		}
		o, err := fn(t)
		if err != nil {
			return err
		}
		resp, err := encodeResponse(o)
		if err != nil {
			return err
		}
		rec := &opennimble.IdempotencyRecord{Key: key, RequestHash: hash, Response: resp, CreatedAt: now, ExpiresAt: now.Add(s.cfg.ClientTokenRetention)}
		if err := t.PutIdempotency(ctx, rec); err != nil {
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

// Remembered responses are kept zstd-compressed: JSON that repeats its
// member names and ids shrinks to about a third. Records written before
// that hold plain JSON, which starts with '{' rather than zstd's magic.
var (
	responseEncoder = mustMake(zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderCRC(false)))
	responseDecoder = mustMake(zstd.NewReader(nil, zstd.WithDecoderConcurrency(1)))
	zstdMagic       = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

func mustMake[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// encodeResponse is the stored form of a response.
func encodeResponse(o any) ([]byte, error) {
	b, err := json.Marshal(o)
	if err != nil {
		return nil, err
	}
	return responseEncoder.EncodeAll(b, nil), nil
}

// decodeResponse reads a response stored by encodeResponse, or as plain JSON.
func decodeResponse[O any](b []byte) (*O, error) {
	if bytes.HasPrefix(b, zstdMagic) {
		var err error
		if b, err = responseDecoder.DecodeAll(b, nil); err != nil {
			return nil, fmt.Errorf("decode a remembered response: %w", err)
		}
	}
	var o O
	if err := json.Unmarshal(b, &o); err != nil {
		return nil, err
	}
	return &o, nil
}
