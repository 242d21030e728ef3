// Package drivertest is the conformance suite of opennimble.Driver: every
// workstation driver runs it, so that the lifecycle can rely on the same
// contract whatever does the compute.
package drivertest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// Harness is a driver under test and what the suite needs around it.
type Harness struct {
	Driver opennimble.Driver
	// Advance, when set, moves the driver's clock on so that operations with
	// a duration finish; without it the suite polls in real time.
	Advance func(time.Duration)
	// Read returns the data of a session's volume (ok false when it has
	// none) and Write replaces it, standing for a user at the workstation.
	// Both are required: the suite checks that data moves as the contract says.
	Read  func(sessionID string) (data string, ok bool)
	Write func(sessionID, data string)
}

// Run runs the suite; newDriver returns a fresh driver for each test.
func Run(t *testing.T, newDriver func(t *testing.T) *Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, *Harness)
	}{
		{"ProvisionIsIdempotent", testProvisionIdempotent},
		{"StopStartKeepsVolume", testStopStartKeepsVolume},
		{"NewGenerationComesFromImage", testNewGeneration},
		{"SnapshotAndRestore", testSnapshotRestore},
		{"SnapshotIsTakenOnce", testSnapshotOnce},
		{"SnapshotNeedsTheVolume", testSnapshotNeedsVolume},
		{"RestoreNeedsTheBackup", testRestoreNeedsBackup},
		{"DeleteVolumeKeepsNewer", testDeleteVolumeKeepsNewer},
		{"StaleStartFails", testStaleStart},
		{"DeletesAreIdempotent", testDeletesIdempotent},
		{"TerminateRemovesVolume", testTerminate},
		{"CancelledContextIsTransient", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newDriver(t)) })
	}
}

// await calls fn until its operation is done and fails the test on any
// error.
func await(t *testing.T, h *Harness, what string, fn func(context.Context) (opennimble.Progress, error)) {
	t.Helper()
	if err := try(t, h, fn); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// try calls fn until its operation is done or fails, and returns the error.
func try(t *testing.T, h *Harness, fn func(context.Context) (opennimble.Progress, error)) error {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := fn(ctx)
		if err != nil || p.Done {
			return err
		}
		if time.Now().After(deadline) {
			return errors.New("not done after 30s")
		}
		wait := max(p.RetryAfter, time.Millisecond)
		if h.Advance != nil {
			h.Advance(wait)
		} else {
			time.Sleep(min(wait, 50*time.Millisecond))
		}
	}
}

// driverError fails the test unless err is a *DriverError.
func driverError(t *testing.T, what string, err error) *opennimble.DriverError {
	t.Helper()
	var de *opennimble.DriverError
	if !errors.As(err, &de) {
		t.Fatalf("%s: got %v, want a *DriverError", what, err)
	}
	if de.StatusCode == "" || de.Message == "" {
		t.Fatalf("%s: %#v lacks a status code or message", what, de)
	}
	return de
}

// studio is the studio of every session of the suite.
const studio = "stu-1"

func vol(gen int64) opennimble.Volume { return opennimble.Volume{Generation: gen} }

// session drives one session through the driver with fresh tokens.
type session struct {
	t  *testing.T
	h  *Harness
	id string
	n  int
}

func newSession(t *testing.T, h *Harness) *session {
	return &session{t: t, h: h, id: fmt.Sprintf("ses-%s", sanitize(t.Name()))}
}

func sanitize(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

func (s *session) token() string { s.n++; return fmt.Sprintf("tok-%d", s.n) }

func (s *session) provision(gen int64) {
	p := opennimble.ProvisionParams{SessionID: s.id, StudioID: studio, OwnedBy: "alice", Token: s.token(),
		InstanceType: "g4dn.xlarge", ImageID: "img-1", Volume: vol(gen)}
	await(s.t, s.h, "provision", func(ctx context.Context) (opennimble.Progress, error) { return s.h.Driver.Provision(ctx, p) })
}

func (s *session) stop() {
	p := opennimble.StopParams{SessionID: s.id, StudioID: studio, Token: s.token()}
	await(s.t, s.h, "stop", func(ctx context.Context) (opennimble.Progress, error) { return s.h.Driver.Stop(ctx, p) })
}

func (s *session) start(gen int64) error {
	p := opennimble.StartParams{SessionID: s.id, StudioID: studio, Token: s.token(), InstanceType: "g4dn.xlarge", ImageID: "img-1", Volume: vol(gen)}
	return try(s.t, s.h, func(ctx context.Context) (opennimble.Progress, error) { return s.h.Driver.Start(ctx, p) })
}

func (s *session) snapshot(backupID string, gen int64) error {
	p := opennimble.SnapshotParams{SessionID: s.id, StudioID: studio, BackupID: backupID, VolumeGeneration: gen}
	return try(s.t, s.h, func(ctx context.Context) (opennimble.Progress, error) { return s.h.Driver.Snapshot(ctx, p) })
}

func (s *session) restore(backupID string, gen int64) error {
	p := opennimble.RestoreParams{SessionID: s.id, StudioID: studio, BackupID: backupID, Token: s.token(), Volume: vol(gen)}
	return try(s.t, s.h, func(ctx context.Context) (opennimble.Progress, error) { return s.h.Driver.Restore(ctx, p) })
}

func (s *session) deleteVolume(gen int64) {
	p := opennimble.DeleteVolumeParams{SessionID: s.id, StudioID: studio, Token: s.token(), VolumeGeneration: gen}
	await(s.t, s.h, "delete volume", func(ctx context.Context) (opennimble.Progress, error) { return s.h.Driver.DeleteVolume(ctx, p) })
}

func (s *session) deleteBackup(backupID string) {
	p := opennimble.DeleteBackupParams{BackupID: backupID, StudioID: studio}
	await(s.t, s.h, "delete backup", func(ctx context.Context) (opennimble.Progress, error) { return s.h.Driver.DeleteBackup(ctx, p) })
}

func (s *session) must(what string, err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
}

// data returns the volume's data and fails the test when there is none.
func (s *session) data() string {
	s.t.Helper()
	d, ok := s.h.Read(s.id)
	if !ok {
		s.t.Fatalf("session %s has no volume", s.id)
	}
	return d
}
