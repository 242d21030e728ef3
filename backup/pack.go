package backup

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/zeebo/blake3"
)

// Packs. Chunks are not stored one object each but appended to packs of
// about Options.PackSize (16 MiB): creating and syncing an object costs
// about as much as writing a small file, and a workstation volume holds
// tens of thousands of small files. A pack is
//
//	blob 0 | blob 1 | … | blob n-1 | header | footer
//
// where a blob is a chunk's stored form (an S2 block, or the raw bytes),
// the header is n entries of packEntrySize bytes (the chunk's BLAKE3 id,
// the blob's offset and length, the chunk's length, the format byte), and
// the footer is the BLAKE3 of the header, n, 4 bytes of flags (none yet)
// and a magic, so that the header can be read and trusted without reading
// the blobs. A pack is named by the BLAKE3 of all its bytes
// ("chunks/<2 hex>/<64 hex>") and is never changed: a pack under its name
// is complete, and Verify can check it whole. Which chunk lies where is kept in memory (index) and cached in
// index files ("index/<64 hex>", named by their hash), each listing packs
// and their headers: they are written after the packs they list, and a
// pack that no index file lists is read from its header.
const (
	packPrefix     = "chunks/"
	indexPrefix    = "index/"
	packEntrySize  = 32 + 4 + 4 + 4 + 1
	packFooterSize = 32 + 4 + 4 + 8
	// DefaultPackSize is the size at which a pack is closed.
	DefaultPackSize = 16 << 20
	maxPackSize     = 1 << 30
	// A pack whose chunks no backup uses make up more than this share of
	// its bytes is rewritten by garbage collection (repacked).
	repackDeadShare = 0.5
	// mergeSmallPacks is how many small packs a GC lets stand before it
	// merges them (see planGC).
	mergeSmallPacks = 4
	// The first read of a pack's header takes this many bytes from its end:
	// a 16 MiB pack of small files has about a thousand chunks.
	packTailGuess = 64 << 10
	// An index file lists at most this many packs (4 GiB of chunks; at
	// most a few MiB).
	indexMaxPacks = 256
)

var (
	packMagic  = []byte("ONBKPAK1")
	indexMagic = []byte("ONBKIDX1")
)

// packID is the BLAKE3-256 of a pack's bytes.
type packID [32]byte

func (id packID) String() string { return hex.EncodeToString(id[:]) }

func packKey(id packID) string {
	s := id.String()
	return packPrefix + s[:2] + "/" + s
}

// parsePackKey returns the pack a key names.
func parsePackKey(key string) (packID, bool) {
	var id packID
	if len(key) != len(packPrefix)+3+64 || key[:len(packPrefix)] != packPrefix {
		return id, false
	}
	h := key[len(packPrefix)+3:]
	if _, err := hex.Decode(id[:], []byte(h)); err != nil || key[len(packPrefix):len(packPrefix)+2] != h[:2] || id.String() != h {
		return id, false
	}
	return id, true
}

// blobEntry says where a chunk lies in its pack.
type blobEntry struct {
	id     ChunkID
	off    uint32 // of the blob, from the start of the pack
	size   uint32 // of the blob
	raw    uint32 // the chunk's length
	format byte   // formatRaw or formatS2
}

func appendEntry(b []byte, e blobEntry) []byte {
	b = append(b, e.id[:]...)
	b = binary.LittleEndian.AppendUint32(b, e.off)
	b = binary.LittleEndian.AppendUint32(b, e.size)
	b = binary.LittleEndian.AppendUint32(b, e.raw)
	return append(b, e.format)
}

// parseEntries reads n entries from b and checks that their blobs lie in
// the first dataEnd bytes of the pack.
func parseEntries(b []byte, n int, dataEnd int64) ([]blobEntry, error) {
	if len(b) < n*packEntrySize {
		return nil, errors.New("truncated header")
	}
	out := make([]blobEntry, n)
	for i := range out {
		e := &out[i]
		p := b[i*packEntrySize:]
		copy(e.id[:], p[:32])
		e.off = binary.LittleEndian.Uint32(p[32:])
		e.size = binary.LittleEndian.Uint32(p[36:])
		e.raw = binary.LittleEndian.Uint32(p[40:])
		e.format = p[44]
		switch {
		case int64(e.off)+int64(e.size) > dataEnd:
			return nil, fmt.Errorf("entry %d (chunk %s) lies beyond the blobs", i, e.id)
		case e.format != formatRaw && e.format != formatS2:
			return nil, fmt.Errorf("entry %d (chunk %s) has unknown format %#x", i, e.id, e.format)
		case e.raw > chunkMaxSize || e.format == formatRaw && e.size != e.raw:
			return nil, fmt.Errorf("entry %d (chunk %s) has an impossible length", i, e.id)
		}
	}
	return out, nil
}

// packTrailer returns the header and footer of a pack holding entries.
func packTrailer(entries []blobEntry) []byte {
	b := make([]byte, 0, len(entries)*packEntrySize+packFooterSize)
	for _, e := range entries {
		b = appendEntry(b, e)
	}
	sum := blake3.Sum256(b)
	b = append(b, sum[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(entries)))
	b = binary.LittleEndian.AppendUint32(b, 0) // flags, none yet
	return append(b, packMagic...)
}

// parseTrailer reads the header at the end of a pack of size bytes, of
// which tail holds the last ones. When tail is too short it returns how
// many bytes it needs.
func parseTrailer(tail []byte, size int64) (entries []blobEntry, need int, err error) {
	if size < packFooterSize || len(tail) < packFooterSize {
		return nil, 0, errors.New("too short to be a pack")
	}
	f := tail[len(tail)-packFooterSize:]
	if !bytes.Equal(f[40:], packMagic) {
		return nil, 0, errors.New("no pack footer (not a pack, or truncated)")
	}
	n := int64(binary.LittleEndian.Uint32(f[32:]))
	need64 := n*packEntrySize + packFooterSize
	if need64 > size {
		return nil, 0, errors.New("the footer counts more entries than the pack can hold")
	}
	if need64 > int64(len(tail)) {
		return nil, int(need64), nil
	}
	head := tail[int64(len(tail))-need64 : len(tail)-packFooterSize]
	if sum := blake3.Sum256(head); !bytes.Equal(sum[:], f[:32]) {
		return nil, 0, errors.New("the header does not match its checksum")
	}
	entries, err = parseEntries(head, int(n), size-need64)
	return entries, 0, err
}

// readTrailer reads the header of the pack key of size bytes.
func readTrailer(ctx context.Context, s Store, key string, size int64) ([]blobEntry, error) {
	n := min(size, packTailGuess)
	for {
		tail, err := s.GetRange(ctx, key, size-n, n)
		if err != nil {
			return nil, err
		}
		entries, need, err := parseTrailer(tail, size)
		if err != nil {
			return nil, &CorruptError{Key: key, Reason: err.Error()}
		}
		if need == 0 {
			return entries, nil
		}
		n = int64(need)
	}
}

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

// writeIndexes stores index files listing packs, indexMaxPacks to a file
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
