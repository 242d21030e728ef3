package backup_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opennimble/opennimble/backup"
	"github.com/opennimble/opennimble/backup/backuptest"
)

// BenchmarkVolume measures the backup store on a workstation-like volume
// of 1 GiB (64 MiB with -short) against copying the same tree with cp -a in
// the same run, and prints a table:
//
//	go test -run '^$' -bench Volume -benchtime 1x ./backup/
//
// It backs the volume up three times (first; unchanged, with the first as
// parent; after changing 1% of it) and restores the last backup, checking
// the restored tree against the volume. OPENNIMBLE_BENCH_DIR chooses where
// the volume, the copies and the store go (default: the test's temporary
// folder); OPENNIMBLE_BENCH_GIB overrides the size.
func BenchmarkVolume(b *testing.B) {
	size := backuptest.BenchVolumeSize(b)
	for b.Loop() {
		benchVolume(b, size)
	}
}

func benchVolume(b *testing.B, size int64) {
	ctx := context.Background()
	root := os.Getenv("OPENNIMBLE_BENCH_DIR")
	if root == "" {
		root = b.TempDir()
	} else {
		var err error
		if root, err = os.MkdirTemp(root, "bench-"); err != nil {
			b.Fatal(err)
		}
		defer os.RemoveAll(root)
	}
	vol := filepath.Join(root, "volume")
	must(b, os.Mkdir(vol, 0o755))
	vs, err := backuptest.GenerateVolume(vol, size, 1)
	must(b, err)
	syncAll(b)

	cp := func() (plain, synced time.Duration) {
		dst := filepath.Join(root, "copy")
		t0 := time.Now()
		if out, err := exec.Command("cp", "-a", vol, dst).CombinedOutput(); err != nil {
			b.Fatalf("cp -a: %v\n%s", err, out)
		}
		plain = time.Since(t0)
		syncAll(b)
		synced = time.Since(t0)
		must(b, os.RemoveAll(dst))
		syncAll(b)
		return plain, synced
	}
	store, err := backup.OpenFS(filepath.Join(root, "store"))
	must(b, err)
	repo, err := backup.Open(ctx, store, backup.Options{Create: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	must(b, err)
	defer repo.Close()
	snap := func(id, parent string) backup.SnapshotStats {
		st, err := repo.Snapshot(ctx, vol, backup.SnapshotOptions{ID: id, Parent: parent})
		must(b, err)
		syncAll(b)
		return st
	}
	// Each timed step is compared with a cp -a run just before it: the
	// machine's load varies, and neighbours in time see the same load.
	cp1, cpSync1 := cp()
	first := snap("first", "")
	second := snap("second", "first")
	changed, err := backuptest.MutateVolume(vol, 0.01, 2)
	must(b, err)
	syncAll(b)
	third := snap("third", "second")

	cp2, cpSync2 := cp()
	dst := filepath.Join(root, "restored")
	t0 := time.Now()
	_, err = repo.Restore(ctx, "third", dst)
	must(b, err)
	restoreT := time.Since(t0)
	syncAll(b)
	restoreSyncT := time.Since(t0)
	diff, err := backuptest.DiffDirs(vol, dst)
	must(b, err)
	if diff != nil {
		b.Fatalf("the restored tree differs:\n%s", strings.Join(diff[:min(len(diff), 20)], "\n"))
	}

	ratio := func(d, base time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()/base.Seconds()) }
	mib := func(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
	w := os.Stdout
	fmt.Fprintf(w, "\nvolume: %s in %d files, %d directories; the 1%% change wrote %s; GOMAXPROCS %d\n\n", mib(vs.Bytes), vs.Files, vs.Dirs, mib(changed), runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "| step | time | cp -a just before | ratio | with sync: time, cp -a, ratio | files read | new chunks | stored |\n|---|---|---|---|---|---|---|---|\n")
	row := func(name string, d, dSync, c, cSync time.Duration, read, chunks int, stored int64) {
		fmt.Fprintf(w, "| %s | %v | %v | %s | %v, %v, %s | %d | %d | %s (%.3f%% of the volume) |\n", name, d.Round(time.Millisecond), c.Round(time.Millisecond), ratio(d, c),
			dSync.Round(time.Millisecond), cSync.Round(time.Millisecond), ratio(dSync, cSync), read, chunks, mib(stored), 100*float64(stored)/float64(vs.Bytes))
	}
	snapRow := func(name string, st backup.SnapshotStats, c, cSync time.Duration) {
		// A snapshot syncs what it stores: its time is "with sync" too.
		row(name, st.Duration, st.Duration, c, cSync, st.ReadFiles, st.NewChunks, st.Stored())
	}
	snapRow("first backup", first, cp1, cpSync1)
	snapRow("unchanged backup", second, cp1, cpSync1)
	snapRow("1% changed backup", third, cp1, cpSync1)
	row("restore", restoreT, restoreSyncT, cp2, cpSync2, 0, 0, 0)
	fmt.Fprintf(w, "\nunchanged backup: %.1f%% of the first's time, %.3f%% of its stored bytes\n\n",
		100*second.Duration.Seconds()/first.Duration.Seconds(), 100*float64(second.Stored())/float64(first.Stored()))
	b.ReportMetric(first.Duration.Seconds()/cp1.Seconds(), "first×cp")
	b.ReportMetric(second.Duration.Seconds()/first.Duration.Seconds(), "unchanged/first")
	b.ReportMetric(third.Duration.Seconds()/cp1.Seconds(), "changed×cp")
	b.ReportMetric(restoreT.Seconds()/cp2.Seconds(), "restore×cp")
	b.ReportMetric(float64(first.Stored()), "first-B")
	b.ReportMetric(float64(second.Stored()), "unchanged-B")
	b.ReportMetric(float64(third.Stored()), "changed-B")
}

func syncAll(b *testing.B) {
	if out, err := exec.Command("sync").CombinedOutput(); err != nil {
		b.Fatalf("sync: %v\n%s", err, out)
	}
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}
