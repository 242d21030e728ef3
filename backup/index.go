package backup

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// packInfo is a pack known to be in the store, and what it holds.
type packInfo struct {
	id      packID
	size    int64
	entries []blobEntry
	gen     uint64 // when the index learnt of it
	indexed bool   // an index file lists it
}

func (p *packInfo) key() string { return packKey(p.id) }

// dataBytes is what the pack's blobs take.
func (p *packInfo) dataBytes() int64 {
	var n int64
	for _, e := range p.entries {
		n += int64(e.size)
	}
	return n
}

// chunkLoc is where the index finds a chunk: entry i of pack p.
type chunkLoc struct {
	p *packInfo
	i int32
}

// index knows the packs in the store and where each chunk lies. It is
// refreshed from the store (a listing of the packs, then the index files
// and pack headers it has not read yet) whenever an operation takes the
// store's lock: other processes may have added packs meanwhile, and a
// garbage collection may have removed some. The listing of packs is the
// truth; index files only spare reading the packs' headers.
type index struct {
	refreshMu sync.Mutex // one refresh at a time

	mu       sync.RWMutex
	gen      uint64
	removals uint64 // how many times it forgot packs
	packs    map[packID]*packInfo
	chunks   map[ChunkID]chunkLoc
	bad      map[packID]string // listed packs whose header cannot be read, and why
	seen     map[string]bool   // index files read (or found damaged)
}

func newIndex() *index {
	return &index{packs: map[packID]*packInfo{}, chunks: map[ChunkID]chunkLoc{}, bad: map[packID]string{}, seen: map[string]bool{}}
}

// lookup says where chunk id lies.
func (x *index) lookup(id ChunkID) (*packInfo, blobEntry, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	l, ok := x.chunks[id]
	if !ok {
		return nil, blobEntry{}, false
	}
	return l.p, l.p.entries[l.i], true
}

func (x *index) has(id ChunkID) bool {
	x.mu.RLock()
	_, ok := x.chunks[id]
	x.mu.RUnlock()
	return ok
}

// storedFiles says which of entries are files whose chunks are all in the
// store: a snapshot takes over only those from its parent, and reads the
// others again (a damaged store heals so). When the index has forgotten
// no pack since it held every chunk of entries (its removals were
// complete), it holds them still. It also returns its removals now.
func (x *index) storedFiles(entries []Entry, complete uint64) ([]bool, uint64) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	stored := make([]bool, len(entries))
	for i, e := range entries {
		if e.Type != TypeFile {
			continue
		}
		stored[i] = true
		if x.removals == complete {
			continue
		}
		for _, id := range e.Chunks {
			if _, ok := x.chunks[id]; !ok {
				stored[i] = false
				break
			}
		}
	}
	return stored, x.removals
}

// removalCount is how many times the index forgot packs.
func (x *index) removalCount() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.removals
}

// add records a pack that is in the store (this process just wrote it).
func (x *index) add(p *packInfo) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.addLocked(p)
}

func (x *index) addLocked(p *packInfo) {
	if _, ok := x.packs[p.id]; ok {
		return
	}
	x.gen++
	p.gen = x.gen
	x.packs[p.id] = p
	delete(x.bad, p.id)
	for i, e := range p.entries {
		if _, ok := x.chunks[e.id]; !ok {
			x.chunks[e.id] = chunkLoc{p, int32(i)}
		}
	}
}

// removeLocked forgets packs, and finds the chunks they held in the other
// packs that hold copies.
func (x *index) removeLocked(gone []packID) {
	if len(gone) == 0 {
		return
	}
	x.removals++
	for _, id := range gone {
		delete(x.packs, id)
		delete(x.bad, id)
	}
	x.chunks = make(map[ChunkID]chunkLoc, len(x.chunks))
	for _, p := range x.packs {
		for i, e := range p.entries {
			if _, ok := x.chunks[e.id]; !ok {
				x.chunks[e.id] = chunkLoc{p, int32(i)}
			}
		}
	}
}

