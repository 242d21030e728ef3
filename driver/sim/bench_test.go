package sim_test

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/driver/sim"
)

// BenchmarkPersist measures what keeping the fleet in Dir costs a
// stop→snapshot→start cycle (three steps, the backup's deletion a fourth),
// against the same cycles on a driver without Dir run in turn with it, in
// the same run. cpu-ns counts the process's user and system time.
func BenchmarkPersist(b *testing.B) {
	const sessions = 256
	// The clocks move a millisecond a cycle, the goal's pace, so that
	// finished operations are forgotten as they would be.
	memClock, diskClock := newClock(), newClock()
	mem := sim.MustNew(sim.Options{Clock: memClock})
	disk, err := sim.New(sim.Options{Clock: diskClock, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range []*sim.Driver{mem, disk} {
		for i := range sessions {
			if _, err := d.Provision(ctx, provision(fmt.Sprintf("ses-%d", i), "t")); err != nil {
				b.Fatal(err)
			}
		}
	}
	var memT, diskT, memCPU, diskCPU time.Duration
	cycle := func(d *sim.Driver, n int) (wall, cpu time.Duration) {
		c0, t0 := cpuTime(), time.Now()
		id, gen := fmt.Sprintf("ses-%d", n%sessions), int64(n/sessions+1)
		tok := fmt.Sprint(n)
		bak, old := fmt.Sprintf("bak-%d", n), fmt.Sprintf("bak-%d", n-sessions)
		for _, err := range []error{
			second(d.Stop(ctx, opennimble.StopParams{SessionID: id, Token: tok})),
			second(d.Snapshot(ctx, opennimble.SnapshotParams{SessionID: id, BackupID: bak, VolumeGeneration: gen})),
			second(d.Start(ctx, opennimble.StartParams{SessionID: id, Token: tok, Volume: opennimble.Volume{Generation: gen + 1}})),
			second(d.DeleteBackup(ctx, opennimble.DeleteBackupParams{BackupID: old})),
		} {
			if err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0), cpuTime() - c0
	}
	b.ResetTimer()
	for n := range b.N {
		memClock.Advance(time.Millisecond)
		diskClock.Advance(time.Millisecond)
		w, c := cycle(mem, n)
		memT, memCPU = memT+w, memCPU+c
		w, c = cycle(disk, n)
		diskT, diskCPU = diskT+w, diskCPU+c
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	b.ReportMetric(per(diskT), "dir-ns/cycle")
	b.ReportMetric(per(memT), "mem-ns/cycle")
	b.ReportMetric(per(diskCPU), "dir-cpu-ns/cycle")
	b.ReportMetric(per(memCPU), "mem-cpu-ns/cycle")
	b.ReportMetric(per(diskCPU-memCPU), "keep-cpu-ns/cycle")
	b.ReportMetric(float64(diskCPU)/float64(max(memCPU, 1)), "cpu-dir×mem")
}

func cpuTime() time.Duration {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
