package backup

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/zeebo/blake3"
)

// Manifest describes one backup: the tree it copied, entry by entry, and
// the chunks that hold each file's contents.
type Manifest struct {
	ID      string            `json:"id"`
	Created time.Time         `json:"created"`
	Meta    map[string]string `json:"meta,omitempty"`
	// Parent is the backup whose unchanged files this one took over.
	Parent string `json:"parent,omitempty"`
	// Entries are in walk order: a directory comes before what it holds.
	// The first is the root, ".".
	Entries []Entry `json:"entries,omitempty"`
	// Skipped lists what the snapshot could not copy (sockets, devices…).
	Skipped []string `json:"skipped,omitempty"`
}

// EntryType is the kind of a manifest entry.
type EntryType string

// The kinds of entries.
const (
	TypeDir     EntryType = "d"
	TypeFile    EntryType = "f"
	TypeSymlink EntryType = "l"
)

// Entry is one directory, regular file or symlink of a backed-up tree.
type Entry struct {
	Path string    `json:"p"` // slash-separated, relative to the root
	Type EntryType `json:"t"`
	// Mode holds the permission bits and setuid, setgid and sticky, as
	// fs.FileMode.
	Mode  fs.FileMode `json:"m"`
	UID   int         `json:"u"`
	GID   int         `json:"g"`
	MTime int64       `json:"mt"` // nanoseconds since the epoch
	// Size and Chunks are a file's length and contents.
	Size   int64     `json:"s,omitempty"`
	Chunks []ChunkID `json:"c,omitempty"`
	// Target is a symlink's target, as it was written.
	Target string `json:"l,omitempty"`
	// Inode and CTime identify the file's version on the volume it was
	// read from, so that the next snapshot can take an unchanged file over
	// without reading it (as restic does). They are not restored.
	Inode uint64 `json:"i,omitempty"`
	CTime int64  `json:"ct,omitempty"`
}

// manifestMagic starts every stored manifest; the BLAKE3 hash of the rest
// follows, then the body as an S2 stream: the manifest's header as JSON,
// then its entries in a compact binary form (JSON took longer to decode
// than an unchanged snapshot takes in all). S2 rather than zstd: every
// snapshot writes a manifest, and an unchanged snapshot is little else;
// S2 takes a quarter of zstd's time for a sixth more bytes (the chunk ids,
// a third of a body, do not compress at all).
var manifestMagic = []byte("ONBKMAN2")

// manifestBlock is the size of the blocks of a manifest's S2 stream.
const manifestBlock = 1 << 20

// A manifest's body is several S2 streams one after another (the format
// allows that, and a reader reads them as one): the header's, then one
// for each part of the entries, which are encoded and compressed on
// several goroutines. A part whose entries are those of the same part of
// the parent's manifest, as most are in an unchanged snapshot, is not
// encoded again: its stream is the parent's.

// encodedParts are the streams of a manifest's parts, kept with a
// recent manifest for the next snapshot to take over.
type encodedParts struct {
	entries int      // how many the manifest has
	streams [][]byte // of each part, the entries partBounds says
	reused  int      // how many streams were the parent's
}

// manifestPartEntries is the least number of entries a manifest encodes
// on a goroutine of its own.
const manifestPartEntries = 4096

// manifestParts is how many parts a manifest of n entries is cut into.
func (r *Repo) manifestParts(n int) int {
	return min(r.opts.Workers, max(1, n/manifestPartEntries))
}

// partBounds are the first and past-the-last entries of part i of n
// entries in parts parts.
func partBounds(n, parts, i int) (int, int) { return n * i / parts, n * (i + 1) / parts }

// encodeManifest encodes m; prev, when set, is a manifest whose parts'
// streams were prevParts.
func (r *Repo) encodeManifest(m, prev *Manifest, prevParts *encodedParts) ([]byte, *encodedParts, error) {
	head := *m
	head.Entries = nil
	js, err := json.Marshal(head)
	if err != nil {
		return nil, nil, err
	}
	start := binary.AppendUvarint(nil, uint64(len(js)))
	start = append(start, js...)
	start = binary.AppendUvarint(start, uint64(len(m.Entries)))
	parts := &encodedParts{entries: len(m.Entries), streams: make([][]byte, r.manifestParts(len(m.Entries)))}
	reuse := prev != nil && prevParts != nil && prevParts.entries == len(m.Entries) && len(prev.Entries) == len(m.Entries) &&
		len(prevParts.streams) == len(parts.streams)
	errs := make([]error, len(parts.streams))
	var reused atomic.Int64
	var wg sync.WaitGroup
	for i := range parts.streams {
		wg.Go(func() {
			from, to := partBounds(len(m.Entries), len(parts.streams), i)
			entries := m.Entries[from:to]
			if reuse && entriesEqual(entries, prev.Entries[from:to]) {
				parts.streams[i] = prevParts.streams[i]
				reused.Add(1)
				return
			}
			size := 0
			for _, e := range entries {
				size += 40 + len(e.Path) + len(e.Target) + 32*len(e.Chunks)
			}
			b := make([]byte, 0, size)
			for _, e := range entries {
				b = appendManifestEntry(b, e)
			}
			parts.streams[i], errs[i] = compressStream(b)
		})
	}
	head0, err := compressStream(start)
	wg.Wait()
	parts.reused = int(reused.Load())
	if err == nil {
		err = errors.Join(errs...)
	}
	if err != nil {
		return nil, nil, err
	}
	n := len(manifestMagic) + 32
	size := n + len(head0)
	for _, p := range parts.streams {
		size += len(p)
	}
	b := make([]byte, n, size)
	b = append(b, head0...)
	for _, p := range parts.streams {
		b = append(b, p...)
	}
	copy(b, manifestMagic)
	sum := blake3.Sum256(b[n:])
	copy(b[len(manifestMagic):], sum[:])
	return b, parts, nil
}

