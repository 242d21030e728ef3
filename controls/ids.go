package controls

import (
	"crypto/sha256"
	"encoding/binary"
)

// PageKey derives the pagination key of a seeded server, so that its
// nextToken values are the same on every run.
func PageKey(seed uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], seed)
	sum := sha256.Sum256(append([]byte("opennimble pagination key\x00"), b[:]...))
	return sum[:]
}
