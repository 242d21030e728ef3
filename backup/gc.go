package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Delete removes backup id. Its chunks stay until GC finds that no other
// backup uses them. Deleting a backup that does not exist is no error.
func (r *Repo) Delete(ctx context.Context, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("backup: invalid id %q", id)
	}
	unlock, err := r.store.Lock(ctx, false)
	if err != nil {
		return err
	}
	defer unlock()
	r.recent.forget(id)
	if err := r.store.Delete(ctx, manifestKey(id)); err != nil {
		return err
	}
	return r.store.Sync(ctx)
}

// GCStats say what a garbage collection found and freed.
type GCStats struct {
	Backups int   // manifests read
	Packs   int   // packs that stay
	Chunks  int   // chunks in them
	Bytes   int64 // their size
	// FreedChunks were removed: no backup uses them.
	FreedChunks int
	FreedBytes  int64 // the packs deleted, less the packs written
	// DeletedPacks held only garbage, or were repacked: RepackedPacks
	// were mostly garbage, and their chunks in use were copied to
	// NewPacks.
	DeletedPacks, RepackedPacks, NewPacks int
	// Garbage is left in packs mostly in use, until enough of a pack is.
	GarbageChunks int
	GarbageBytes  int64
	// DamagedPacks are left as they are: their header, or a chunk in use
	// that repacking had to copy, cannot be read. Verify names them.
	DamagedPacks int
	TempRemoved  int
	Duration     time.Duration
}

// GC removes the chunks no backup refers to (mark and sweep). It holds the
// store's lock exclusive, so no snapshot, restore or delete runs meanwhile:
// a snapshot decides that a chunk exists and writes its manifest under the
// shared lock, and the next GC sees that manifest. A manifest that cannot
// be read stops the GC before it changes anything: its chunks are unknown.
//
// Chunks live in packs, so the sweep works on packs: one whose chunks are
// all garbage is deleted; one that is mostly garbage (more than half of
// its bytes) is repacked: its chunks in use are read, checked against
// their ids and copied to new packs. In that order, each step durable
// before the next begins:
//
//  1. the new packs are written and synced;
//  2. index files listing every pack that stays are written and synced;
//  3. the old packs and the old index files are deleted.
//
// So whenever the GC dies, every chunk a backup uses is in some pack (in
// the old one, the new one, or both), and the next GC finishes the job:
// of two copies of a chunk it keeps the one in the pack most in use.
func (r *Repo) GC(ctx context.Context) (GCStats, error) {
	began := time.Now()
	var st GCStats
	unlock, err := r.store.Lock(ctx, true)
	if err != nil {
		return st, err
	}
	defer unlock()
	if tc, ok := r.store.(TempCleaner); ok {
		if st.TempRemoved, err = tc.CleanTemp(ctx); err != nil {
			return st, err
		}
	}
	used, err := r.usedChunks(ctx, &st)
	if err != nil {
		return st, err
	}
	if err := r.idx.refresh(ctx, r); err != nil {
		return st, err
	}
	packs, bad := r.idx.all()
	st.DamagedPacks = len(bad)
	pl := planGC(packs, used, int64(r.opts.PackSize))

	// 1. Copy what is in use out of the packs mostly garbage.
	pk := r.newPacker()
	var repacked []*packInfo
	var buf []byte
	for _, p := range pl.repack {
		ok, err := r.repack(ctx, pk, p, pl.live[p], &buf)
		if err != nil {
			return st, err
		}
		if !ok {
			st.DamagedPacks++
			pl.keep = append(pl.keep, p)
			continue
		}
		repacked = append(repacked, p)
	}
	if err := pk.flush(ctx); err != nil {
		return st, err
	}
	if len(pk.written) > 0 {
		if err := r.store.Sync(ctx); err != nil {
			return st, err
		}
	}
	st.RepackedPacks, st.NewPacks = len(repacked), len(pk.written)
	gone := append(pl.remove, repacked...)
	keep := append(pl.keep, pk.written...)

	// 2. New index files for the packs that stay, unless the index files
	// say just that already (snapshots add one each).
	var indexes []string
	if err := r.store.List(ctx, indexPrefix, func(key string, _ int64) error {
		indexes = append(indexes, key)
		return nil
	}); err != nil {
		return st, err
	}
	var newIndexes map[string]bool
	if len(gone) > 0 || len(indexes) > (len(keep)+indexMaxPacks-1)/indexMaxPacks || !r.allIndexed(keep) {
		slices.SortFunc(keep, func(a, b *packInfo) int { return bytes.Compare(a.id[:], b.id[:]) })
		if newIndexes, _, err = r.writeIndexes(ctx, keep); err != nil {
			return st, err
		}
		if len(newIndexes) > 0 {
			if err := r.store.Sync(ctx); err != nil {
				return st, err
			}
		}
	} else {
		indexes = nil
	}

	// 3. Delete what is no longer needed.
	for _, p := range gone {
		for range max(1, len(p.entries)-len(pl.live[p])) {
			r.delay() // once per chunk freed, as the chunks were written
		}
		if err := r.store.Delete(ctx, p.key()); err != nil {
			return st, err
		}
		st.DeletedPacks++
		st.FreedBytes += p.size
		st.FreedChunks += len(p.entries) - len(pl.live[p])
	}
	for _, key := range indexes {
		if !newIndexes[key] {
			if err := r.store.Delete(ctx, key); err != nil {
				return st, err
			}
		}
	}
	if err := r.store.Sync(ctx); err != nil {
		return st, err
	}
	r.idx.forget(gone)
	for _, p := range pk.written {
		st.FreedBytes -= p.size
	}
	for _, p := range keep {
		st.Packs++
		st.Chunks += len(p.entries)
		st.Bytes += p.size
		if live, old := pl.live[p]; old { // not a new pack, all in use
			st.GarbageChunks += len(p.entries) - len(live)
			st.GarbageBytes += p.dataBytes() - pl.liveBytes[p]
		}
	}
	st.Duration = time.Since(began)
	return st, nil
}

