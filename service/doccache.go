package service

import (
	"sync"

	opennimble "github.com/opennimble/opennimble"
)

// docCache keeps decoded documents of committed records by kind, id and
// version, so that a record polled many times is decoded once per version.
// The documents it hands out are shared: callers only read them.
type docCache struct {
	mu  sync.Mutex
	m   map[docKey]docEntry
	max int
}

type docKey struct {
	kind opennimble.Kind
	id   string
}

type docEntry struct {
	version int64
	doc     any
}

func newDocCache(max int) *docCache { return &docCache{m: map[docKey]docEntry{}, max: max} }

func (c *docCache) get(rec *opennimble.Record) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[docKey{rec.Kind, rec.ID}]
	if !ok || e.version != rec.Version {
		return nil, false
	}
	return e.doc, true
}

func (c *docCache) put(rec *opennimble.Record, doc any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		n := c.max / 10
		for k := range c.m {
			if n == 0 {
				break
			}
			delete(c.m, k)
			n--
		}
	}
	c.m[docKey{rec.Kind, rec.ID}] = docEntry{version: rec.Version, doc: doc}
}
