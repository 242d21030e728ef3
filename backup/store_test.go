package backup_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/opennimble/opennimble/backup"
	"github.com/opennimble/opennimble/backup/backuptest"
)

func TestFSStore(t *testing.T) {
	backuptest.Run(t, func(t *testing.T) backup.Store {
		s, err := backup.OpenFS(filepath.Join(t.TempDir(), "store"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestMemStore(t *testing.T) {
	backuptest.Run(t, func(t *testing.T) backup.Store { return backup.NewMemStore() })
}

// A Put that died leaves a temporary file, never a partial object; the
// next garbage collection removes it.
func TestFSStoreCleansTemporaryFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := backup.OpenFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := backup.Open(t.Context(), s, backup.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := os.MkdirAll(filepath.Join(dir, "chunks", "ab"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "chunks", "ab", ".put-123"), []byte("half a chunk"), 0o600); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := s.List(t.Context(), "", func(string, int64) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("List saw %d objects (want only the config): %v", n, err)
	}
	st, err := r.GC(t.Context())
	if err != nil || st.TempRemoved != 1 {
		t.Fatalf("GC = %+v, %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "chunks", "ab", ".put-123")); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
}
