package drivertest

import (
	"context"
	"errors"
	"testing"

	opennimble "github.com/opennimble/opennimble"
)

func testProvisionIdempotent(t *testing.T, h *Harness) {
	s := newSession(t, h)
	p := opennimble.ProvisionParams{SessionID: s.id, StudioID: studio, Token: "t1", InstanceType: "g4dn.xlarge", ImageID: "img-1", Volume: vol(1)}
	call := func(ctx context.Context) (opennimble.Progress, error) { return h.Driver.Provision(ctx, p) }
	await(t, h, "provision", call)
	fresh := s.data()
	h.Write(s.id, "work")
	await(t, h, "provision again", call)
	if got := s.data(); got != "work" {
		t.Fatalf("repeated provision changed the volume: %q (fresh was %q)", got, fresh)
	}
}

func testStopStartKeepsVolume(t *testing.T, h *Harness) {
	s := newSession(t, h)
	s.provision(1)
	h.Write(s.id, "work")
	s.stop()
	s.stop() // a second stop of a stopped session is complete
	s.must("start", s.start(1))
	if got := s.data(); got != "work" {
		t.Fatalf("volume after stop and start = %q, want %q", got, "work")
	}
}

func testNewGeneration(t *testing.T, h *Harness) {
	s := newSession(t, h)
	s.provision(1)
	fresh := s.data()
	h.Write(s.id, "work")
	s.stop()
	s.deleteVolume(1)
	if _, ok := h.Read(s.id); ok {
		t.Fatal("the volume survived DeleteVolume")
	}
	s.must("start on generation 2", s.start(2))
	if got := s.data(); got != fresh {
		t.Fatalf("a new generation holds %q, want the image's %q", got, fresh)
	}
	h.Write(s.id, "more")
	s.stop()
	// A newer generation replaces a volume that still exists.
	s.must("start on generation 3", s.start(3))
	if got := s.data(); got != fresh {
		t.Fatalf("generation 3 holds %q, want the image's %q", got, fresh)
	}
}

func testSnapshotRestore(t *testing.T, h *Harness) {
	s := newSession(t, h)
	s.provision(1)
	h.Write(s.id, "first")
	s.stop()
	s.must("snapshot", s.snapshot("bak-1", 1))
	s.must("start", s.start(1))
	h.Write(s.id, "second")
	s.stop()
	s.must("restore", s.restore("bak-1", 2))
	s.must("start on the restored volume", s.start(2))
	if got := s.data(); got != "first" {
		t.Fatalf("restored volume holds %q, want %q", got, "first")
	}
}

func testSnapshotOnce(t *testing.T, h *Harness) {
	s := newSession(t, h)
	s.provision(1)
	h.Write(s.id, "first")
	s.stop()
	s.must("snapshot", s.snapshot("bak-1", 1))
	h.Write(s.id, "second")
	// Asking again about the same backup reports the snapshot already taken.
	s.must("snapshot again", s.snapshot("bak-1", 1))
	s.must("restore", s.restore("bak-1", 2))
	if got := s.data(); got != "first" {
		t.Fatalf("backup holds %q, want the data of the first snapshot %q", got, "first")
	}
}

func testSnapshotNeedsVolume(t *testing.T, h *Harness) {
	s := newSession(t, h)
	s.provision(1)
	s.stop()
	driverError(t, "snapshot of a generation the session does not have", s.snapshot("bak-1", 7))
	s.deleteVolume(1)
	driverError(t, "snapshot of a deleted volume", s.snapshot("bak-2", 1))
}

func testRestoreNeedsBackup(t *testing.T, h *Harness) {
	s := newSession(t, h)
	s.provision(1)
	s.stop()
	driverError(t, "restore of a backup that never existed", s.restore("bak-none", 2))
	s.must("snapshot", s.snapshot("bak-1", 1))
	s.deleteBackup("bak-1")
	p := opennimble.RestoreParams{SessionID: s.id, StudioID: studio, BackupID: "bak-1", Token: "same", Volume: vol(3)}
	call := func(ctx context.Context) (opennimble.Progress, error) { return h.Driver.Restore(ctx, p) }
	first := driverError(t, "restore of a deleted backup", try(t, h, call))
	again := driverError(t, "repeated restore of a deleted backup", try(t, h, call))
	if *first != *again {
		t.Fatalf("a repeated call failed differently: %v, then %v", first, again)
	}
}

func testDeleteVolumeKeepsNewer(t *testing.T, h *Harness) {
	s := newSession(t, h)
	s.provision(1)
	s.stop()
	s.must("start on generation 3", s.start(3))
	h.Write(s.id, "work")
	s.deleteVolume(2) // late: names an older generation
	if got, ok := h.Read(s.id); !ok || got != "work" {
		t.Fatalf("a delete of generation 2 touched generation 3: %q, %v", got, ok)
	}
}

func testStaleStart(t *testing.T, h *Harness) {
	s := newSession(t, h)
	s.provision(1)
	s.stop()
	s.must("start on generation 3", s.start(3))
	s.stop()
	driverError(t, "start on an older generation", s.start(2))
}

func testDeletesIdempotent(t *testing.T, h *Harness) {
	s := newSession(t, h)
	s.deleteBackup("bak-unknown")
	s.deleteVolume(1)
	p := opennimble.TerminateParams{SessionID: s.id, StudioID: studio, Token: "t"}
	call := func(ctx context.Context) (opennimble.Progress, error) { return h.Driver.Terminate(ctx, p) }
	await(t, h, "terminate an unknown session", call)
	s.provision(1)
	s.stop()
	s.must("snapshot", s.snapshot("bak-1", 1))
	s.deleteBackup("bak-1")
	s.deleteBackup("bak-1")
}

func testTerminate(t *testing.T, h *Harness) {
	s := newSession(t, h)
	s.provision(1)
	s.stop()
	s.must("snapshot", s.snapshot("bak-1", 1))
	for range 2 {
		p := opennimble.TerminateParams{SessionID: s.id, StudioID: studio, Token: "t"}
		await(t, h, "terminate", func(ctx context.Context) (opennimble.Progress, error) { return h.Driver.Terminate(ctx, p) })
	}
	if _, ok := h.Read(s.id); ok {
		t.Fatal("the volume survived Terminate")
	}
	// Backups outlive their session's workstation.
	other := newSession(t, h)
	other.id += "-other"
	other.provision(1)
	other.stop()
	other.must("restore another session's backup after terminate", other.restore("bak-1", 2))
}

func testCancelled(t *testing.T, h *Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := h.Driver.Provision(ctx, opennimble.ProvisionParams{SessionID: "ses-cancelled", StudioID: studio, Token: "t", ImageID: "img-1", Volume: vol(1)})
	var de *opennimble.DriverError
	if err == nil || errors.As(err, &de) {
		t.Fatalf("a cancelled call returned %v, want a transient error", err)
	}
}
