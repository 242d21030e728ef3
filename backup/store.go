// Package backup keeps deduplicated, crash-safe snapshots of directory
// trees: a snapshot cuts every file into content-defined chunks (FastCDC,
// with a gear table keyed per repository), stores each chunk once, known
// by its BLAKE3 hash and compressed with S2 when that pays, in packs of
// many chunks (see pack.go), and records the tree in a manifest. A Repo
// does that on top of a Backend, which only keeps named objects: a directory
// on this host now (FSStore), an S3-compatible bucket later.
package backup

import (
	"context"
	"errors"
	"strings"
)

// ErrNotExist is returned by a Backend for an object that does not exist.
var ErrNotExist = errors.New("backup store: no such object")

// Backend keeps the objects of a repository under keys such as
// "chunks/ab/ab12…" (a pack of chunks) or "manifests/bak-1": slash-separated, of the characters
// [A-Za-z0-9._-] and "/", never starting with "/" or containing "..".
//
// Every method is safe for concurrent use, also by several processes
// sharing one store.
type Backend interface {
	// Put stores data under key, replacing any object there; it does not
	// keep data once it returns. Whoever can
	// see the object sees all of data, never a part of it. It can be seen
	// through the same Backend at once, and by other processes, and after a
	// crash, at the latest when a Sync that began after Put returned has
	// returned: a store may hold objects back to make them durable in
	// batches.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the object key, or ErrNotExist.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetRange returns length bytes of the object key from offset on (a
	// ranged GET in S3), ErrNotExist when there is no such object, or an
	// error matching io.ErrUnexpectedEOF when the object ends before
	// offset+length.
	GetRange(ctx context.Context, key string, offset, length int64) ([]byte, error)
	// Stat returns the size of the object key, or ErrNotExist.
	Stat(ctx context.Context, key string) (int64, error)
	// List calls fn for every object whose key starts with prefix, in no
	// particular order. An error from fn stops the listing and is returned.
	List(ctx context.Context, prefix string, fn func(key string, size int64) error) error
	// Delete removes the object key; removing one that does not exist is no
	// error.
	Delete(ctx context.Context, key string) error
	// Sync makes every Put and Delete that returned before it visible to
	// all and durable, names included.
	Sync(ctx context.Context) error
	// Lock takes the store's lock, shared or exclusive, waiting until it is
	// free or ctx is done (then it returns ctx's error). It excludes holders
	// in other processes too, and is released with unlock or when the
	// process dies. Writers of chunks and manifests hold it shared; garbage
	// collection holds it exclusive.
	Lock(ctx context.Context, exclusive bool) (unlock func(), err error)
}

// TempCleaner is a Backend that can leave temporary objects behind when its
// process dies mid-Put. CleanTemp removes them; it is called only under the
// exclusive lock, when no Put can be in progress.
type TempCleaner interface {
	CleanTemp(ctx context.Context) (removed int, err error)
}

// ValidKey reports whether key has the form Backend documents.
func ValidKey(key string) bool { return validKey(key) }

func validKey(key string) bool {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || strings.Contains(key, "//") {
		return false
	}
	for _, part := range strings.Split(key, "/") {
		if part == "." || part == ".." {
			return false
		}
	}
	for _, c := range key {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return false
		}
	}
	return true
}

// ValidID reports whether id can name a backup: 1 to 128 characters of
// [A-Za-z0-9._-], not starting with a dot.
func ValidID(id string) bool {
	return id != "" && len(id) <= 128 && !strings.HasPrefix(id, ".") && !strings.Contains(id, "/") && validKey(id)
}
