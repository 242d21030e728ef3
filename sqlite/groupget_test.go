package sqlite

import (
	"context"
	"errors"
	"testing"

	"github.com/opennimble/opennimble"
)

// TestGroupGetSeesTheGroup runs writes as one group, as the group loop
// does: each sees what the writes before it stored or deleted (not what a
// rolled-back one did), and records nobody in the group changed come from
// the committed state.
func TestGroupGetSeesTheGroup(t *testing.T) {
	s := openInternal(t, Options{Sync: "normal"})
	ctx := t.Context()
	rec := func(id, state string) *opennimble.Record {
		return &opennimble.Record{Kind: opennimble.KindStudio, ID: id, State: state, Data: []byte(`{"s":"` + state + `"}`)}
	}
	for _, id := range []string{"a", "b", "c"} {
		if err := s.Update(ctx, func(tx opennimble.Tx) error { return tx.Put(ctx, rec(id, "ONE")) }); err != nil {
			t.Fatal(err)
		}
	}
	// Cache "b" as committed.
	if r, err := s.GetRecord(ctx, opennimble.KindStudio, "b"); err != nil || r.State != "ONE" {
		t.Fatalf("GetRecord b: %+v %v", r, err)
	}
	bump := func(tx opennimble.Tx, id, state string) error {
		r, err := tx.Get(ctx, opennimble.KindStudio, id)
		if err != nil {
			return err
		}
		r.State, r.Data = state, []byte(`{"s":"`+state+`"}`)
		return tx.Put(ctx, r)
	}
	boom := errors.New("rolled back")
	var seen []string
	look := func(tx opennimble.Tx, id string) error {
		r, err := tx.Get(ctx, opennimble.KindStudio, id)
		switch {
		case errors.Is(err, opennimble.ErrNoRecord):
			seen = append(seen, id+":gone")
		case err != nil:
			return err
		default:
			seen = append(seen, id+":"+r.State)
		}
		return nil
	}
	reqs := []*writeReq{
		{fn: func(t *tx) error { return bump(t, "a", "TWO") }},
		{fn: func(t *tx) error {
			if err := bump(t, "b", "LOST"); err != nil {
				return err
			}
			return boom
		}},
		{fn: func(t *tx) error { return t.Delete(ctx, opennimble.KindStudio, "c") }},
		{fn: func(t *tx) error {
			for _, id := range []string{"a", "b", "c"} {
				if err := look(t, id); err != nil {
					return err
				}
			}
			return bump(t, "a", "THREE")
		}},
		{fn: func(t *tx) error { return look(t, "a") }},
	}
	for _, r := range reqs {
		r.ctx, r.done = context.Background(), make(chan writeResult, 1)
	}
	results, err := s.runGroupOnce(reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if (i == 1) != errors.Is(r.err, boom) || r.panic != nil {
			t.Errorf("write %d: %+v", i, r)
		}
	}
	want := []string{"a:TWO", "b:ONE", "c:gone", "a:THREE"}
	if len(seen) != len(want) {
		t.Fatalf("seen %v, want %v", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("seen %v, want %v", seen, want)
		}
	}
	// After the commit, the cache and the database agree.
	for id, state := range map[string]string{"a": "THREE", "b": "ONE"} {
		r, err := s.GetRecord(ctx, opennimble.KindStudio, id)
		if err != nil || r.State != state {
			t.Errorf("GetRecord %s: %+v %v, want %s", id, r, err, state)
		}
		err = s.View(ctx, func(tx opennimble.Tx) error {
			r, err := tx.Get(ctx, opennimble.KindStudio, id)
			if err == nil && r.State != state {
				err = errors.New("database holds " + r.State)
			}
			return err
		})
		if err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if _, err := s.GetRecord(ctx, opennimble.KindStudio, "c"); !errors.Is(err, opennimble.ErrNoRecord) {
		t.Errorf("c after delete: %v", err)
	}
}
