package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testPack(n byte, sizes ...uint32) *packInfo {
	p := &packInfo{id: packID{n}}
	for i, sz := range sizes {
		p.entries = append(p.entries, blobEntry{id: ChunkID{n, byte(i)}, size: sz})
	}
	return p
}

// TestPlanGCMergesSmallPacks: packs under a quarter of the pack size are
// merged once there are mergeSmallPacks of them; fewer stay as they are.
func TestPlanGCMergesSmallPacks(t *testing.T) {
	const size = 16 << 20
	used := map[ChunkID]bool{}
	var packs []*packInfo
	big := testPack(100, size-1000)
	packs = append(packs, big)
	for n := range byte(mergeSmallPacks) {
		packs = append(packs, testPack(n, 1<<20))
	}
	for _, p := range packs {
		for _, e := range p.entries {
			used[e.id] = true
		}
	}
	pl := planGC(packs[:mergeSmallPacks], used, size) // the big one and one small pack fewer
	if len(pl.repack) != 0 || len(pl.keep) != mergeSmallPacks {
		t.Fatalf("with %d small packs: repack %d, keep %d; want all kept", mergeSmallPacks-1, len(pl.repack), len(pl.keep))
	}
	pl = planGC(packs, used, size)
	if len(pl.repack) != mergeSmallPacks || len(pl.keep) != 1 || pl.keep[0] != big || len(pl.remove) != 0 {
		t.Fatalf("with %d small packs: repack %d, keep %v, remove %d; want the small ones repacked, the big one kept",
			mergeSmallPacks, len(pl.repack), pl.keep, len(pl.remove))
	}
}

// TestGCMergesTheSmallPacksOfIncrementalSnapshots: each incremental
// snapshot of a slightly changed tree leaves one small pack; a GC merges
// them, and every snapshot still restores.
func TestGCMergesTheSmallPacksOfIncrementalSnapshots(t *testing.T) {
	store := NewMemStore()
	r, err := Open(t.Context(), store, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	packs := func() int {
		n := 0
		if err := store.List(t.Context(), packPrefix, func(string, int64) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	parent := ""
	for i := range 6 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("take-%d.txt", i)), []byte(strings.Repeat(fmt.Sprintf("take %d ", i), 5000)), 0o644); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("snap-%d", i)
		if _, err := r.Snapshot(t.Context(), dir, SnapshotOptions{ID: id, Parent: parent}); err != nil {
			t.Fatal(err)
		}
		parent = id
	}
	before := packs()
	if before < mergeSmallPacks {
		t.Fatalf("6 snapshots left %d packs; the test needs at least %d", before, mergeSmallPacks)
	}
	st, err := r.GC(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if after := packs(); after != 1 || st.RepackedPacks != before {
		t.Fatalf("GC: %d packs -> %d (stats %+v); want them merged into one", before, after, st)
	}
	for i := range 6 {
		dst := filepath.Join(t.TempDir(), "r")
		if _, err := r.Restore(t.Context(), fmt.Sprintf("snap-%d", i), dst); err != nil {
			t.Fatalf("restore snap-%d after the merge: %v", i, err)
		}
		if entries, _ := os.ReadDir(dst); len(entries) != i+1 {
			t.Fatalf("snap-%d restored %d files, want %d", i, len(entries), i+1)
		}
	}
}
