package backup

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/zeebo/blake3"
)

// Encryption at rest. An encrypted repository keeps every object (config,
// packs, index files, manifests) sealed by Encrypted, a Backend that wraps
// another: the repository above it sees plaintext, the backend below only
// ciphertext. An object is stored as
//
//	magic | salt | segment 0 | segment 1 | … | segment n-1
//
// where each segment is up to encSegment bytes of the object sealed with
// AES-256-GCM under a key of its own object (the keyed BLAKE3 of the
// object's random salt under the repository key), its nonce the segment's
// number and a flag marking the last one, and its additional data the
// object's key. So a segment cannot be moved to another place, object or
// name, an object cut short at a segment boundary is found out, and a
// ranged read (a chunk in a pack) opens only the segments it covers.
//
// The repository key is random and stored in the object keysKey, sealed by
// a key derived from the operator's key (see OperatorKey), which is never
// stored with the data: a wrong operator key fails to open the repository
// (ErrWrongKey), it never yields garbage.
const (
	encSegment  = 64 << 10
	encTag      = 16
	encSaltSize = 24
	encHeader   = 8 + encSaltSize
	// keysKey holds the sealed repository key, in the clear beside the
	// sealed objects.
	keysKey = "keys/repository"
	// RepoKeySize is the size of a repository or operator key.
	RepoKeySize = 32
)

var encMagic = []byte("ONBKENC1")

// Errors about keys; test them with errors.Is.
var (
	// ErrEncrypted: the repository is encrypted and no key was given.
	ErrEncrypted = errors.New("backup: the repository is encrypted and no key was given to open it")
	// ErrWrongKey: the key given does not open the repository.
	ErrWrongKey = errors.New("backup: the key given does not open this repository (a wrong key?)")
	// ErrNotEncrypted: a key was given for a repository made without one.
	ErrNotEncrypted = errors.New("backup: a key was given, but this repository was made without encryption (see the README on moving to an encrypted one)")
)

// Encrypted is a Backend that seals every object it puts into inner and
// opens every object it reads. It is what Open puts between a Repo and
// its backend when the repository is encrypted.
type Encrypted struct {
	inner Backend
	key   [RepoKeySize]byte

	mu    sync.Mutex
	known map[string]encObject // immutable objects' salt and size, for ranged reads
}

type encObject struct {
	aead cipher.AEAD
	size int64 // of the stored, sealed object
}

var _ Backend = (*Encrypted)(nil)

// NewEncrypted seals the objects of inner under the repository key key.
func NewEncrypted(inner Backend, key [RepoKeySize]byte) *Encrypted {
	return &Encrypted{inner: inner, key: key, known: map[string]encObject{}}
}

// Inner is the backend that holds the sealed objects.
func (e *Encrypted) Inner() Backend { return e.inner }

// immutable reports whether key names an object that, once stored, is
// never replaced by other contents: its name is the hash of its contents.
func immutable(key string) bool {
	return strings.HasPrefix(key, packPrefix) || strings.HasPrefix(key, indexPrefix)
}

func (e *Encrypted) objectAEAD(salt []byte) cipher.AEAD {
	k, _ := blake3.NewKeyed(e.key[:])
	k.Write(salt)
	sub := k.Sum(nil)
	block, _ := aes.NewCipher(sub[:32])
	aead, _ := cipher.NewGCM(block)
	return aead
}

func segNonce(i int64, last bool) []byte {
	var n [12]byte
	if last {
		n[0] = 1
	}
	binary.BigEndian.PutUint64(n[4:], uint64(i))
	return n[:]
}

// sealedSize is the size of an object of n bytes, sealed.
func sealedSize(n int64) int64 {
	segs := max(1, (n+encSegment-1)/encSegment)
	return encHeader + n + segs*encTag
}

// plainSize is the size of the object that a sealed object of n bytes
// holds, or -1 when no object seals to n bytes.
func plainSize(n int64) int64 {
	body := n - encHeader
	if body < encTag {
		return -1
	}
	segs := (body + encSegment + encTag - 1) / (encSegment + encTag)
	p := body - segs*encTag
	if p < 0 || sealedSize(p) != n {
		return -1
	}
	return p
}

func (e *Encrypted) Put(ctx context.Context, key string, data []byte) error {
	if !validKey(key) {
		return fmt.Errorf("backup store: invalid key %q", key)
	}
	out := make([]byte, encHeader, sealedSize(int64(len(data))))
	copy(out, encMagic)
	if _, err := rand.Read(out[8:encHeader]); err != nil {
		return err
	}
	aead := e.objectAEAD(out[8:encHeader])
	ad := []byte(key)
	for i := int64(0); ; i++ {
		seg := data[min(len(data), int(i)*encSegment):min(len(data), int(i+1)*encSegment)]
		last := int(i+1)*encSegment >= len(data)
		out = aead.Seal(out, segNonce(i, last), seg, ad)
		if last {
			break
		}
	}
	return e.inner.Put(ctx, key, out)
}

func (e *Encrypted) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := e.inner.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	p := plainSize(int64(len(b)))
	if p < 0 || !bytes.Equal(b[:8], encMagic) {
		return nil, e.unreadable(key, "not an encrypted object, or truncated")
	}
	aead := e.objectAEAD(b[8:encHeader])
	out, err := e.open(aead, key, b[encHeader:], 0, segments(p))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// unreadable is the error for a stored object that does not open. The
