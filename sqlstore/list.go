package sqlstore

import (
	"context"
	"math"

	"github.com/opennimble/opennimble"
)

// Every ListQuery is served by one of a few fixed statements, one per index,
// direction and purpose, so that a store can prepare all of them. The
// columns an index covers are compared by plain equality, and the index is
// named where the dialect can (SQLite's INDEXED BY), so that a page is a
// range scan of that index in seq order whose cost grows with the page, not
// with the table (PostgreSQL picks it even in the generic plan of a
// prepared statement). Filters the index does not cover are predicates that
// an empty argument turns off, and state lists travel as one argument each
// (NULL for none).
//
// Arguments, by number: $1 kind, $2 studio, $3 parent, $4 owner, $5 states,
// $6 excluded states, $7 cursor, $8 limit.

// ListIndex describes one index of resources and the filters it covers.
type ListIndex struct {
	Name                  string
	studio, parent, owner bool // equality columns of the index
}

// ListIndexes are the indexes list statements use, as both schemas
// create them.
var ListIndexes = []ListIndex{
	{Name: "resources_by_kind"},
	{Name: "resources_by_studio", studio: true},
	{Name: "resources_by_owner", studio: true, owner: true},
	{Name: "resources_by_parent", parent: true},
}

// ListSQL returns the list statement on ListIndexes[i] in one direction,
// and CountSQL the count statement (for tests of their plans).
func (d *Dialect) ListSQL(i int, desc bool) string {
	if desc {
		return d.q.list[i][1]
	}
	return d.q.list[i][0]
}

func (d *Dialect) CountSQL(i int) string { return d.q.count[i] }

// pick returns the position in ListIndexes of the index that serves q.
func pick(q opennimble.ListQuery) int {
	switch {
	case q.ParentID != "":
		return 3
	case q.StudioID != "" && q.OwnedBy != "":
		return 2
	case q.StudioID != "":
		return 1
	default:
		return 0
	}
}

// listArgs returns the arguments $1 to $6 for q, or ok false when a filter
// holds a value no record can have (so nothing matches).
func (d *Dialect) listArgs(q opennimble.ListQuery) (args []any, ok bool, err error) {
	if !d.storable(string(q.Kind), q.StudioID, q.ParentID, q.OwnedBy) || !d.storable(q.States...) {
		return nil, false, nil
	}
	excluded := make([]string, 0, len(q.ExcludeStates))
	for _, s := range q.ExcludeStates {
		if d.storable(s) { // a state no record can have excludes nothing
			excluded = append(excluded, s)
		}
	}
	states, err := d.StateList(q.States)
	if err != nil {
		return nil, false, err
	}
	notStates, err := d.StateList(excluded)
	if err != nil {
		return nil, false, err
	}
	return []any{string(q.Kind), q.StudioID, q.ParentID, q.OwnedBy, states, notStates}, true, nil
}

// List returns the records matching q in Seq order, from q.After on.
func (t *Tx) List(ctx context.Context, q opennimble.ListQuery) ([]*opennimble.Record, error) {
	d := t.D
	args, ok, err := d.listArgs(q)
	if !ok {
		if err != nil {
			return nil, d.errorf("list %s: %w", q.Kind, err)
		}
		return nil, nil
	}
	cursor := q.After
	if q.Descending && cursor == 0 {
		cursor = math.MaxInt64
	}
	limit := d.NoLimit
	if q.Limit > 0 {
		limit = int64(q.Limit)
	}
	rows, err := t.C.Query(ctx, d.ListSQL(pick(q), q.Descending), append(args, cursor, limit)...)
	if err != nil {
		return nil, d.errorf("list %s: %w", q.Kind, err)
	}
	defer rows.Close()
	var out []*opennimble.Record
	if q.Limit > 0 {
		out = make([]*opennimble.Record, 0, min(q.Limit, 1000))
	}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, d.errorf("list %s: %w", q.Kind, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, d.errorf("list %s: %w", q.Kind, err)
	}
	return out, nil
}

// Count returns how many records match q's filters (Kind, StudioID,
// ParentID, OwnedBy, States, ExcludeStates); After, Descending and Limit are
// ignored.
func (t *Tx) Count(ctx context.Context, q opennimble.ListQuery) (int, error) {
	d := t.D
	args, ok, err := d.listArgs(q)
	if !ok {
		if err != nil {
			return 0, d.errorf("count %s: %w", q.Kind, err)
		}
		return 0, nil
	}
	var n int
	if err := queryRow(ctx, t.C, d.CountSQL(pick(q)), args, &n); err != nil {
		return 0, d.errorf("count %s: %w", q.Kind, err)
	}
	return n, nil
}
