package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
)

var recordTests = []test{
	{"InsertGet", testInsertGet},
	{"InsertSetsTimestamps", testInsertSetsTimestamps},
	{"InsertExisting", testInsertExisting},
	{"Update", testUpdate},
	{"UpdateStale", testUpdateStale},
	{"UpdateMissing", testUpdateMissing},
	{"Delete", testDelete},
	{"GetMissing", testGetMissing},
	{"SeqNeverReused", testSeqNeverReused},
	{"ViewIsReadOnly", testViewIsReadOnly},
}

func session(id string) *opennimble.Record {
	return &opennimble.Record{
		Kind: opennimble.KindStreamingSession, ID: id,
		StudioID: "studio-1", ParentID: "profile-1", OwnedBy: "user-1", State: "CREATE_IN_PROGRESS",
		CreatedAt: at(0), UpdatedAt: at(time.Second),
		Data: []byte(`{"sessionId":"` + id + `"}`),
	}
}

func testInsertGet(t *testing.T, s opennimble.Store) {
	r := session("s-1")
	r.Data = []byte{0, 1, 2, 0xff, '"', 0} // documents are bytes, not text
	put(t, s, r)
	if r.Seq <= 0 || r.Version != 1 {
		t.Fatalf("after insert Seq=%d Version=%d, want Seq>0 Version=1", r.Seq, r.Version)
	}
	sameTime(t, "CreatedAt", r.CreatedAt, at(0))
	sameTime(t, "UpdatedAt", r.UpdatedAt, at(time.Second))
	sameRecord(t, get(t, s, r.Kind, r.ID), r)

	// The same id under another kind is another record.
	other := &opennimble.Record{Kind: opennimble.KindStreamingBackup, ID: "s-1", Data: []byte("{}")}
	put(t, s, other)
	if other.Seq == r.Seq {
		t.Errorf("two records share Seq %d", r.Seq)
	}
	sameRecord(t, get(t, s, r.Kind, r.ID), r)
	sameRecord(t, get(t, s, other.Kind, other.ID), other)
}

func testInsertSetsTimestamps(t *testing.T, s opennimble.Store) {
	before := time.Now().Add(-time.Second)
	r := &opennimble.Record{Kind: opennimble.KindStudio, ID: "studio-1", Data: []byte("{}")}
	put(t, s, r)
	after := time.Now().Add(time.Second)
	for name, ts := range map[string]time.Time{"CreatedAt": r.CreatedAt, "UpdatedAt": r.UpdatedAt} {
		if ts.Before(before) || ts.After(after) {
			t.Errorf("%s = %v, want about now", name, ts)
		}
	}
	sameRecord(t, get(t, s, r.Kind, r.ID), r)
}

func testInsertExisting(t *testing.T, s opennimble.Store) {
	first := put(t, s, session("s-1"))
	dup := session("s-1")
	dup.State = "READY"
	err := s.Update(t.Context(), func(tx opennimble.Tx) error { return tx.Put(t.Context(), dup) })
	wantErr(t, "insert of an existing record", err, opennimble.ErrVersionConflict)
	sameRecord(t, get(t, s, first.Kind, first.ID), first)
}

