package backup

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"time"
)

// A restore reads the packs, not the files: it gathers the chunks the
// files need, pack by pack, and reads each pack in a few ranged reads,
// each covering chunks that lie close together (bytes it does not need
// between them are read only when there are fewer than restoreGap), on
// several goroutines. Every chunk read is written to every place it
// belongs, in any order; a file gets its owner, mode and time once its
// last chunk is in. On S3 a request costs as much as reading about a MiB
// on loopback, and a file of a workstation's volume is most often one
// small chunk: reading chunk by chunk made a restore six times slower than
// from a folder.
const (
	// restoreGap is the most a read takes of bytes no file needs, to
	// spare a request.
	restoreGap = 256 << 10
	// restoreMaxRead bounds a read, and so the memory each goroutine
	// holds.
	restoreMaxRead = 8 << 20
)

// restoreFile is a file being restored.
type restoreFile struct {
	e       *Entry
	mu      sync.Mutex
	created bool
	left    int // chunks not written yet
}

// target is a place a chunk goes: a file and an offset in it.
type target struct {
	file *restoreFile
	off  int64
}

// wantedChunk is a chunk the restore needs, where it lies and where it
// goes.
type wantedChunk struct {
	e       blobEntry
	targets []target
}

// packRead is one ranged read of a pack and the chunks it covers, by
// offset.
type packRead struct {
	pack     *packInfo
	off, end int64
	chunks   []*wantedChunk
}

// writeFiles writes the contents of the files of m that files names.
func (rs *restore) writeFiles(ctx context.Context, m *Manifest, files []int) error {
	reads, empty, err := rs.plan(m, files)
	if err != nil {
		return err
	}
	for _, f := range empty {
		if err := rs.writeAt(f, 0, nil); err != nil {
			return err
		}
	}
	return inParallel(ctx, len(reads), rs.r.opts.Workers,
		func() (*[]byte, error) { return new([]byte), nil },
		func(ctx context.Context, buf *[]byte, i int) error { return rs.read(ctx, reads[i], buf) })
}

// plan finds where the chunks of the files lie and makes the reads that
// fetch them, largest first; it also returns the files that have no
// chunks. A chunk the index does not know, or chunks that do not add up
// to the size the manifest records, fail it before anything is written.
func (rs *restore) plan(m *Manifest, files []int) ([]*packRead, []*restoreFile, error) {
	chunks := map[ChunkID]*wantedChunk{}
	byPack := map[*packInfo][]*wantedChunk{}
	var empty []*restoreFile
	for _, i := range files {
		e := &m.Entries[i]
		f := &restoreFile{e: e, left: len(e.Chunks)}
		if len(e.Chunks) == 0 {
			empty = append(empty, f)
		}
		var off int64
		for _, c := range e.Chunks {
			w := chunks[c]
			if w == nil {
				p, be, ok := rs.r.idx.lookup(c)
				if !ok {
					return nil, nil, fmt.Errorf("restore %s: %w", e.Path, rs.r.missingChunk(c))
				}
				w = &wantedChunk{e: be}
				chunks[c] = w
				byPack[p] = append(byPack[p], w)
			}
			w.targets = append(w.targets, target{f, off})
			off += int64(w.e.raw)
		}
		if off != e.Size {
			return nil, nil, fmt.Errorf("restore %s: %w", e.Path, &CorruptError{Key: rs.key, Reason: fmt.Sprintf("file %s has %d bytes of chunks, the manifest says %d", e.Path, off, e.Size)})
		}
	}
	var reads []*packRead
	for p, ws := range byPack {
		reads = append(reads, coalesce(p, ws)...)
	}
	slices.SortFunc(reads, func(a, b *packRead) int {
		if c := cmp.Compare(b.end-b.off, a.end-a.off); c != 0 {
			return c
		}
		if c := bytes.Compare(a.pack.id[:], b.pack.id[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.off, b.off)
	})
	return reads, empty, nil
}

// coalesce makes the reads of pack p that fetch the chunks ws.
func coalesce(p *packInfo, ws []*wantedChunk) []*packRead {
	slices.SortFunc(ws, func(a, b *wantedChunk) int { return cmp.Compare(a.e.off, b.e.off) })
	var reads []*packRead
	var cur *packRead
	for _, w := range ws {
		off, end := int64(w.e.off), int64(w.e.off)+int64(w.e.size)
		if cur == nil || off > cur.end+restoreGap || end-cur.off > restoreMaxRead {
			cur = &packRead{pack: p, off: off, end: end}
			reads = append(reads, cur)
		}
		cur.end = max(cur.end, end)
		cur.chunks = append(cur.chunks, w)
	}
	return reads
}

// read fetches one range of a pack and writes its chunks where they go;
// buf is the goroutine's buffer for decompressed chunks.
func (rs *restore) read(ctx context.Context, rd *packRead, buf *[]byte) error {
	key := rd.pack.key()
	b, err := rs.r.store.GetRange(ctx, key, rd.off, rd.end-rd.off)
	first := rd.chunks[0]
	switch {
	case errors.Is(err, ErrNotExist):
		return rs.chunkErr(first, rs.r.missingChunk(first.e.id))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return rs.chunkErr(first, &CorruptError{Key: key, Reason: fmt.Sprintf("chunk %s: the pack is truncated", first.e.id)})
	case err != nil:
		return rs.chunkErr(first, err)
	}
	for _, w := range rd.chunks {
		rs.r.delay()
		lo := int64(w.e.off) - rd.off
		data, err := rs.r.decodeBlob(key, w.e, b[lo:lo+int64(w.e.size)], *buf)
		if err != nil {
			return rs.chunkErr(w, err)
		}
		if w.e.format != formatRaw {
			*buf = data // raw chunks are b itself
		}
		for _, t := range w.targets {
			if err := rs.writeAt(t.file, t.off, data); err != nil {
				return err
			}
		}
	}
	return nil
}

// chunkErr names the file (the first of them) that needs chunk w.
func (rs *restore) chunkErr(w *wantedChunk, err error) error {
	return fmt.Errorf("restore %s: %w", w.targets[0].file.e.Path, err)
}

// writeAt writes one chunk of f at off, creating f with the first and
// giving it its owner, mode and time with the last. The file is opened
// for each chunk: a restore would otherwise hold open every large file
// whose chunks lie in several packs.
func (rs *restore) writeAt(f *restoreFile, off int64, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd, err := openBeneath(rs.root, rs.dirFD, f.e.Path, !f.created)
	if err != nil {
		return &SourceError{Err: err}
	}
	f.created = true
	if len(data) > 0 {
		_, err = fd.WriteAt(data, off)
		f.left--
	}
	if err == nil && f.left == 0 {
		err = rs.fileMeta(fd, f.e)
	}
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &SourceError{Err: err}
	}
	if f.left == 0 {
		rs.mu.Lock()
		rs.st.Files++
		rs.st.Bytes += f.e.Size
		rs.mu.Unlock()
	}
	return nil
}

// fileMeta gives an open file its owner, mode and time, through the file:
// no path lookups. Chmod after chown, which clears setuid and setgid.
func (rs *restore) fileMeta(f *os.File, e *Entry) error {
	if rs.chown {
		if err := f.Chown(e.UID, e.GID); err != nil {
			return err
		}
	}
	if err := f.Chmod(e.Mode); err != nil {
		return err
	}
	return setMTime(f, time.Unix(0, e.MTime))
}
