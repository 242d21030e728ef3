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
// alone (dir) and shared by replicas (shared, one driver here), against the
// same cycles on a driver without Dir run in turn with them, in the same
// run. cpu-ns counts the process's user and system time; keep-cpu-ns is the
// difference from the driver without Dir.
func BenchmarkPersist(b *testing.B) {
	const sessions = 256
	type rig struct {
		name      string
		d         *sim.Driver
		clock     *opennimble.FakeClock
		wall, cpu time.Duration
	}
	var rigs []*rig
	for _, name := range []string{"mem", "dir", "shared"} {
		// The clocks move a millisecond a cycle, the goal's pace, so that
		// finished operations are forgotten as they would be.
		r := &rig{name: name, clock: newClock()}
		o := sim.Options{Clock: r.clock}
		if name != "mem" {
			o.Dir, o.Shared = b.TempDir(), name == "shared"
		}
		d, err := sim.New(o)
		if err != nil {
			b.Fatal(err)
		}
		r.d = d
		for i := range sessions {
			if _, err := d.Provision(ctx, provision(fmt.Sprintf("ses-%d", i), "t")); err != nil {
				b.Fatal(err)
			}
		}
		rigs = append(rigs, r)
	}
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
		for _, r := range rigs {
			r.clock.Advance(time.Millisecond)
			w, c := cycle(r.d, n)
			r.wall, r.cpu = r.wall+w, r.cpu+c
		}
	}
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N) }
	mem := rigs[0]
	for _, r := range rigs {
		b.ReportMetric(per(r.wall), r.name+"-ns/cycle")
		b.ReportMetric(per(r.cpu), r.name+"-cpu-ns/cycle")
		if r != mem {
			b.ReportMetric(per(r.cpu-mem.cpu), r.name+"-keep-cpu-ns/cycle")
			b.ReportMetric(float64(r.cpu)/float64(max(mem.cpu, 1)), "cpu-"+r.name+"×mem")
		}
	}
}

func cpuTime() time.Duration {
	var u syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
