package sim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/driver/sim"
)

var ctx = context.Background()

func newClock() *opennimble.FakeClock {
	return opennimble.NewFakeClock(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
}

func provision(id, token string) opennimble.ProvisionParams {
	return opennimble.ProvisionParams{SessionID: id, Token: token, ImageID: "img-1", Volume: opennimble.Volume{Generation: 1}}
}

func TestDurationIsMeasuredOnTheClock(t *testing.T) {
	clock := newClock()
	d := sim.MustNew(sim.Options{Clock: clock, Durations: map[opennimble.Step]time.Duration{opennimble.StepProvision: 10 * time.Second}})
	p, err := d.Provision(ctx, provision("s1", "t"))
	if err != nil || p.Done || p.RetryAfter != 10*time.Second {
		t.Fatalf("first call = %+v, %v; want not done, retry after 10s", p, err)
	}
	clock.Advance(4 * time.Second)
	if p, _ := d.Provision(ctx, provision("s1", "t")); p.Done || p.RetryAfter != 6*time.Second {
		t.Fatalf("after 4s = %+v; want retry after 6s", p)
	}
	clock.Advance(6 * time.Second)
	if p, err := d.Provision(ctx, provision("s1", "t")); err != nil || !p.Done {
		t.Fatalf("after 10s = %+v, %v; want done", p, err)
	}
	if d.Started(opennimble.StepProvision) != 1 || d.Calls(opennimble.StepProvision) != 3 {
		t.Fatalf("started %d, calls %d; want 1 and 3", d.Started(opennimble.StepProvision), d.Calls(opennimble.StepProvision))
	}
}

func TestFailureIsStickyPerOperation(t *testing.T) {
	clock := newClock()
	capacity := opennimble.DriverError{StatusCode: "INSUFFICIENT_CAPACITY", Message: "no g4dn.xlarge left"}
	d := sim.MustNew(sim.Options{Clock: clock, Fail: map[opennimble.Step]opennimble.DriverError{opennimble.StepProvision: capacity}})
	for range 2 {
		_, err := d.Provision(ctx, provision("s1", "t"))
		var de *opennimble.DriverError
		if !errors.As(err, &de) || *de != capacity {
			t.Fatalf("provision = %v, want %v", err, capacity)
		}
	}
	d.SetFailure(opennimble.StepProvision, nil)
	if _, err := d.Provision(ctx, provision("s1", "t")); err == nil {
		t.Fatal("the same operation forgot its failure")
	}
	if p, err := d.Provision(ctx, provision("s1", "t2")); err != nil || !p.Done {
		t.Fatalf("a new operation = %+v, %v; want done", p, err)
	}
}

func TestFailureSurfacesAfterTheDuration(t *testing.T) {
	clock := newClock()
	d := sim.MustNew(sim.Options{Clock: clock, Durations: map[opennimble.Step]time.Duration{opennimble.StepSnapshot: time.Minute}})
	d.SetFailure(opennimble.StepSnapshot, &opennimble.DriverError{Message: "disk error"})
	if _, err := d.Provision(ctx, provision("s1", "t")); err != nil {
		t.Fatal(err)
	}
	snap := opennimble.SnapshotParams{SessionID: "s1", BackupID: "b1", VolumeGeneration: 1}
	if p, err := d.Snapshot(ctx, snap); err != nil || p.Done {
		t.Fatalf("snapshot = %+v, %v; want in progress", p, err)
	}
	clock.Advance(time.Minute)
	_, err := d.Snapshot(ctx, snap)
	var de *opennimble.DriverError
	if !errors.As(err, &de) || de.StatusCode != "INTERNAL_ERROR" {
		t.Fatalf("snapshot = %v, want an INTERNAL_ERROR driver error", err)
	}
	if _, ok := d.Backup("b1"); ok {
		t.Fatal("a failed snapshot left a backup")
	}
}

// A restarted simulation adopts the sessions it forgot, so that a restarted
// server can finish what it began.
func TestAdoptsUnknownSessions(t *testing.T) {
	d := sim.MustNew(sim.Options{Clock: newClock()})
	if p, err := d.Stop(ctx, opennimble.StopParams{SessionID: "s1", Token: "t"}); err != nil || !p.Done {
		t.Fatalf("stop = %+v, %v", p, err)
	}
	if p, err := d.Snapshot(ctx, opennimble.SnapshotParams{SessionID: "s1", BackupID: "b1", VolumeGeneration: 4}); err != nil || !p.Done {
		t.Fatalf("snapshot = %+v, %v", p, err)
	}
	if v, ok := d.Volume("s1"); !ok || v.Generation != 4 {
		t.Fatalf("volume = %+v, %v; want generation 4", v, ok)
	}
}

// TestStateSurvivesRestart: sessions, volumes and backups kept in Dir come
// back in a new driver, as a real fleet outlives its control plane.
func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	clock := newClock()
	ctx := context.Background()
	d, err := sim.New(sim.Options{Clock: clock, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	vol := opennimble.Volume{Generation: 1}
	if _, err := d.Provision(ctx, opennimble.ProvisionParams{SessionID: "ses-1", ImageID: "si-1", Volume: vol, Token: "t1"}); err != nil {
		t.Fatal(err)
	}
	d.Write("ses-1", "work")
	if _, err := d.Snapshot(ctx, opennimble.SnapshotParams{SessionID: "ses-1", BackupID: "bak-1", VolumeGeneration: 1}); err != nil {
		t.Fatal(err)
	}
	d2, err := sim.New(sim.Options{Clock: clock, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := d2.Volume("ses-1"); !ok || v.Data != "work" || v.Generation != 1 {
		t.Fatalf("volume after restart: %+v %v", v, ok)
	}
	if b, ok := d2.Backup("bak-1"); !ok || b.Data != "work" {
		t.Fatalf("backup after restart: %+v %v", b, ok)
	}
	if _, err := d2.DeleteBackup(ctx, opennimble.DeleteBackupParams{BackupID: "bak-1"}); err != nil {
		t.Fatal(err)
	}
	d3, _ := sim.New(sim.Options{Clock: clock, Dir: dir})
	if _, ok := d3.Backup("bak-1"); ok {
		t.Fatal("deleted backup came back")
	}
}
