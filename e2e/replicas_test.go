package e2e

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/driver/sim"
	"github.com/opennimble/opennimble/internal/fixture"
	"github.com/opennimble/opennimble/internal/pgtest"
)

// replicaSet is several server processes on one PostgreSQL database and one
// simulated fleet, and clients that send each request to any of them.
type replicaSet struct {
	bin  string
	args []string
	mu   sync.Mutex
	reps []*replica
}

type replica struct {
	addr, dir string
	mu        sync.Mutex
	p         *proc // nil while down
	c         *nimblestudio.NimbleStudio
}

func newReplicaSet(t testing.TB, bin string, n int, args ...string) *replicaSet {
	rs := &replicaSet{bin: bin, args: args}
	t.Cleanup(func() {
		for _, r := range rs.reps {
			r.kill()
		}
	})
	for range n {
		r := &replica{addr: freeAddr(t), dir: t.TempDir()}
		if err := rs.start(r); err != nil {
			t.Fatal(err)
		}
		r.c = nimblestudio.New(session.Must(session.NewSession(&aws.Config{
			Region: aws.String("us-west-2"), Endpoint: aws.String("http://" + r.addr),
			Credentials: credentials.NewStaticCredentials("test", "test", ""), MaxRetries: aws.Int(0),
			// Many sessions at once: keep a connection for each.
			HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}},
		})))
		rs.reps = append(rs.reps, r)
	}
	return rs
}

// start runs r's server and waits until it answers its health check.
func (rs *replicaSet) start(r *replica) error {
	args := append([]string{"serve", "--emulator", "--listen", r.addr, "--data-dir", r.dir, "--log-level", "error"}, rs.args...)
	cmd := exec.Command(rs.bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &proc{cmd: cmd, URL: "http://" + r.addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	r.mu.Lock()
	r.p = p
	r.mu.Unlock()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		if resp, err := http.Get(p.URL + "/_nimble/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("replica %s exited during start", r.addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("replica %s did not become healthy", r.addr)
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (r *replica) kill() {
	r.mu.Lock()
	p := r.p
	r.p = nil
	r.mu.Unlock()
	if p != nil {
		p.kill()
	}
}

// transient reports whether err means the replica went away (killed, or
// restarting) rather than answered.
func transient(err error) bool {
	var ae awserr.Error
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.Code() {
	case "RequestError", "SerializationError":
		return true
	}
	return strings.Contains(err.Error(), "connection refused") || strings.Contains(err.Error(), "EOF")
}

// call sends fn to a random replica, and to another when that one is gone.
// Every mutating request carries a client token, so that sending it again
// after a lost answer is safe: that is what the idempotency is for.
func (rs *replicaSet) call(ctx context.Context, fn func(*nimblestudio.NimbleStudio) error) error {
	for attempt := 0; ; attempt++ {
		err := fn(rs.reps[rand.IntN(len(rs.reps))].c)
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(min(attempt+1, 10)) * 5 * time.Millisecond)
	}
}

// chaos kills a random replica every interval or so and restarts it shortly
// after, until ctx is done; one replica at most is down at a time.
func (rs *replicaSet) chaos(ctx context.Context, interval time.Duration, kills *atomic.Int64) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval/2 + rand.N(interval)):
		}
		r := rs.reps[rand.IntN(len(rs.reps))]
		r.kill()
		kills.Add(1)
		time.Sleep(rand.N(300 * time.Millisecond))
		if err := rs.start(r); err != nil {
			return err
		}
	}
}

