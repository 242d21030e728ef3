package service

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

func TestBackupIsReadyBeforeTheSessionIsStopped(t *testing.T) {
	r := newSessRig(t)
	r.sim.SetDuration(opennimble.StepSnapshot, 5*time.Minute)
	s := r.create(r.alice, &api.CreateStreamingSessionRequest{Tags: map[string]string{"show": "x"}})
	r.settle()
	r.sim.Write(s.SessionId, "frames")
	if _, err := r.stop(s.SessionId, ""); err != nil {
		t.Fatal(err)
	}
	bs := r.backups(s.SessionId)
	if len(bs) != 1 {
		t.Fatalf("stop created %d backups, want 1", len(bs))
	}
	b := bs[0]
	if b.State != api.StreamingSessionStateCreateInProgress || b.OwnedBy != "alice" || b.LaunchProfileId != rigProfile ||
		b.SessionId != s.SessionId || b.Tags["show"] != "x" || b.Arn != "arn:aws:nimble:us-west-2:000000000000:streaming-session-backup/"+b.BackupId || b.CreatedAt == nil {
		t.Fatalf("new backup: %+v", b)
	}
	r.settle()
	r.wantState(s.SessionId, api.StreamingSessionStateStopInProgress)
	if got := r.backup(b.BackupId); got.State != api.StreamingSessionStateCreateInProgress {
		t.Fatalf("backup is %s while its snapshot runs", got.State)
	}
	r.advance(5 * time.Minute)
	r.wantState(s.SessionId, api.StreamingSessionStateStopped)
	if got := r.backup(b.BackupId); got.State != api.StreamingSessionStateReady || got.StatusCode != api.StreamingSessionStatusCodeStreamingSessionReady {
		t.Fatalf("backup after the snapshot: %s/%s", got.State, got.StatusCode)
	}
	if data, ok := r.sim.Backup(b.BackupId); !ok || data.Data != "frames" || data.Generation != 1 {
		t.Fatalf("snapshot %+v, %v", data, ok)
	}
}

