package backup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// VerifyOptions choose how thorough Verify is.
type VerifyOptions struct {
	// Quick only checks that every chunk a backup names exists; otherwise
	// every chunk is read and checked against its hash.
	Quick bool
}

// Report is what Verify found.
type Report struct {
	Backups    int   // readable manifests
	Files      int   // files they hold
	Chunks     int   // chunks in the store
	ChunkBytes int64 // their stored size
	// Referenced chunks are named by at least one backup; the others are
	// garbage that the next GC removes.
	Referenced        int
	Unreferenced      int
	UnreferencedBytes int64
	// Problems, one sentence each: damaged manifests, missing and corrupt
	// chunks with the backups and files that need them.
	Problems []string
	// Damaged lists the backups that cannot be restored.
	Damaged  []string
	Duration time.Duration
}

// OK reports whether every backup can be restored.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks the whole repository under the shared lock: every manifest
// decodes and matches its checksum, every chunk a backup names exists and,
// unless Quick, decodes to contents that match its hash.
func (r *Repo) Verify(ctx context.Context, o VerifyOptions) (Report, error) {
	began := time.Now()
	var rep Report
	unlock, err := r.store.Lock(ctx, false)
	if err != nil {
		return rep, err
	}
	defer unlock()
	chunks, err := r.listChunks(ctx)
	if err != nil {
		return rep, err
	}
	rep.Chunks = len(chunks)
	for _, size := range chunks {
		rep.ChunkBytes += size
	}
	// users[c] names a backup and file that need chunk c.
	users := map[ChunkID][]string{}
	damaged := map[string]bool{}
	var ids []string
	err = r.store.List(ctx, manifestPrefix, func(key string, _ int64) error {
		ids = append(ids, strings.TrimPrefix(key, manifestPrefix))
		return nil
	})
	if err != nil {
		return rep, err
	}
	slices.Sort(ids)
	for _, id := range ids {
		m, err := r.Manifest(ctx, id)
		switch {
		case errors.Is(err, ErrNoBackup):
			continue
		case errors.Is(err, ErrCorrupt):
			rep.Problems = append(rep.Problems, fmt.Sprintf("backup %s: %v", id, err))
			damaged[id] = true
			continue
		case err != nil:
			return rep, err
		}
		rep.Backups++
		for _, e := range m.Entries {
			if e.Type == TypeFile {
				rep.Files++
			}
			for _, c := range e.Chunks {
				if len(users[c]) < 3 {
					users[c] = append(users[c], id+":"+e.Path)
				}
			}
		}
	}
	rep.Referenced = len(users)
	bad := map[ChunkID]string{}
	for c := range users {
		if _, ok := chunks[c]; !ok {
			bad[c] = "is missing"
		}
	}
	if !o.Quick {
		for c, reason := range r.checkChunks(ctx, chunks) {
			bad[c] = reason
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
	for c, size := range chunks {
		if users[c] == nil {
			rep.Unreferenced++
			rep.UnreferencedBytes += size
		}
	}
	var lines []string
	for c, reason := range bad {
		u := users[c]
		if u == nil {
			lines = append(lines, fmt.Sprintf("chunk %s %s (no backup uses it)", c, reason))
			continue
		}
		for _, who := range u {
			damaged[strings.SplitN(who, ":", 2)[0]] = true
		}
		lines = append(lines, fmt.Sprintf("chunk %s %s; needed by %s", c, reason, strings.Join(u, ", ")))
	}
	slices.Sort(lines)
	rep.Problems = append(rep.Problems, lines...)
	for id := range damaged {
		rep.Damaged = append(rep.Damaged, id)
	}
	slices.Sort(rep.Damaged)
	rep.Duration = time.Since(began)
	return rep, nil
}

// checkChunks reads every chunk and returns those that do not decode to
// contents matching their hash.
func (r *Repo) checkChunks(ctx context.Context, chunks map[ChunkID]int64) map[ChunkID]string {
	ids := make(chan ChunkID)
	bad := map[ChunkID]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for c := range ids {
				var err error
				buf, err = r.readChunk(ctx, c, buf)
				reason := ""
				var ce *CorruptError
				switch {
				case err == nil, ctx.Err() != nil:
				case errors.As(err, &ce):
					reason = "is corrupt: " + ce.Reason
				case errors.Is(err, ErrNotExist):
					reason = "disappeared while being verified"
				default:
					reason = "cannot be read: " + err.Error()
				}
				if reason != "" {
					mu.Lock()
					bad[c] = reason
					mu.Unlock()
				}
			}
		}()
	}
	for c := range chunks {
		if ctx.Err() != nil {
			break
		}
		ids <- c
	}
	close(ids)
	wg.Wait()
	return bad
}
