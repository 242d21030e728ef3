package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/sqlstore"
)

// Point reads and updates of a record go to its row's address (its ctid)
// when the store knows it, and through the (kind, id) index only when it
// does not.
//
// The reason is SERIALIZABLE's predicate locks. A read through a btree
// index locks (SIREAD) every leaf page of the index it visited, not only the
// row it found, and a write that adds an entry to a locked page counts as a
// conflict with the reader. The records of a studio's sessions share a leaf
// page or two of the (kind, id) index with the lowest ids of the next kind,
// the sessions' backups, so that every stop (which inserts a backup) wrote
// into the page every other lifecycle step and request had read: concurrent
// steps of unrelated sessions made each other start over (nimblebench, three
// replicas: 1 to 2 transactions started over per stop/start cycle with
// updates in place, 0.1 to 0.4 with reads by address). A read by address locks the row
// alone, which is all a point read needs: a concurrent update or delete of
// that row conflicts with it as before, and no other row can take its key
// while it exists. A read that finds nothing at the address (the row was
// updated since: a new version has a new address; the address was never
// known) goes through the index in the same statement, so a missing record
// is still locked against a concurrent insert of its key (a phantom).
//
// Addresses are learnt from reads and updates and kept per store, for
// records of any replica; one that is out of date costs a look at one heap
// page, never a wrong answer: a statement checks kind and id, and sees only
// the version of the row its snapshot sees.

// Columns: as sqlstore.RecordColumns, then the row's ctid.
const (
	// sqlGetAt reads the record kind/id at address $3 (NULL: unknown) and
	// through the index only when the first branch finds nothing: LIMIT 1
	// stops the Append before it starts its second child.
	sqlGetAt = `SELECT * FROM (
		SELECT ` + sqlstore.RecordColumns + `, ctid FROM resources WHERE ctid = $3 AND kind = $1 AND id = $2
		UNION ALL
		SELECT ` + sqlstore.RecordColumns + `, ctid FROM resources WHERE kind = $1 AND id = $2) AS r LIMIT 1`
	// sqlUpdateAt is the shared update of a record read in the same
	// transaction, at the address it was read at.
	sqlUpdateAt = `
		UPDATE resources
		SET studio_id = $1, parent_id = $2, owned_by = $3, state = $4, version = version + 1,
			updated_at = $5, data = $6
		WHERE ctid = $10 AND kind = $7 AND id = $8 AND version = $9
		RETURNING seq, created_at, ctid`
)

type recordKey struct {
	kind opennimble.Kind
	id   string
}

// tidCache holds the last known address of records.
type tidCache struct {
	mu sync.Mutex
	m  map[recordKey]pgtype.TID
}

// tidCacheMax bounds the cache: it is emptied when full (addresses are
// learnt again from the next reads).
const tidCacheMax = 1 << 16

func (c *tidCache) get(k recordKey) pgtype.TID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[k] // the zero TID is NULL: unknown
}

func (c *tidCache) put(k recordKey, tid pgtype.TID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= tidCacheMax {
		c.m = make(map[recordKey]pgtype.TID)
	}
	c.m[k] = tid
}

func (c *tidCache) drop(k recordKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, k)
}

// getAt reads the record kind/id with query (the pool's, or a
// transaction's), at its known address if any, and learns its address.
func (s *Store) getAt(ctx context.Context, query func(context.Context, string, ...any) (pgx.Rows, error),
	kind opennimble.Kind, id string) (*opennimble.Record, pgtype.TID, error) {
	k := recordKey{kind, id}
	var r opennimble.Record
	var tid pgtype.TID
	var ks string
	rows, err := query(ctx, sqlGetAt, string(kind), id, s.tids.get(k))
	if err != nil {
		return nil, tid, fmt.Errorf("postgres: get %s %s: %w", kind, id, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, tid, fmt.Errorf("postgres: get %s %s: %w", kind, id, err)
		}
		s.tids.drop(k)
		return nil, tid, fmt.Errorf("postgres: %s %s: %w", kind, id, opennimble.ErrNoRecord)
	}
	if err := rows.Scan(append(sqlstore.RecordDest(&r, &ks), &tid)...); err != nil {
		return nil, tid, fmt.Errorf("postgres: get %s %s: %w", kind, id, err)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, tid, fmt.Errorf("postgres: get %s %s: %w", kind, id, err)
	}
	r.Kind = opennimble.Kind(ks)
	s.tids.put(k, tid)
	return &r, tid, nil
}

// Get reads the record kind/id, at its address if the store knows it; see
// above. The transaction remembers the address, for an update of the record.
func (t *tx) Get(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	if !t.Writable || !storable(string(kind), id) {
		// A read-only transaction (REPEATABLE READ) takes no predicate locks.
		return t.Tx.Get(ctx, kind, id)
	}
	r, tid, err := t.s.getAt(ctx, t.queryNoted, kind, id)
	if err != nil {
		return nil, err
	}
	if t.read == nil {
		t.read = make(map[recordKey]pgtype.TID)
	}
	t.read[recordKey{kind, id}] = tid
	return r, nil
}

// Put updates a record this transaction read at the address it read it at,
// so that the update's own scan locks the row and not the index's page. In
// every other case (an insert, a record not read here, a row that moved) it
// is the shared Put, whose errors say what went wrong.
func (t *tx) Put(ctx context.Context, r *opennimble.Record) error {
	k := recordKey{r.Kind, r.ID}
	tid, ok := t.read[k]
	if r.Version == 0 || !ok || !t.Writable ||
		!storable(string(r.Kind), r.ID, r.StudioID, r.ParentID, r.OwnedBy, r.State) {
		return t.Tx.Put(ctx, r)
	}
	updated := r.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	updated = toTime(updated)
	var seq int64
	var created time.Time
	var now pgtype.TID
	rows, err := t.query(ctx, sqlUpdateAt, r.StudioID, r.ParentID, r.OwnedBy, r.State, updated,
		sqlstore.Blob(r.Data), string(r.Kind), r.ID, r.Version, tid)
	if err != nil {
		return fmt.Errorf("postgres: update %s %s: %w", r.Kind, r.ID, err)
	}
	found := rows.Next()
	if found {
		err = t.note(rows.Scan(&seq, &created, &now))
	}
	rows.Close()
	if err == nil {
		err = t.note(rows.Err())
	}
	if err != nil {
		return fmt.Errorf("postgres: update %s %s: %w", r.Kind, r.ID, err)
	}
	if !found {
		delete(t.read, k)
		return t.Tx.Put(ctx, r)
	}
	r.Seq, r.Version = seq, r.Version+1
	r.CreatedAt, r.UpdatedAt = created.UTC(), updated
	t.read[k] = now
	t.s.tids.put(k, now)
	return nil
}
