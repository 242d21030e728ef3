package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"sync"
)

// maxCachedKeys bounds the signing-key cache. A key lives for one day per
// credential and scope, so a few hundred entries cover any realistic server;
// when the map is full it is simply emptied.
const maxCachedKeys = 512

type keyID struct {
	secret, date, region, service string
}

// keyCache memoises derived signing keys: deriving one costs four HMACs,
// and every request of a day from one access key uses the same key.
type keyCache struct {
	mu   sync.RWMutex
	keys map[keyID][sha256.Size]byte
}

// get returns the signing key for a scope, derived or from the cache, and
// whether it came from the cache.
func (c *keyCache) get(secret, date, region, service string) ([sha256.Size]byte, bool) {
	c.mu.RLock()
	k, ok := c.keys[keyID{secret, date, region, service}]
	c.mu.RUnlock()
	if ok {
		return k, true
	}
	return deriveKey(secret, date, region, service), false
}

// put remembers a key. Callers put only keys that verified a signature, so
// that requests with made-up scopes cannot fill the cache.
func (c *keyCache) put(secret, date, region, service string, k [sha256.Size]byte) {
	// Clone: the scope strings point into the request's Authorization header.
	id := keyID{strings.Clone(secret), strings.Clone(date), strings.Clone(region), strings.Clone(service)}
	c.mu.Lock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = make(map[keyID][sha256.Size]byte)
	}
	c.keys[id] = k
	c.mu.Unlock()
}

// deriveKey computes the SigV4 signing key
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveKey(secret, date, region, service string) [sha256.Size]byte {
	k := hmacSum([]byte("AWS4"+secret), date)
	k = hmacSum(k, region)
	k = hmacSum(k, service)
	k = hmacSum(k, terminator)
	return [sha256.Size]byte(k)
}

func hmacSum(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
