package service

import (
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/driver/sim"
)

func TestSessionCreateCopiesLaunchProfile(t *testing.T) {
	r := newSessRig(t)
	now := r.clock.Now()
	s := r.create(r.alice, &api.CreateStreamingSessionRequest{Tags: map[string]string{"team": "fx"}})
	if s.State != api.StreamingSessionStateCreateInProgress || s.StatusCode != api.StreamingSessionStatusCodeStreamingSessionCreateInProgress {
		t.Fatalf("new session is %s/%s", s.State, s.StatusCode)
	}
	if s.Ec2InstanceType != "g4dn.xlarge" || s.StreamingImageId != rigImage {
		t.Fatalf("defaults: instance %s image %s, want the profile's first ones", s.Ec2InstanceType, s.StreamingImageId)
	}
	if s.OwnedBy != "alice" || s.CreatedBy != "alice" || s.StartedBy != "alice" || s.UpdatedBy != "alice" {
		t.Fatalf("ownedBy %q createdBy %q startedBy %q updatedBy %q, want alice", s.OwnedBy, s.CreatedBy, s.StartedBy, s.UpdatedBy)
	}
	if s.BackupMode != api.SessionBackupModeAutomatic || *s.MaxBackupsToRetain != rigRetained ||
		s.SessionPersistenceMode != api.SessionPersistenceModeActivated || s.AutomaticTerminationMode != api.AutomaticTerminationModeActivated ||
		*s.VolumeConfiguration.Size != 500 {
		t.Fatalf("stream configuration not copied: %+v", s)
	}
	if !s.StopAt.Equal(now.Add(rigMaxLen*time.Minute)) || !s.TerminateAt.Equal(now.Add((rigMaxLen+rigMaxStop)*time.Minute)) {
		t.Fatalf("stopAt %v terminateAt %v", s.StopAt, s.TerminateAt)
	}
	if s.Arn != "arn:aws:nimble:us-west-2:000000000000:streaming-session/"+s.SessionId || s.Tags["team"] != "fx" {
		t.Fatalf("arn %s tags %v", s.Arn, s.Tags)
	}
	r.settle()
	s = r.wantState(s.SessionId, api.StreamingSessionStateReady)
	if s.StatusCode != api.StreamingSessionStatusCodeStreamingSessionReady {
		t.Fatalf("statusCode %s", s.StatusCode)
	}
	if v := r.volume(s.SessionId); v.Generation != 1 || v.Data != sim.ImageData(rigImage) {
		t.Fatalf("volume %+v, want generation 1 from the image", v)
	}
	if d := r.doc(s.SessionId); d.Volume != (sessionVolume{Generation: 1, Exists: true, Source: "image:" + rigImage, LastGeneration: 1}) || d.Op != nil {
		t.Fatalf("bookkeeping %+v op %+v", d.Volume, d.Op)
	}
}

func TestSessionCreateChoicesAndDefaults(t *testing.T) {
	r := newSessRig(t, func(c *api.StreamConfiguration) {
		c.MaxSessionLengthInMinutes, c.MaxStoppedSessionLengthInMinutes, c.SessionBackup = nil, nil, nil
		c.SessionPersistenceMode, c.AutomaticTerminationMode, c.VolumeConfiguration = "", "", nil
	})
	s := r.create(r.alice, &api.CreateStreamingSessionRequest{Ec2InstanceType: "g4dn.2xlarge", StreamingImageId: rigImage2, OwnedBy: "bob"})
	if s.Ec2InstanceType != "g4dn.2xlarge" || s.StreamingImageId != rigImage2 || s.OwnedBy != "bob" || s.CreatedBy != "alice" {
		t.Fatalf("choices not honoured: %+v", s)
	}
	if s.BackupMode != api.SessionBackupModeDeactivated || s.SessionPersistenceMode != api.SessionPersistenceModeDeactivated ||
		s.AutomaticTerminationMode != api.AutomaticTerminationModeDeactivated || s.MaxBackupsToRetain != nil {
		t.Fatalf("model defaults not applied: %+v", s)
	}
	// 690 minutes by default; a session that cannot stop ends at stopAt.
	if !s.StopAt.Equal(s.CreatedAt.Add(690*time.Minute)) || !s.TerminateAt.Equal(*s.StopAt) {
		t.Fatalf("stopAt %v terminateAt %v", s.StopAt, s.TerminateAt)
	}
}

