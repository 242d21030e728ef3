package backuptest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opennimble/opennimble/backup"
)

// RunEncryption checks encryption at rest on a backend: an encrypted
// repository round-trips, verifies and collects garbage; the backend holds
// no plaintext of what it keeps; a wrong key, a missing key and a key
// given to an unencrypted repository are each a clear error.
func RunEncryption(t *testing.T, newStore func(t *testing.T) backup.Backend) {
	t.Run("NoPlaintextInTheBackend", func(t *testing.T) { testNoPlaintext(t, newStore(t)) })
	t.Run("RoundTripVerifyGC", func(t *testing.T) { testEncryptedRepo(t, newStore(t)) })
	t.Run("WrongOrMissingKey", func(t *testing.T) { testWrongKey(t, newStore(t)) })
	t.Run("UnencryptedRepoKeepsWorking", func(t *testing.T) { testUnencryptedRepo(t, newStore(t)) })
}

// NewOperatorKey returns a random operator key.
func NewOperatorKey(t *testing.T) backup.OperatorKey {
	t.Helper()
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	k, err := backup.ParseOperatorKey(hex.EncodeToString(b))
	check(t, err)
	return k
}

// Marker returns a random text that appears nowhere by chance.
func Marker() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "opennimble-marker-" + hex.EncodeToString(b)
}

// Plaintext lists the objects of s that hold marker, as it is or as the
// hex of its bytes.
func Plaintext(t *testing.T, s backup.Backend, marker string) []string {
	t.Helper()
	var found []string
	check(t, s.List(bg, "", func(key string, _ int64) error {
		b, err := s.Get(bg, key)
		if errors.Is(err, backup.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(marker)) || bytes.Contains(b, []byte(hex.EncodeToString([]byte(marker)))) {
			found = append(found, key)
		}
		return nil
	}))
	return found
}

func testNoPlaintext(t *testing.T, s backup.Backend) {
	key := NewOperatorKey(t)
	r := openRepoWith(t, s, backup.Options{PackSize: testPackSize, Key: key})
	if !r.Encrypted() {
		t.Fatal("a repository made with a key is not encrypted")
	}
	dir := tree(t, 11)
	marker := Marker()
	// The marker in a small text file (compressed), a large repetitive one
	// and in a file name (the manifest).
	check(t, os.WriteFile(filepath.Join(dir, "note.txt"), []byte("secret: "+marker+"\n"), 0o644))
	check(t, os.WriteFile(filepath.Join(dir, "big.txt"), bytes.Repeat([]byte(marker+"\n"), 100000), 0o644))
	check(t, os.WriteFile(filepath.Join(dir, marker), nil, 0o644))
	snap(t, r, dir, "b1", "")
	if found := Plaintext(t, s, marker); len(found) > 0 {
		t.Fatalf("the backend holds the marker in the clear in %v", found)
	}
	if found := Plaintext(t, s, "chunkerKey"); len(found) > 0 {
		t.Fatalf("the backend holds the config in the clear in %v", found)
	}
	restoreMatches(t, r, "b1", describe(t, dir))
}

func testEncryptedRepo(t *testing.T, s backup.Backend) {
	key := NewOperatorKey(t)
	r := openRepoWith(t, s, backup.Options{PackSize: testPackSize, Key: key})
	d1, d2 := tree(t, 12), tree(t, 13)
	snap(t, r, d1, "b1", "")
	snap(t, r, d2, "b2", "b1")
	verifyOK(t, r)
	check(t, r.Delete(bg, "b1"))
	if _, err := r.GC(bg); err != nil {
		t.Fatal(err)
	}
	verifyOK(t, r)
	// A second process: the same key opens the repository.
	r2 := openRepoWith(t, s, backup.Options{Key: key})
	restoreMatches(t, r2, "b2", describe(t, d2))
}

func testWrongKey(t *testing.T, s backup.Backend) {
	key := NewOperatorKey(t)
	r := openRepoWith(t, s, backup.Options{PackSize: testPackSize, Key: key})
	snap(t, r, tree(t, 14), "b1", "")
	for _, o := range []backup.Options{{Key: NewOperatorKey(t)}, {Key: NewOperatorKey(t), Create: true}} {
		if _, err := backup.Open(bg, s, o); !errors.Is(err, backup.ErrWrongKey) {
			t.Fatalf("open with a wrong key = %v, want ErrWrongKey", err)
		}
	}
	_, err := backup.Open(bg, s, backup.Options{Create: true})
	if !errors.Is(err, backup.ErrEncrypted) || !strings.Contains(err.Error(), "encrypted") {
		t.Fatalf("open without a key = %v, want ErrEncrypted", err)
	}
	if _, err := backup.ParseOperatorKey("short"); err == nil {
		t.Fatal("a short operator key was accepted")
	}
}

func testUnencryptedRepo(t *testing.T, s backup.Backend) {
	r := openRepo(t, s)
	dir := tree(t, 15)
	snap(t, r, dir, "b1", "")
	if r.Encrypted() {
		t.Fatal("a repository made without a key is encrypted")
	}
	if _, err := backup.Open(bg, s, backup.Options{Key: NewOperatorKey(t), Create: true}); !errors.Is(err, backup.ErrNotEncrypted) {
		t.Fatalf("open of an unencrypted repository with a key = %v, want ErrNotEncrypted", err)
	}
	restoreMatches(t, openRepo(t, s), "b1", describe(t, dir))
}