func testUpdate(t *testing.T, s opennimble.Store) {
	r := put(t, s, session("s-1"))
	seq := r.Seq
	got := get(t, s, r.Kind, r.ID)
	got.State, got.OwnedBy, got.StudioID, got.ParentID = "READY", "user-2", "studio-2", "profile-2"
	got.Data = []byte(`{"state":"READY"}`)
	got.UpdatedAt = at(time.Minute)
	got.CreatedAt = at(time.Hour) // ignored: CreatedAt is set once, on insert
	put(t, s, got)
	if got.Version != 2 || got.Seq != seq {
		t.Fatalf("after update Version=%d Seq=%d, want 2 and %d", got.Version, got.Seq, seq)
	}
	sameTime(t, "CreatedAt after update", got.CreatedAt, at(0))
	sameTime(t, "UpdatedAt after update", got.UpdatedAt, at(time.Minute))
	sameRecord(t, get(t, s, r.Kind, r.ID), got)
	// The lists follow the indexed columns that changed.
	byParent := func(parent, state string) []string {
		q := opennimble.ListQuery{Kind: r.Kind, ParentID: parent}
		if state != "" {
			q.States = []string{state}
		}
		return ids(list(t, s, q))
	}
	if got, want := byParent("profile-2", "READY"), []string{r.ID}; !slices.Equal(got, want) {
		t.Errorf("listed under the new parent: %v, want %v", got, want)
	}
	if got := byParent(r.ParentID, ""); len(got) != 0 {
		t.Errorf("still listed under the old parent: %v", got)
	}
	if got, want := ids(list(t, s, opennimble.ListQuery{Kind: r.Kind, StudioID: "studio-2", OwnedBy: "user-2"})), []string{r.ID}; !slices.Equal(got, want) {
		t.Errorf("listed under the new studio and owner: %v, want %v", got, want)
	}

	// A zero UpdatedAt means now.
	got.UpdatedAt = time.Time{}
	before := time.Now().Add(-time.Second)
	put(t, s, got)
	if got.Version != 3 || got.UpdatedAt.Before(before) || got.UpdatedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("after update with zero UpdatedAt: Version=%d UpdatedAt=%v", got.Version, got.UpdatedAt)
	}
	sameRecord(t, get(t, s, r.Kind, r.ID), got)

	// A change of state alone (the indexed columns kept) is listed by it.
	got.State = "STOPPED"
	put(t, s, got)
	if got.Version != 4 {
		t.Errorf("after a change of state Version=%d, want 4", got.Version)
	}
	sameRecord(t, get(t, s, r.Kind, r.ID), got)
	if got, want := byParent("profile-2", "STOPPED"), []string{r.ID}; !slices.Equal(got, want) {
		t.Errorf("listed in its new state: %v, want %v", got, want)
	}
	if got := byParent("profile-2", "READY"); len(got) != 0 {
		t.Errorf("still listed in its old state: %v", got)
	}
}

func testUpdateStale(t *testing.T, s opennimble.Store) {
	r := put(t, s, session("s-1"))
	a, b := get(t, s, r.Kind, r.ID), get(t, s, r.Kind, r.ID)
	a.State = "READY"
	put(t, s, a)
	b.State = "START_FAILED"
	err := s.Update(t.Context(), func(tx opennimble.Tx) error { return tx.Put(t.Context(), b) })
	wantErr(t, "update from a stale version", err, opennimble.ErrVersionConflict)
	sameRecord(t, get(t, s, r.Kind, r.ID), a)

	ahead := get(t, s, r.Kind, r.ID)
	ahead.Version += 5
	err = s.Update(t.Context(), func(tx opennimble.Tx) error { return tx.Put(t.Context(), ahead) })
	wantErr(t, "update from a version never stored", err, opennimble.ErrVersionConflict)
}

func testUpdateMissing(t *testing.T, s opennimble.Store) {
	r := session("s-1")
	r.Version = 3
	err := s.Update(t.Context(), func(tx opennimble.Tx) error { return tx.Put(t.Context(), r) })
	wantErr(t, "update of a missing record", err, opennimble.ErrNoRecord)
	if _, err := tryGet(t, s, r.Kind, r.ID); !errors.Is(err, opennimble.ErrNoRecord) {
		t.Errorf("failed update created the record (Get: %v)", err)
	}
}