// compressStream is b as an S2 stream of its own.
func compressStream(b []byte) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(b)/2 + 64)
	w := s2.NewWriter(&out, s2.WriterConcurrency(1), s2.WriterBlockSize(manifestBlock))
	err := w.EncodeBuffer(b)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return out.Bytes(), err
}

// entriesEqual reports whether a and b hold the same entries.
func entriesEqual(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Path != y.Path || x.Type != y.Type || x.Mode != y.Mode || x.UID != y.UID || x.GID != y.GID || x.MTime != y.MTime ||
			x.Size != y.Size || x.Target != y.Target || x.Inode != y.Inode || x.CTime != y.CTime || len(x.Chunks) != len(y.Chunks) {
			return false
		}
		// A file taken over shares its parent's list.
		if len(x.Chunks) > 0 && &x.Chunks[0] != &y.Chunks[0] && !slices.Equal(x.Chunks, y.Chunks) {
			return false
		}
	}
	return true
}

func (r *Repo) decodeManifest(key string, b []byte) (*Manifest, error) {
	n := len(manifestMagic) + 32
	if len(b) < n || !bytes.Equal(b[:len(manifestMagic)], manifestMagic) {
		return nil, &CorruptError{Key: key, Reason: "not a manifest"}
	}
	if sum := blake3.Sum256(b[n:]); !bytes.Equal(sum[:], b[len(manifestMagic):n]) {
		return nil, &CorruptError{Key: key, Reason: "contents do not match the checksum"}
	}
	out := bytes.NewBuffer(make([]byte, 0, 2*len(b)))
	if _, err := s2.NewReader(bytes.NewReader(b[n:]), s2.ReaderMaxBlockSize(manifestBlock)).DecodeConcurrent(out, 2); err != nil {
		return nil, &CorruptError{Key: key, Reason: "cannot decompress: " + err.Error()}
	}
	body := out.Bytes()
	d := newDecoder(body)
	var m Manifest
	if err := json.Unmarshal(d.bytes(), &m); err != nil || d.err != nil {
		return nil, &CorruptError{Key: key, Reason: fmt.Sprint("header: ", err, d.err)}
	}
	m.Entries = d.entries()
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("trailing bytes")
	}
	if d.err != nil {
		return nil, &CorruptError{Key: key, Reason: "entries: " + d.err.Error()}
	}
	if err := m.check(); err != nil {
		return nil, &CorruptError{Key: key, Reason: err.Error()}
	}
	return &m, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// A manifest's body holds its entries as: their count, then per entry
// (appendManifestEntry) its type byte, path, mode, uid, gid, mtime, size, target,
// inode, ctime, chunk count and the chunks' 32-byte ids.
func appendManifestEntry(b []byte, e Entry) []byte {
	b = append(b, e.Type[0])
	b = appendString(b, e.Path)
	b = binary.AppendUvarint(b, uint64(e.Mode))
	b = binary.AppendUvarint(b, uint64(e.UID))
	b = binary.AppendUvarint(b, uint64(e.GID))
	b = binary.AppendVarint(b, e.MTime)
	b = binary.AppendVarint(b, e.Size)
	b = appendString(b, e.Target)
	b = binary.AppendUvarint(b, e.Inode)
	b = binary.AppendVarint(b, e.CTime)
	b = binary.AppendUvarint(b, uint64(len(e.Chunks)))
	for _, c := range e.Chunks {
		b = append(b, c[:]...)
	}
	return b
}

// decoder reads what appendManifestEntry wrote; the first error sticks. It
// keeps its input as a string too, so that the paths of a manifest's
// entries are cut from one string rather than allocated one by one, and
// its entries' chunk lists from a few large arrays.
type decoder struct {
	b    []byte
	s    string // what is left of the input, as b is
	err  error
	slab []ChunkID // the rest of the last array of chunk ids
}

func newDecoder(b []byte) *decoder { return &decoder{b: b, s: string(b)} }

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("truncated or invalid %s", what)
	}
}