func TestSessionCreateRefusals(t *testing.T) {
	r := newSessRig(t)
	create := func(in *api.CreateStreamingSessionRequest) error {
		in.StudioId = orDefault(in.StudioId, r.studioID)
		_, err := r.svc.CreateStreamingSession(r.alice, in)
		return err
	}
	sessWantErr(t, create(&api.CreateStreamingSessionRequest{LaunchProfileId: rigProfile, Ec2InstanceType: "g5.xlarge"}), opennimble.ErrValidation, "g5.xlarge")
	sessWantErr(t, create(&api.CreateStreamingSessionRequest{LaunchProfileId: rigProfile, StreamingImageId: "img-other"}), opennimble.ErrValidation, "img-other")
	sessWantErr(t, create(&api.CreateStreamingSessionRequest{LaunchProfileId: "lp-none"}), opennimble.ErrNotFound, "lp-none")
	sessWantErr(t, create(&api.CreateStreamingSessionRequest{StudioId: "stu-none", LaunchProfileId: rigProfile}), opennimble.ErrNotFound, "stu-none")

	r.setState(opennimble.KindStreamingImage, rigImage, func(d *streamingImageDoc) { d.State = api.StreamingImageStateUpdateInProgress })
	sessWantErr(t, create(&api.CreateStreamingSessionRequest{LaunchProfileId: rigProfile}), opennimble.ErrConflict, rigImage, "UPDATE_IN_PROGRESS")
	r.setState(opennimble.KindLaunchProfile, rigProfile, func(d *launchProfileDoc) { d.State = api.LaunchProfileStateUpdateInProgress })
	sessWantErr(t, create(&api.CreateStreamingSessionRequest{LaunchProfileId: rigProfile}), opennimble.ErrConflict, rigProfile, "UPDATE_IN_PROGRESS")
	r.setState(opennimble.KindLaunchProfile, rigProfile, func(d *launchProfileDoc) { d.State, d.StudioId = api.LaunchProfileStateReady, "stu-other" })
	sessWantErr(t, create(&api.CreateStreamingSessionRequest{LaunchProfileId: rigProfile}), opennimble.ErrNotFound, rigProfile)
}

