package faulty_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/driver/faulty"
	"github.com/opennimble/opennimble/driver/local"
	"github.com/opennimble/opennimble/driver/sim"
)

var ctx = context.Background()

// unlucky fails the provision of session "unlucky" and every snapshot of
// backup "bak-unlucky", and counts how often it was asked.
type unlucky struct{ asked int }

func (u *unlucky) rule(step opennimble.Step, sessionID, backupID string) *opennimble.DriverError {
	u.asked++
	switch {
	case step == opennimble.StepProvision && sessionID == "unlucky":
		return &opennimble.DriverError{StatusCode: "INSUFFICIENT_CAPACITY", Message: "none"}
	case step == opennimble.StepSnapshot && backupID == "bak-unlucky":
		return &opennimble.DriverError{Message: "disk full"}
	}
	return nil
}

func provision(id string) opennimble.ProvisionParams {
	return opennimble.ProvisionParams{SessionID: id, Token: "t", ImageID: "si-1", Volume: opennimble.Volume{Generation: 1}}
}

// await calls op until it is done, within the test's own deadline.
func await(t *testing.T, what string, op func() (opennimble.Progress, error)) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	for time.Now().Before(deadline) {
		p, err := op()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if p.Done {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not done in time", what)
}

func wantFailure(t *testing.T, err error, code, msg string) {
	t.Helper()
	var de *opennimble.DriverError
	if !errors.As(err, &de) || de.StatusCode != code || de.Message != msg {
		t.Fatalf("got %v, want a driver error %s: %s", err, code, msg)
	}
}

// The rule chooses the operations that fail (it was the simulated driver's
// Options.Rule before fault injection wrapped every driver).
func TestRuleChoosesOperations(t *testing.T) {
	u := &unlucky{}
	d := faulty.Wrap(sim.MustNew(sim.Options{}), u.rule)
	if _, err := d.Provision(ctx, provision("lucky")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Provision(ctx, provision("unlucky")); err == nil {
		t.Fatal("the rule was not applied")
	}
}

// A failed operation reports the same failure when called again, without
// asking the rule or the driver; a passed one is not asked about again.
func TestFailureIsTheOperations(t *testing.T) {
	u := &unlucky{}
	s := sim.MustNew(sim.Options{})
	d := faulty.Wrap(s, u.rule)
	for range 3 {
		_, err := d.Provision(ctx, provision("unlucky"))
		wantFailure(t, err, "INSUFFICIENT_CAPACITY", "none")
	}
	if s.Started(opennimble.StepProvision) != 0 || u.asked != 1 {
		t.Fatalf("driver began %d provisions, rule asked %d times", s.Started(opennimble.StepProvision), u.asked)
	}
	for range 3 {
		if _, err := d.Provision(ctx, provision("lucky")); err != nil {
			t.Fatal(err)
		}
	}
	if u.asked != 2 {
		t.Fatalf("rule asked %d times, want once per operation", u.asked)
	}
	// Another transition of the same session is another operation.
	p := provision("unlucky")
	p.Token = "t2"
	_, err := d.Provision(ctx, p)
	wantFailure(t, err, "INSUFFICIENT_CAPACITY", "none")
	if u.asked != 3 {
		t.Fatalf("rule asked %d times", u.asked)
	}
}

// The optional interfaces of the wrapped driver are found through Unwrap.
func TestOptionalInterfacesShowThrough(t *testing.T) {
	d := faulty.Wrap(sim.MustNew(sim.Options{}), (&unlucky{}).rule)
	if _, ok := opennimble.DriverAs[opennimble.Resetter](d); !ok {
		t.Fatal("the simulated driver's Reset is hidden")
	}
	if _, ok := opennimble.DriverAs[opennimble.StateDumper](d); !ok {
		t.Fatal("the simulated driver's state dump is hidden")
	}
	if _, ok := opennimble.DriverAs[opennimble.Watcher](d); ok {
		t.Fatal("the simulated driver does not watch")
	}
}

// Faults work on the local driver too: a failed provision makes no volume,
// a failed snapshot no backup, and the others run as they would.
func TestLocalDriver(t *testing.T) {
	l, err := local.New(local.Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	d := faulty.Wrap(l, (&unlucky{}).rule)
	_, err = d.Provision(ctx, provision("unlucky"))
	wantFailure(t, err, "INSUFFICIENT_CAPACITY", "none")
	if _, err := os.Stat(l.VolumePath("unlucky")); !os.IsNotExist(err) {
		t.Fatalf("a failed provision made a volume: %v", err)
	}
	await(t, "provision", func() (opennimble.Progress, error) { return d.Provision(ctx, provision("lucky")) })
	if _, err := os.Stat(l.VolumePath("lucky")); err != nil {
		t.Fatalf("volume of the lucky session: %v", err)
	}
	_, err = d.Snapshot(ctx, opennimble.SnapshotParams{SessionID: "lucky", BackupID: "bak-unlucky", VolumeGeneration: 1})
	wantFailure(t, err, "INTERNAL_ERROR", "disk full")
	await(t, "snapshot", func() (opennimble.Progress, error) {
		return d.Snapshot(ctx, opennimble.SnapshotParams{SessionID: "lucky", BackupID: "bak-lucky", VolumeGeneration: 1})
	})
	// The failed backup does not exist for the driver: restoring it fails
	// in the driver itself.
	await(t, "stop", func() (opennimble.Progress, error) {
		return d.Stop(ctx, opennimble.StopParams{SessionID: "lucky", Token: "s"})
	})
	_, err = d.Restore(ctx, opennimble.RestoreParams{SessionID: "lucky", BackupID: "bak-unlucky", Token: "r", Volume: opennimble.Volume{Generation: 2}})
	for deadline := time.Now().Add(time.Minute); err == nil && time.Now().Before(deadline); {
		var p opennimble.Progress
		p, err = d.Restore(ctx, opennimble.RestoreParams{SessionID: "lucky", BackupID: "bak-unlucky", Token: "r", Volume: opennimble.Volume{Generation: 2}})
		if p.Done {
			t.Fatal("restored a backup whose snapshot failed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	var de *opennimble.DriverError
	if !errors.As(err, &de) {
		t.Fatalf("restore of the failed backup: %v", err)
	}
}
