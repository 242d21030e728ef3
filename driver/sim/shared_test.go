package sim_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/driver/sim"
	"github.com/opennimble/opennimble/drivertest"
)

func shared(t *testing.T, dir string, clock opennimble.Clock, durations map[opennimble.Step]time.Duration) *sim.Driver {
	t.Helper()
	d, err := sim.New(sim.Options{Clock: clock, Dir: dir, Shared: true, Durations: durations})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// The suite holds for a shared folder too, with every call going to another
// of three drivers on it, as calls go to any of several replicas.
func TestConformanceShared(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) *drivertest.Harness {
		clock := newClock()
		dir := t.TempDir()
		durations := map[opennimble.Step]time.Duration{}
		for i, s := range opennimble.Steps {
			durations[s] = time.Duration(i+1) * time.Second
		}
		ds := []*sim.Driver{shared(t, dir, clock, durations), shared(t, dir, clock, durations), shared(t, dir, clock, durations)}
		h := harness(ds[0], clock)
		h.Driver = &roundRobin{ds: ds}
		return h
	})
}

type ctxT = context.Context

// roundRobin hands each call to the next driver.
type roundRobin struct {
	mu sync.Mutex
	ds []*sim.Driver
	n  int
}

func (r *roundRobin) next() *sim.Driver {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	return r.ds[r.n%len(r.ds)]
}

func (r *roundRobin) Provision(c ctxT, p opennimble.ProvisionParams) (opennimble.Progress, error) {
	return r.next().Provision(c, p)
}
func (r *roundRobin) Stop(c ctxT, p opennimble.StopParams) (opennimble.Progress, error) {
	return r.next().Stop(c, p)
}
func (r *roundRobin) Start(c ctxT, p opennimble.StartParams) (opennimble.Progress, error) {
	return r.next().Start(c, p)
}
func (r *roundRobin) Terminate(c ctxT, p opennimble.TerminateParams) (opennimble.Progress, error) {
	return r.next().Terminate(c, p)
}
func (r *roundRobin) Snapshot(c ctxT, p opennimble.SnapshotParams) (opennimble.Progress, error) {
	return r.next().Snapshot(c, p)
}
func (r *roundRobin) Restore(c ctxT, p opennimble.RestoreParams) (opennimble.Progress, error) {
	return r.next().Restore(c, p)
}
func (r *roundRobin) DeleteVolume(c ctxT, p opennimble.DeleteVolumeParams) (opennimble.Progress, error) {
	return r.next().DeleteVolume(c, p)
}
func (r *roundRobin) DeleteBackup(c ctxT, p opennimble.DeleteBackupParams) (opennimble.Progress, error) {
	return r.next().DeleteBackup(c, p)
}

// An operation begun by one driver (a replica that is then killed) is
// continued by another, not begun again, and both count it once.
func TestSharedOperationIsContinued(t *testing.T) {
	dir, clock := t.TempDir(), newClock()
	durations := map[opennimble.Step]time.Duration{opennimble.StepSnapshot: 10 * time.Second}
	a, b := shared(t, dir, clock, durations), shared(t, dir, clock, nil)
	if p, err := a.Provision(ctx, provision("s1", "t")); err != nil || !p.Done {
		t.Fatalf("provision = %+v, %v", p, err)
	}
	b.Write("s1", "work")
	snap := opennimble.SnapshotParams{SessionID: "s1", BackupID: "b1", VolumeGeneration: 1}
	if p, err := a.Snapshot(ctx, snap); err != nil || p.Done {
		t.Fatalf("snapshot on a = %+v, %v; want in progress", p, err)
	}
	clock.Advance(4 * time.Second)
	// b has no duration for snapshots, yet continues a's operation.
	if p, err := b.Snapshot(ctx, snap); err != nil || p.Done || p.RetryAfter != 6*time.Second {
		t.Fatalf("snapshot on b = %+v, %v; want retry after 6s", p, err)
	}
	clock.Advance(6 * time.Second)
	if p, err := b.Snapshot(ctx, snap); err != nil || !p.Done {
		t.Fatalf("snapshot on b = %+v, %v; want done", p, err)
	}
	if got, ok := a.Backup("b1"); !ok || got.Data != "work" {
		t.Fatalf("a sees backup %+v, %v", got, ok)
	}
	for name, d := range map[string]*sim.Driver{"a": a, "b": b} {
		if d.Started(opennimble.StepSnapshot) != 1 || d.Started(opennimble.StepProvision) != 1 {
			t.Errorf("%s: started %d snapshots, %d provisions; want 1 each", name, d.Started(opennimble.StepSnapshot), d.Started(opennimble.StepProvision))
		}
	}
	// A driver started later (a restarted replica) knows it all.
	c := shared(t, dir, clock, nil)
	if c.Started(opennimble.StepSnapshot) != 1 || c.Backups() != 1 || c.Instance("s1") != sim.InstanceRunning {
		t.Errorf("new driver: %d snapshots, %d backups, instance %q", c.Started(opennimble.StepSnapshot), c.Backups(), c.Instance("s1"))
	}
}

