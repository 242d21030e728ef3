package backup

import (
	"context"
	"sync"

	"github.com/zeebo/blake3"
)

// packer appends blobs to an open pack and writes the pack to the store
// once it is full. Several goroutines may add at once.
type packer struct {
	r    *Repo
	size int

	mu      sync.Mutex
	cur     *packBuf
	free    [][]byte
	written []*packInfo
	bytes   int64 // of the packs written
}

type packBuf struct {
	data    []byte
	entries []blobEntry
}

func (r *Repo) newPacker() *packer { return &packer{r: r, size: r.opts.PackSize} }

// add appends a chunk's blob; when that fills the pack, it is written.
func (pk *packer) add(ctx context.Context, id ChunkID, format byte, raw int, blob []byte) error {
	pk.mu.Lock()
	b := pk.cur
	if b == nil {
		b = &packBuf{}
		if n := len(pk.free); n > 0 {
			b.data, pk.free = pk.free[n-1], pk.free[:n-1]
		} else {
			b.data = make([]byte, 0, pk.size+pk.size/4)
		}
		pk.cur = b
	}
	b.entries = append(b.entries, blobEntry{id: id, off: uint32(len(b.data)), size: uint32(len(blob)), raw: uint32(raw), format: format})
	b.data = append(b.data, blob...)
	full := len(b.data) >= pk.size
	if full {
		pk.cur = nil
	}
	pk.mu.Unlock()
	if full {
		return pk.write(ctx, b)
	}
	return nil
}

// flush writes the open pack, if it holds anything.
func (pk *packer) flush(ctx context.Context) error {
	pk.mu.Lock()
	b := pk.cur
	pk.cur = nil
	pk.mu.Unlock()
	if b == nil || len(b.entries) == 0 {
		return nil
	}
	return pk.write(ctx, b)
}

func (pk *packer) write(ctx context.Context, b *packBuf) error {
	b.data = append(b.data, packTrailer(b.entries)...)
	p := &packInfo{id: blake3.Sum256(b.data), size: int64(len(b.data)), entries: b.entries}
	if err := pk.r.store.Put(ctx, p.key(), b.data); err != nil {
		return err
	}
	pk.r.idx.add(p)
	pk.mu.Lock()
	pk.written = append(pk.written, p)
	pk.bytes += p.size
	if len(pk.free) < 4 {
		pk.free = append(pk.free, b.data[:0])
	}
	pk.mu.Unlock()
	return nil
}