// badPacks lists the packs whose header cannot be read.
func (x *index) badPacks() []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var keys []string
	for id := range x.bad {
		keys = append(keys, packKey(id))
	}
	slices.Sort(keys)
	return keys
}

// forget removes packs that were deleted.
func (x *index) forget(gone []*packInfo) {
	ids := make([]packID, len(gone))
	for i, p := range gone {
		ids[i] = p.id
	}
	x.mu.Lock()
	x.removeLocked(ids)
	x.mu.Unlock()
}

// all returns the packs known, and the bad ones.
func (x *index) all() ([]*packInfo, map[packID]string) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	packs := make([]*packInfo, 0, len(x.packs))
	for _, p := range x.packs {
		packs = append(packs, p)
	}
	bad := make(map[packID]string, len(x.bad))
	for id, why := range x.bad {
		bad[id] = why
	}
	return packs, bad
}

// refresh brings the index up to date with the store. The caller holds
// the store's lock, so no garbage collection removes packs meanwhile.
func (x *index) refresh(ctx context.Context, r *Repo) error {
	x.refreshMu.Lock()
	defer x.refreshMu.Unlock()
	x.mu.RLock()
	gen0 := x.gen
	x.mu.RUnlock()
	listed := map[packID]int64{}
	err := r.store.List(ctx, packPrefix, func(key string, size int64) error {
		if id, ok := parsePackKey(key); ok {
			listed[id] = size
		}
		return nil
	})
	if err != nil {
		return err
	}
	var indexes []string
	err = r.store.List(ctx, indexPrefix, func(key string, _ int64) error {
		indexes = append(indexes, key)
		return nil
	})
	if err != nil {
		return err
	}
	x.mu.RLock()
	var newIndexes []string
	for _, key := range indexes {
		if !x.seen[key] {
			newIndexes = append(newIndexes, key)
		}
	}
	missing := map[packID]int64{}
	for id, size := range listed {
		if p, ok := x.packs[id]; !ok || p.size != size {
			missing[id] = size
		}
	}
	var gone []packID
	for id, p := range x.packs {
		if size, ok := listed[id]; (!ok || size != p.size) && p.gen <= gen0 {
			gone = append(gone, id)
		}
	}
	for id := range x.bad {
		if _, ok := listed[id]; !ok {
			gone = append(gone, id)
		}
	}
	x.mu.RUnlock()

	found := map[packID]*packInfo{}
	for _, key := range newIndexes {
		if len(missing) == len(found) {
			break // every pack is known; the rest can wait
		}
		b, err := r.store.Get(ctx, key)
		if errors.Is(err, ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		x.mu.Lock()
		x.seen[key] = true
		x.mu.Unlock()
		packs, err := decodeIndex(key, b)
		if err != nil {
			// Only a cache: the packs' headers say the same.
			r.opts.Logger.Warn("backup: ignoring a damaged index file", "key", key, "err", err)
			continue
		}
		for _, p := range packs {
			if size, ok := missing[p.id]; ok && size == p.size {
				p.indexed = true
				found[p.id] = p
			}
		}
	}
	bad := map[packID]string{}
	for id, size := range missing {
		if found[id] != nil {
			continue
		}
		entries, err := readTrailer(ctx, r.store, packKey(id), size)
		var ce *CorruptError
		switch {
		case errors.As(err, &ce):
			bad[id] = ce.Reason
			continue
		case errors.Is(err, ErrNotExist):
			continue // removed since the listing: not ours to know
		case err != nil:
			return err
		}
		found[id] = &packInfo{id: id, size: size, entries: entries}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeLocked(gone)
	for _, p := range found {
		if old, ok := x.packs[p.id]; ok && old.size != p.size {
			x.removeLocked([]packID{p.id})
		}
		x.addLocked(p)
	}
	for id, why := range bad {
		if _, ok := x.packs[id]; !ok {
			x.bad[id] = why
		}
	}
	return nil
}