// repository key was checked when it was unsealed, so this is damage.
func (e *Encrypted) unreadable(key, why string) error {
	return &CorruptError{Key: key, Reason: "cannot decrypt: " + why}
}

func segments(plain int64) int64 { return max(1, (plain+encSegment-1)/encSegment) }

// open decrypts the segments first, first+1, … of an object of total
// segments, whose sealed forms b holds one after another.
func (e *Encrypted) open(aead cipher.AEAD, key string, b []byte, first, total int64) ([]byte, error) {
	out := make([]byte, 0, len(b))
	ad := []byte(key)
	for i := first; len(b) > 0; i++ {
		n := min(len(b), encSegment+encTag)
		var err error
		out, err = aead.Open(out, segNonce(i, i == total-1), b[:n], ad)
		if err != nil {
			return nil, e.unreadable(key, fmt.Sprintf("segment %d does not authenticate", i))
		}
		b = b[n:]
	}
	return out, nil
}

// object returns the AEAD and sealed size of the object key, from memory
// for an immutable object already seen.
func (e *Encrypted) object(ctx context.Context, key string) (encObject, error) {
	e.mu.Lock()
	o, ok := e.known[key]
	e.mu.Unlock()
	if ok {
		return o, nil
	}
	size, err := e.inner.Stat(ctx, key)
	if err != nil {
		return o, err
	}
	if plainSize(size) < 0 {
		return o, e.unreadable(key, "not an encrypted object, or truncated")
	}
	head, err := e.inner.GetRange(ctx, key, 0, encHeader)
	if err != nil {
		return o, err
	}
	if !bytes.Equal(head[:8], encMagic) {
		return o, e.unreadable(key, "not an encrypted object")
	}
	o = encObject{aead: e.objectAEAD(head[8:]), size: size}
	if immutable(key) {
		e.mu.Lock()
		if len(e.known) > 1<<16 {
			clear(e.known) // a bound, not a cache policy: packs are 16 MiB each
		}
		e.known[key] = o
		e.mu.Unlock()
	}
	return o, nil
}

func (e *Encrypted) forget(key string) {
	e.mu.Lock()
	delete(e.known, key)
	e.mu.Unlock()
}

// GetRange reads and opens the segments that hold the range. An immutable
// object's salt is remembered, but a pack that garbage collection deleted
// can come back under its name, sealed anew: a range that does not open
// with the remembered salt is read once more with the stored one.
func (e *Encrypted) GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	if offset < 0 || length < 0 {
		return nil, fmt.Errorf("backup store: invalid range %d+%d of %s", offset, length, key)
	}
	for try := 0; ; try++ {
		e.mu.Lock()
		_, remembered := e.known[key]
		e.mu.Unlock()
		b, err := e.getRange(ctx, key, offset, length)
		if err != nil {
			e.forget(key)
		}
		if err == nil || !remembered || try > 0 {
			return b, err
		}
	}
}

func (e *Encrypted) getRange(ctx context.Context, key string, offset, length int64) ([]byte, error) {
	o, err := e.object(ctx, key)
	if err != nil {
		return nil, err
	}
	plain := plainSize(o.size)
	if offset+length > plain {
		return nil, fmt.Errorf("backup store: %s has %d bytes, not %d from %d: %w", key, plain, length, offset, io.ErrUnexpectedEOF)
	}
	if length == 0 {
		return []byte{}, nil
	}
	first, last := offset/encSegment, (offset+length-1)/encSegment
	from := encHeader + first*(encSegment+encTag)
	to := min(o.size, encHeader+(last+1)*(encSegment+encTag))
	b, err := e.inner.GetRange(ctx, key, from, to-from)
	if err != nil {
		return nil, err
	}
	out, err := e.open(o.aead, key, b, first, segments(plain))
	if err != nil {
		return nil, err
	}
	skip := offset - first*encSegment
	return out[skip : skip+length], nil
}

func (e *Encrypted) Stat(ctx context.Context, key string) (int64, error) {
	n, err := e.inner.Stat(ctx, key)
	if err != nil {
		return 0, err
	}
	if p := plainSize(n); p >= 0 {
		return p, nil
	}
	return 0, e.unreadable(key, "not an encrypted object, or truncated")
}

// List reports the objects with the sizes they had before sealing; an
// object of a size nothing seals to is reported as 0 bytes (reading it
// fails).
func (e *Encrypted) List(ctx context.Context, prefix string, fn func(key string, size int64) error) error {
	return e.inner.List(ctx, prefix, func(key string, size int64) error {
		if key == keysKey {
			return nil
		}
		return fn(key, max(0, plainSize(size)))
	})
}

func (e *Encrypted) Delete(ctx context.Context, key string) error {
	e.forget(key)
	return e.inner.Delete(ctx, key)
}

func (e *Encrypted) Sync(ctx context.Context) error { return e.inner.Sync(ctx) }

func (e *Encrypted) Lock(ctx context.Context, exclusive bool) (func(), error) {
	return e.inner.Lock(ctx, exclusive)
}

// CleanTemp passes on to the inner backend.
func (e *Encrypted) CleanTemp(ctx context.Context) (int, error) {
	if tc, ok := e.inner.(TempCleaner); ok {
		return tc.CleanTemp(ctx)
	}
	return 0, nil
}
