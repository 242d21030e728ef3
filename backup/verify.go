package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zeebo/blake3"
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
	Packs      int   // packs in the store
	PackBytes  int64 // their size
	Chunks     int   // distinct chunks in the packs
	ChunkBytes int64 // their stored size (spare copies included)
	// Referenced chunks are named by at least one backup; the others, and
	// spare copies, are garbage that a GC removes once it makes up most
	// of a pack.
	Referenced        int
	Unreferenced      int
	UnreferencedBytes int64
	// Problems, one sentence each: damaged manifests and packs, missing
	// and corrupt chunks with the packs that hold them and the backups and
	// files that need them.
	Problems []string
	// Damaged lists the backups that cannot be restored.
	Damaged  []string
	Duration time.Duration
}

// OK reports whether every backup can be restored.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Verify checks the whole repository under the shared lock: every manifest
// decodes and matches its checksum, every pack's header can be read, every
// chunk a backup names is in a pack and, unless Quick, every pack is read
// whole: it matches its name, and every chunk in it decodes to contents
// that match its id.
func (r *Repo) Verify(ctx context.Context, o VerifyOptions) (Report, error) {
	began := time.Now()
	var rep Report
	unlock, err := r.store.Lock(ctx, false)
	if err != nil {
		return rep, err
	}
	defer unlock()
	if err := r.idx.refresh(ctx, r); err != nil {
		return rep, err
	}
	packs, badPacks := r.idx.all()
	slices.SortFunc(packs, func(a, b *packInfo) int { return bytes.Compare(a.id[:], b.id[:]) })
	rep.Packs = len(packs) + len(badPacks)
	seen := map[ChunkID]bool{}
	for _, p := range packs {
		rep.PackBytes += p.size
		for _, e := range p.entries {
			seen[e.id] = true
			rep.ChunkBytes += int64(e.size)
		}
	}
	rep.Chunks = len(seen)
	var badLines []string
	for id, why := range badPacks {
		badLines = append(badLines, fmt.Sprintf("pack %s cannot be read: %s", packKey(id), why))
	}
	slices.Sort(badLines)
	rep.Problems = append(rep.Problems, badLines...)

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
		if !seen[c] {
			bad[c] = "is missing"
			if len(badPacks) > 0 {
				bad[c] += " (it may be in a pack whose header cannot be read)"
			}
		}
	}
	var other []string
	if !o.Quick {
		for _, f := range r.checkPacks(ctx, packs) {
			p, e, ok := r.idx.lookup(f.chunk)
			switch {
			case f.pack == "" || f.chunk == (ChunkID{}):
				other = append(other, f.reason)
			case !ok || p.key() == f.pack && e.off == f.off:
				bad[f.chunk] = fmt.Sprintf("is corrupt in pack %s: %s", f.pack, f.reason)
			default:
				other = append(other, fmt.Sprintf("a spare copy of chunk %s in pack %s is corrupt (%s); restores read the one in pack %s", f.chunk, f.pack, f.reason, p.key()))
			}
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
	}
	rep.UnreferencedBytes = rep.ChunkBytes
	for c := range seen {
		if users[c] == nil {
			rep.Unreferenced++
		} else if _, e, ok := r.idx.lookup(c); ok {
			rep.UnreferencedBytes -= int64(e.size)
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
	slices.Sort(other)
	rep.Problems = append(rep.Problems, lines...)
	rep.Problems = append(rep.Problems, other...)
	for id := range damaged {
		rep.Damaged = append(rep.Damaged, id)
	}
	slices.Sort(rep.Damaged)
	rep.Duration = time.Since(began)
	return rep, nil
}

// packFault is something wrong in a pack: a chunk (at offset off) that
// does not decode to its id, or, with no chunk, the pack itself.
type packFault struct {
	pack   string
	chunk  ChunkID
	off    uint32
	reason string
}

// checkPacks reads every pack whole, on several goroutines, and returns
// what is wrong with them.
func (r *Repo) checkPacks(ctx context.Context, packs []*packInfo) []packFault {
	todo := make(chan *packInfo)
	var faults []packFault
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range min(r.opts.Workers, max(len(packs), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for p := range todo {
				var found []packFault
				found, buf = r.checkPack(ctx, p, buf)
				mu.Lock()
				faults = append(faults, found...)
				mu.Unlock()
			}
		}()
	}
	for _, p := range packs {
		if ctx.Err() != nil {
			break
		}
		todo <- p
	}
	close(todo)
	wg.Wait()
	return faults
}

func (r *Repo) checkPack(ctx context.Context, p *packInfo, buf []byte) ([]packFault, []byte) {
	key := p.key()
	whole := func(why string) []packFault {
		return []packFault{{pack: key, reason: fmt.Sprintf("pack %s %s", key, why)}}
	}
	b, err := r.store.Get(ctx, key)
	switch {
	case ctx.Err() != nil:
		return nil, buf
	case errors.Is(err, ErrNotExist):
		return whole("disappeared while being verified"), buf
	case err != nil:
		return whole("cannot be read: " + err.Error()), buf
	case int64(len(b)) != p.size:
		return whole(fmt.Sprintf("has %d bytes, the listing said %d", len(b), p.size)), buf
	}
	var faults []packFault
	for _, e := range p.entries {
		r.delay()
		out, why := r.checkBlob(e, b[e.off:e.off+e.size], buf)
		if why != "" {
			faults = append(faults, packFault{pack: key, chunk: e.id, off: e.off, reason: why})
		} else if e.format != formatRaw {
			buf = out // not a raw one: that is the pack's memory
		}
		if ctx.Err() != nil {
			return nil, buf
		}
	}
	if entries, _, err := parseTrailer(b, int64(len(b))); err != nil {
		faults = append(faults, whole("has a damaged header: "+err.Error())...)
	} else if !slices.Equal(entries, p.entries) {
		faults = append(faults, whole("has a header that differs from the index file that lists it")...)
	} else if packID(blake3.Sum256(b)) != p.id && len(faults) == 0 {
		faults = append(faults, whole("does not match its name")...)
	}
	return faults, buf
}
