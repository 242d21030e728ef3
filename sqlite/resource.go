package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opennimble/opennimble"
)

// tx is an opennimble.Tx on a database/sql transaction.
type tx struct {
	tx       *sql.Tx
	writable bool
	stmts    stmts
	writes   *txWrites // what a write transaction changed, for the record cache
}

var _ opennimble.Tx = (*tx)(nil)

// resourceColumns is the column list every resource query selects, in the
// order scanRecord reads it.
const resourceColumns = `seq, kind, id, studio_id, parent_id, owned_by, state, version, created_at, updated_at, data`

var (
	sqlGetResource = stmt(`SELECT ` + resourceColumns + ` FROM resources WHERE kind = ? AND id = ?`)
	sqlInsert      = stmt(`
		INSERT INTO resources (kind, id, studio_id, parent_id, owned_by, state, version, created_at, updated_at, data)
		VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
		ON CONFLICT (kind, id) DO NOTHING
		RETURNING seq`)
	sqlUpdate = stmt(`
		UPDATE resources
		SET studio_id = ?, parent_id = ?, owned_by = ?, state = ?, version = version + 1,
			updated_at = ?, data = ?
		WHERE kind = ? AND id = ? AND version = ?
		RETURNING seq, created_at`)
	sqlGetVersion = stmt(`SELECT version FROM resources WHERE kind = ? AND id = ?`)
	sqlDelete     = stmt(`DELETE FROM resources WHERE kind = ? AND id = ?`)
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanRecord(row scanner) (*opennimble.Record, error) {
	var r opennimble.Record
	var kind string
	var created, updated int64
	if err := row.Scan(&r.Seq, &kind, &r.ID, &r.StudioID, &r.ParentID, &r.OwnedBy, &r.State,
		&r.Version, &created, &updated, &r.Data); err != nil {
		return nil, err
	}
	r.Kind = opennimble.Kind(kind)
	r.CreatedAt = fromNanos(created)
	r.UpdatedAt = fromNanos(updated)
	return &r, nil
}

// Get returns the record kind/id, or an error wrapping ErrNoRecord.
func (t *tx) Get(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	row := t.queryRow(ctx, sqlGetResource, string(kind), id)
	r, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: %s %s: %w", kind, id, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get %s %s: %w", kind, id, err)
	}
	return r, nil
}

// Put inserts r when r.Version is 0 and replaces it when r.Version is the
// stored version; see opennimble.Tx.
func (t *tx) Put(ctx context.Context, r *opennimble.Record) error {
	if !t.writable {
		return errReadOnly
	}
	if r.Version == 0 {
		return t.insert(ctx, r)
	}
	return t.update(ctx, r)
}

func (t *tx) insert(ctx context.Context, r *opennimble.Record) error {
	now := time.Now()
	created, updated := r.CreatedAt, r.UpdatedAt
	if created.IsZero() {
		created = now
	}
	if updated.IsZero() {
		updated = created
	}
	var seq int64
	err := t.queryRow(ctx, sqlInsert,
		string(r.Kind), r.ID, r.StudioID, r.ParentID, r.OwnedBy, r.State,
		toNanos(created), toNanos(updated), blob(r.Data)).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: insert %s %s: already exists: %w", r.Kind, r.ID, opennimble.ErrVersionConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlite: insert %s %s: %w", r.Kind, r.ID, err)
	}
	r.Seq, r.Version = seq, 1
	r.CreatedAt, r.UpdatedAt = fromNanos(toNanos(created)), fromNanos(toNanos(updated))
	t.wrote(r)
	return nil
}

// wrote notes a record a write transaction stored, for the record cache.
func (t *tx) wrote(r *opennimble.Record) {
	if t.writes != nil {
		t.writes.put = append(t.writes.put, *r)
	}
}

func (t *tx) update(ctx context.Context, r *opennimble.Record) error {
	updated := r.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	var seq, created int64
	err := t.queryRow(ctx, sqlUpdate,
		r.StudioID, r.ParentID, r.OwnedBy, r.State, toNanos(updated), blob(r.Data),
		string(r.Kind), r.ID, r.Version).Scan(&seq, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return t.updateMiss(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("sqlite: update %s %s: %w", r.Kind, r.ID, err)
	}
	r.Seq, r.Version = seq, r.Version+1
	r.CreatedAt, r.UpdatedAt = fromNanos(created), fromNanos(toNanos(updated))
	t.wrote(r)
	return nil
}

// updateMiss explains why an update matched no row.
func (t *tx) updateMiss(ctx context.Context, r *opennimble.Record) error {
	var stored int64
	err := t.queryRow(ctx, sqlGetVersion, string(r.Kind), r.ID).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlite: update %s %s: %w", r.Kind, r.ID, opennimble.ErrNoRecord)
	case err != nil:
		return fmt.Errorf("sqlite: update %s %s: %w", r.Kind, r.ID, err)
	default:
		return fmt.Errorf("sqlite: update %s %s: version %d, stored %d: %w",
			r.Kind, r.ID, r.Version, stored, opennimble.ErrVersionConflict)
	}
}

// Delete removes the record kind/id, or returns an error wrapping ErrNoRecord.
func (t *tx) Delete(ctx context.Context, kind opennimble.Kind, id string) error {
	if !t.writable {
		return errReadOnly
	}
	res, err := t.exec(ctx, sqlDelete, string(kind), id)
	if err != nil {
		return fmt.Errorf("sqlite: delete %s %s: %w", kind, id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: delete %s %s: %w", kind, id, err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: delete %s %s: %w", kind, id, opennimble.ErrNoRecord)
	}
	if t.writes != nil {
		t.writes.deleted = append(t.writes.deleted, cacheKey{kind, id})
	}
	return nil
}

// toNanos stores a time as unix nanoseconds; the zero time is 0.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of toNanos, in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// blob keeps an empty document from being stored as NULL or as text.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
