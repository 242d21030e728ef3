package backup_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/opennimble/opennimble/backup"
	"github.com/opennimble/opennimble/backup/backuptest"
)

func TestFSStore(t *testing.T) {
	backuptest.Run(t, func(t *testing.T) backup.Backend {
		s, err := backup.OpenFS(filepath.Join(t.TempDir(), "store"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestMemStore(t *testing.T) {
	backuptest.Run(t, func(t *testing.T) backup.Backend { return backup.NewMemStore() })
}

// The sealing layer is itself a Backend: the whole suite, crashes at every
// write included, runs through it.
func TestEncryptedStore(t *testing.T) {
	backuptest.Run(t, func(t *testing.T) backup.Backend {
		s, err := backup.OpenFS(filepath.Join(t.TempDir(), "store"))
		if err != nil {
			t.Fatal(err)
		}
		var key [backup.RepoKeySize]byte
		key[0] = 7
		return backup.NewEncrypted(s, key)
	})
}

func TestEncryption(t *testing.T) {
	t.Run("FS", func(t *testing.T) {
		backuptest.RunEncryption(t, func(t *testing.T) backup.Backend {
			s, err := backup.OpenFS(filepath.Join(t.TempDir(), "store"))
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
	t.Run("Mem", func(t *testing.T) {
		backuptest.RunEncryption(t, func(t *testing.T) backup.Backend { return backup.NewMemStore() })
	})
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

// Large objects (packs) are written with O_DIRECT where the memory and
// the filesystem allow it, their tail through the page cache; any other
// object entirely through the page cache. All read back the same.
func TestFSStoreLargeObjects(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s, err := backup.OpenFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3<<20+4096)
	for i := range buf {
		buf[i] = byte(i*13 + i>>12)
	}
	cases := map[string][]byte{
		"aligned":          buf[:3<<20],
		"aligned-odd-tail": buf[:3<<20+1234],
		"unaligned":        buf[1 : 3<<20+1],
		"small":            buf[:4096],
	}
	for name, data := range cases {
		if err := s.Put(t.Context(), "chunks/aa/"+name, data); err != nil {
			t.Fatal(err)
		}
	}
	for pass := range 2 {
		for name, data := range cases {
			got, err := s.Get(t.Context(), "chunks/aa/"+name)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("pass %d: %s read back %d bytes (want %d), %v", pass, name, len(got), len(data), err)
			}
			tail, err := s.GetRange(t.Context(), "chunks/aa/"+name, int64(len(data)-100), 100)
			if err != nil || !bytes.Equal(tail, data[len(data)-100:]) {
				t.Fatalf("pass %d: the tail of %s: %v", pass, name, err)
			}
		}
		if err := s.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
}
