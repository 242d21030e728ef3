package service

import (
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/driver/sim"
)

// A READY session that may stop is stopped at stopAt, with its backup, and a
// STOPPED one with automatic termination is terminated at terminateAt.
func TestSessionStopsAtStopAtAndTerminatesAtTerminateAt(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	r.advance(rigMaxLen*time.Minute - time.Second)
	r.wantState(s.SessionId, api.StreamingSessionStateReady)
	r.advance(time.Second)
	st := r.wantState(s.SessionId, api.StreamingSessionStateStopped)
	if st.StoppedBy != "" || !st.StoppedAt.Equal(*s.StopAt) {
		t.Fatalf("automatic stop: stoppedBy %q stoppedAt %v, want none and %v", st.StoppedBy, st.StoppedAt, s.StopAt)
	}
	if bs := r.backups(s.SessionId); len(bs) != 1 || bs[0].State != api.StreamingSessionStateReady {
		t.Fatalf("the automatic stop made backups %+v", bs)
	}
	want := r.clock.Now().Add(rigMaxStop * time.Minute)
	if !st.TerminateAt.Equal(want) {
		t.Fatalf("terminateAt %v, want %v", st.TerminateAt, want)
	}
	r.advance(rigMaxStop*time.Minute - time.Second)
	r.wantState(s.SessionId, api.StreamingSessionStateStopped)
	r.advance(time.Second)
	r.wantState(s.SessionId, api.StreamingSessionStateDeleted)
	if r.sim.Instance(s.SessionId) != sim.InstanceTerminated || r.sim.Backups() != 0 {
		t.Fatalf("after termination: instance %s, %d backups", r.sim.Instance(s.SessionId), r.sim.Backups())
	}
}

// A session that cannot stop (maxStoppedSessionLengthInMinutes 0) is
// terminated at stopAt.
func TestSessionThatCannotStopIsTerminatedAtStopAt(t *testing.T) {
	r := newSessRig(t, func(c *api.StreamConfiguration) { c.MaxStoppedSessionLengthInMinutes = ptr(int32(0)) })
	s := r.ready()
	if !s.TerminateAt.Equal(*s.StopAt) {
		t.Fatalf("terminateAt %v, want stopAt %v", s.TerminateAt, s.StopAt)
	}
	r.advance(rigMaxLen * time.Minute)
	r.wantState(s.SessionId, api.StreamingSessionStateDeleted)
	if r.sim.Started(opennimble.StepStop) != 0 || r.sim.Started(opennimble.StepSnapshot) != 0 || len(r.backups(s.SessionId)) != 0 {
		t.Fatal("a session that cannot stop was stopped or backed up")
	}
}

// The model: with maxStoppedSessionLengthInMinutes 0, "If you then call
// StopStreamingSession, the session fails." The call is accepted and the
// session becomes STOP_FAILED without touching the workstation.
func TestStopOfASessionThatCannotStopFails(t *testing.T) {
	r := newSessRig(t, func(c *api.StreamConfiguration) { c.MaxStoppedSessionLengthInMinutes = ptr(int32(0)) })
	s := r.ready()
	st, err := r.stop(s.SessionId, "")
	if err != nil || st.State != api.StreamingSessionStateStopInProgress {
		t.Fatalf("stop = %v, %v", st, err)
	}
	r.settle()
	st = r.wantState(s.SessionId, api.StreamingSessionStateStopFailed)
	if st.StatusCode != api.StreamingSessionStatusCodeInternalError || !sessMentions(st.StatusMessage, "maxStoppedSessionLengthInMinutes") {
		t.Fatalf("status %s %q", st.StatusCode, st.StatusMessage)
	}
	if r.sim.Calls(opennimble.StepStop) != 0 || r.sim.Instance(s.SessionId) != sim.InstanceRunning || len(r.backups(s.SessionId)) != 0 {
		t.Fatal("the refused stop reached the driver or made a backup")
	}
	// It is still terminated on time.
	r.advance(rigMaxLen * time.Minute)
	r.wantState(s.SessionId, api.StreamingSessionStateDeleted)
}

func TestStoppedSessionWithoutAutomaticTerminationStays(t *testing.T) {
	r := newSessRig(t, func(c *api.StreamConfiguration) { c.AutomaticTerminationMode = api.AutomaticTerminationModeDeactivated })
	s := r.ready()
	if s.TerminateAt != nil {
		t.Fatalf("terminateAt %v, want none", s.TerminateAt)
	}
	st := r.stopped(s.SessionId, "")
	if st.TerminateAt != nil {
		t.Fatalf("terminateAt %v, want none", st.TerminateAt)
	}
	r.advance(30 * 24 * time.Hour)
	r.wantState(s.SessionId, api.StreamingSessionStateStopped)
}

