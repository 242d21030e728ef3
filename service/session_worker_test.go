package service

import (
	"context"
	"github.com/opennimble/opennimble/internal/testwait"
	"testing"
	"time"

	"github.com/opennimble/opennimble/api"
)

// With the worker running on its own, a session goes through its whole life
// as the clock moves: Kick wakes the worker after each request, and
// FakeClock.OnAdvance after each move of the clock.
func TestWorkerRunsTheLifecycle(t *testing.T) {
	r := newSessRig(t)
	r.clock.OnAdvance = r.worker.Kick
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { r.worker.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	s := r.create(r.alice, nil)
	r.eventually(s.SessionId, api.StreamingSessionStateReady)
	r.clock.Advance(rigMaxLen * time.Minute)
	r.eventually(s.SessionId, api.StreamingSessionStateStopped)
	if _, err := r.start(s.SessionId, r.backups(s.SessionId)[0].BackupId); err != nil {
		t.Fatal(err)
	}
	r.eventually(s.SessionId, api.StreamingSessionStateReady)
	if v := r.volume(s.SessionId); v.Generation != 2 {
		t.Fatalf("volume %+v", v)
	}
}

// eventually polls, with a deadline, until the session is in state want.
func (r *sessRig) eventually(id string, want api.StreamingSessionState) {
	r.t.Helper()
	deadline := testwait.Deadline(r.t)
	for time.Now().Before(deadline) {
		if r.get(id).State == want {
			return
		}
		time.Sleep(time.Millisecond)
	}
	r.wantState(id, want)
}
