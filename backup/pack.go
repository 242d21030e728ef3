package backup

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

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
// is complete, and Verify can check it whole. This file is the pack
// format; packer.go fills packs and writes them; which chunk lies where is
// kept in memory (index.go) and cached in index files (indexfile.go:
// "index/<64 hex>", named by their hash), each listing packs and their
// headers: they are written after the packs they list, and a pack that no
// index file lists is read from its header.
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
func readTrailer(ctx context.Context, s Backend, key string, size int64) ([]blobEntry, error) {
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
