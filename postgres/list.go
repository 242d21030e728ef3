package postgres

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/opennimble/opennimble"
)

// Every ListQuery is served by one of a few fixed statements, one per index,
// direction and purpose, as in the SQLite store. The columns an index
// covers are compared by plain equality, so that even the generic plan
// PostgreSQL settles on for a prepared statement is a range scan of that
// index in seq order, whose cost grows with the page, not with the table.
// Filters the index does not cover are predicates that an empty argument
// turns off, and state lists travel as text arrays (NULL for none).
//
// Arguments, by number: $1 kind, $2 studio, $3 parent, $4 owner, $5 states,
// $6 excluded states, $7 cursor, $8 limit (NULL for none).

// listIndex describes one index of resources and the filters it covers.
type listIndex struct {
	studio, parent, owner bool // equality columns of the index
}

var listIndexes = []listIndex{
	{},                          // resources_by_kind
	{studio: true},              // resources_by_studio
	{studio: true, owner: true}, // resources_by_owner
	{parent: true},              // resources_by_parent
}

// pick returns the position in listIndexes of the index that serves q.
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

// listSQL[i][desc] and countSQL[i] are the statements of listIndexes[i].
var listSQL, countSQL = func() (list [][2]string, count []string) {
	for _, ix := range listIndexes {
		where := ix.where()
		list = append(list, [2]string{
			`SELECT ` + resourceColumns + ` FROM resources WHERE ` + where + ` AND seq > $7 ORDER BY seq ASC LIMIT $8`,
			`SELECT ` + resourceColumns + ` FROM resources WHERE ` + where + ` AND seq < $7 ORDER BY seq DESC LIMIT $8`,
		})
		count = append(count, `SELECT count(*) FROM resources WHERE `+where)
	}
	return list, count
}()

// where is the filter of the statements on ix, without the cursor.
func (ix listIndex) where() string {
	conds := []string{"kind = $1"}
	filter := func(covered bool, col, arg string) {
		if covered {
			conds = append(conds, col+" = "+arg)
		} else {
			conds = append(conds, "("+arg+"::text = '' OR "+col+" = "+arg+")")
		}
	}
	filter(ix.studio, "studio_id", "$2")
	filter(ix.parent, "parent_id", "$3")
	filter(ix.owner, "owned_by", "$4")
	conds = append(conds,
		"($5::text[] IS NULL OR state = ANY ($5))",
		"($6::text[] IS NULL OR state <> ALL ($6))")
	return strings.Join(conds, " AND ")
}

// listArgs returns the arguments $1 to $6 for q, or ok false when a filter
// holds a value no record can have (so nothing matches).
func listArgs(q opennimble.ListQuery) (args []any, ok bool) {
	if !storable(string(q.Kind), q.StudioID, q.ParentID, q.OwnedBy) || !storable(q.States...) {
		return nil, false
	}
	excluded := make([]string, 0, len(q.ExcludeStates))
	for _, s := range q.ExcludeStates {
		if storable(s) { // a state no record can have excludes nothing
			excluded = append(excluded, s)
		}
	}
	return []any{string(q.Kind), q.StudioID, q.ParentID, q.OwnedBy, textArray(q.States), textArray(excluded)}, true
}

// textArray is a state list as a text[] argument, NULL when empty.
func textArray(v []string) any {
	if len(v) == 0 {
		return nil
	}
	return v
}

// List returns the records matching q in Seq order, from q.After on.
func (t *tx) List(ctx context.Context, q opennimble.ListQuery) ([]*opennimble.Record, error) {
	args, ok := listArgs(q)
	if !ok {
		return nil, nil
	}
	cursor, desc := q.After, 0
	if q.Descending {
		desc = 1
		if cursor == 0 {
			cursor = math.MaxInt64
		}
	}
	var limit any // NULL: no limit
	if q.Limit > 0 {
		limit = int64(q.Limit)
	}
	rows, err := t.query(ctx, listSQL[pick(q)][desc], append(args, cursor, limit)...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list %s: %w", q.Kind, err)
	}
	defer rows.Close()
	var out []*opennimble.Record
	if q.Limit > 0 {
		out = make([]*opennimble.Record, 0, min(q.Limit, 1000))
	}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("postgres: list %s: %w", q.Kind, err)
		}
		out = append(out, r)
	}
	if err := t.note(rows.Err()); err != nil {
		return nil, fmt.Errorf("postgres: list %s: %w", q.Kind, err)
	}
	return out, nil
}

// Count returns how many records match q's filters (Kind, StudioID,
// ParentID, OwnedBy, States, ExcludeStates); After, Descending and Limit are
// ignored.
func (t *tx) Count(ctx context.Context, q opennimble.ListQuery) (int, error) {
	args, ok := listArgs(q)
	if !ok {
		return 0, nil
	}
	var n int
	if err := t.queryRow(ctx, countSQL[pick(q)], args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: count %s: %w", q.Kind, err)
	}
	return n, nil
}
