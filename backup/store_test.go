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

// An object whose temporary file another process removed (a GC run from
// the command line while a failed snapshot's chunks waited for their sync)
// fails one Sync, so that no manifest can name it, and is then forgotten.
func TestFSStoreLostTemporaryFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := backup.OpenFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "chunks/ab/x", []byte("data")); err != nil {
		t.Fatal(err)
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, "chunks", "ab", ".put-*"))
	if len(tmps) != 1 {
		t.Fatalf("temporary files: %v", tmps)
	}
	if err := os.Remove(tmps[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(t.Context()); err == nil {
		t.Fatal("Sync succeeded although an object was lost")
	}
	if err := s.Sync(t.Context()); err != nil {
		t.Fatalf("the next Sync: %v", err)
	}
	if _, err := s.Get(t.Context(), "chunks/ab/x"); err != backup.ErrNotExist {
		t.Fatalf("Get = %v, want ErrNotExist", err)
	}
}
