package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/internal/pgtest"
)

// slowStops is shared by the drivers of several replicas: the first Stop of
// a chosen session takes hold long, and the Stops of it that begin while
// that one runs are counted per replica.
type slowStops struct {
	hold time.Duration

	mu      sync.Mutex
	session string
	held    bool        // the first Stop has begun
	holding bool        // and has not returned yet
	during  map[int]int // Stops begun while it runs, per replica (its own included)
}

func (s *slowStops) watch(sessionID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.session = sessionID
}

// enter records a Stop by replica and reports whether it is the one to hold.
func (s *slowStops) enter(replica int, sessionID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sessionID != s.session {
		return false
	}
	if s.holding || !s.held {
		s.during[replica]++
	}
	if s.held {
		return false
	}
	s.held, s.holding = true, true
	return true
}

func (s *slowStops) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holding = false
}

type slowDriver struct {
	opennimble.Driver
	replica int
	s       *slowStops
}

func (d *slowDriver) Stop(ctx context.Context, p opennimble.StopParams) (opennimble.Progress, error) {
	if d.s.enter(d.replica, p.SessionID) {
		defer d.s.release()
		select {
		case <-time.After(d.s.hold):
		case <-ctx.Done():
			return opennimble.Progress{}, ctx.Err()
		}
	}
	return d.Driver.Stop(ctx, p)
}

// TestLeaseOutlivedByAStep runs two servers on one PostgreSQL database with
// a one-second job lease, and makes the driver's stop of a session take six
// leases. The replica that runs it renews its lease meanwhile, so the other
// never takes the job over: the stop is called once, by one replica, and
// the session stops.
func TestLeaseOutlivedByAStep(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.Database(t)
	simDir := t.TempDir()
	const lease = time.Second
	s := &slowStops{hold: 6 * lease, during: map[int]int{}}
	var envs []*env
	for i := range 2 {
		envs = append(envs, start(t, func(c *app.Config, o *app.Options) {
			c.Store, c.SimDir, c.JobLease = dsn, simDir, lease
			o.Clock = opennimble.SystemClock{} // leases run out in real time
			o.WrapDriver = func(d opennimble.Driver) opennimble.Driver { return &slowDriver{Driver: d, replica: i, s: s} }
		}))
	}
	c := envs[0].Admin
	pr := makeProfile(t, ctx(t), c, "lease", withPersistence(600))
	out := must[*nimblestudio.CreateStreamingSessionOutput](t)(c.CreateStreamingSessionWithContext(ctx(t), &nimblestudio.CreateStreamingSessionInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile}))
	in := &nimblestudio.GetStreamingSessionInput{StudioId: &pr.Studio, SessionId: out.Session.SessionId}
	check(t, c.WaitUntilStreamingSessionReadyWithContext(ctx(t), in, fast()))
	s.watch(aws.StringValue(out.Session.SessionId))
	started := time.Now()
	must[*nimblestudio.StopStreamingSessionOutput](t)(c.StopStreamingSessionWithContext(ctx(t), &nimblestudio.StopStreamingSessionInput{
		StudioId: &pr.Studio, SessionId: out.Session.SessionId}))
	if err := c.WaitUntilStreamingSessionStoppedWithContext(ctx(t), in, fast()); err != nil {
		got, _ := c.GetStreamingSessionWithContext(ctx(t), in)
		t.Fatalf("waiting for STOPPED: %v; session %s", err, got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.held {
		t.Fatal("the driver's stop was never called")
	}
	total := 0
	for _, n := range s.during {
		total += n
	}
	if total != 1 {
		t.Fatalf("while the first stop ran, stops began %v times per replica; want only that one", s.during)
	}
	t.Logf("stop held %v, stopped after %v; calls per replica %v", s.hold, time.Since(started).Round(time.Millisecond), s.during)
}
