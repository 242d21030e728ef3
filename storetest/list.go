package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/opennimble/opennimble"
)

var listTests = []test{
	{"Filters", testListFilters},
	{"Paging", testListPaging},
	{"Limit", testListLimit},
	{"Empty", testListEmpty},
	{"PagingDuringWrites", testListPagingDuringWrites},
}

// seedSessions stores 60 sessions spread over two studios, three owners,
// four launch profiles and three states, plus backups in the same studios so
// that kind filtering shows. It returns the sessions in insertion order.
func seedSessions(t *testing.T, s opennimble.Store) []*opennimble.Record {
	t.Helper()
	states := []string{"READY", "DELETED", "STOPPED"}
	var out []*opennimble.Record
	update(t, s, func(tx opennimble.Tx) error {
		for i := range 60 {
			r := &opennimble.Record{
				Kind:     opennimble.KindStreamingSession,
				ID:       fmt.Sprintf("session-%02d", i),
				StudioID: fmt.Sprintf("studio-%d", i%2),
				ParentID: fmt.Sprintf("profile-%d", i%4),
				OwnedBy:  fmt.Sprintf("user-%d", i%3),
				State:    states[i%3/2+i%5%2], // mixes the three states across owners
				Data:     []byte("{}"),
			}
			if err := tx.Put(t.Context(), r); err != nil {
				return err
			}
			out = append(out, r)
			b := &opennimble.Record{
				Kind: opennimble.KindStreamingBackup, ID: fmt.Sprintf("backup-%02d", i),
				StudioID: r.StudioID, ParentID: r.ID, OwnedBy: r.OwnedBy, State: "READY",
				Data: []byte("{}"),
			}
			if err := tx.Put(t.Context(), b); err != nil {
				return err
			}
		}
		return nil
	})
	return out
}

// listQueries are the filter combinations the service uses.
func listQueries() []opennimble.ListQuery {
	k := opennimble.KindStreamingSession
	return []opennimble.ListQuery{
		{Kind: k},
		{Kind: k, StudioID: "studio-1"},
		{Kind: k, StudioID: "studio-0", OwnedBy: "user-2"},
		{Kind: k, OwnedBy: "user-1"},
		{Kind: k, ParentID: "profile-3"},
		{Kind: k, StudioID: "studio-1", ParentID: "profile-1"},
		{Kind: k, StudioID: "studio-1", ParentID: "profile-1", OwnedBy: "user-0"},
		{Kind: k, States: []string{"READY"}},
		{Kind: k, States: []string{"READY", "STOPPED"}, StudioID: "studio-0"},
		{Kind: k, ExcludeStates: []string{"DELETED"}},
		{Kind: k, ExcludeStates: []string{"DELETED", "STOPPED"}, StudioID: "studio-1", OwnedBy: "user-1"},
		{Kind: k, States: []string{"READY", "DELETED"}, ExcludeStates: []string{"DELETED"}},
		{Kind: k, StudioID: "studio-9"},
		{Kind: opennimble.KindStreamingBackup, ParentID: "session-07"},
		{Kind: opennimble.KindStudio},
	}
}

// matches is the reference implementation of a ListQuery filter.
func matches(q opennimble.ListQuery, r *opennimble.Record) bool {
	return r.Kind == q.Kind &&
		(q.StudioID == "" || r.StudioID == q.StudioID) &&
		(q.ParentID == "" || r.ParentID == q.ParentID) &&
		(q.OwnedBy == "" || r.OwnedBy == q.OwnedBy) &&
		(len(q.States) == 0 || slices.Contains(q.States, r.State)) &&
		!slices.Contains(q.ExcludeStates, r.State)
}

// expect returns the ids of the records q should list, in order.
func expect(q opennimble.ListQuery, all []*opennimble.Record) []string {
	var want []string
	for _, r := range all {
		if matches(q, r) {
			want = append(want, r.ID)
		}
	}
	if q.Descending {
		slices.Reverse(want)
	}
	return want
}

// list runs q in its own read transaction.
func list(t *testing.T, s opennimble.Store, q opennimble.ListQuery) []*opennimble.Record {
	t.Helper()
	var rs []*opennimble.Record
	view(t, s, func(tx opennimble.Tx) error {
		var err error
		rs, err = tx.List(t.Context(), q)
		return err
	})
	return rs
}

func allRecords(t *testing.T, s opennimble.Store, sessions []*opennimble.Record) []*opennimble.Record {
	backups := list(t, s, opennimble.ListQuery{Kind: opennimble.KindStreamingBackup})
	return append(slices.Clone(sessions), backups...)
}

func testListFilters(t *testing.T, s opennimble.Store) {
	sessions := seedSessions(t, s)
	all := allRecords(t, s, sessions)
	byID := map[string]*opennimble.Record{}
	for _, r := range all {
		byID[string(r.Kind)+"/"+r.ID] = r
	}
	for _, q := range listQueries() {
		for _, desc := range []bool{false, true} {
			q.Descending = desc
			got := list(t, s, q)
			if want := expect(q, all); !slices.Equal(ids(got), want) {
				t.Errorf("List(%+v)\n got %v\nwant %v", q, ids(got), want)
			}
			for _, r := range got {
				sameRecord(t, r, byID[string(r.Kind)+"/"+r.ID])
			}
			var n int
			view(t, s, func(tx opennimble.Tx) error {
				var err error
				n, err = tx.Count(t.Context(), q)
				return err
			})
			if want := len(expect(q, all)); n != want {
				t.Errorf("Count(%+v) = %d, want %d", q, n, want)
			}
		}
	}
	// Count ignores the cursor and the limit.
	q := opennimble.ListQuery{Kind: opennimble.KindStreamingSession, After: sessions[10].Seq, Limit: 3}
	var n int
	view(t, s, func(tx opennimble.Tx) error {
		var err error
		n, err = tx.Count(t.Context(), q)
		return err
	})
	if n != len(sessions) {
		t.Errorf("Count with After and Limit = %d, want %d", n, len(sessions))
	}
}

