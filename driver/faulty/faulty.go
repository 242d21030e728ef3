// Package faulty wraps any workstation driver so that chosen operations fail
// for good: the emulator's lifecycle faults, on the simulated, local and
// Kubernetes drivers alike.
package faulty

import (
	"context"
	"sync"

	opennimble "github.com/opennimble/opennimble"
)

// Rule is asked about every operation the wrapped driver has not seen; a
// non-nil result makes the operation fail with it (StatusCode INTERNAL_ERROR
// when empty).
type Rule func(step opennimble.Step, sessionID, backupID string) *opennimble.DriverError

// Driver is a driver whose operations a Rule may fail. Optional interfaces
// of the wrapped driver (Watcher, Streamer, Resetter, StateDumper) are found
// through Unwrap with opennimble.DriverAs.
type Driver struct {
	next opennimble.Driver
	rule Rule

	mu     sync.Mutex
	seen   map[opKey]*opennimble.DriverError // nil: passed to next
	passed int
}

// opKey is an operation as the Driver contract keys it: repeated calls with
// the same key are the same operation and report the same outcome.
type opKey struct {
	step       opennimble.Step
	key, token string
}

// maxSeen bounds what is remembered of operations that passed the rule; past
// it they are forgotten (a repeated call may then ask the rule again).
const maxSeen = 10000

var _ opennimble.Driver = (*Driver)(nil)

// Wrap returns next with rule applied to its new operations.
func Wrap(next opennimble.Driver, rule Rule) *Driver {
	return &Driver{next: next, rule: rule, seen: map[opKey]*opennimble.DriverError{}}
}

// Unwrap returns the wrapped driver.
func (d *Driver) Unwrap() opennimble.Driver { return d.next }

// Close closes the wrapped driver when it has background work to stop.
func (d *Driver) Close() error {
	if c, ok := d.next.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// check decides an operation: the failure it was given when the rule hit
// it first, or nil to pass it on.
func (d *Driver) check(k opKey, sessionID, backupID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.seen[k]; ok {
		if e == nil {
			return nil
		}
		c := *e
		return &c
	}
	e := d.rule(k.step, sessionID, backupID)
	if e == nil {
		if d.passed >= maxSeen {
			d.forgetPassed()
		}
		d.passed++
		d.seen[k] = nil
		return nil
	}
	if e.StatusCode == "" {
		e.StatusCode = "INTERNAL_ERROR"
	}
	d.seen[k] = e
	c := *e
	return &c
}

// forgetPassed drops what is remembered of operations that passed; the
// failures stay, so that a failed operation keeps reporting its failure.
func (d *Driver) forgetPassed() {
	for k, e := range d.seen {
		if e == nil {
			delete(d.seen, k)
		}
	}
	d.passed = 0
}

func (d *Driver) Provision(ctx context.Context, p opennimble.ProvisionParams) (opennimble.Progress, error) {
	if err := d.check(opKey{opennimble.StepProvision, p.SessionID, p.Token}, p.SessionID, ""); err != nil {
		return opennimble.Progress{}, err
	}
	return d.next.Provision(ctx, p)
}

func (d *Driver) Stop(ctx context.Context, p opennimble.StopParams) (opennimble.Progress, error) {
	if err := d.check(opKey{opennimble.StepStop, p.SessionID, p.Token}, p.SessionID, ""); err != nil {
		return opennimble.Progress{}, err
	}
	return d.next.Stop(ctx, p)
}

func (d *Driver) Start(ctx context.Context, p opennimble.StartParams) (opennimble.Progress, error) {
	if err := d.check(opKey{opennimble.StepStart, p.SessionID, p.Token}, p.SessionID, ""); err != nil {
		return opennimble.Progress{}, err
	}
	return d.next.Start(ctx, p)
}

func (d *Driver) Terminate(ctx context.Context, p opennimble.TerminateParams) (opennimble.Progress, error) {
	if err := d.check(opKey{opennimble.StepTerminate, p.SessionID, p.Token}, p.SessionID, ""); err != nil {
		return opennimble.Progress{}, err
	}
	return d.next.Terminate(ctx, p)
}

func (d *Driver) Snapshot(ctx context.Context, p opennimble.SnapshotParams) (opennimble.Progress, error) {
	if err := d.check(opKey{opennimble.StepSnapshot, p.BackupID, ""}, p.SessionID, p.BackupID); err != nil {
		return opennimble.Progress{}, err
	}
	return d.next.Snapshot(ctx, p)
}

func (d *Driver) Restore(ctx context.Context, p opennimble.RestoreParams) (opennimble.Progress, error) {
	if err := d.check(opKey{opennimble.StepRestore, p.SessionID, p.Token}, p.SessionID, p.BackupID); err != nil {
		return opennimble.Progress{}, err
	}
	return d.next.Restore(ctx, p)
}

func (d *Driver) DeleteVolume(ctx context.Context, p opennimble.DeleteVolumeParams) (opennimble.Progress, error) {
	if err := d.check(opKey{opennimble.StepDeleteVolume, p.SessionID, p.Token}, p.SessionID, ""); err != nil {
		return opennimble.Progress{}, err
	}
	return d.next.DeleteVolume(ctx, p)
}

func (d *Driver) DeleteBackup(ctx context.Context, p opennimble.DeleteBackupParams) (opennimble.Progress, error) {
	if err := d.check(opKey{opennimble.StepDeleteBackup, p.BackupID, ""}, "", p.BackupID); err != nil {
		return opennimble.Progress{}, err
	}
	return d.next.DeleteBackup(ctx, p)
}