func TestBackupRetention(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	for i := range 3 {
		r.stopped(s.SessionId, "")
		r.started(s.SessionId, "")
		r.clock.Advance(time.Duration(i+1) * time.Minute)
	}
	bs := r.backups(s.SessionId)
	if len(bs) != 2 {
		t.Fatalf("%d backups listed, want the 2 newest", len(bs))
	}
	for _, b := range bs {
		if b.State != api.StreamingSessionStateReady {
			t.Fatalf("backup %s is %s", b.BackupId, b.State)
		}
	}
	if !bs[0].CreatedAt.After(*bs[1].CreatedAt) {
		t.Fatalf("backups not newest first: %v, %v", bs[0].CreatedAt, bs[1].CreatedAt)
	}
	if r.sim.Backups() != 2 || r.sim.Started(opennimble.StepDeleteBackup) != 1 {
		t.Fatalf("driver holds %d backups after %d deletions", r.sim.Backups(), r.sim.Started(opennimble.StepDeleteBackup))
	}
	// The deleted backup has left its session's index, which pruning scans
	// at every stop: the session's live backups are all that is there.
	var under []string
	err := r.store.View(context.Background(), func(tx opennimble.Tx) error {
		recs, err := tx.List(context.Background(), opennimble.ListQuery{Kind: opennimble.KindStreamingBackup, ParentID: s.SessionId})
		for _, rec := range recs {
			under = append(under, rec.ID+" "+rec.State)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{bs[1].BackupId + " READY", bs[0].BackupId + " READY"}; !slices.Equal(under, want) {
		t.Fatalf("records under the session: %v, want %v", under, want)
	}
}

// A limit of 0 (the launch profile's default) keeps the newest backup only.
func TestBackupRetentionZeroKeepsNewest(t *testing.T) {
	r := newSessRig(t, func(c *api.StreamConfiguration) { c.SessionBackup.MaxBackupsToRetain = ptr(int32(0)) })
	s := r.ready()
	r.stopped(s.SessionId, "")
	r.started(s.SessionId, "")
	r.stopped(s.SessionId, "")
	if bs := r.backups(s.SessionId); len(bs) != 1 || bs[0].State != api.StreamingSessionStateReady {
		t.Fatalf("backups %v, want the newest READY one", bs)
	}
}

func TestStartFromBackupRestoresItsData(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	r.sim.Write(s.SessionId, "v1")
	r.stopped(s.SessionId, "")
	first := r.backups(s.SessionId)[0]
	r.started(s.SessionId, "")
	r.sim.Write(s.SessionId, "v2")
	r.stopped(s.SessionId, "")

	st, err := r.start(s.SessionId, first.BackupId)
	if err != nil {
		t.Fatal(err)
	}
	if st.StartedFromBackupId != first.BackupId {
		t.Fatalf("startedFromBackupId %q", st.StartedFromBackupId)
	}
	r.settle()
	r.wantState(s.SessionId, api.StreamingSessionStateReady)
	v := r.volume(s.SessionId)
	if v.Data != "v1" || v.Generation != 2 {
		t.Fatalf("restored volume %+v, want v1 on generation 2", v)
	}
	if d := r.doc(s.SessionId); d.Volume != (sessionVolume{Generation: 2, Exists: true, Source: "backup:" + first.BackupId, LastGeneration: 2}) {
		t.Fatalf("bookkeeping %+v", d.Volume)
	}
	// A later start without a backup keeps the restored (persistent) volume.
	r.stopped(s.SessionId, "")
	if st := r.started(s.SessionId, ""); st.StartedFromBackupId != "" || r.volume(s.SessionId).Data != "v1" {
		t.Fatalf("plain start after a restore: %q, %+v", st.StartedFromBackupId, r.volume(s.SessionId))
	}
}

func TestStartFromBackupRefusals(t *testing.T) {
	r := newSessRig(t)
	mine := r.ready()
	theirs := r.create(r.bob, nil)
	r.settle()
	r.stopped(theirs.SessionId, "")
	r.stopped(mine.SessionId, "")
	other := r.backups(theirs.SessionId)[0]

	_, err := r.start(mine.SessionId, other.BackupId)
	sessWantErr(t, err, opennimble.ErrValidation, other.BackupId, theirs.SessionId)
	_, err = r.start(mine.SessionId, "bak-none")
	sessWantErr(t, err, opennimble.ErrNotFound, "bak-none")

	// A backup whose snapshot failed cannot be restored.
	r.started(mine.SessionId, "")
	r.sim.SetFailure(opennimble.StepSnapshot, &opennimble.DriverError{StatusCode: "INTERNAL_ERROR", Message: "disk error"})
	if _, err := r.stop(mine.SessionId, ""); err != nil {
		t.Fatal(err)
	}
	r.settle()
	failed := r.backups(mine.SessionId)[0]
	_, err = r.start(mine.SessionId, failed.BackupId)
	sessWantErr(t, err, opennimble.ErrConflict, "STOP_FAILED")
	r.sim.SetFailure(opennimble.StepSnapshot, nil)
	r.stopped(mine.SessionId, "")
	_, err = r.start(mine.SessionId, failed.BackupId)
	sessWantErr(t, err, opennimble.ErrValidation, failed.BackupId, "CREATE_FAILED")
}

func TestSnapshotFailure(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	r.sim.SetFailure(opennimble.StepSnapshot, &opennimble.DriverError{StatusCode: "INTERNAL_ERROR", Message: "volume is busy"})
	if _, err := r.stop(s.SessionId, ""); err != nil {
		t.Fatal(err)
	}
	r.settle()
	st := r.wantState(s.SessionId, api.StreamingSessionStateStopFailed)
	b := r.backups(s.SessionId)[0]
	if b.State != api.StreamingSessionStateCreateFailed || b.StatusCode != api.StreamingSessionStatusCodeInternalError || b.StatusMessage != "volume is busy" {
		t.Fatalf("backup %s/%s %q", b.State, b.StatusCode, b.StatusMessage)
	}
	if st.StatusCode != api.StreamingSessionStatusCodeInternalError || !sessMentions(st.StatusMessage, "backup", "volume is busy") {
		t.Fatalf("session %s %q", st.StatusCode, st.StatusMessage)
	}
	// The stop can be tried again; it makes a new backup.
	r.sim.SetFailure(opennimble.StepSnapshot, nil)
	r.stopped(s.SessionId, "")
	bs := r.backups(s.SessionId)
	if len(bs) != 2 || bs[0].State != api.StreamingSessionStateReady {
		t.Fatalf("backups after the second stop: %+v", bs)
	}
}

func TestStopStepFailureFailsTheBackup(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	r.sim.SetFailure(opennimble.StepStop, &opennimble.DriverError{StatusCode: "NETWORK_CONNECTION_ERROR", Message: "instance unreachable"})
	if _, err := r.stop(s.SessionId, ""); err != nil {
		t.Fatal(err)
	}
	r.settle()
	st := r.wantState(s.SessionId, api.StreamingSessionStateStopFailed)
	b := r.backups(s.SessionId)[0]
	if st.StatusCode != api.StreamingSessionStatusCodeNetworkConnectionError || b.State != api.StreamingSessionStateCreateFailed ||
		!sessMentions(b.StatusMessage, "did not stop", "instance unreachable") || r.sim.Started(opennimble.StepSnapshot) != 0 {
		t.Fatalf("session %s, backup %s %q, snapshots %d", st.StatusCode, b.State, b.StatusMessage, r.sim.Started(opennimble.StepSnapshot))
	}
}

func TestDeletingASessionDeletesItsBackups(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	r.stopped(s.SessionId, "")
	r.started(s.SessionId, "")
	r.stopped(s.SessionId, "")
	ids := []string{r.backups(s.SessionId)[0].BackupId, r.backups(s.SessionId)[1].BackupId}
	if _, err := r.svc.DeleteStreamingSession(r.alice, &api.DeleteStreamingSessionRequest{StudioId: rigStudio, SessionId: s.SessionId}); err != nil {
		t.Fatal(err)
	}
	r.settle()
	r.wantState(s.SessionId, api.StreamingSessionStateDeleted)
	for _, id := range ids {
		if b := r.backup(id); b.State != api.StreamingSessionStateDeleted || b.StatusCode != api.StreamingSessionStatusCodeStreamingSessionDeleted {
			t.Fatalf("backup %s is %s/%s", id, b.State, b.StatusCode)
		}
	}
	if len(r.backups(s.SessionId)) != 0 || r.sim.Backups() != 0 {
		t.Fatalf("backups remain: listed %d, in the driver %d", len(r.backups(s.SessionId)), r.sim.Backups())
	}
	r.advance(time.Hour)
	_, err := r.svc.GetStreamingSessionBackup(r.alice, &api.GetStreamingSessionBackupRequest{StudioId: rigStudio, BackupId: ids[0]})
	sessWantErr(t, err, opennimble.ErrNotFound, ids[0])
}

func TestListStreamingSessionBackups(t *testing.T) {
	r := newSessRig(t)
	a := r.ready()
	b := r.create(r.bob, nil)
	r.settle()
	r.stopped(a.SessionId, "")
	r.stopped(b.SessionId, "")
	r.started(a.SessionId, "")
	r.stopped(a.SessionId, "")
	list := func(owner string) []*api.StreamingSessionBackup {
		in := &api.ListStreamingSessionBackupsRequest{StudioId: rigStudio, OwnedBy: owner}
		var all []*api.StreamingSessionBackup
		for {
			out, err := r.svc.ListStreamingSessionBackups(r.alice, in)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, out.StreamingSessionBackups...)
			if out.NextToken == "" {
				return all
			}
			in.NextToken = out.NextToken
		}
	}
	r.svc.cfg.PageSize = 1
	all := list("")
	if len(all) != 3 || all[0].SessionId != a.SessionId || all[1].SessionId != b.SessionId || all[2].SessionId != a.SessionId {
		t.Fatalf("all backups, newest first: %+v", all)
	}
	if bobs := list("bob"); len(bobs) != 1 || bobs[0].OwnedBy != "bob" {
		t.Fatalf("bob's backups: %+v", bobs)
	}
	_, err := r.svc.ListStreamingSessionBackups(r.alice, &api.ListStreamingSessionBackupsRequest{StudioId: "stu-none"})
	sessWantErr(t, err, opennimble.ErrNotFound, "stu-none")
}

// sessMentions reports whether s contains every word.
func sessMentions(s string, words ...string) bool {
	for _, w := range words {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

// Tags set while a transition runs survive it (each step reloads the
// document), and backups are tagged like any other resource.
func TestTagsOfSessionsAndBackups(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	if _, err := r.stop(s.SessionId, ""); err != nil {
		t.Fatal(err)
	}
	tag := func(arn string, tags map[string]string) {
		t.Helper()
		if _, err := r.svc.TagResource(r.alice, &api.TagResourceRequest{ResourceArn: arn, Tags: tags}); err != nil {
			t.Fatalf("TagResource %s: %v", arn, err)
		}
	}
	tag(s.Arn, map[string]string{"during": "stop"})
	r.settle()
	if st := r.wantState(s.SessionId, api.StreamingSessionStateStopped); st.Tags["during"] != "stop" {
		t.Fatalf("the stop lost a tag: %v", st.Tags)
	}
	b := r.backups(s.SessionId)[0]
	tag(b.Arn, map[string]string{"keep": "yes"})
	out, err := r.svc.ListTagsForResource(r.alice, &api.ListTagsForResourceRequest{ResourceArn: b.Arn})
	if err != nil || out.Tags["keep"] != "yes" {
		t.Fatalf("backup tags %v, %v", out, err)
	}
	if got := r.backup(b.BackupId); got.Tags["keep"] != "yes" {
		t.Fatalf("GetStreamingSessionBackup tags %v", got.Tags)
	}
}

// flakySnapshot fails the first snapshot with an error that may pass (not
// a DriverError), as a driver whose storage was briefly unreachable.
type flakySnapshot struct {
	opennimble.Driver
	failed bool
}

func (f *flakySnapshot) Snapshot(ctx context.Context, p opennimble.SnapshotParams) (opennimble.Progress, error) {
	if !f.failed {
		f.failed = true
		return opennimble.Progress{}, errors.New("storage unreachable")
	}
	return f.Driver.Snapshot(ctx, p)
}

// A stop and its snapshot are recorded together; when the snapshot fails
// for a reason that may pass, the stop is recorded alone and the retried job
// takes the snapshot, once.
func TestSnapshotAfterStopRetried(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	r.driver = &flakySnapshot{Driver: r.sim}
	r.boot()
	if _, err := r.stop(s.SessionId, ""); err != nil {
		t.Fatal(err)
	}
	jobs, err := r.store.ClaimJobs(t.Context(), "test", r.clock.Now(), time.Minute, 8)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claimed %v, %v", jobs, err)
	}
	if err := r.svc.Reconcile(t.Context(), jobs[0].Kind, jobs[0].ResourceID); err == nil || !strings.Contains(err.Error(), "storage unreachable") {
		t.Fatalf("reconcile with the snapshot failing: %v, want its error", err)
	}
	if got := r.sim.Started(opennimble.StepStop); got != 1 {
		t.Fatalf("%d stops, want 1", got)
	}
	var d *sessionDoc
	err = r.store.View(t.Context(), func(tx opennimble.Tx) error {
		d, _, err = get[sessionDoc](t.Context(), tx, opennimble.KindStreamingSession, s.SessionId)
		return err
	})
	if err != nil || d.Op == nil || d.Op.Done != 1 {
		t.Fatalf("after the failed snapshot the stop is not recorded alone: %+v, %v", d.Op, err)
	}
	if err := r.store.RetryJob(t.Context(), jobs[0], r.clock.Now()); err != nil {
		t.Fatal(err)
	}
	r.settle()
	r.wantState(s.SessionId, api.StreamingSessionStateStopped)
	if got := r.sim.Started(opennimble.StepStop); got != 1 {
		t.Fatalf("%d stops after the retry, want 1: the recorded stop ran again", got)
	}
	if b := r.backups(s.SessionId); len(b) != 1 || b[0].State != api.StreamingSessionStateReady {
		t.Fatalf("backups %+v, want one READY", b)
	}
}
