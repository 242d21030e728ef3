package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"sync"
)

// scratch holds the buffers of one verification.
type scratch struct {
	canon   []byte
	toSign  []byte
	headers [numSpaceModes][]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// release returns s to the pool unless a huge request grew its buffers.
func (s *scratch) release() {
	if cap(s.canon) > 64<<10 {
		return
	}
	scratchPool.Put(s)
}

// signatureMatches recomputes the signature for each canonical form the
// request may have been signed in (usually exactly one) and compares in
// constant time.
func signatureMatches(r *http.Request, a *auth, key *[sha256.Size]byte, payloads []string) bool {
	s := scratchPool.Get().(*scratch)
	defer s.release()

	var paths, queries [2]string
	paths[0], paths[1] = canonicalPaths(wirePath(r))
	skip := ""
	if a.presigned {
		skip = sigQueryKey
	}
	queries[0], queries[1] = canonicalQueries(r.URL.RawQuery, skip)
	headers := s.canonicalHeaders(r, a.signed)

	for pi, path := range paths {
		for qi, query := range queries {
			if pi > 0 && path == "" || qi > 0 && query == "" {
				continue
			}
			for _, hb := range headers {
				for _, payload := range payloads {
					if s.matches(r.Method, path, query, hb, a, payload, key) {
						return true
					}
				}
			}
		}
	}
	return false
}

// canonicalHeaders returns the canonical header blocks to try: one, or three
// when a value holds whitespace that signers collapse differently.
func (s *scratch) canonicalHeaders(r *http.Request, signed string) [][]byte {
	var ambiguous bool
	s.headers[0], ambiguous = appendHeaders(s.headers[0][:0], r, signed, collapseWhitespace)
	if !ambiguous {
		return s.headers[:1]
	}
	for m := 1; m < numSpaceModes; m++ {
		s.headers[m], _ = appendHeaders(s.headers[m][:0], r, signed, m)
	}
	return s.headers[:]
}

// matches builds one canonical request and string to sign, and compares the
// resulting signature with the one given.
func (s *scratch) matches(method, path, query string, headers []byte, a *auth, payload string, key *[sha256.Size]byte) bool {
	c := s.canon[:0]
	c = append(c, method...)
	c = append(c, '\n')
	c = append(c, path...)
	c = append(c, '\n')
	c = append(c, query...)
	c = append(c, '\n')
	c = append(c, headers...)
	c = append(c, '\n')
	c = append(c, a.signed...)
	c = append(c, '\n')
	c = append(c, payload...)
	s.canon = c
	sum := sha256.Sum256(c)

	t := appendPad(s.toSign[:0], key, innerPad)
	t = append(t, algorithm+"\n"...)
	t = append(t, a.amzDate...)
	t = append(t, '\n')
	t = append(t, a.scope...)
	t = append(t, '\n')
	t = hex.AppendEncode(t, sum[:])
	s.toSign = t

	got := hmacSHA256(key, t)
	return hmac.Equal(got[:], a.signature[:])
}

// HMAC-SHA256 (RFC 2104) written out for 32-byte keys, so that the hot path
// does not allocate: crypto/hmac.New allocates its state on every call.
const (
	hmacBlock = 64
	innerPad  = 0x36
	outerPad  = 0x5c
)

// appendPad appends the 64-byte block key^pad.
func appendPad(dst []byte, key *[sha256.Size]byte, pad byte) []byte {
	for _, k := range key {
		dst = append(dst, k^pad)
	}
	for range hmacBlock - sha256.Size {
		dst = append(dst, pad)
	}
	return dst
}

// hmacSHA256 returns HMAC-SHA256(key, msg) given padded, which is the inner
// pad block followed by msg.
func hmacSHA256(key *[sha256.Size]byte, padded []byte) [sha256.Size]byte {
	inner := sha256.Sum256(padded)
	var outer [hmacBlock + sha256.Size]byte
	appendPad(outer[:0], key, outerPad)
	copy(outer[hmacBlock:], inner[:])
	return sha256.Sum256(outer[:])
}
