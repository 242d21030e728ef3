package sigv4

import (
	"context"
	"sync"
	"time"

	"github.com/opennimble/opennimble"
)

// CachedCredentials remembers credential lookups for a short time, so that
// verifying a signature does not read the store on every request. A deleted
// or changed credential takes effect within TTL; unknown keys are not
// remembered, so a new credential works at once.
type CachedCredentials struct {
	Source CredentialSource
	TTL    time.Duration // 0 means one second
	// Now is the clock of the cache; time.Now when nil.
	Now func() time.Time

	mu      sync.Mutex
	entries map[string]cachedCredential
}

type cachedCredential struct {
	c       opennimble.Credential
	expires time.Time
}

// GetCredential returns the credential of accessKeyID from the cache or the source.
func (c *CachedCredentials) GetCredential(ctx context.Context, accessKeyID string) (*opennimble.Credential, error) {
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	c.mu.Lock()
	e, ok := c.entries[accessKeyID]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		cred := e.c
		return &cred, nil
	}
	cred, err := c.Source.GetCredential(ctx, accessKeyID)
	if err != nil {
		return nil, err
	}
	ttl := c.TTL
	if ttl <= 0 {
		ttl = time.Second
	}
	c.mu.Lock()
	if c.entries == nil || len(c.entries) > 4096 {
		c.entries = map[string]cachedCredential{}
	}
	c.entries[accessKeyID] = cachedCredential{c: *cred, expires: now.Add(ttl)}
	c.mu.Unlock()
	return cred, nil
}
