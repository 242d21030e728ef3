package controls

import (
	"crypto/sha256"
	"encoding/binary"
	"sync/atomic"

	opennimble "github.com/opennimble/opennimble"
)

// SeededIDs are opennimble.SeededIDs that can start their sequence again,
// which a reset of a seeded server does.
type SeededIDs struct {
	seed uint64
	cur  atomic.Pointer[opennimble.SeededIDs]
}

var _ opennimble.IDs = (*SeededIDs)(nil)

// NewSeededIDs returns the sequence of seed.
func NewSeededIDs(seed uint64) *SeededIDs {
	s := &SeededIDs{seed: seed}
	s.Reset()
	return s
}

// New returns the next id with the given prefix.
func (s *SeededIDs) New(prefix string) string { return s.cur.Load().New(prefix) }

// Token returns the next n random characters.
func (s *SeededIDs) Token(n int) string { return s.cur.Load().Token(n) }

// Reset starts the sequence again from the seed.
func (s *SeededIDs) Reset() { s.cur.Store(opennimble.NewSeededIDs(s.seed)) }

// PageKey derives the pagination key of a seeded server, so that its
// nextToken values are the same on every run.
func PageKey(seed uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seed)
	sum := sha256.Sum256(append([]byte("opennimble pagination key\x00"), b[:]...))
	return sum[:]
}
