package sqlite

import (
	"context"
	"slices"
	"sync"

	"github.com/opennimble/opennimble"
)

// The record cache serves GetRecord, the single-record read that polling
// clients hammer (GetStreamingSessionBackup, GetStreamingSession), without a
// transaction or a query. It is exact, not eventually consistent, because
// this process is the only writer of the database (the server holds the data
// folder's lock) and every write goes through the group loop, which updates
// the cache after each commit. A miss reads the database and fills the entry
// only if no commit happened meanwhile, so a slow reader can never put back
// a state older than one already committed.

type cacheKey struct {
	kind opennimble.Kind
	id   string
}

type recordCache struct {
	mu  sync.Mutex
	gen uint64 // counts commits that wrote resources
	m   map[cacheKey]opennimble.Record
	max int
}

func newRecordCache(max int) *recordCache {
	return &recordCache{m: make(map[cacheKey]opennimble.Record), max: max}
}

func (c *recordCache) get(k cacheKey) (*opennimble.Record, bool) {
	c.mu.Lock()
	r, ok := c.m[k]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	return &r, true
}

// begin returns the generation a miss must still see when it fills.
func (c *recordCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// fill caches r, read while the generation was gen, unless a commit has
// happened since.
func (c *recordCache) fill(gen uint64, r *opennimble.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.evict()
	c.m[cacheKey{r.Kind, r.ID}] = *r
}

// evict drops about a tenth of the entries when the cache is full; which
// ones does not matter for correctness.
func (c *recordCache) evict() {
	if len(c.m) < c.max {
		return
	}
	n := c.max / 10
	for k := range c.m {
		if n == 0 {
			break
		}
		delete(c.m, k)
		n--
	}
}

// commit applies a committed transaction's writes.
func (c *recordCache) commit(w *txWrites) {
	if w.empty() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if w.all {
		clear(c.m)
		return
	}
	for _, k := range w.deleted {
		delete(c.m, k)
	}
	for _, r := range w.put {
		k := cacheKey{r.Kind, r.ID}
		if _, ok := c.m[k]; ok {
			c.m[k] = r // keep entries current; new records fill on first read
		}
	}
}

// txWrites records what a transaction wrote, for the cache.
type txWrites struct {
	put     []opennimble.Record
	deleted []cacheKey
	all     bool // a bulk change: forget everything
}

func (w *txWrites) empty() bool {
	return w == nil || (len(w.put) == 0 && len(w.deleted) == 0 && !w.all)
}

// find reports whether w changed k: with the record as last stored, or nil
// when w deleted it or changed everything (the database must say).
func (w *txWrites) find(k cacheKey) (*opennimble.Record, bool) {
	if w == nil {
		return nil, false
	}
	if w.all || slices.Contains(w.deleted, k) {
		return nil, true
	}
	for i := len(w.put) - 1; i >= 0; i-- {
		if r := w.put[i]; r.Kind == k.kind && r.ID == k.id {
			return &r, true
		}
	}
	return nil, false
}

func (w *txWrites) merge(o *txWrites) {
	w.put = append(w.put, o.put...)
	w.deleted = append(w.deleted, o.deleted...)
	w.all = w.all || o.all
}

// GetRecord returns the committed record kind/id, or an error wrapping
// ErrNoRecord, from the cache when it can.
func (s *Store) GetRecord(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	k := cacheKey{kind, id}
	if r, ok := s.cache.get(k); ok {
		return r, nil
	}
	gen := s.cache.begin()
	r, err := dialect.GetRecord(ctx, readConn{s}, kind, id)
	if err != nil {
		return nil, err
	}
	s.cache.fill(gen, r)
	return r, nil
}

var _ opennimble.RecordGetter = (*Store)(nil)
