package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/sqlite"
	"github.com/opennimble/opennimble/storetest"
)

func openTemp(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "data", "opennimble.db"), sqlite.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) opennimble.Store { return openTemp(t) })
}

func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	if _, err := sqlite.Open(t.Context(), filepath.Join(dir, "x.db"), sqlite.Options{Sync: "off"}); err == nil {
		t.Errorf("Open accepted Sync \"off\"")
	}
	// A path with URI syntax in it is a plain file name.
	path := filepath.Join(dir, "odd?name#%41.db")
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("database file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("database file mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestReopen checks that data and migrations survive closing and reopening,
// and that reopening does not apply migrations twice.
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "opennimble.db")
	ctx := context.Background()
	for i := range 3 {
		s, err := sqlite.Open(ctx, path, sqlite.Options{})
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		err = s.Update(ctx, func(tx opennimble.Tx) error {
			rs, err := tx.List(ctx, opennimble.ListQuery{Kind: opennimble.KindStudio})
			if err != nil {
				return err
			}
			if len(rs) != i {
				t.Errorf("open #%d sees %d studios, want %d", i, len(rs), i)
			}
			return tx.Put(ctx, &opennimble.Record{Kind: opennimble.KindStudio, ID: string(rune('a' + i))})
		})
		if err != nil {
			t.Fatalf("Update #%d: %v", i, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i, err)
		}
	}
}
