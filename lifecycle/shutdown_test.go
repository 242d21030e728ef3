package lifecycle

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *syncLog) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// When Run's context ends, a running step is let finish and its job
// completed; a step still running when Abort comes is handed back (its job
// stays, to run again). The log says which.
func TestStopLetsStepsFinishOrHandsThemBack(t *testing.T) {
	for _, abort := range []bool{false, true} {
		st, clock := newJobStore(), opennimble.NewFakeClock(t0)
		st.add("x", t0)
		started, release := make(chan struct{}), make(chan struct{})
		var log syncLog
		w := New(st, reconcilerFunc(func(ctx context.Context, _ opennimble.Kind, _ string) error {
			close(started)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return ctx.Err()
		}), clock, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { w.Run(ctx); close(done) }()
		<-started
		cancel()
		// Let the step go on (or abort it) once the worker says it stops.
		for !strings.Contains(log.String(), "letting running steps reach a safe point") {
			time.Sleep(time.Millisecond)
		}
		if abort {
			w.Abort()
		} else {
			close(release)
		}
		<-done
		if st.has("x") != abort {
			t.Errorf("abort %v: job still queued = %v", abort, st.has("x"))
		}
		want := "finished=1 handedBack=0"
		if abort {
			want = "finished=0 handedBack=1"
		}
		if !strings.Contains(log.String(), want) || !strings.Contains(log.String(), "letting running steps reach a safe point") {
			t.Errorf("abort %v: log lacks %q:\n%s", abort, want, log.String())
		}
	}
}
