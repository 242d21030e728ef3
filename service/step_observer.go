package service

import (
	"sync"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// StepObserver learns how long the driver took for each session step that
// finished: from this server's first call for the step to the call that
// reported it done or failed (a driver reports progress, so one step is
// often several calls).
type StepObserver interface {
	ObserveStep(step string, d time.Duration, failed bool)
}

// stepTimer remembers when this server first called the driver for a step
// still under way. A step begun by another replica or before a restart is
// timed from this server's first call.
type stepTimer struct {
	obs   StepObserver
	mu    sync.Mutex
	began map[string]time.Time // by transition token and step
}

func newStepTimer(obs StepObserver) *stepTimer {
	return &stepTimer{obs: obs, began: map[string]time.Time{}}
}

// called records one driver call for step of the transition token that
// returned p and err, at now.
func (t *stepTimer) called(token, step string, now time.Time, p opennimble.Progress, err error, failed bool) {
	if t == nil || t.obs == nil {
		return
	}
	key := token + "\x00" + step
	t.mu.Lock()
	first, ok := t.began[key]
	if !ok {
		first = now
	}
	finished := failed || (err == nil && p.Done)
	if finished {
		delete(t.began, key)
	} else if !ok && err == nil {
		t.began[key] = now
	}
	t.mu.Unlock()
	if finished {
		t.obs.ObserveStep(step, time.Since(first), failed)
	}
}
