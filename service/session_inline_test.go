package service

import (
	"context"
	"errors"
	"slices"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// stepLog records the driver steps the service asks for and can fail the
// next snapshot with a transient error.
type stepLog struct {
	opennimble.Driver
	calls         []string
	failSnapshots int
}

func (l *stepLog) Stop(ctx context.Context, p opennimble.StopParams) (opennimble.Progress, error) {
	l.calls = append(l.calls, "stop")
	return l.Driver.Stop(ctx, p)
}

func (l *stepLog) Snapshot(ctx context.Context, p opennimble.SnapshotParams) (opennimble.Progress, error) {
	l.calls = append(l.calls, "snapshot")
	if l.failSnapshots > 0 {
		l.failSnapshots--
		return opennimble.Progress{}, errors.New("connection reset")
	}
	return l.Driver.Snapshot(ctx, p)
}

// One reconcile runs the steps of a transition back to back while each
// completes at once; a transient failure between two of them keeps what
// was recorded, and the next reconcile goes on from there.
func TestReconcileRunsStepsInline(t *testing.T) {
	r := newSessRig(t)
	log := &stepLog{Driver: r.sim}
	r.driver = log
	r.boot()
	s := r.create(r.alice, nil)
	r.until("READY", func() bool { return r.get(s.SessionId).State == api.StreamingSessionStateReady })

	if _, err := r.stop(s.SessionId, api.VolumeRetentionModeRetain); err != nil {
		t.Fatal(err)
	}
	log.calls, log.failSnapshots = nil, 1
	err := r.svc.Reconcile(t.Context(), opennimble.KindStreamingSession, s.SessionId)
	if err == nil || !slices.Equal(log.calls, []string{"stop", "snapshot"}) {
		t.Fatalf("first reconcile: err %v, steps %v; want stop and a failed snapshot in one reconcile", err, log.calls)
	}
	if d := r.doc(s.SessionId); d.State != api.StreamingSessionStateStopInProgress || d.Op == nil || d.Op.Done != 1 {
		t.Fatalf("after a transient failure of the second step: %s, op %+v; want the stop recorded", d.State, d.Op)
	}
	log.calls = nil
	if err := r.svc.Reconcile(t.Context(), opennimble.KindStreamingSession, s.SessionId); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(log.calls, []string{"snapshot"}) || r.get(s.SessionId).State != api.StreamingSessionStateStopped {
		t.Fatalf("second reconcile: steps %v, state %s; want the snapshot only, then STOPPED", log.calls, r.get(s.SessionId).State)
	}
	if b := r.backups(s.SessionId); len(b) != 1 || b[0].State != api.StreamingSessionStateReady {
		t.Fatalf("backups %+v", b)
	}
}