// TestReplicas runs three servers on one PostgreSQL database and drives 200
// sessions through create, stop with a backup, start from it, a second stop
// (which retires the first backup), a second start and delete, each request
// to a random replica, while replicas are killed with SIGKILL and restarted
// at random. Afterwards every session is DELETED, every stop made exactly
// one backup and every step of the simulated driver, counted in the fleet
// the replicas share, began exactly as often as the transitions ask.
func TestReplicas(t *testing.T) {
	sessions := 200
	if testing.Short() {
		sessions = 40
	}
	pg := pgtest.Start(t)
	dsn := pg.Database(t)
	simDir := t.TempDir()
	rs := newReplicaSet(t, binary(t), 3, "--store", dsn, "--sim-dir", simDir,
		"--sim-step-duration", "20ms", "--job-lease", "2s", "--page-size", "4")
	cx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	started := time.Now()

	pr, err := fixture.Make(cx, rs.reps[0].c, "replicas", fixture.WithBackups(1), fixture.WithPersistence(600))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("IdempotencyAcrossReplicas", func(t *testing.T) {
		in := func() *nimblestudio.CreateStreamingSessionInput {
			return &nimblestudio.CreateStreamingSessionInput{StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile,
				OwnedBy: aws.String("replay"), ClientToken: aws.String("replay-token-1")}
		}
		var ids []string
		for _, r := range rs.reps {
			out, err := r.c.CreateStreamingSessionWithContext(cx, in())
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, *out.Session.SessionId)
		}
		if ids[0] != ids[1] || ids[1] != ids[2] {
			t.Fatalf("one client token, three replicas, sessions %v", ids)
		}
		other := in()
		other.OwnedBy = aws.String("someone-else")
		_, err := rs.reps[2].c.CreateStreamingSessionWithContext(cx, other)
		mustCode(t, err, "ConflictException")
		// Read-your-writes: the replica that did not create it sees it READY.
		check(t, rs.reps[1].c.WaitUntilStreamingSessionReadyWithContext(cx,
			&nimblestudio.GetStreamingSessionInput{StudioId: &pr.Studio, SessionId: &ids[0]}, fast()))
		_, err = rs.reps[2].c.DeleteStreamingSessionWithContext(cx, &nimblestudio.DeleteStreamingSessionInput{StudioId: &pr.Studio, SessionId: &ids[0]})
		check(t, err)
	})

	// A nextToken from one replica continues on another (the replicas list
	// pages of 4: --page-size).
	const paged = 30
	t.Run("PagesAcrossReplicas", func(t *testing.T) {
		want := map[string]bool{}
		for i := range paged {
			out, err := rs.reps[i%3].c.CreateStreamingSessionWithContext(cx, &nimblestudio.CreateStreamingSessionInput{
				StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile, OwnedBy: aws.String("pager"), ClientToken: aws.String(fmt.Sprint("pager-", i))})
			check(t, err)
			want[*out.Session.SessionId] = true
		}
		seen := map[string]bool{}
		var token *string
		for page := 0; ; page++ {
			out, err := rs.reps[page%3].c.ListStreamingSessionsWithContext(cx, &nimblestudio.ListStreamingSessionsInput{
				StudioId: &pr.Studio, OwnedBy: aws.String("pager"), NextToken: token})
			check(t, err)
			for _, s := range out.Sessions {
				if seen[*s.SessionId] || !want[*s.SessionId] {
					t.Fatalf("page %d: %s listed twice or not asked for", page, *s.SessionId)
				}
				seen[*s.SessionId] = true
			}
			if token = out.NextToken; token == nil {
				break
			}
		}
		if len(seen) != paged {
			t.Fatalf("paging listed %d of %d sessions", len(seen), paged)
		}
		for id := range want {
			check(t, rs.reps[1].c.WaitUntilStreamingSessionReadyWithContext(cx, &nimblestudio.GetStreamingSessionInput{StudioId: &pr.Studio, SessionId: &id}, fast()))
			_, err := rs.reps[2].c.DeleteStreamingSessionWithContext(cx, &nimblestudio.DeleteStreamingSessionInput{StudioId: &pr.Studio, SessionId: &id})
			check(t, err)
		}
	})

	var kills atomic.Int64
	chaosCtx, stopChaos := context.WithCancel(cx)
	chaosErr := make(chan error, 1)
	go func() { chaosErr <- rs.chaos(chaosCtx, 1500*time.Millisecond, &kills) }()

	d := &driver{rs: rs, studio: pr.Studio, profile: pr.LaunchProfile}
	results := make([]sessionRun, sessions)
	var wg sync.WaitGroup
	work := make(chan int)
	var failed atomic.Bool
	for range 25 {
		wg.Go(func() {
			for i := range work {
				if failed.Load() {
					continue
				}
				if err := d.cycle(cx, i, &results[i]); err != nil {
					failed.Store(true)
					t.Errorf("session %d: %v", i, err)
				}
			}
		})
	}
	for i := range sessions {
		work <- i
	}
	close(work)
	wg.Wait()
	stopChaos()
	if err := <-chaosErr; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d sessions through 6 transitions in %v, %d replicas killed", sessions, time.Since(started).Round(time.Millisecond), kills.Load())
	if t.Failed() {
		return
	}

	// Every session is DELETED; every backup it made was READY once and
	// is deleted now; the first of each session's two was retired by
	// retention before the second start.
	backups := map[string]string{}
	for i, r := range results {
		var got *nimblestudio.GetStreamingSessionOutput
		check(t, rs.call(cx, func(c *nimblestudio.NimbleStudio) (err error) {
			got, err = c.GetStreamingSessionWithContext(cx, &nimblestudio.GetStreamingSessionInput{StudioId: &pr.Studio, SessionId: &r.id})
			return err
		}))
		if st := aws.StringValue(got.Session.State); st != "DELETED" {
			t.Errorf("session %d (%s) ended %s", i, r.id, st)
		}
		for _, b := range r.backups {
			if other, dup := backups[b]; dup {
				t.Errorf("backup %s made by two stops (%s, %s)", b, other, r.id)
			}
			backups[b] = r.id
		}
	}
	if len(backups) != 2*sessions {
		t.Errorf("%d backups for %d stops", len(backups), 2*sessions)
	}

	// The shared fleet counts what the replicas began.
	fleet, err := sim.New(sim.Options{Dir: simDir, Shared: true})
	if err != nil {
		t.Fatal(err)
	}
	n := sessions + 1 + paged // and the sessions of the checks above: create, delete
	want := map[opennimble.Step]int{
		opennimble.StepProvision:    n,
		opennimble.StepStop:         2 * sessions,
		opennimble.StepSnapshot:     2 * sessions,
		opennimble.StepDeleteVolume: 0, // persistent sessions keep their volume when they stop
		opennimble.StepRestore:      2 * sessions,
		opennimble.StepStart:        2 * sessions,
		opennimble.StepTerminate:    n,
		opennimble.StepDeleteBackup: 2 * sessions,
	}
	for _, step := range opennimble.Steps {
		if got := fleet.Started(step); got != want[step] {
			t.Errorf("%s began %d times, want %d", step, got, want[step])
		}
	}
	if left := fleet.Backups(); left != 0 {
		t.Errorf("%d backups left in the fleet", left)
	}
}

