package backup

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/zeebo/blake3"
)

// cleanRelative accepts exactly the paths path.Clean leaves alone that
// stay below the root.
func TestCleanRelative(t *testing.T) {
	for _, p := range []string{"a", "a/b", "..a", "a..", ".a/b.", "a b/c", "", ".", "..", "/", "/a", "a/", "a//b", "./a", "a/.", "a/./b",
		"../a", "a/..", "a/../b", "../../a", "a/b/../../.."} {
		want := p != "" && p != "." && p != ".." && path.Clean(p) == p && !path.IsAbs(p) && !strings.HasPrefix(p, "../")
		if got := cleanRelative(p); got != want {
			t.Errorf("cleanRelative(%q) = %v, want %v", p, got, want)
		}
	}
}

// testManifest has n entries: the root, directories of 100 files each.
func testManifest(id string, n int) *Manifest {
	m := &Manifest{ID: id, Created: time.Unix(1700000000, 0).UTC(), Entries: []Entry{{Path: ".", Type: TypeDir, Mode: 0o755}}}
	for i := 1; len(m.Entries) < n; i++ {
		if i%101 == 1 {
			m.Entries = append(m.Entries, Entry{Path: fmt.Sprintf("d%04d", i/101), Type: TypeDir, Mode: 0o755})
			continue
		}
		var c ChunkID
		c[0], c[1] = byte(i), byte(i>>8)
		m.Entries = append(m.Entries, Entry{Path: fmt.Sprintf("d%04d/f%06d", i/101, i), Type: TypeFile, Mode: 0o644, MTime: int64(i) * 1e9,
			Size: int64(i), Inode: uint64(i), CTime: int64(i) * 1e9, Chunks: []ChunkID{c}})
	}
	return m
}

func decodedEntries(t *testing.T, r *Repo, b []byte) []Entry {
	t.Helper()
	m, err := r.decodeManifest("test", b)
	if err != nil {
		t.Fatal(err)
	}
	return m.Entries
}

// A manifest reuses the streams of its parent's parts whose entries did
// not change, and encodes the others; either way it decodes to its own
// entries.
func TestManifestReusesUnchangedParts(t *testing.T) {
	r, err := Open(t.Context(), NewMemStore(), Options{Create: true, Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	one := testManifest("one", 5*manifestPartEntries)
	b1, p1, err := r.encodeManifest(one, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p1.streams) != 4 || !entriesEqual(decodedEntries(t, r, b1), one.Entries) {
		t.Fatalf("%d parts, or the entries do not decode", len(p1.streams))
	}
	two := testManifest("two", len(one.Entries))
	changed := len(two.Entries) * 5 / 8 // in the third part
	two.Entries[changed].MTime++
	b2, p2, err := r.encodeManifest(two, one, p1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p2.streams {
		if reused := &p2.streams[i][0] == &p1.streams[i][0]; reused != (i != 2) {
			t.Errorf("part %d reused: %v", i, reused)
		}
	}
	if got := decodedEntries(t, r, b2); !entriesEqual(got, two.Entries) || got[changed].MTime != one.Entries[changed].MTime+1 {
		t.Fatal("the second manifest does not decode to its entries")
	}
	// One more entry moves every part's bounds: nothing is reused.
	three := testManifest("three", len(one.Entries)+1)
	b3, p3, err := r.encodeManifest(three, one, p1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p3.streams {
		if &p3.streams[i][0] == &p1.streams[i][0] {
			t.Errorf("part %d reused with other bounds", i)
		}
	}
	if !entriesEqual(decodedEntries(t, r, b3), three.Entries) {
		t.Fatal("the third manifest does not decode to its entries")
	}
}

// Manifests written before the body was cut into streams, as one S2
// stream, still read.
func TestManifestOneStream(t *testing.T) {
	r, err := Open(t.Context(), NewMemStore(), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := testManifest("old", 3000)
	head := *m
	head.Entries = nil
	js, err := json.Marshal(head)
	if err != nil {
		t.Fatal(err)
	}
	body := binary.AppendUvarint(nil, uint64(len(js)))
	body = append(body, js...)
	body = binary.AppendUvarint(body, uint64(len(m.Entries)))
	for _, e := range m.Entries {
		body = appendManifestEntry(body, e)
	}
	var out bytes.Buffer
	out.Write(make([]byte, len(manifestMagic)+32))
	w := s2.NewWriter(&out, s2.WriterConcurrency(2), s2.WriterBlockSize(manifestBlock))
	if err := w.EncodeBuffer(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b := out.Bytes()
	copy(b, manifestMagic)
	sum := blake3.Sum256(b[len(manifestMagic)+32:])
	copy(b[len(manifestMagic):], sum[:])
	got, err := r.decodeManifest("old", b)
	if err != nil || got.ID != "old" || !entriesEqual(got.Entries, m.Entries) {
		t.Fatalf("decodeManifest = %v", err)
	}
}
