package opennimble

import (
	"crypto/rand"
	mrand "math/rand/v2"
	"sync"
)

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// IDLength is the length of the random part of a resource id. With a prefix
// of up to three letters and a dash the id fits the model's 22 characters.
const IDLength = 18

// IDs makes resource ids and other random tokens.
type IDs interface {
	// New returns prefix + "-" + IDLength random characters of [0-9A-Za-z].
	New(prefix string) string
	// Token returns n random characters of [0-9A-Za-z].
	Token(n int) string
}

// RandomIDs draws from crypto/rand.
type RandomIDs struct{}

// New returns a fresh id with the given prefix.
func (RandomIDs) New(prefix string) string { return prefix + "-" + RandomIDs{}.Token(IDLength) }

// Token returns n random characters.
func (RandomIDs) Token(n int) string { return RandomString(n, idAlphabet) }

// RandomString returns n characters of alphabet drawn uniformly from
// crypto/rand (secrets, access keys, ids). Random bytes are read in one call
// and each is taken when it falls below the largest multiple of the
// alphabet's length that fits in a byte (rejection sampling: every
// character equally likely), and read again for the few that do not.
func RandomString(n int, alphabet string) string {
	if len(alphabet) == 0 || len(alphabet) > 256 {
		panic("opennimble: RandomString needs an alphabet of 1 to 256 characters")
	}
	limit := 256 - 256%len(alphabet) // bytes below it map uniformly
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		chunk := buf[:min(len(buf), n-len(out)+n/4+1)]
		if _, err := rand.Read(chunk); err != nil {
			panic(err)
		}
		for _, c := range chunk {
			if int(c) < limit && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

// SeededIDs is deterministic: the same seed gives the same sequence of ids,
// for reproducible test runs. Reset starts the sequence again, which a reset
// of a seeded server does.
type SeededIDs struct {
	seed uint64
	mu   sync.Mutex
	rng  *mrand.Rand
}

// NewSeededIDs returns a deterministic generator.
func NewSeededIDs(seed uint64) *SeededIDs {
	s := &SeededIDs{seed: seed}
	s.Reset()
	return s
}

// Reset starts the sequence again from the seed.
func (s *SeededIDs) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rng = mrand.New(mrand.NewPCG(s.seed, s.seed^0x9e3779b97f4a7c15))
}

// New returns the next id with the given prefix.
func (s *SeededIDs) New(prefix string) string { return prefix + "-" + s.Token(IDLength) }

// Token returns the next n characters.
func (s *SeededIDs) Token(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = idAlphabet[s.rng.IntN(len(idAlphabet))]
	}
	return string(b)
}