// driver takes sessions through their cycle.
type driver struct {
	rs              *replicaSet
	studio, profile string
	poll            time.Duration // between looks at a session; 25ms when 0
}

// sessionRun is what one session's cycle left behind.
type sessionRun struct {
	id      string
	backups []string // in the order the stops made them
}

func (d *driver) cycle(cx context.Context, i int, run *sessionRun) error {
	owner := fmt.Sprintf("owner-%d", i)
	token := func(step string) *string { return aws.String(fmt.Sprintf("%s-%s", owner, step)) }
	var created *nimblestudio.CreateStreamingSessionOutput
	err := d.rs.call(cx, func(c *nimblestudio.NimbleStudio) (err error) {
		created, err = c.CreateStreamingSessionWithContext(cx, &nimblestudio.CreateStreamingSessionInput{
			StudioId: &d.studio, LaunchProfileId: &d.profile, OwnedBy: &owner, ClientToken: token("create")})
		return err
	})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	run.id = *created.Session.SessionId
	id := &run.id
	if err := d.wait(cx, id, "READY"); err != nil {
		return err
	}
	for round := range 2 {
		err := d.rs.call(cx, func(c *nimblestudio.NimbleStudio) error {
			_, err := c.StopStreamingSessionWithContext(cx, &nimblestudio.StopStreamingSessionInput{
				StudioId: &d.studio, SessionId: id, ClientToken: token(fmt.Sprint("stop", round))})
			return err
		})
		if err != nil {
			return fmt.Errorf("stop %d: %w", round, err)
		}
		if err := d.wait(cx, id, "STOPPED"); err != nil {
			return err
		}
		// Retention is exact: the session's one READY backup is the new one,
		// and the one before it is on its way out.
		ready, all, err := d.backups(cx, owner)
		if err != nil {
			return err
		}
		if len(ready) != 1 || slices.Contains(run.backups, ready[0]) {
			return fmt.Errorf("after stop %d: READY backups %v (all %v), earlier %v", round, ready, all, run.backups)
		}
		run.backups = append(run.backups, ready[0])
		err = d.rs.call(cx, func(c *nimblestudio.NimbleStudio) error {
			_, err := c.StartStreamingSessionWithContext(cx, &nimblestudio.StartStreamingSessionInput{
				StudioId: &d.studio, SessionId: id, BackupId: &ready[0], ClientToken: token(fmt.Sprint("start", round))})
			return err
		})
		if err != nil {
			return fmt.Errorf("start %d: %w", round, err)
		}
		if err := d.wait(cx, id, "READY"); err != nil {
			return err
		}
	}
	err = d.rs.call(cx, func(c *nimblestudio.NimbleStudio) error {
		_, err := c.DeleteStreamingSessionWithContext(cx, &nimblestudio.DeleteStreamingSessionInput{
			StudioId: &d.studio, SessionId: id, ClientToken: token("delete")})
		return err
	})
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := d.wait(cx, id, "DELETED"); err != nil {
		return err
	}
	// The session's backups are deleted with it.
	for deadline := time.Now().Add(60 * time.Second); ; {
		_, all, err := d.backups(cx, owner)
		if err != nil {
			return err
		}
		if len(all) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("backups %v of a deleted session", all)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// wait polls the session, on any replica, until it is in state.
func (d *driver) wait(cx context.Context, id *string, state string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		var got *nimblestudio.GetStreamingSessionOutput
		err := d.rs.call(cx, func(c *nimblestudio.NimbleStudio) (err error) {
			got, err = c.GetStreamingSessionWithContext(cx, &nimblestudio.GetStreamingSessionInput{StudioId: &d.studio, SessionId: id})
			return err
		})
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", state, err)
		}
		st := aws.StringValue(got.Session.State)
		switch {
		case st == state:
			return nil
		case strings.HasSuffix(st, "_FAILED"):
			return fmt.Errorf("session %s is %s: %s", *id, st, aws.StringValue(got.Session.StatusMessage))
		case time.Now().After(deadline):
			return fmt.Errorf("session %s still %s, not %s", *id, st, state)
		}
		time.Sleep(cmp.Or(d.poll, 25*time.Millisecond))
	}
}

