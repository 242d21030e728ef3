package s3store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/opennimble/opennimble/backup"
	"github.com/opennimble/opennimble/backup/backuptest"
	"github.com/opennimble/opennimble/backup/s3store"
	"github.com/opennimble/opennimble/backup/s3store/s3test"
	"golang.org/x/sys/unix"
)

// BenchmarkS3Volume backs up the benchmark volume (64 MiB, so that the
// default run is short; OPENNIMBLE_BENCH_GIB=1 for the 1 GiB) to
// the folder store and to an S3 server on loopback in the same run, and
// prints the S3 store's times as ratios of the folder store's, one
// "RESULT name value unit goal met" line each: first backup, restore, and
// the unchanged re-backup as a share of the first, each the median of
// OPENNIMBLE_BENCH_ROUNDS rounds (3).
//
//	go test -run '^$' -bench S3Volume -benchtime 1x ./backup/s3store/
//	OPENNIMBLE_BENCH_GIB=1 go test -run '^$' -bench S3Volume -benchtime 1x -timeout 30m ./backup/s3store/
func BenchmarkS3Volume(b *testing.B) {
	size := int64(64 << 20)
	if os.Getenv("OPENNIMBLE_BENCH_GIB") != "" {
		size = backuptest.BenchVolumeSize(b)
	}
	for b.Loop() {
		benchS3(b, size)
	}
}

type times struct{ first, unchanged, restore time.Duration }

func benchS3(b *testing.B, size int64) {
	root := b.TempDir()
	vol := filepath.Join(root, "volume")
	if err := os.Mkdir(vol, 0o755); err != nil {
		b.Fatal(err)
	}
	if _, err := backuptest.GenerateVolume(vol, size, 1); err != nil {
		b.Fatal(err)
	}
	srv := s3test.Start(b)
	bucket := srv.Bucket(b)
	// Several rounds, each with new repositories and the two stores in
	// turn first, and the median of each figure: one round's figures move
	// by more than the goals' margins with the disk's writeback and the
	// S3 server sharing the cores.
	var fsRuns, s3Runs []times
	for round := range benchRounds() {
		dir := filepath.Join(root, fmt.Sprint(round))
		fs, err := backup.OpenFS(filepath.Join(dir, "store"))
		if err != nil {
			b.Fatal(err)
		}
		s3, err := s3store.Open(context.Background(), s3store.Options{URL: fmt.Sprintf("s3://%s/bench%d", bucket, round), Endpoint: srv.Endpoint, PathStyle: true,
			Region: "us-east-1", Credentials: s3test.Credentials(), CacheDir: filepath.Join(dir, "cache")})
		if err != nil {
			b.Fatal(err)
		}
		runFS := func() { fsRuns = append(fsRuns, measure(b, fs, vol, filepath.Join(dir, "restore-fs"))) }
		runS3 := func() { s3Runs = append(s3Runs, measure(b, s3, vol, filepath.Join(dir, "restore-s3"))) }
		if round%2 == 0 {
			runFS()
			runS3()
		} else {
			runS3()
			runFS()
		}
		if err := os.RemoveAll(dir); err != nil {
			b.Fatal(err)
		}
	}
	fsT, s3T := median(fsRuns), median(s3Runs)
	b.Logf("volume %d MiB, median of %d rounds; folder store: first %v, unchanged %v, restore %v", size>>20, len(fsRuns), fsT.first, fsT.unchanged, fsT.restore)
	b.Logf("S3 on loopback: first %v (%.2fx the folder's), unchanged %v (%.2fx; %.1f%% of its first), restore %v (%.2fx)",
		s3T.first, ratio(s3T.first, fsT.first), s3T.unchanged, ratio(s3T.unchanged, fsT.unchanged),
		100*ratio(s3T.unchanged, s3T.first), s3T.restore, ratio(s3T.restore, fsT.restore))
	result := func(name string, v float64, unit string, goal float64) {
		fmt.Printf("RESULT %s %.3f %s <=%g %v\n", name, v, unit, goal, v <= goal)
	}
	result("s3_first_backup_vs_folder", ratio(s3T.first, fsT.first), "x", 1.5)
	result("s3_restore_vs_folder", ratio(s3T.restore, fsT.restore), "x", 1.5)
	result("s3_unchanged_share_of_first", 100*ratio(s3T.unchanged, s3T.first), "%", 5)
	b.ReportMetric(ratio(s3T.first, fsT.first), "first-x")
	b.ReportMetric(ratio(s3T.restore, fsT.restore), "restore-x")
	b.ReportMetric(100*ratio(s3T.unchanged, s3T.first), "unchanged-%")
}

// benchRounds is OPENNIMBLE_BENCH_ROUNDS, 3 by default.
func benchRounds() int {
	if n, err := strconv.Atoi(os.Getenv("OPENNIMBLE_BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// median is the median of each figure of ts, taken apart.
func median(ts []times) times {
	pick := func(f func(times) time.Duration) time.Duration {
		ds := make([]time.Duration, len(ts))
		for i, t := range ts {
			ds[i] = f(t)
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	return times{
		first:     pick(func(t times) time.Duration { return t.first }),
		unchanged: pick(func(t times) time.Duration { return t.unchanged }),
		restore:   pick(func(t times) time.Duration { return t.restore }),
	}
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

// settle writes back what earlier phases left in the page cache, so that
// no phase pays for the writeback of another's files (the folder store's
// restore leaves a volume's worth of dirty pages that the S3 store's
// restore, measured next, would otherwise be throttled by).
func settle() { unix.Sync() }

func measure(b *testing.B, s backup.Backend, vol, dst string) times {
	ctx := context.Background()
	repo, err := backup.Open(ctx, s, backup.Options{Create: true})
	if err != nil {
		b.Fatal(err)
	}
	var t times
	settle()
	t0 := time.Now()
	if _, err := repo.Snapshot(ctx, vol, backup.SnapshotOptions{ID: "b1"}); err != nil {
		b.Fatal(err)
	}
	t.first = time.Since(t0)
	settle()
	t0 = time.Now()
	if _, err := repo.Snapshot(ctx, vol, backup.SnapshotOptions{ID: "b2", Parent: "b1"}); err != nil {
		b.Fatal(err)
	}
	t.unchanged = time.Since(t0)
	settle()
	t0 = time.Now()
	if _, err := repo.Restore(ctx, "b2", dst); err != nil {
		b.Fatal(err)
	}
	t.restore = time.Since(t0)
	if diff, err := backuptest.DiffDirs(vol, dst); err != nil || diff != nil {
		b.Fatalf("restore differs: %v %v", err, diff)
	}
	return t
}
