package backup

import (
	"context"
	"errors"
	"fmt"
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
	if err := r.store.Delete(ctx, manifestKey(id)); err != nil {
		return err
	}
	return r.store.Sync(ctx)
}

// GCStats say what a garbage collection found and freed.
type GCStats struct {
	Backups     int   // manifests read
	Chunks      int   // chunks that stay
	Bytes       int64 // their stored size
	FreedChunks int
	FreedBytes  int64
	TempRemoved int
	Duration    time.Duration
}

// GC deletes the chunks no backup refers to (mark and sweep). It holds the
// store's lock exclusive, so no snapshot, restore or delete runs meanwhile:
// a snapshot decides that a chunk exists and writes its manifest under the
// shared lock, and the next GC sees that manifest. Only unreferenced chunks
// are removed, one at a time, so a GC that dies half-way has removed only
// garbage and the next one finishes the job. A manifest that cannot be read
// stops the GC before it deletes anything: its chunks are unknown.
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
	used := map[ChunkID]bool{}
	err = r.store.List(ctx, manifestPrefix, func(key string, _ int64) error {
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
	if err != nil {
		return st, err
	}
	chunks, err := r.listChunks(ctx)
	if err != nil {
		return st, err
	}
	for id, size := range chunks {
		if used[id] {
			st.Chunks++
			st.Bytes += size
			continue
		}
		r.delay()
		if err := r.store.Delete(ctx, chunkKey(id)); err != nil {
			return st, err
		}
		st.FreedChunks++
		st.FreedBytes += size
	}
	if err := r.store.Sync(ctx); err != nil {
		return st, err
	}
	st.Duration = time.Since(began)
	return st, nil
}