// backups lists the ids of the owner's READY backups and of all its backups
// not yet DELETED.
func (d *driver) backups(cx context.Context, owner string) (ready, all []string, err error) {
	var out *nimblestudio.ListStreamingSessionBackupsOutput
	err = d.rs.call(cx, func(c *nimblestudio.NimbleStudio) (err error) {
		out, err = c.ListStreamingSessionBackupsWithContext(cx, &nimblestudio.ListStreamingSessionBackupsInput{StudioId: &d.studio, OwnedBy: &owner})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	for _, b := range out.StreamingSessionBackups {
		all = append(all, *b.BackupId)
		if aws.StringValue(b.State) == "READY" {
			ready = append(ready, *b.BackupId)
		}
	}
	return ready, all, nil
}

// BenchmarkReplicaCycles measures stop (with a backup) → start cycles per
// second of 64 sessions cycling in parallel, each request to a random
// replica, for one and three replicas on one PostgreSQL database, and for
// the embedded SQLite store as the reference. The PostgreSQL cluster keeps
// fsync on (as the SQLite store's --sync full does) unless
// OPENNIMBLE_BENCH_FAST_PG is set.
//
//	go test ./e2e -run '^$' -bench ReplicaCycles -benchtime 1x
func BenchmarkReplicaCycles(b *testing.B) {
	pg, err := pgtest.NewWith(pgtest.Options{Durable: os.Getenv("OPENNIMBLE_BENCH_FAST_PG") == ""})
	if err != nil {
		b.Fatal(err)
	}
	defer pg.Stop()
	bin := filepath.Join(b.TempDir(), "opennimble")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/opennimble").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name     string
		replicas int
		store    func() []string
	}{
		{"sqlite", 1, func() []string { return nil }},
		{"postgres/replicas=1", 1, func() []string { return []string{"--store", pg.Database(b)} }},
		{"postgres/replicas=3", 3, func() []string { return []string{"--store", pg.Database(b)} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			rs := newReplicaSet(b, bin, c.replicas, append(c.store(), "--sim-dir", b.TempDir())...)
			cycles := rs.cycleFor(b, 64, 10*time.Second)
			b.ReportMetric(cycles, "cycles/s")
		})
	}
}

// cycleFor makes sessions READY, then cycles each of them through stop
// (with a backup, awaited until STOPPED) and start (awaited until READY)
// for d, and returns the completed cycles per second.
func (rs *replicaSet) cycleFor(b *testing.B, sessions int, d time.Duration) float64 {
	cx := b.Context()
	pr, err := fixture.Make(cx, rs.reps[0].c, "bench", fixture.WithBackups(2), fixture.WithPersistence(600))
	if err != nil {
		b.Fatal(err)
	}
	dr := &driver{rs: rs, studio: pr.Studio, profile: pr.LaunchProfile, poll: 10 * time.Millisecond}
	ids := make([]*string, sessions)
	for i := range ids {
		out, err := rs.reps[i%len(rs.reps)].c.CreateStreamingSessionWithContext(cx, &nimblestudio.CreateStreamingSessionInput{
			StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = out.Session.SessionId
	}
	for _, id := range ids {
		if err := dr.wait(cx, id, "READY"); err != nil {
			b.Fatal(err)
		}
	}
	var done atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	start := time.Now()
	b.ResetTimer()
	for _, id := range ids {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				c := rs.reps[rand.IntN(len(rs.reps))].c
				if _, err := c.StopStreamingSessionWithContext(cx, &nimblestudio.StopStreamingSessionInput{StudioId: &pr.Studio, SessionId: id}); err != nil {
					b.Error(err)
					return
				}
				if err := dr.wait(cx, id, "STOPPED"); err != nil {
					b.Error(err)
					return
				}
				c = rs.reps[rand.IntN(len(rs.reps))].c
				if _, err := c.StartStreamingSessionWithContext(cx, &nimblestudio.StartStreamingSessionInput{StudioId: &pr.Studio, SessionId: id}); err != nil {
					b.Error(err)
					return
				}
				if err := dr.wait(cx, id, "READY"); err != nil {
					b.Error(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}