// Drivers on one folder working at once begin every operation exactly
// once, and the journal keeps the totals when it is compacted.
func TestSharedConcurrentAndCompacted(t *testing.T) {
	defer sim.SetCompactAbove(8 << 10)()
	dir, clock := t.TempDir(), newClock()
	ds := []*sim.Driver{shared(t, dir, clock, nil), shared(t, dir, clock, nil), shared(t, dir, clock, nil)}
	const sessions = 60
	run := func(op func(d *sim.Driver, id string) error) {
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				for i := range sessions {
					if err := op(ds[(i+w)%len(ds)], fmt.Sprintf("s%d", i)); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
	}
	run(func(d *sim.Driver, id string) error { return second(d.Provision(ctx, provision(id, "t"))) })
	run(func(d *sim.Driver, id string) error {
		return second(d.Stop(ctx, opennimble.StopParams{SessionID: id, Token: "t2"}))
	})
	// Much later: the journal is compacted while these run, dropping the
	// operations above.
	clock.Advance(time.Hour)
	run(func(d *sim.Driver, id string) error {
		return second(d.Snapshot(ctx, opennimble.SnapshotParams{SessionID: id, BackupID: "b" + id, VolumeGeneration: 1}))
	})
	run(func(d *sim.Driver, id string) error {
		return second(d.Terminate(ctx, opennimble.TerminateParams{SessionID: id, Token: "t3"}))
	})
	run(func(d *sim.Driver, id string) error {
		return second(d.DeleteVolume(ctx, opennimble.DeleteVolumeParams{SessionID: id, Token: "t3", VolumeGeneration: 1}))
	})
	log, err := os.ReadFile(filepath.Join(dir, "ops.log"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(log), `"step":"provision","key"`) || !strings.Contains(string(log), `"event":"count"`) {
		t.Errorf("journal of %d bytes still holds the old operations:\n%.600s", len(log), log)
	}
	for i, d := range append(ds, shared(t, dir, clock, nil)) {
		for _, step := range []opennimble.Step{opennimble.StepProvision, opennimble.StepStop, opennimble.StepSnapshot, opennimble.StepTerminate, opennimble.StepDeleteVolume} {
			if n := d.Started(step); n != sessions {
				t.Errorf("driver %d: %s started %d times, want %d", i, step, n, sessions)
			}
		}
		if n := d.Backups(); n != sessions {
			t.Errorf("driver %d: %d backups", i, n)
		}
	}
}

// A line torn by a writer that died mid-write is skipped, and what follows
// is read.
func TestSharedTornJournal(t *testing.T) {
	dir, clock := t.TempDir(), newClock()
	a := shared(t, dir, clock, nil)
	if _, err := a.Provision(ctx, provision("s1", "t")); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "ops.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"event":"begin","step":"stop","ke`)
	f.Close()
	b := shared(t, dir, clock, nil)
	if _, err := b.Provision(ctx, provision("s2", "t")); err != nil {
		t.Fatal(err)
	}
	if a.Started(opennimble.StepProvision) != 2 || b.Started(opennimble.StepProvision) != 2 || a.Started(opennimble.StepStop) != 0 {
		t.Errorf("started: a %d, b %d provisions, %d stops", a.Started(opennimble.StepProvision), b.Started(opennimble.StepProvision), a.Started(opennimble.StepStop))
	}
}

// Reset on one driver empties the folder for all.
func TestSharedReset(t *testing.T) {
	dir, clock := t.TempDir(), newClock()
	a, b := shared(t, dir, clock, nil), shared(t, dir, clock, nil)
	if _, err := a.Provision(ctx, provision("s1", "t")); err != nil {
		t.Fatal(err)
	}
	if err := b.Reset(); err != nil {
		t.Fatal(err)
	}
	if a.Started(opennimble.StepProvision) != 0 || a.Instance("s1") != "" || len(a.Dump().Sessions) != 0 {
		t.Errorf("after reset a sees %d provisions, instance %q", a.Started(opennimble.StepProvision), a.Instance("s1"))
	}
	if p, err := a.Provision(ctx, provision("s1", "t")); err != nil || !p.Done || b.Started(opennimble.StepProvision) != 1 {
		t.Errorf("provision after reset = %+v, %v; b counts %d", p, err, b.Started(opennimble.StepProvision))
	}
}

func second(_ opennimble.Progress, err error) error { return err }