// setState edits a stored document of the rig.
func (r *sessRig) setState(kind opennimble.Kind, id string, edit any) {
	r.t.Helper()
	err := r.store.Update(r.t.Context(), func(tx opennimble.Tx) error {
		switch f := edit.(type) {
		case func(*launchProfileDoc):
			d, rec, err := get[launchProfileDoc](r.t.Context(), tx, kind, id)
			if err != nil {
				return err
			}
			f(d)
			_, err = put(r.t.Context(), tx, rec, d)
			return err
		case func(*streamingImageDoc):
			d, rec, err := get[streamingImageDoc](r.t.Context(), tx, kind, id)
			if err != nil {
				return err
			}
			f(d)
			_, err = put(r.t.Context(), tx, rec, d)
			return err
		}
		panic("setState: unknown edit")
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

func TestSessionCreateIsIdempotent(t *testing.T) {
	r := newSessRig(t)
	in := func() *api.CreateStreamingSessionRequest {
		return &api.CreateStreamingSessionRequest{ClientToken: "tok-1", StudioId: rigStudio, LaunchProfileId: rigProfile}
	}
	a := r.create(r.alice, in())
	b := r.create(r.alice, in())
	if a.SessionId != b.SessionId {
		t.Fatalf("a replay created a second session: %s, %s", a.SessionId, b.SessionId)
	}
}

func TestSessionQuota(t *testing.T) {
	r := newSessRig(t)
	r.svc.cfg.Quotas.SessionsPerStudio = 1
	r.ready()
	_, err := r.svc.CreateStreamingSession(r.alice, &api.CreateStreamingSessionRequest{StudioId: rigStudio, LaunchProfileId: rigProfile})
	sessWantErr(t, err, opennimble.ErrServiceQuotaExceeded)
}

func TestSessionStopAndStartKeepingTheVolume(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	r.sim.Write(s.SessionId, "work of monday")
	r.clock.Advance(time.Minute)
	stopAt := r.clock.Now()
	st, err := r.stop(s.SessionId, api.VolumeRetentionModeRetain)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != api.StreamingSessionStateStopInProgress || st.StoppedBy != "alice" || !st.StoppedAt.Equal(stopAt) || st.VolumeRetentionMode != api.VolumeRetentionModeRetain {
		t.Fatalf("stopping session: %+v", st)
	}
	r.settle()
	st = r.wantState(s.SessionId, api.StreamingSessionStateStopped)
	if st.StatusCode != api.StreamingSessionStatusCodeStreamingSessionStopped || !st.TerminateAt.Equal(stopAt.Add(rigMaxStop*time.Minute)) {
		t.Fatalf("stopped session: %s terminateAt %v", st.StatusCode, st.TerminateAt)
	}
	if r.sim.Instance(s.SessionId) != sim.InstanceStopped {
		t.Fatalf("instance is %s", r.sim.Instance(s.SessionId))
	}
	r.clock.Advance(time.Minute)
	startAt := r.clock.Now()
	st, err = r.start(s.SessionId, "")
	if err != nil {
		t.Fatal(err)
	}
	if st.State != api.StreamingSessionStateStartInProgress || st.StartedBy != "alice" || !st.StartedAt.Equal(startAt) ||
		!st.StopAt.Equal(startAt.Add(rigMaxLen*time.Minute)) || st.StartedFromBackupId != "" {
		t.Fatalf("starting session: %+v", st)
	}
	r.settle()
	st = r.wantState(s.SessionId, api.StreamingSessionStateReady)
	if st.StatusCode != api.StreamingSessionStatusCodeStreamingSessionStarted {
		t.Fatalf("statusCode %s", st.StatusCode)
	}
	if v := r.volume(s.SessionId); v.Generation != 1 || v.Data != "work of monday" {
		t.Fatalf("a retained volume came back as %+v", v)
	}
	if d := r.doc(s.SessionId); d.Volume.Generation != 1 || !d.Volume.Exists {
		t.Fatalf("bookkeeping %+v", d.Volume)
	}
}

func TestSessionStopDeletingTheVolume(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	r.sim.Write(s.SessionId, "scratch")
	r.stopped(s.SessionId, api.VolumeRetentionModeDelete)
	if _, ok := r.sim.Volume(s.SessionId); ok {
		t.Fatal("the volume survived a stop with DELETE")
	}
	if d := r.doc(s.SessionId); d.Volume.Exists {
		t.Fatalf("bookkeeping says the volume exists: %+v", d.Volume)
	}
	r.started(s.SessionId, "")
	if v := r.volume(s.SessionId); v.Generation != 2 || v.Data != sim.ImageData(rigImage) {
		t.Fatalf("restart without the volume gave %+v, want generation 2 from the image", v)
	}
	if d := r.doc(s.SessionId); d.Volume != (sessionVolume{Generation: 2, Exists: true, Source: "image:" + rigImage, LastGeneration: 2}) {
		t.Fatalf("bookkeeping %+v", d.Volume)
	}
}

// Without persistence every start begins from the image, whatever the stop asked.
func TestSessionWithoutPersistence(t *testing.T) {
	r := newSessRig(t, func(c *api.StreamConfiguration) { c.SessionPersistenceMode = api.SessionPersistenceModeDeactivated })
	s := r.ready()
	r.sim.Write(s.SessionId, "scratch")
	st := r.stopped(s.SessionId, api.VolumeRetentionModeRetain)
	if st.VolumeRetentionMode != api.VolumeRetentionModeDelete {
		t.Fatalf("volumeRetentionMode %s, want the DELETE that happened", st.VolumeRetentionMode)
	}
	r.started(s.SessionId, "")
	if v := r.volume(s.SessionId); v.Generation != 2 || v.Data != sim.ImageData(rigImage) {
		t.Fatalf("volume %+v, want a fresh one from the image", v)
	}
}

func TestSessionDelete(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	out, err := r.svc.DeleteStreamingSession(r.bob, &api.DeleteStreamingSessionRequest{StudioId: rigStudio, SessionId: s.SessionId})
	if err != nil {
		t.Fatal(err)
	}
	if out.Session.State != api.StreamingSessionStateDeleteInProgress || out.Session.UpdatedBy != "bob" {
		t.Fatalf("deleting session: %+v", out.Session)
	}
	r.settle()
	d := r.wantState(s.SessionId, api.StreamingSessionStateDeleted)
	if d.StatusCode != api.StreamingSessionStatusCodeStreamingSessionDeleted || r.sim.Instance(s.SessionId) != sim.InstanceTerminated {
		t.Fatalf("deleted session %s, instance %s", d.StatusCode, r.sim.Instance(s.SessionId))
	}
	list, err := r.svc.ListStreamingSessions(r.alice, &api.ListStreamingSessionsRequest{StudioId: rigStudio})
	if err != nil || len(list.Sessions) != 0 {
		t.Fatalf("a DELETED session is listed: %v, %v", list, err)
	}
	r.advance(time.Hour)
	_, err = r.svc.GetStreamingSession(r.alice, &api.GetStreamingSessionRequest{StudioId: rigStudio, SessionId: s.SessionId})
	sessWantErr(t, err, opennimble.ErrNotFound, s.SessionId)
}

func TestSessionWrongStateIsConflict(t *testing.T) {
	r := newSessRig(t)
	creating := r.create(r.alice, nil)
	del := func(id string) error {
		_, err := r.svc.DeleteStreamingSession(r.alice, &api.DeleteStreamingSessionRequest{StudioId: rigStudio, SessionId: id})
		return err
	}
	e := sessWantErr(t, del(creating.SessionId), opennimble.ErrConflict, "CREATE_IN_PROGRESS")
	if e.Context["state"] != "CREATE_IN_PROGRESS" || e.Context["resourceId"] != creating.SessionId {
		t.Fatalf("context %v", e.Context)
	}
	_, err := r.stop(creating.SessionId, "")
	sessWantErr(t, err, opennimble.ErrConflict, "CREATE_IN_PROGRESS")
	r.settle()

	_, err = r.start(creating.SessionId, "")
	sessWantErr(t, err, opennimble.ErrConflict, "READY")
	if _, err := r.stop(creating.SessionId, ""); err != nil {
		t.Fatal(err)
	}
	sessWantErr(t, del(creating.SessionId), opennimble.ErrConflict, "STOP_IN_PROGRESS")
	_, err = r.stop(creating.SessionId, "")
	sessWantErr(t, err, opennimble.ErrConflict, "STOP_IN_PROGRESS")
	r.settle()
	_, err = r.stop(creating.SessionId, "")
	sessWantErr(t, err, opennimble.ErrConflict, "STOPPED")
	if _, err := r.start(creating.SessionId, ""); err != nil {
		t.Fatal(err)
	}
	_, err = r.start(creating.SessionId, "")
	sessWantErr(t, err, opennimble.ErrConflict, "START_IN_PROGRESS")
	r.settle()
	if err := del(creating.SessionId); err != nil {
		t.Fatal(err)
	}
	sessWantErr(t, del(creating.SessionId), opennimble.ErrConflict, "DELETE_IN_PROGRESS")
	r.settle()
	sessWantErr(t, del(creating.SessionId), opennimble.ErrConflict, "DELETED")
	_, err = r.start(creating.SessionId, "")
	sessWantErr(t, err, opennimble.ErrConflict, "DELETED")
}

func TestSessionNotFound(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	_, err := r.svc.GetStreamingSession(r.alice, &api.GetStreamingSessionRequest{StudioId: "stu-other", SessionId: s.SessionId})
	sessWantErr(t, err, opennimble.ErrNotFound, s.SessionId)
	_, err = r.stop("ses-none", "")
	sessWantErr(t, err, opennimble.ErrNotFound, "ses-none")
}

func TestListStreamingSessions(t *testing.T) {
	r := newSessRig(t)
	a1 := r.create(r.alice, nil)
	a2 := r.create(r.alice, nil)
	b1 := r.create(r.bob, nil)
	ab := r.create(r.alice, &api.CreateStreamingSessionRequest{OwnedBy: "bob"})
	list := func(in api.ListStreamingSessionsRequest) []string {
		t.Helper()
		in.StudioId = rigStudio
		var ids []string
		for {
			out, err := r.svc.ListStreamingSessions(r.alice, &in)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range out.Sessions {
				ids = append(ids, s.SessionId)
			}
			if out.NextToken == "" {
				return ids
			}
			in.NextToken = out.NextToken
		}
	}
	check := func(name string, got []string, want ...string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: got %v, want %v", name, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: got %v, want %v", name, got, want)
			}
		}
	}
	check("all", list(api.ListStreamingSessionsRequest{}), a1.SessionId, a2.SessionId, b1.SessionId, ab.SessionId)
	check("ownedBy", list(api.ListStreamingSessionsRequest{OwnedBy: "bob"}), b1.SessionId, ab.SessionId)
	check("createdBy", list(api.ListStreamingSessionsRequest{CreatedBy: "alice"}), a1.SessionId, a2.SessionId, ab.SessionId)
	check("sessionIds", list(api.ListStreamingSessionsRequest{SessionIds: a2.SessionId + ", " + b1.SessionId}), a2.SessionId, b1.SessionId)
	check("combined", list(api.ListStreamingSessionsRequest{CreatedBy: "alice", OwnedBy: "bob"}), ab.SessionId)
	r.svc.cfg.PageSize = 1
	check("paged", list(api.ListStreamingSessionsRequest{CreatedBy: "alice"}), a1.SessionId, a2.SessionId, ab.SessionId)
	_, err := r.svc.ListStreamingSessions(r.alice, &api.ListStreamingSessionsRequest{StudioId: rigStudio, NextToken: "bogus"})
	sessWantErr(t, err, opennimble.ErrValidation, "nextToken")
}
