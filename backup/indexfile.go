package backup

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/zeebo/blake3"
)

// encodeIndex writes an index file listing packs: the magic, then the
// number of packs and, for each, its id, size, number of entries and
// header entries.
func encodeIndex(packs []*packInfo) []byte {
	n := 0
	for _, p := range packs {
		n += 32 + 20 + len(p.entries)*packEntrySize
	}
	b := make([]byte, 0, len(indexMagic)+10+n)
	b = append(b, indexMagic...)
	b = binary.AppendUvarint(b, uint64(len(packs)))
	for _, p := range packs {
		b = append(b, p.id[:]...)
		b = binary.AppendUvarint(b, uint64(p.size))
		b = binary.AppendUvarint(b, uint64(len(p.entries)))
		for _, e := range p.entries {
			b = appendEntry(b, e)
		}
	}
	return b
}

func indexKey(b []byte) string {
	sum := blake3.Sum256(b)
	return indexPrefix + hex.EncodeToString(sum[:])
}

// decodeIndex reads an index file, checking it against its name.
func decodeIndex(key string, b []byte) ([]*packInfo, error) {
	if indexKey(b) != key {
		return nil, &CorruptError{Key: key, Reason: "contents do not match the name"}
	}
	if !bytes.HasPrefix(b, indexMagic) {
		return nil, &CorruptError{Key: key, Reason: "not an index file"}
	}
	d := newDecoder(b[len(indexMagic):])
	n := d.uvarint()
	if n > uint64(len(d.b))/34 {
		return nil, &CorruptError{Key: key, Reason: "truncated or invalid pack count"}
	}
	packs := make([]*packInfo, 0, n)
	for range n {
		if len(d.b) < 32 {
			return nil, &CorruptError{Key: key, Reason: "truncated"}
		}
		p := &packInfo{}
		copy(p.id[:], d.b)
		d.skip(32)
		p.size = int64(d.uvarint())
		c := d.uvarint()
		if d.err != nil || c > uint64(len(d.b))/packEntrySize || p.size < 0 {
			return nil, &CorruptError{Key: key, Reason: "truncated or invalid pack"}
		}
		dataEnd := p.size - int64(c)*packEntrySize - packFooterSize
		var err error
		if p.entries, err = parseEntries(d.b, int(c), dataEnd); err != nil {
			return nil, &CorruptError{Key: key, Reason: fmt.Sprintf("pack %s: %v", p.id, err)}
		}
		d.skip(int(c) * packEntrySize)
		packs = append(packs, p)
	}
	if d.err != nil || len(d.b) != 0 {
		return nil, &CorruptError{Key: key, Reason: "trailing bytes"}
	}
	return packs, nil
}

// (a cache: failing to write them loses nothing), and returns their keys
// and size.
func (r *Repo) writeIndexes(ctx context.Context, packs []*packInfo) (map[string]bool, int64, error) {
	keys := map[string]bool{}
	var size int64
	for len(packs) > 0 {
		some := packs[:min(len(packs), indexMaxPacks)]
		packs = packs[len(some):]
		b := encodeIndex(some)
		key := indexKey(b)
		if err := r.store.Put(ctx, key, b); err != nil {
			return keys, size, err
		}
		keys[key] = true
		size += int64(len(b))
		r.idx.mu.Lock()
		r.idx.seen[key] = true
		for _, p := range some {
			p.indexed = true
		}
		r.idx.mu.Unlock()
	}
	return keys, size, nil
}
