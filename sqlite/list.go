package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/opennimble/opennimble"
)

// Every ListQuery is served by one of a few fixed statements, one per index,
// direction and purpose, so that all of them can be prepared at Open. The
// index is named with INDEXED BY rather than left to the planner: its leading
// columns are bound by equality and its last column is seq, so a page is a
// range scan whose cost grows with the page, not with the table. Filters the
// index does not cover are predicates that an empty argument turns off, and
// state lists travel as one JSON array argument.
//
// Arguments, by number: ?1 kind, ?2 studio, ?3 parent, ?4 owner, ?5 states,
// ?6 excluded states (JSON arrays or NULL), ?7 cursor, ?8 limit.

// listIndex describes one index of resources and the filters it covers.
type listIndex struct {
	name                  string
	studio, parent, owner bool // equality columns of the index
}

var listIndexes = []listIndex{
	{name: "resources_by_kind"},
	{name: "resources_by_studio", studio: true},
	{name: "resources_by_owner", studio: true, owner: true},
	{name: "resources_by_parent", parent: true},
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
			stmt(`SELECT ` + resourceColumns + ` FROM resources INDEXED BY ` + ix.name +
				` WHERE ` + where + ` AND seq > ?7 ORDER BY seq ASC LIMIT ?8`),
			stmt(`SELECT ` + resourceColumns + ` FROM resources INDEXED BY ` + ix.name +
				` WHERE ` + where + ` AND seq < ?7 ORDER BY seq DESC LIMIT ?8`),
		})
		count = append(count, stmt(`SELECT count(*) FROM resources INDEXED BY `+ix.name+` WHERE `+where))
	}
	return list, count
}()

// where is the filter of the statements on ix, without the cursor.
func (ix listIndex) where() string {
	conds := []string{"kind = ?1"}
	filter := func(covered bool, col, arg string) {
		if covered {
			conds = append(conds, col+" = "+arg)
		} else {
			conds = append(conds, "("+arg+" = '' OR "+col+" = "+arg+")")
		}
	}
	filter(ix.studio, "studio_id", "?2")
	filter(ix.parent, "parent_id", "?3")
	filter(ix.owner, "owned_by", "?4")
	conds = append(conds,
		"(?5 IS NULL OR state IN (SELECT value FROM json_each(?5)))",
		"(?6 IS NULL OR state NOT IN (SELECT value FROM json_each(?6)))")
	return strings.Join(conds, " AND ")
}

// listArgs returns the arguments ?1 to ?6 for q.
func listArgs(q opennimble.ListQuery) ([]any, error) {
	states, err := jsonList(q.States)
	if err != nil {
		return nil, err
	}
	excluded, err := jsonList(q.ExcludeStates)
	if err != nil {
		return nil, err
	}
	return []any{string(q.Kind), q.StudioID, q.ParentID, q.OwnedBy, states, excluded}, nil
}

// jsonList encodes a state list as a JSON array, or NULL when it is empty.
func jsonList(v []string) (any, error) {
	if len(v) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// List returns the records matching q in Seq order, from q.After on.
func (t *tx) List(ctx context.Context, q opennimble.ListQuery) ([]*opennimble.Record, error) {
	args, err := listArgs(q)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list %s: %w", q.Kind, err)
	}
	cursor, limit, desc := q.After, int64(-1), 0
	if q.Descending {
		desc = 1
		if cursor == 0 {
			cursor = math.MaxInt64
		}
	}
	if q.Limit > 0 {
		limit = int64(q.Limit)
	}
	rows, err := t.query(ctx, listSQL[pick(q)][desc], append(args, cursor, limit)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list %s: %w", q.Kind, err)
	}
	defer rows.Close()
	var out []*opennimble.Record
	if q.Limit > 0 {
		out = make([]*opennimble.Record, 0, min(q.Limit, 1000))
	}
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list %s: %w", q.Kind, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list %s: %w", q.Kind, err)
	}
	return out, nil
}

// Count returns how many records match q's filters (Kind, StudioID,
// ParentID, OwnedBy, States, ExcludeStates); After, Descending and Limit are
// ignored.
func (t *tx) Count(ctx context.Context, q opennimble.ListQuery) (int, error) {
	args, err := listArgs(q)
	if err != nil {
		return 0, fmt.Errorf("sqlite: count %s: %w", q.Kind, err)
	}
	var n int
	if err := t.queryRow(ctx, countSQL[pick(q)], args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: count %s: %w", q.Kind, err)
	}
	return n, nil
}