// pageAll lists q page by page, each page in its own transaction, as a client
// paginating through the API does.
func pageAll(t *testing.T, s opennimble.Store, q opennimble.ListQuery) []*opennimble.Record {
	t.Helper()
	var out []*opennimble.Record
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("paging %+v does not end", q)
		}
		page := list(t, s, q)
		if len(page) > q.Limit {
			t.Fatalf("page of %d records with Limit %d", len(page), q.Limit)
		}
		out = append(out, page...)
		if len(page) < q.Limit {
			return out
		}
		q.After = page[len(page)-1].Seq
	}
}

func testListPaging(t *testing.T, s opennimble.Store) {
	sessions := seedSessions(t, s)
	all := allRecords(t, s, sessions)
	for _, q := range listQueries() {
		for _, desc := range []bool{false, true} {
			for _, limit := range []int{1, 3, 7, 100} {
				q.Descending, q.Limit = desc, limit
				got := pageAll(t, s, q)
				if want := expect(q, all); !slices.Equal(ids(got), want) {
					t.Errorf("paging %+v\n got %v\nwant %v", q, ids(got), want)
				}
			}
		}
	}
	// A cursor from the middle continues from there, in either direction.
	mid := sessions[29].Seq
	k := opennimble.KindStreamingSession
	asc := list(t, s, opennimble.ListQuery{Kind: k, After: mid})
	if want := ids(sessions[30:]); !slices.Equal(ids(asc), want) {
		t.Errorf("After %d ascending: got %v, want %v", mid, ids(asc), want)
	}
	desc := list(t, s, opennimble.ListQuery{Kind: k, After: mid, Descending: true})
	want := ids(sessions[:29])
	slices.Reverse(want)
	if !slices.Equal(ids(desc), want) {
		t.Errorf("After %d descending: got %v, want %v", mid, ids(desc), want)
	}
}

func testListLimit(t *testing.T, s opennimble.Store) {
	sessions := seedSessions(t, s)
	k := opennimble.KindStreamingSession
	for _, limit := range []int{0, 1, 5, 59, 60, 61, 1000} {
		got := list(t, s, opennimble.ListQuery{Kind: k, Limit: limit})
		n := min(limit, len(sessions))
		if limit == 0 {
			n = len(sessions)
		}
		if !slices.Equal(ids(got), ids(sessions[:n])) {
			t.Errorf("Limit %d: got %d records %v", limit, len(got), ids(got))
		}
	}
}

func testListEmpty(t *testing.T, s opennimble.Store) {
	q := opennimble.ListQuery{Kind: opennimble.KindStudio, Limit: 10}
	if got := list(t, s, q); len(got) != 0 {
		t.Errorf("List on an empty store: %v", ids(got))
	}
	q.Descending = true
	if got := list(t, s, q); len(got) != 0 {
		t.Errorf("List on an empty store: %v", ids(got))
	}
}

// testListPagingDuringWrites pages through a studio's sessions while another
// goroutine inserts, updates and deletes sessions in the same studio. Every
// record that existed throughout must be listed exactly once, and nothing may
// be listed twice.
func testListPagingDuringWrites(t *testing.T, s opennimble.Store) {
	sessions := seedSessions(t, s)
	k := opennimble.KindStreamingSession
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	wg.Go(func() {
		for i := 0; i < 2000; i++ { // bounded, so that paging always ends
			select {
			case <-stop:
				return
			default:
			}
			err := s.Update(t.Context(), func(tx opennimble.Tx) error {
				id := fmt.Sprintf("new-%d", i)
				r := &opennimble.Record{Kind: k, ID: id, StudioID: "studio-1", State: "READY", Data: []byte("{}")}
				if err := tx.Put(t.Context(), r); err != nil {
					return err
				}
				if i%2 == 1 { // delete a record inserted during the paging
					if err := tx.Delete(t.Context(), k, fmt.Sprintf("new-%d", i-1)); err != nil {
						return err
					}
				}
				old, err := tx.Get(t.Context(), k, sessions[i%len(sessions)].ID)
				if err != nil {
					return err
				}
				old.Data = fmt.Appendf(nil, `{"touch":%d}`, i)
				return tx.Put(t.Context(), old)
			})
			if err != nil {
				writeErr = err
				return
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait()
		if writeErr != nil {
			t.Errorf("concurrent writer: %v", writeErr)
		}
	}()

	for _, desc := range []bool{false, true} {
		q := opennimble.ListQuery{Kind: k, StudioID: "studio-1", Descending: desc, Limit: 4}
		got := pageAll(t, s, q)
		seen := map[string]bool{}
		for i, r := range got {
			if seen[r.ID] {
				t.Errorf("descending=%v: %s listed twice", desc, r.ID)
			}
			seen[r.ID] = true
			if i > 0 && (r.Seq > got[i-1].Seq) == desc {
				t.Errorf("descending=%v: Seq %d after %d", desc, r.Seq, got[i-1].Seq)
			}
		}
		for _, r := range sessions {
			if r.StudioID == "studio-1" && !seen[r.ID] {
				t.Errorf("descending=%v: %s was never listed", desc, r.ID)
			}
		}
	}
}
