package service

import (
	"context"
	"errors"
	"fmt"

	// Stored documents are encoded and decoded on every step of the
	// lifecycle, inside the store's write transactions: go-json decodes a
	// session about six times faster than encoding/json (BenchmarkDocCodec)
	// and writes the same JSON. Requests' bodies, which come from outside,
	// are still read with encoding/json.
	json "github.com/goccy/go-json"

	opennimble "github.com/opennimble/opennimble"
)

// doc is a stored resource document. Its indexed columns are derived from the
// document itself, so that they can never disagree with it.
type doc interface {
	kind() opennimble.Kind
	id() string
	columns() columns
}

type columns struct {
	StudioID, ParentID, OwnedBy, State string
}

// docPtr is a pointer to a document type, for the generic helpers.
type docPtr[T any] interface {
	*T
	doc
}

// get loads and decodes one document. It returns (nil, nil, nil) when the
// record does not exist, so that callers choose their own not-found error.
func get[T any, P docPtr[T]](ctx context.Context, tx opennimble.Tx, kind opennimble.Kind, id string) (P, *opennimble.Record, error) {
	if id == "" {
		return nil, nil, nil
	}
	rec, err := tx.Get(ctx, kind, id)
	if errors.Is(err, opennimble.ErrNoRecord) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	d, err := decode[T, P](rec)
	if err != nil {
		return nil, nil, err
	}
	return d, rec, nil
}

func decode[T any, P docPtr[T]](rec *opennimble.Record) (P, error) {
	var d T
	if err := json.Unmarshal(rec.Data, &d); err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", rec.Kind, rec.ID, err)
	}
	return P(&d), nil
}

// put stores d. rec is the record d was loaded with, or nil for a new one.
func put(ctx context.Context, tx opennimble.Tx, rec *opennimble.Record, d doc) (*opennimble.Record, error) {
	data, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	c := d.columns()
	if rec == nil {
		rec = &opennimble.Record{Kind: d.kind(), ID: d.id()}
	}
	rec.StudioID, rec.ParentID, rec.OwnedBy, rec.State = c.StudioID, c.ParentID, c.OwnedBy, c.State
	rec.Data = data
	if err := tx.Put(ctx, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// list decodes the documents of q.
func list[T any, P docPtr[T]](ctx context.Context, tx opennimble.Tx, q opennimble.ListQuery) ([]P, []*opennimble.Record, error) {
	recs, err := tx.List(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	out := make([]P, 0, len(recs))
	for _, r := range recs {
		d, err := decode[T, P](r)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, d)
	}
	return out, recs, nil
}

// getCommitted reads one committed document outside any transaction, through
// the store's RecordGetter when it has one (the SQLite store answers from an
// exact cache), for read-only operations that need nothing else. It returns
// (nil, nil) when the record does not exist. The document may be shared with
// other requests: callers must not modify it.
func getCommitted[T any, P docPtr[T]](ctx context.Context, s *Service, kind opennimble.Kind, id string) (P, error) {
	g, ok := s.store.(opennimble.RecordGetter)
	if !ok || id == "" {
		var d P
		err := s.view(ctx, func(tx opennimble.Tx) error {
			var err error
			d, _, err = get[T, P](ctx, tx, kind, id)
			return err
		})
		return d, err
	}
	rec, err := g.GetRecord(ctx, kind, id)
	if errors.Is(err, opennimble.ErrNoRecord) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if d, ok := s.docs.get(rec); ok {
		if p, ok := d.(P); ok {
			return p, nil
		}
	}
	d, err := decode[T, P](rec)
	if err != nil {
		return nil, err
	}
	s.docs.put(rec, d)
	return d, nil
}
