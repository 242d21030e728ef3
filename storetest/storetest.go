// Package storetest is the conformance suite for opennimble.Store
// implementations. Every implementation runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) opennimble.Store { return openFresh(t) })
//	}
//
// The suite pins down behaviour the interface comments leave open, so that
// the service layer can rely on it whichever store it runs on. Times are
// compared at microsecond precision, the finest PostgreSQL keeps.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called; Run closes it when the subtest that asked for it ends.
// Subtests run in parallel, each on its own store.
func Run(t *testing.T, open func(t *testing.T) opennimble.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Record", recordTests},
		{"List", listTests},
		{"Tx", txTests},
		{"Job", jobTests},
		{"Idempotency", idempotencyTests},
		{"Meta", metaTests},
		{"Credential", credentialTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					s := open(t)
					t.Cleanup(func() {
						if err := s.Close(); err != nil {
							t.Errorf("Close: %v", err)
						}
					})
					tc.fn(t, s)
				})
			}
		})
	}
}

// test is one conformance check on a fresh store.
type test struct {
	name string
	fn   func(t *testing.T, s opennimble.Store)
}

// t0 is the suite's reference time, with microsecond precision.
var t0 = time.Date(2031, 3, 4, 5, 6, 7, 890123000, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

func update(t *testing.T, s opennimble.Store, fn func(opennimble.Tx) error) {
	t.Helper()
	if err := s.Update(t.Context(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s opennimble.Store, fn func(opennimble.Tx) error) {
	t.Helper()
	if err := s.View(t.Context(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// put stores r in its own transaction and returns it as Put left it.
func put(t *testing.T, s opennimble.Store, r *opennimble.Record) *opennimble.Record {
	t.Helper()
	update(t, s, func(tx opennimble.Tx) error { return tx.Put(t.Context(), r) })
	return r
}

// get reads kind/id in its own transaction, failing the test if it is missing.
func get(t *testing.T, s opennimble.Store, kind opennimble.Kind, id string) *opennimble.Record {
	t.Helper()
	r, err := tryGet(t, s, kind, id)
	if err != nil {
		t.Fatalf("Get %s %s: %v", kind, id, err)
	}
	return r
}

func tryGet(t *testing.T, s opennimble.Store, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	var r *opennimble.Record
	err := s.View(t.Context(), func(tx opennimble.Tx) error {
		var err error
		r, err = tx.Get(t.Context(), kind, id)
		return err
	})
	return r, err
}

// wantErr fails the test unless err wraps target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}

// sameTime fails the test unless got and want are the same instant.
func sameTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// sameRecord compares every field of two records.
func sameRecord(t *testing.T, got, want *opennimble.Record) {
	t.Helper()
	if got.Kind != want.Kind || got.ID != want.ID || got.StudioID != want.StudioID ||
		got.ParentID != want.ParentID || got.OwnedBy != want.OwnedBy || got.State != want.State ||
		got.Seq != want.Seq || got.Version != want.Version || !bytes.Equal(got.Data, want.Data) {
		t.Errorf("record = %s\nwant     %s", show(got), show(want))
	}
	sameTime(t, want.ID+" CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTime(t, want.ID+" UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

func show(r *opennimble.Record) string {
	return fmt.Sprintf("{%s %s studio=%q parent=%q owner=%q state=%q seq=%d v=%d data=%q}",
		r.Kind, r.ID, r.StudioID, r.ParentID, r.OwnedBy, r.State, r.Seq, r.Version, r.Data)
}

// ids lists the ids of records, in order.
func ids(rs []*opennimble.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}