func testDelete(t *testing.T, s opennimble.Store) {
	r := put(t, s, session("s-1"))
	keep := put(t, s, session("s-2"))
	update(t, s, func(tx opennimble.Tx) error { return tx.Delete(t.Context(), r.Kind, r.ID) })
	_, err := tryGet(t, s, r.Kind, r.ID)
	wantErr(t, "Get after Delete", err, opennimble.ErrNoRecord)
	sameRecord(t, get(t, s, keep.Kind, keep.ID), keep)

	err = s.Update(t.Context(), func(tx opennimble.Tx) error { return tx.Delete(t.Context(), r.Kind, r.ID) })
	wantErr(t, "Delete of a deleted record", err, opennimble.ErrNoRecord)
	err = s.Update(t.Context(), func(tx opennimble.Tx) error {
		return tx.Delete(t.Context(), opennimble.KindStreamingBackup, keep.ID)
	})
	wantErr(t, "Delete under the wrong kind", err, opennimble.ErrNoRecord)

	// The id is free again: inserting it starts a new record at Version 1.
	again := put(t, s, session("s-1"))
	if again.Version != 1 || again.Seq <= keep.Seq {
		t.Errorf("re-inserted record Version=%d Seq=%d, want 1 and > %d", again.Version, again.Seq, keep.Seq)
	}
}

func testGetMissing(t *testing.T, s opennimble.Store) {
	_, err := tryGet(t, s, opennimble.KindStudio, "nope")
	wantErr(t, "Get of a missing record", err, opennimble.ErrNoRecord)
}

func testSeqNeverReused(t *testing.T, s opennimble.Store) {
	var last int64
	kinds := []opennimble.Kind{opennimble.KindStudio, opennimble.KindLaunchProfile, opennimble.KindStreamingImage}
	for i := range 9 {
		r := &opennimble.Record{Kind: kinds[i%3], ID: "x", Data: []byte("{}")}
		update(t, s, func(tx opennimble.Tx) error {
			if err := tx.Put(t.Context(), r); err != nil {
				return err
			}
			if i%2 == 0 { // delete the newest record in the same transaction
				return tx.Delete(t.Context(), r.Kind, r.ID)
			}
			return nil
		})
		if r.Seq <= last {
			t.Fatalf("insert %d got Seq %d after %d", i, r.Seq, last)
		}
		last = r.Seq
		if i%2 == 1 {
			update(t, s, func(tx opennimble.Tx) error { return tx.Delete(t.Context(), r.Kind, r.ID) })
		}
	}
	// Several inserts in one transaction get increasing numbers too.
	var rs []*opennimble.Record
	update(t, s, func(tx opennimble.Tx) error {
		for _, id := range []string{"a", "b", "c"} {
			r := &opennimble.Record{Kind: opennimble.KindStudio, ID: id, Data: []byte("{}")}
			if err := tx.Put(t.Context(), r); err != nil {
				return err
			}
			rs = append(rs, r)
		}
		return nil
	})
	for _, r := range rs {
		if r.Seq <= last {
			t.Fatalf("%s got Seq %d after %d", r.ID, r.Seq, last)
		}
		last = r.Seq
	}
}

func testViewIsReadOnly(t *testing.T, s opennimble.Store) {
	r := put(t, s, session("s-1"))
	writes := map[string]func(tx opennimble.Tx) error{
		"Put":        func(tx opennimble.Tx) error { return tx.Put(t.Context(), session("s-2")) },
		"Delete":     func(tx opennimble.Tx) error { return tx.Delete(t.Context(), r.Kind, r.ID) },
		"EnqueueJob": func(tx opennimble.Tx) error { return tx.EnqueueJob(t.Context(), r.Kind, r.ID, at(0)) },
		"PutMeta":    func(tx opennimble.Tx) error { return tx.PutMeta(t.Context(), "k", []byte("v")) },
		"PutIdempotency": func(tx opennimble.Tx) error {
			return tx.PutIdempotency(t.Context(), &opennimble.IdempotencyRecord{Key: "k"})
		},
	}
	for name, w := range writes {
		if err := s.View(t.Context(), w); err == nil {
			t.Errorf("%s in View succeeded", name)
		}
	}
	sameRecord(t, get(t, s, r.Kind, r.ID), r)
	if _, err := tryGet(t, s, r.Kind, "s-2"); !errors.Is(err, opennimble.ErrNoRecord) {
		t.Errorf("Put in View stored a record (Get: %v)", err)
	}
}