// skip consumes n bytes.
func (d *decoder) skip(n int) {
	d.b, d.s = d.b[n:], d.s[n:]
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("number")
		d.b, d.s = nil, ""
		return 0
	}
	d.skip(n)
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("number")
		d.b, d.s = nil, ""
		return 0
	}
	d.skip(n)
	return v
}

// length reads the length of a string or byte slice that follows.
func (d *decoder) length() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("string")
		d.b, d.s = nil, ""
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.length()
	b := d.b[:n]
	d.skip(n)
	return b
}

func (d *decoder) str() string {
	n := d.length()
	s := d.s[:n]
	d.skip(n)
	return s
}

// chunks reads n chunk ids into a slice of their own length and capacity.
func (d *decoder) chunks(n int) []ChunkID {
	if len(d.slab) < n {
		d.slab = make([]ChunkID, max(n, 4096))
	}
	ids := d.slab[:n:n]
	d.slab = d.slab[n:]
	for i := range ids {
		copy(ids[i][:], d.b[:32])
		d.skip(32)
	}
	return ids
}

func (d *decoder) entries() []Entry {
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every entry takes at least a byte
		d.fail("entry count")
		return nil
	}
	out := make([]Entry, 0, n)
	for range n {
		if len(d.b) == 0 {
			d.fail("entry")
			return nil
		}
		e := Entry{Type: EntryType(d.s[:1])}
		d.skip(1)
		e.Path = d.str()
		e.Mode = fs.FileMode(d.uvarint())
		e.UID, e.GID = int(d.uvarint()), int(d.uvarint())
		e.MTime, e.Size = d.varint(), d.varint()
		e.Target = d.str()
		e.Inode, e.CTime = d.uvarint(), d.varint()
		if c := d.uvarint(); c > 0 {
			if c > uint64(len(d.b))/32 {
				d.fail("chunk list")
				return nil
			}
			e.Chunks = d.chunks(int(c))
		}
		if d.err != nil {
			return nil
		}
		out = append(out, e)
	}
	return out
}

// check refuses a manifest whose paths could reach outside the directory a
// restore writes to.
func (m *Manifest) check() error {
	if len(m.Entries) == 0 || m.Entries[0].Path != "." || m.Entries[0].Type != TypeDir {
		return errors.New("the first entry is not the root directory")
	}
	for _, e := range m.Entries[1:] {
		if !cleanRelative(e.Path) {
			return fmt.Errorf("entry path %q is not a clean relative path", e.Path)
		}
		switch e.Type {
		case TypeDir, TypeFile, TypeSymlink:
		default:
			return fmt.Errorf("entry %q has unknown type %q", e.Path, e.Type)
		}
	}
	return nil
}

// cleanRelative reports whether p is a path below a directory as
// path.Clean writes it: not absolute, no empty, "." or ".." components. One
// pass, no allocation: a manifest has a path for every entry.
func cleanRelative(p string) bool {
	if p == "" || p[0] == '/' || p[len(p)-1] == '/' {
		return false
	}
	for p != "" {
		comp, rest, _ := strings.Cut(p, "/")
		if comp == "" || comp == "." || comp == ".." {
			return false
		}
		p = rest
	}
	return true
}

// Manifest reads the manifest of backup id: ErrNoBackup when there is none,
// a *CorruptError when it is damaged.
func (r *Repo) Manifest(ctx context.Context, id string) (*Manifest, error) {
	if !ValidID(id) {
		return nil, fmt.Errorf("backup: invalid id %q: %w", id, ErrNoBackup)
	}
	b, err := r.store.Get(ctx, manifestKey(id))
	if errors.Is(err, ErrNotExist) {
		return nil, fmt.Errorf("backup %s: %w", id, ErrNoBackup)
	}
	if err != nil {
		return nil, err
	}
	return r.decodeManifest(manifestKey(id), b)
}

// Info summarises a backup.
type Info struct {
	ID      string
	Created time.Time
	Meta    map[string]string
	Files   int
	Bytes   int64 // the files' total size
	Chunks  int   // distinct chunks
}

func (m *Manifest) info() Info {
	in := Info{ID: m.ID, Created: m.Created, Meta: m.Meta}
	seen := map[ChunkID]bool{}
	for _, e := range m.Entries {
		if e.Type == TypeFile {
			in.Files++
			in.Bytes += e.Size
		}
		for _, c := range e.Chunks {
			seen[c] = true
		}
	}
	in.Chunks = len(seen)
	return in
}

// List returns the backups in the repository; a damaged manifest is listed
// with its id only, and reported by Verify.
func (r *Repo) List(ctx context.Context) ([]Info, error) {
	var ids []string
	err := r.store.List(ctx, manifestPrefix, func(key string, _ int64) error {
		ids = append(ids, strings.TrimPrefix(key, manifestPrefix))
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, id := range ids {
		m, err := r.Manifest(ctx, id)
		switch {
		case errors.Is(err, ErrNoBackup):
			continue
		case errors.Is(err, ErrCorrupt):
			out = append(out, Info{ID: id})
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, m.info())
	}
	return out, nil
}