// A restart gives a session a new stopAt.
func TestStartResetsTheTimeLimits(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	r.stopped(s.SessionId, "")
	r.clock.Advance(rigMaxLen * time.Minute / 2)
	st := r.started(s.SessionId, "")
	if !st.StopAt.Equal(st.StartedAt.Add(rigMaxLen * time.Minute)) {
		t.Fatalf("stopAt %v startedAt %v", st.StopAt, st.StartedAt)
	}
	r.advance(rigMaxLen*time.Minute - time.Second)
	r.wantState(s.SessionId, api.StreamingSessionStateReady)
}

func TestInsufficientCapacityFailsTheCreation(t *testing.T) {
	r := newSessRig(t)
	r.sim.SetFailure(opennimble.StepProvision, &opennimble.DriverError{StatusCode: "INSUFFICIENT_CAPACITY", Message: "no g4dn.xlarge in us-west-2a"})
	s := r.create(r.alice, nil)
	r.settle()
	st := r.wantState(s.SessionId, api.StreamingSessionStateCreateFailed)
	if st.StatusCode != api.StreamingSessionStatusCodeInsufficientCapacity || st.StatusMessage != "no g4dn.xlarge in us-west-2a" {
		t.Fatalf("status %s %q", st.StatusCode, st.StatusMessage)
	}
	if _, err := r.svc.DeleteStreamingSession(r.alice, &api.DeleteStreamingSessionRequest{StudioId: rigStudio, SessionId: s.SessionId}); err != nil {
		t.Fatal(err)
	}
	r.settle()
	r.wantState(s.SessionId, api.StreamingSessionStateDeleted)
}

func TestStartFailureAndRetry(t *testing.T) {
	r := newSessRig(t)
	s := r.ready()
	r.stopped(s.SessionId, api.VolumeRetentionModeDelete)
	r.sim.SetFailure(opennimble.StepStart, &opennimble.DriverError{StatusCode: "INSUFFICIENT_CAPACITY", Message: "none left"})
	if _, err := r.start(s.SessionId, ""); err != nil {
		t.Fatal(err)
	}
	r.settle()
	st := r.wantState(s.SessionId, api.StreamingSessionStateStartFailed)
	if st.StatusCode != api.StreamingSessionStatusCodeInsufficientCapacity {
		t.Fatalf("statusCode %s", st.StatusCode)
	}
	r.sim.SetFailure(opennimble.StepStart, nil)
	r.started(s.SessionId, "")
	// The failed attempt's generation is never reused.
	if v := r.volume(s.SessionId); v.Generation != 3 {
		t.Fatalf("volume generation %d, want 3", v.Generation)
	}
}

// A driver status code outside the model is reported as INTERNAL_ERROR.
func TestUnknownDriverStatusCode(t *testing.T) {
	r := newSessRig(t)
	r.sim.SetFailure(opennimble.StepProvision, &opennimble.DriverError{StatusCode: "QUOTA_OF_MARS", Message: "odd"})
	s := r.create(r.alice, nil)
	r.settle()
	if st := r.wantState(s.SessionId, api.StreamingSessionStateCreateFailed); st.StatusCode != api.StreamingSessionStatusCodeInternalError {
		t.Fatalf("statusCode %s", st.StatusCode)
	}
}

// Slow driver steps keep the session in progress until they finish, and a
// transition delay holds the first step back.
func TestSlowStepsAndTransitionDelay(t *testing.T) {
	r := newSessRig(t)
	r.svc.cfg.TransitionDelay = 10 * time.Second
	r.sim.SetDuration(opennimble.StepProvision, time.Minute)
	s := r.create(r.alice, nil)
	r.settle()
	if r.sim.Calls(opennimble.StepProvision) != 0 {
		t.Fatal("the first step ran before the transition delay")
	}
	r.advance(10 * time.Second)
	r.wantState(s.SessionId, api.StreamingSessionStateCreateInProgress)
	r.advance(59 * time.Second)
	r.wantState(s.SessionId, api.StreamingSessionStateCreateInProgress)
	r.advance(time.Second)
	r.wantState(s.SessionId, api.StreamingSessionStateReady)
	if r.sim.Started(opennimble.StepProvision) != 1 {
		t.Fatalf("provision started %d times", r.sim.Started(opennimble.StepProvision))
	}
}

// Without a driver the lifecycle reports an error and retries later.
func TestNoDriverIsAnError(t *testing.T) {
	r := newSessRig(t)
	r.driver = nil
	r.boot()
	s := r.create(r.alice, nil)
	if err := r.svc.Reconcile(r.alice, opennimble.KindStreamingSession, s.SessionId); err == nil {
		t.Fatal("reconcile without a driver succeeded")
	}
	r.wantState(s.SessionId, api.StreamingSessionStateCreateInProgress)
}