// usedChunks marks the chunks the backups use.
func (r *Repo) usedChunks(ctx context.Context, st *GCStats) (map[ChunkID]bool, error) {
	used := map[ChunkID]bool{}
	err := r.store.List(ctx, manifestPrefix, func(key string, _ int64) error {
		m, err := r.Manifest(ctx, strings.TrimPrefix(key, manifestPrefix))
		if errors.Is(err, ErrNoBackup) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("backup: garbage collection stopped: %w", err)
		}
		st.Backups++
		for _, e := range m.Entries {
			for _, c := range e.Chunks {
				used[c] = true
			}
		}
		return nil
	})
	return used, err
}

// gcPlan is what a GC does with each pack.
type gcPlan struct {
	keep, repack, remove []*packInfo
	live                 map[*packInfo][]int32 // the entries in use
	liveBytes            map[*packInfo]int64
}

// planGC sorts the packs into those to keep, repack and remove. A chunk in
// use that several packs hold (a GC died after copying it, or two
// snapshots wrote it at once) is kept in the pack most in use. Small packs
// (under a quarter of packSize: each incremental snapshot leaves one, only
// partly filled) are merged once mergeSmallPacks of them are kept, so that
// the number of objects follows the data, not the number of snapshots.
func planGC(packs []*packInfo, used map[ChunkID]bool, packSize int64) gcPlan {
	slices.SortFunc(packs, func(a, b *packInfo) int { return bytes.Compare(a.id[:], b.id[:]) })
	share := make(map[*packInfo]float64, len(packs))
	for _, p := range packs {
		var in, all int64
		for _, e := range p.entries {
			all += int64(e.size)
			if used[e.id] {
				in += int64(e.size)
			}
		}
		if all > 0 {
			share[p] = float64(in) / float64(all)
		}
	}
	chosen := map[ChunkID]chunkLoc{}
	for _, p := range packs {
		for i, e := range p.entries {
			if !used[e.id] {
				continue
			}
			if c, ok := chosen[e.id]; !ok || share[p] > share[c.p] {
				chosen[e.id] = chunkLoc{p, int32(i)}
			}
		}
	}
	pl := gcPlan{live: map[*packInfo][]int32{}, liveBytes: map[*packInfo]int64{}}
	for _, p := range packs {
		var live []int32
		var liveBytes int64
		for i, e := range p.entries {
			if c, ok := chosen[e.id]; ok && c.p == p && c.i == int32(i) {
				live = append(live, int32(i))
				liveBytes += int64(e.size)
			}
		}
		pl.live[p], pl.liveBytes[p] = live, liveBytes
		switch dead := p.dataBytes() - liveBytes; {
		case len(live) == 0:
			pl.remove = append(pl.remove, p)
		case float64(dead) > repackDeadShare*float64(p.dataBytes()):
			pl.repack = append(pl.repack, p)
		default:
			pl.keep = append(pl.keep, p)
		}
	}
	var small []*packInfo
	for _, p := range pl.keep {
		if p.dataBytes() < packSize/4 {
			small = append(small, p)
		}
	}
	if len(small) >= mergeSmallPacks {
		pl.keep = slices.DeleteFunc(pl.keep, func(p *packInfo) bool { return slices.Contains(small, p) })
		pl.repack = append(pl.repack, small...)
	}
	return pl
}

// repack copies the entries live of pack p to pk, each checked against
// its id first. A pack that cannot be read whole, or holds a damaged
// chunk in use, is not repacked (ok is false): it stays as it is, and
// Verify reports it.
func (r *Repo) repack(ctx context.Context, pk *packer, p *packInfo, live []int32, buf *[]byte) (ok bool, err error) {
	b, err := r.store.Get(ctx, p.key())
	if err != nil && !errors.Is(err, ErrNotExist) {
		return false, err
	}
	if err == nil && int64(len(b)) != p.size {
		err = &CorruptError{Key: p.key(), Reason: fmt.Sprintf("%d bytes, the listing said %d", len(b), p.size)}
	}
	for _, i := range live {
		if err != nil {
			break
		}
		e := p.entries[i]
		var out []byte
		if out, err = r.decodeBlob(p.key(), e, b[e.off:e.off+e.size], *buf); err == nil && e.format != formatRaw {
			*buf = out // not a raw one: that is the pack's memory
		}
	}
	if err != nil {
		r.opts.Logger.Warn("backup: garbage collection keeps a damaged pack as it is", "pack", p.key(), "err", err)
		return false, nil
	}
	for _, i := range live {
		e := p.entries[i]
		r.delay()
		if err := pk.add(ctx, e.id, e.format, int(e.raw), b[e.off:e.off+e.size]); err != nil {
			return false, err
		}
	}
	return true, nil
}

// allIndexed reports whether index files list every pack of packs.
func (r *Repo) allIndexed(packs []*packInfo) bool {
	r.idx.mu.RLock()
	defer r.idx.mu.RUnlock()
	for _, p := range packs {
		if !p.indexed {
			return false
		}
	}
	return true
}
