package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opennimble/opennimble"
)

// TestGetRecordIsExact: GetRecord, served from the cache, always answers the
// latest committed state: after updates, deletes and a reset, and while a
// writer races readers (a reader never sees a version older than one that
// was committed before its read began).
func TestGetRecordIsExact(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "db"), Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := &opennimble.Record{Kind: "thing", ID: "a", Data: []byte(`1`)}
	put := func() {
		t.Helper()
		if err := s.Update(ctx, func(tx opennimble.Tx) error { return tx.Put(ctx, rec) }); err != nil {
			t.Fatal(err)
		}
	}
	put()
	for i := 0; i < 3; i++ {
		got, err := s.GetRecord(ctx, "thing", "a")
		if err != nil || got.Version != rec.Version || string(got.Data) != string(rec.Data) {
			t.Fatalf("GetRecord %+v %v, want version %d", got, err, rec.Version)
		}
		rec.Data = []byte{byte('2' + i)}
		put()
	}
	// A failed write in the same group changes nothing.
	boom := errors.New("boom")
	if err := s.Update(ctx, func(tx opennimble.Tx) error {
		r := *rec
		r.Data = []byte(`x`)
		if err := tx.Put(ctx, &r); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if got, _ := s.GetRecord(ctx, "thing", "a"); string(got.Data) != string(rec.Data) {
		t.Fatalf("rolled-back write visible: %s", got.Data)
	}
	if err := s.Update(ctx, func(tx opennimble.Tx) error { return tx.Delete(ctx, "thing", "a") }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecord(ctx, "thing", "a"); !errors.Is(err, opennimble.ErrNoRecord) {
		t.Fatalf("deleted record: %v", err)
	}
	rec = &opennimble.Record{Kind: "thing", ID: "b", Data: []byte(`1`)}
	put()
	if _, err := s.GetRecord(ctx, "thing", "b"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRecord(ctx, "thing", "b"); !errors.Is(err, opennimble.ErrNoRecord) {
		t.Fatalf("record after reset: %v", err)
	}

	// Race: one writer bumps a record, readers check monotonicity against
	// the last version the writer had acknowledged before they read.
	rec = &opennimble.Record{Kind: "thing", ID: "c", Data: []byte(`0`)}
	put()
	var acked atomic.Int64
	acked.Store(rec.Version)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := acked.Load()
				got, err := s.GetRecord(ctx, "thing", "c")
				if err != nil {
					t.Error(err)
					return
				}
				if got.Version < floor {
					t.Errorf("read version %d after version %d was acknowledged", got.Version, floor)
					return
				}
			}
		}()
	}
	for i := 0; i < 300; i++ {
		put()
		acked.Store(rec.Version)
	}
	close(stop)
	wg.Wait()
}
