package backup

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zeebo/blake3"
)

// OperatorKey is the key an operator supplies to open an encrypted
// repository: any secret of at least MinOperatorKey characters (for
// example `head -c 32 /dev/urandom | base64`), from which the key that
// seals the repository key is derived with BLAKE3's key derivation. It is
// not a password: nothing slows a guess down, so it must be random.
type OperatorKey []byte

// MinOperatorKey is the shortest operator key accepted.
const MinOperatorKey = 32

// ParseOperatorKey takes an operator key from the contents of a file or
// an environment variable, leading and trailing white space removed.
func ParseOperatorKey(s string) (OperatorKey, error) {
	s = strings.TrimSpace(s)
	if len(s) < MinOperatorKey {
		return nil, fmt.Errorf("backup: the operator key has %d characters, at least %d are needed (make one with: head -c 32 /dev/urandom | base64)", len(s), MinOperatorKey)
	}
	return OperatorKey(s), nil
}

// keyEncryptionKey is what seals the repository key: derived from the
// operator key and the key object's salt.
func (k OperatorKey) keyEncryptionKey(salt []byte) cipher.AEAD {
	var kek [32]byte
	blake3.DeriveKey("opennimble backup 2026 operator key", append(append([]byte(nil), k...), salt...), kek[:])
	block, _ := aes.NewCipher(kek[:])
	aead, _ := cipher.NewGCM(block)
	return aead
}

// keyObject is the stored form of keysKey: the repository key sealed by
// the operator's.
type keyObject struct {
	Version int       `json:"version"`
	Cipher  string    `json:"cipher"`
	Salt    []byte    `json:"salt"`
	Nonce   []byte    `json:"nonce"`
	Sealed  []byte    `json:"sealedKey"`
	Created time.Time `json:"created"`
}

const keyCipher = "aes-256-gcm/64KiB-segments"

var keyAD = []byte("opennimble repository key")

// openKeys returns the backend a Repo on store should use: store itself
// for an unencrypted repository, an Encrypted one for an encrypted one.
// With create and a key it sets up the encryption of a store that holds
// no repository yet.
func openKeys(ctx context.Context, store Backend, key OperatorKey, create bool) (Backend, error) {
	ko, err := readKeyObject(ctx, store)
	switch {
	case err == nil && key == nil:
		return nil, ErrEncrypted
	case err == nil:
		return ko.open(store, key)
	case !errors.Is(err, ErrNotExist):
		return nil, err
	case key == nil:
		return store, nil
	}
	if _, err := store.Stat(ctx, configKey); err == nil {
		return nil, ErrNotEncrypted
	} else if !errors.Is(err, ErrNotExist) {
		return nil, err
	}
	if !create {
		return nil, ErrNoRepo
	}
	return createKeys(ctx, store, key)
}

func readKeyObject(ctx context.Context, store Backend) (*keyObject, error) {
	b, err := store.Get(ctx, keysKey)
	if err != nil {
		return nil, err
	}
	var ko keyObject
	if err := json.Unmarshal(b, &ko); err != nil {
		return nil, &CorruptError{Key: keysKey, Reason: err.Error()}
	}
	if ko.Version != 1 || ko.Cipher != keyCipher {
		return nil, &CorruptError{Key: keysKey, Reason: fmt.Sprintf("unknown key format %d, %q", ko.Version, ko.Cipher)}
	}
	return &ko, nil
}

func (ko *keyObject) open(store Backend, key OperatorKey) (Backend, error) {
	aead := key.keyEncryptionKey(ko.Salt)
	if len(ko.Nonce) != aead.NonceSize() {
		return nil, &CorruptError{Key: keysKey, Reason: "bad nonce"}
	}
	rk, err := aead.Open(nil, ko.Nonce, ko.Sealed, keyAD)
	if err != nil || len(rk) != RepoKeySize {
		return nil, ErrWrongKey
	}
	return NewEncrypted(store, [RepoKeySize]byte(rk)), nil
}

// createKeys stores a new random repository key sealed by key, under the
// exclusive lock, unless another process did first.
func createKeys(ctx context.Context, store Backend, key OperatorKey) (Backend, error) {
	unlock, err := store.Lock(ctx, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if ko, err := readKeyObject(ctx, store); err == nil {
		return ko.open(store, key)
	} else if !errors.Is(err, ErrNotExist) {
		return nil, err
	}
	var rk [RepoKeySize]byte
	ko := keyObject{Version: 1, Cipher: keyCipher, Salt: make([]byte, 32), Nonce: make([]byte, 12), Created: time.Now().UTC()}
	for _, b := range [][]byte{rk[:], ko.Salt, ko.Nonce} {
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
	}
	ko.Sealed = key.keyEncryptionKey(ko.Salt).Seal(nil, ko.Nonce, rk[:], keyAD)
	b, err := json.Marshal(ko)
	if err != nil {
		return nil, err
	}
	if err := store.Put(ctx, keysKey, b); err != nil {
		return nil, err
	}
	if err := store.Sync(ctx); err != nil {
		return nil, err
	}
	return NewEncrypted(store, rk), nil
}
