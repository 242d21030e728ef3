package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opennimble/opennimble"
)

// tx is an opennimble.Tx on a pooled connection. Its BEGIN is sent with
// its first statement (see update.go).
type tx struct {
	conn     *pgxpool.Conn
	begin    string // the BEGIN to send with the next statement; "" once sent
	done     bool   // committed
	writable bool
	// purgeBefore, when set, asks Update to delete expired idempotency
	// records once the transaction has committed.
	purgeBefore time.Time
	// conflict is the first serialization failure or deadlock a statement
	// hit: the transaction is void from then on and Update starts over.
	conflict error
	// failed is the first error of any statement: PostgreSQL refuses every
	// later statement of the transaction, and its commit.
	failed error
}

var _ opennimble.Tx = (*tx)(nil)

// note remembers err if it spoils the transaction.
func (t *tx) note(err error) error {
	if err == nil || errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if t.failed == nil {
		t.failed = err
	}
	if t.conflict == nil && retryable(err) {
		t.conflict = err
	}
	return err
}

// query runs a statement that returns rows, with the transaction's BEGIN
// when it is the first.
func (t *tx) query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if t.begin == "" {
		rows, err := t.conn.Query(ctx, sql, args...)
		return rows, t.note(err)
	}
	br := t.sendWithBegin(ctx, sql, args)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, t.note(err)
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, t.note(err)
	}
	return &batchRows{Rows: rows, br: br}, nil
}

func (t *tx) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if t.begin == "" {
		tag, err := t.conn.Exec(ctx, sql, args...)
		return tag, t.note(err)
	}
	br := t.sendWithBegin(ctx, sql, args)
	_, err := br.Exec()
	var tag pgconn.CommandTag
	if err == nil {
		tag, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, t.note(err)
}

// sendWithBegin sends BEGIN and the statement in one round trip.
func (t *tx) sendWithBegin(ctx context.Context, sql string, args []any) pgx.BatchResults {
	b := &pgx.Batch{}
	b.Queue(t.begin)
	b.Queue(sql, args...)
	t.begin = ""
	return t.conn.SendBatch(ctx, b)
}

// batchRows are the rows of a statement sent with its BEGIN; closing them
// finishes the batch.
type batchRows struct {
	pgx.Rows
	br pgx.BatchResults
}

func (r *batchRows) Close() {
	r.Rows.Close()
	_ = r.br.Close()
}

func (t *tx) queryRow(ctx context.Context, sql string, args ...any) row {
	rows, err := t.query(ctx, sql, args...)
	return row{t: t, rows: rows, err: err}
}

// row is the first row of a query, as pgx.Row: Scan reports ErrNoRows when
// there is none, and any error is noted by the transaction.
type row struct {
	t    *tx
	rows pgx.Rows
	err  error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		r.rows.Close()
		if err := r.rows.Err(); err != nil {
			return r.t.note(err)
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return r.t.note(err)
	}
	r.rows.Close()
	return r.t.note(r.rows.Err())
}

// resourceColumns is the column list every resource query selects, in the
// order scanRecord reads it.
const resourceColumns = `seq, kind, id, studio_id, parent_id, owned_by, state, version, created_at, updated_at, data`

const (
	sqlGetResource = `SELECT ` + resourceColumns + ` FROM resources WHERE kind = $1 AND id = $2`
	sqlInsert      = `
		INSERT INTO resources (kind, id, studio_id, parent_id, owned_by, state, version, created_at, updated_at, data)
		VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9)
		ON CONFLICT (kind, id) DO NOTHING
		RETURNING seq`
	sqlUpdate = `
		UPDATE resources
		SET studio_id = $1, parent_id = $2, owned_by = $3, state = $4, version = version + 1,
			updated_at = $5, data = $6
		WHERE kind = $7 AND id = $8 AND version = $9
		RETURNING seq, created_at`
	sqlGetVersion = `SELECT version FROM resources WHERE kind = $1 AND id = $2`
	sqlDelete     = `DELETE FROM resources WHERE kind = $1 AND id = $2`
)

// scanner is a row or rows.
type scanner interface{ Scan(dest ...any) error }

func scanRecord(row scanner) (*opennimble.Record, error) {
	var r opennimble.Record
	var kind string
	if err := row.Scan(&r.Seq, &kind, &r.ID, &r.StudioID, &r.ParentID, &r.OwnedBy, &r.State,
		&r.Version, &r.CreatedAt, &r.UpdatedAt, &r.Data); err != nil {
		return nil, err
	}
	r.Kind = opennimble.Kind(kind)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return &r, nil
}

