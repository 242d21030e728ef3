package backup

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"sync"
	"time"

	"lukechampine.com/blake3"
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
// follows, then the zstd-compressed body: the manifest's header as JSON,
// then its entries in a compact binary form (JSON took longer to decode
// than an unchanged snapshot takes in all).
var manifestMagic = []byte("ONBKMAN1")

func (r *Repo) encodeManifest(m *Manifest) ([]byte, error) {
	head := *m
	head.Entries = nil
	js, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	size := 16 + len(js)
	for _, e := range m.Entries {
		size += 40 + len(e.Path) + len(e.Target) + 32*len(e.Chunks)
	}
	body := make([]byte, 0, size)
	body = binary.AppendUvarint(body, uint64(len(js)))
	body = append(body, js...)
	body = appendEntries(body, m.Entries)
	// A large body is compressed in parts on several goroutines: the
	// frames, one after the other, are one zstd stream (of an unchanged
	// volume's snapshot this is a fifth of the time).
	parts := min(r.opts.Workers, max(1, len(body)/manifestPart))
	frames := make([][]byte, parts)
	var wg sync.WaitGroup
	for i := range parts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			frames[i] = r.enc.EncodeAll(body[len(body)*i/parts:len(body)*(i+1)/parts], nil)
		}()
	}
	wg.Wait()
	out := make([]byte, len(manifestMagic)+32, len(manifestMagic)+32+len(body)/2)
	copy(out, manifestMagic)
	for _, f := range frames {
		out = append(out, f...)
	}
	sum := blake3.Sum256(out[len(manifestMagic)+32:])
	copy(out[len(manifestMagic):], sum[:])
	return out, nil
}

// manifestPart is the least a part of a manifest compressed on its own
// goroutine holds.
const manifestPart = 1 << 20

func (r *Repo) decodeManifest(key string, b []byte) (*Manifest, error) {
	n := len(manifestMagic) + 32
	if len(b) < n || !bytes.Equal(b[:len(manifestMagic)], manifestMagic) {
		return nil, &CorruptError{Key: key, Reason: "not a manifest"}
	}
	if sum := blake3.Sum256(b[n:]); !bytes.Equal(sum[:], b[len(manifestMagic):n]) {
		return nil, &CorruptError{Key: key, Reason: "contents do not match the checksum"}
	}
	body, err := r.mdec.DecodeAll(b[n:], nil)
	if err != nil {
		return nil, &CorruptError{Key: key, Reason: "cannot decompress: " + err.Error()}
	}
	d := &decoder{b: body}
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

// appendEntries writes entries as: count, then per entry its type byte,
// path, mode, uid, gid, mtime, size, target, inode, ctime, chunk count and
// the chunks' 32-byte ids.
func appendEntries(b []byte, entries []Entry) []byte {
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
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
	}
	return b
}

// decoder reads what appendEntries wrote; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("truncated or invalid %s", what)
	}
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("number")
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("number")
		d.b = nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail("string")
		d.b = nil
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
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
		e := Entry{Type: EntryType(d.b[:1])}
		d.b = d.b[1:]
		e.Path = string(d.bytes())
		e.Mode = fs.FileMode(d.uvarint())
		e.UID, e.GID = int(d.uvarint()), int(d.uvarint())
		e.MTime, e.Size = d.varint(), d.varint()
		e.Target = string(d.bytes())
		e.Inode, e.CTime = d.uvarint(), d.varint()
		if c := d.uvarint(); c > 0 {
			if c > uint64(len(d.b))/32 {
				d.fail("chunk list")
				return nil
			}
			e.Chunks = make([]ChunkID, c)
			for i := range e.Chunks {
				copy(e.Chunks[i][:], d.b[:32])
				d.b = d.b[32:]
			}
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
		if e.Path == "" || e.Path == "." || path.Clean(e.Path) != e.Path || path.IsAbs(e.Path) || e.Path == ".." || strings.HasPrefix(e.Path, "../") {
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
