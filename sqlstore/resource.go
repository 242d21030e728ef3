package sqlstore

import (
	"context"
	"errors"
	"time"

	"github.com/opennimble/opennimble"
)

// Tx implements opennimble.Tx, all but EnqueueJob (the job queue is each
// store's own), on a Conn. A store's transaction embeds it.
type Tx struct {
	D        *Dialect
	C        Conn
	Writable bool
	// Watch, when set, is told of every record the transaction stores or
	// deletes (SQLite's record cache).
	Watch Watcher
	// PurgeBefore is set, with Dialect.PurgeAfterCommit, when the store
	// should run PurgeIdempotency(PurgeBefore) once the transaction has
	// committed.
	PurgeBefore time.Time
}

// Watcher is told of a transaction's writes.
type Watcher interface {
	Wrote(*opennimble.Record)
	Deleted(opennimble.Kind, string)
}

// RecordDest is what a row of RecordColumns scans into: r, and its kind
// as a string.
func RecordDest(r *opennimble.Record, kind *string) []any {
	return []any{&r.Seq, kind, &r.ID, &r.StudioID, &r.ParentID, &r.OwnedBy, &r.State,
		&r.Version, timeDest{&r.CreatedAt}, timeDest{&r.UpdatedAt}, &r.Data}
}

func scanRecord(rows Rows) (*opennimble.Record, error) {
	var r opennimble.Record
	var kind string
	if err := rows.Scan(RecordDest(&r, &kind)...); err != nil {
		return nil, err
	}
	r.Kind = opennimble.Kind(kind)
	return &r, nil
}

// GetRecord returns the record kind/id read on c, or an error wrapping
// ErrNoRecord: Tx.Get, and a store's GetRecord outside a transaction.
func (d *Dialect) GetRecord(ctx context.Context, c Conn, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	if !d.storable(string(kind), id) {
		return nil, d.errorf("%s %q: %w", kind, id, opennimble.ErrNoRecord)
	}
	var r opennimble.Record
	var k string
	err := queryRow(ctx, c, d.q.getResource, []any{string(kind), id}, RecordDest(&r, &k)...)
	if errors.Is(err, ErrNoRows) {
		return nil, d.errorf("%s %s: %w", kind, id, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, d.errorf("get %s %s: %w", kind, id, err)
	}
	r.Kind = opennimble.Kind(k)
	return &r, nil
}

// Get returns the record kind/id, or an error wrapping ErrNoRecord.
func (t *Tx) Get(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	return t.D.GetRecord(ctx, t.C, kind, id)
}

// Put inserts r when r.Version is 0 and replaces it when r.Version is the
// stored version; see opennimble.Tx. A failed Put leaves the transaction
// usable: conflicts are detected with ON CONFLICT and version predicates,
// never by letting a statement fail.
func (t *Tx) Put(ctx context.Context, r *opennimble.Record) error {
	if !t.Writable {
		return t.D.ErrReadOnly
	}
	if !t.D.storable(string(r.Kind), r.ID, r.StudioID, r.ParentID, r.OwnedBy, r.State) {
		return t.D.errorf("put %s %q: a field holds a NUL byte or invalid UTF-8", r.Kind, r.ID)
	}
	var err error
	if r.Version == 0 {
		err = t.insert(ctx, r)
	} else {
		err = t.update(ctx, r)
	}
	if err == nil && t.Watch != nil {
		t.Watch.Wrote(r)
	}
	return err
}

func (t *Tx) insert(ctx context.Context, r *opennimble.Record) error {
	d := t.D
	created, updated := r.CreatedAt, r.UpdatedAt
	if created.IsZero() {
		created = time.Now()
	}
	if updated.IsZero() {
		updated = created
	}
	created, updated = d.Stored(created), d.Stored(updated)
	var seq int64
	err := queryRow(ctx, t.C, d.q.insert, []any{
		string(r.Kind), r.ID, r.StudioID, r.ParentID, r.OwnedBy, r.State,
		d.Time(created), d.Time(updated), Blob(r.Data)}, &seq)
	if errors.Is(err, ErrNoRows) {
		return d.errorf("insert %s %s: already exists: %w", r.Kind, r.ID, opennimble.ErrVersionConflict)
	}
	if err != nil {
		return d.errorf("insert %s %s: %w", r.Kind, r.ID, err)
	}
	r.Seq, r.Version = seq, 1
	r.CreatedAt, r.UpdatedAt = created, updated
	return nil
}

func (t *Tx) update(ctx context.Context, r *opennimble.Record) error {
	d := t.D
	updated := r.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	updated = d.Stored(updated)
	var seq int64
	var created time.Time
	args := []any{r.StudioID, r.ParentID, r.OwnedBy, r.State, d.Time(updated), Blob(r.Data),
		string(r.Kind), r.ID, r.Version}
	err := ErrNoRows
	if d.UpdateInPlace {
		err = queryRow(ctx, t.C, d.q.updateInPlace, args, &seq, timeDest{&created})
	}
	if errors.Is(err, ErrNoRows) { // an indexed column changes, or a conflict
		err = queryRow(ctx, t.C, d.q.update, args, &seq, timeDest{&created})
	}
	if errors.Is(err, ErrNoRows) {
		return t.updateMiss(ctx, r)
	}
	if err != nil {
		return d.errorf("update %s %s: %w", r.Kind, r.ID, err)
	}
	r.Seq, r.Version = seq, r.Version+1
	r.CreatedAt, r.UpdatedAt = created, updated
	return nil
}

// updateMiss explains why an update matched no row.
func (t *Tx) updateMiss(ctx context.Context, r *opennimble.Record) error {
	var stored int64
	err := queryRow(ctx, t.C, t.D.q.getVersion, []any{string(r.Kind), r.ID}, &stored)
	switch {
	case errors.Is(err, ErrNoRows):
		return t.D.errorf("update %s %s: %w", r.Kind, r.ID, opennimble.ErrNoRecord)
	case err != nil:
		return t.D.errorf("update %s %s: %w", r.Kind, r.ID, err)
	default:
		return t.D.errorf("update %s %s: version %d, stored %d: %w",
			r.Kind, r.ID, r.Version, stored, opennimble.ErrVersionConflict)
	}
}

// Delete removes the record kind/id, or returns an error wrapping ErrNoRecord.
func (t *Tx) Delete(ctx context.Context, kind opennimble.Kind, id string) error {
	d := t.D
	if !t.Writable {
		return d.ErrReadOnly
	}
	if !d.storable(string(kind), id) {
		return d.errorf("delete %s %q: %w", kind, id, opennimble.ErrNoRecord)
	}
	n, err := t.C.Exec(ctx, d.q.delete, string(kind), id)
	if err != nil {
		return d.errorf("delete %s %s: %w", kind, id, err)
	}
	if n == 0 {
		return d.errorf("delete %s %s: %w", kind, id, opennimble.ErrNoRecord)
	}
	if t.Watch != nil {
		t.Watch.Deleted(kind, id)
	}
	return nil
}