// Get returns the record kind/id, or an error wrapping ErrNoRecord.
func (t *tx) Get(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	if !storable(string(kind), id) {
		return nil, fmt.Errorf("postgres: %s %q: %w", kind, id, opennimble.ErrNoRecord)
	}
	r, err := scanRecord(t.queryRow(ctx, sqlGetResource, string(kind), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: %s %s: %w", kind, id, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get %s %s: %w", kind, id, err)
	}
	return r, nil
}

// Put inserts r when r.Version is 0 and replaces it when r.Version is the
// stored version; see opennimble.Tx. A failed Put leaves the transaction
// usable: conflicts are detected with ON CONFLICT and version predicates,
// never by letting a statement fail.
func (t *tx) Put(ctx context.Context, r *opennimble.Record) error {
	if !t.writable {
		return errReadOnly
	}
	if !storable(string(r.Kind), r.ID, r.StudioID, r.ParentID, r.OwnedBy, r.State) {
		return fmt.Errorf("postgres: put %s %q: a field holds a NUL byte or invalid UTF-8", r.Kind, r.ID)
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
	created, updated = toTime(created), toTime(updated)
	var seq int64
	err := t.queryRow(ctx, sqlInsert,
		string(r.Kind), r.ID, r.StudioID, r.ParentID, r.OwnedBy, r.State,
		created, updated, blob(r.Data)).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: insert %s %s: already exists: %w", r.Kind, r.ID, opennimble.ErrVersionConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: insert %s %s: %w", r.Kind, r.ID, err)
	}
	r.Seq, r.Version = seq, 1
	r.CreatedAt, r.UpdatedAt = created, updated
	return nil
}

func (t *tx) update(ctx context.Context, r *opennimble.Record) error {
	updated := r.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	updated = toTime(updated)
	var seq int64
	var created time.Time
	err := t.queryRow(ctx, sqlUpdate,
		r.StudioID, r.ParentID, r.OwnedBy, r.State, updated, blob(r.Data),
		string(r.Kind), r.ID, r.Version).Scan(&seq, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return t.updateMiss(ctx, r)
	}
	if err != nil {
		return fmt.Errorf("postgres: update %s %s: %w", r.Kind, r.ID, err)
	}
	r.Seq, r.Version = seq, r.Version+1
	r.CreatedAt, r.UpdatedAt = created.UTC(), updated
	return nil
}

// updateMiss explains why an update matched no row.
func (t *tx) updateMiss(ctx context.Context, r *opennimble.Record) error {
	var stored int64
	err := t.queryRow(ctx, sqlGetVersion, string(r.Kind), r.ID).Scan(&stored)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("postgres: update %s %s: %w", r.Kind, r.ID, opennimble.ErrNoRecord)
	case err != nil:
		return fmt.Errorf("postgres: update %s %s: %w", r.Kind, r.ID, err)
	default:
		return fmt.Errorf("postgres: update %s %s: version %d, stored %d: %w",
			r.Kind, r.ID, r.Version, stored, opennimble.ErrVersionConflict)
	}
}

// Delete removes the record kind/id, or returns an error wrapping ErrNoRecord.
func (t *tx) Delete(ctx context.Context, kind opennimble.Kind, id string) error {
	if !t.writable {
		return errReadOnly
	}
	if !storable(string(kind), id) {
		return fmt.Errorf("postgres: delete %s %q: %w", kind, id, opennimble.ErrNoRecord)
	}
	tag, err := t.exec(ctx, sqlDelete, string(kind), id)
	if err != nil {
		return fmt.Errorf("postgres: delete %s %s: %w", kind, id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: delete %s %s: %w", kind, id, opennimble.ErrNoRecord)
	}
	return nil
}

// GetRecord returns the committed record kind/id, or an error wrapping
// ErrNoRecord, in one statement outside any transaction: the polling
// clients' reads cost one round trip. There is no cache: other replicas
// write the same database, so only the database knows the latest version.
func (s *Store) GetRecord(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	if !storable(string(kind), id) {
		return nil, fmt.Errorf("postgres: %s %q: %w", kind, id, opennimble.ErrNoRecord)
	}
	r, err := scanRecord(s.pool.QueryRow(ctx, sqlGetResource, string(kind), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: %s %s: %w", kind, id, opennimble.ErrNoRecord)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get %s %s: %w", kind, id, err)
	}
	return r, nil
}
