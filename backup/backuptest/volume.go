package backuptest

import (
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// VolumeStats describe a generated volume.
type VolumeStats struct {
	Files, Dirs int
	Bytes       int64
}

// class is one kind of file of a workstation volume.
type class struct {
	share      float64 // of the volume's bytes
	minSize    int
	maxSize    int
	dir        string
	ext        string
	fill       func(*rand.Rand, []byte)
	perDir     int // files per directory
	executable bool
}

// volumeClasses are what a render workstation's volume holds, by bytes:
// media that does not compress, caches of 4 bits of entropy a byte, medium
// libraries and textures, many source and text files, and many tiny
// dotfiles.
var volumeClasses = []class{
	{share: 0.35, minSize: 4 << 20, maxSize: 64 << 20, dir: "project/shots", ext: ".exr", fill: fillMedia, perDir: 8},
	{share: 0.25, minSize: 8 << 20, maxSize: 96 << 20, dir: "project/cache", ext: ".abc", fill: fillHalf, perDir: 6},
	{share: 0.15, minSize: 64 << 10, maxSize: 4 << 20, dir: "tools/lib", ext: ".so", fill: fillMixed, perDir: 40, executable: true},
	{share: 0.20, minSize: 1 << 10, maxSize: 64 << 10, dir: "project/src", ext: ".py", fill: fillText, perDir: 60},
	{share: 0.05, minSize: 16, maxSize: 4 << 10, dir: "home/.config", ext: ".conf", fill: fillText, perDir: 100},
}

// GenerateVolume writes into dir (which must exist) about total bytes of
// files shaped like a workstation's volume (see volumeClasses), in nested
// directories, with modification times spread over the past year. seed
// fixes the contents.
func GenerateVolume(dir string, total int64, seed uint64) (VolumeStats, error) {
	var st VolumeStats
	rng := rand.New(rand.NewPCG(seed, 0x766f6c756d65))
	now := time.Now()
	var buf []byte
	for ci, c := range volumeClasses {
		budget := int64(float64(total) * c.share)
		for n := 0; budget > 0; n++ {
			size := c.minSize + int(float64(c.maxSize-c.minSize)*rng.Float64()*rng.Float64())
			size = int(min(int64(size), budget))
			budget -= int64(size)
			sub := filepath.Join(dir, filepath.FromSlash(c.dir), fmt.Sprintf("d%03d", n/c.perDir))
			if n%c.perDir == 0 {
				if err := os.MkdirAll(sub, 0o755); err != nil {
					return st, err
				}
				st.Dirs++
			}
			if cap(buf) < size {
				buf = make([]byte, size)
			}
			b := buf[:size]
			c.fill(rng, b)
			p := filepath.Join(sub, fmt.Sprintf("f%d-%05d%s", ci, n, c.ext))
			mode := fs.FileMode(0o644)
			if c.executable {
				mode = 0o755
			}
			if err := os.WriteFile(p, b, mode); err != nil {
				return st, err
			}
			mt := now.Add(-time.Duration(rng.Int64N(int64(365 * 24 * time.Hour))))
			if err := os.Chtimes(p, mt, mt); err != nil {
				return st, err
			}
			st.Files++
			st.Bytes += int64(size)
		}
	}
	for _, l := range []string{"home/project", "home/latest-cache"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, l)), 0o755); err != nil {
			return st, err
		}
	}
	if err := os.Symlink("../project", filepath.Join(dir, "home/project")); err != nil {
		return st, err
	}
	if err := os.Symlink("../project/cache/d000", filepath.Join(dir, "home/latest-cache")); err != nil {
		return st, err
	}
	return st, os.MkdirAll(filepath.Join(dir, "home/Downloads"), 0o755)
}

// MutateVolume changes about fraction of the bytes of the volume at dir as
// a day's work would: edits in the middle of some large files, rewritten
// text files, a few new files and a few deleted ones. It returns how many
// bytes it wrote.
func MutateVolume(dir string, fraction float64, seed uint64) (int64, error) {
	rng := rand.New(rand.NewPCG(seed, 0x6d7574617465))
	type file struct {
		path string
		size int64
	}
	var files []file
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, file{p, fi.Size()})
		total += fi.Size()
		return nil
	})
	if err != nil {
		return 0, err
	}
	slices.SortFunc(files, func(a, b file) int {
		if a.path < b.path {
			return -1
		}
		return 1
	})
	budget := int64(float64(total) * fraction)
	var written int64
	// Half the budget: 64 KiB edits in place in large files.
	for written < budget/2 {
		f := files[rng.IntN(len(files))]
		if f.size < 1<<20 {
			continue
		}
		b := make([]byte, 64<<10)
		fillMedia(rng, b)
		h, err := os.OpenFile(f.path, os.O_WRONLY, 0)
		if err != nil {
			return written, err
		}
		_, err = h.WriteAt(b, rng.Int64N(f.size-int64(len(b))))
		if cerr := h.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return written, err
		}
		written += int64(len(b))
	}
	// A quarter: small text files rewritten.
	for written < budget*3/4 {
		f := files[rng.IntN(len(files))]
		if f.size > 64<<10 {
			continue
		}
		b := make([]byte, f.size+int64(rng.IntN(2048)))
		fillText(rng, b)
		if err := os.WriteFile(f.path, b, 0o644); err != nil {
			return written, err
		}
		written += int64(len(b))
	}
	// The rest: new files; and a few files deleted.
	newDir := filepath.Join(dir, "project", "new-work")
	if err := os.MkdirAll(newDir, 0o755); err != nil {
		return written, err
	}
	for i := 0; written < budget; i++ {
		b := make([]byte, min(budget-written, 1<<20))
		fillMixed(rng, b)
		if err := os.WriteFile(filepath.Join(newDir, fmt.Sprintf("new-%03d.bin", i)), b, 0o644); err != nil {
			return written, err
		}
		written += int64(len(b))
	}
	for range 5 {
		f := files[rng.IntN(len(files))]
		if err := os.Remove(f.path); err != nil && !os.IsNotExist(err) {
			return written, err
		}
	}
	return written, nil
}

// fillMedia fills b with incompressible bytes, like compressed images.
func fillMedia(rng *rand.Rand, b []byte) {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rng.Uint32())
	}
	_, _ = rand.NewChaCha8(seed).Read(b)
}

// fillHalf fills b with bytes of 4 bits of entropy each: an entropy coder
// would halve them, but they hold few repeats for a fast LZ77 compressor
// (S2, and zstd at its fastest level, store them as they are).
func fillHalf(rng *rand.Rand, b []byte) {
	fillMedia(rng, b)
	for i := range b {
		b[i] &= 0x0f
	}
}

// fillMixed alternates 64 KiB of media with 64 KiB of text.
func fillMixed(rng *rand.Rand, b []byte) {
	for i := 0; i < len(b); i += 128 << 10 {
		fillMedia(rng, b[i:min(i+64<<10, len(b))])
		if i+64<<10 < len(b) {
			fillText(rng, b[i+64<<10:min(i+128<<10, len(b))])
		}
	}
}

// BenchVolumeSize is the size of the benchmark volume: 1 GiB, 64 MiB with
// -short, or OPENNIMBLE_BENCH_GIB GiB.
func BenchVolumeSize(tb testing.TB) int64 {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	if v := os.Getenv("OPENNIMBLE_BENCH_GIB"); v != "" {
		var gib float64
		if _, err := fmt.Sscan(v, &gib); err != nil {
			tb.Fatal(err)
		}
		size = int64(gib * (1 << 30))
	}
	return size
}
