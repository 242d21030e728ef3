package lifecycle

import (
	"context"
	"errors"
	"github.com/opennimble/opennimble/internal/testwait"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// jobStore is the job half of a store, in memory.
type jobStore struct {
	opennimble.Store // the rest is unused: calling it panics
	mu               sync.Mutex
	jobs             map[string]*fakeJob
	retries          []time.Time
	claims           int // ClaimJobs calls
	completes        int // CompleteJob calls
}

type fakeJob struct {
	job        opennimble.Job
	leaseUntil time.Time
}

func newJobStore() *jobStore { return &jobStore{jobs: map[string]*fakeJob{}} }

func (s *jobStore) add(id string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[id] = &fakeJob{job: opennimble.Job{Kind: "thing", ResourceID: id, RunAt: at, Gen: 1}}
}

func (s *jobStore) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[id] != nil
}

func (s *jobStore) ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]opennimble.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.claims++
	var out []opennimble.Job
	for _, j := range s.jobs {
		if len(out) < limit && !j.job.RunAt.After(now) && !j.leaseUntil.After(now) {
			j.leaseUntil = now.Add(lease)
			out = append(out, j.job)
		}
	}
	return out, nil
}

func (s *jobStore) CompleteJob(ctx context.Context, j opennimble.Job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.completes++
	delete(s.jobs, j.ResourceID)
	return nil
}

func (s *jobStore) RetryJob(ctx context.Context, j opennimble.Job, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	fj := s.jobs[j.ResourceID]
	fj.job.RunAt, fj.leaseUntil = at, time.Time{}
	fj.job.Attempts++
	s.retries = append(s.retries, at)
	return nil
}

func (s *jobStore) RenewJobs(ctx context.Context, owner string, jobs []opennimble.Job, until time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, j := range jobs {
		if fj := s.jobs[j.ResourceID]; fj != nil && !fj.leaseUntil.IsZero() {
			fj.leaseUntil = until
			n++
		}
	}
	return n, nil
}

func (s *jobStore) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var at time.Time
	ok := false
	for _, j := range s.jobs {
		t := j.job.RunAt
		if j.leaseUntil.After(t) {
			t = j.leaseUntil
		}
		if !ok || t.Before(at) {
			at, ok = t, true
		}
	}
	return at, ok, nil
}

// reconcilerFunc adapts a function to Reconciler.
type reconcilerFunc func(ctx context.Context, kind opennimble.Kind, id string) error

func (f reconcilerFunc) Reconcile(ctx context.Context, kind opennimble.Kind, id string) error {
	return f(ctx, kind, id)
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRunDueCompletesJobs(t *testing.T) {
	st, clock := newJobStore(), opennimble.NewFakeClock(t0)
	st.add("a", t0)
	st.add("later", t0.Add(time.Minute))
	var mu sync.Mutex
	var seen []string
	w := New(st, reconcilerFunc(func(ctx context.Context, kind opennimble.Kind, id string) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, string(kind)+"/"+id)
		return nil
	}), clock, Options{Logger: quiet()})
	if n, err := w.RunDue(t.Context()); n != 1 || err != nil {
		t.Fatalf("RunDue = %d, %v; want 1", n, err)
	}
	if len(seen) != 1 || seen[0] != "thing/a" || st.has("a") || !st.has("later") {
		t.Fatalf("seen %v; a done %v, later kept %v", seen, !st.has("a"), st.has("later"))
	}
}

// With CompleteInTx a reconcile finds its job in its context; when its last
// transaction completed it, the worker writes nothing more. Without the
// option the reconcile sees no job and the worker completes it.
func TestCompleteInTx(t *testing.T) {
	for _, inTx := range []bool{true, false} {
		st, clock := newJobStore(), opennimble.NewFakeClock(t0)
		st.add("a", t0)
		var held *opennimble.HeldJob
		w := New(st, reconcilerFunc(func(ctx context.Context, kind opennimble.Kind, id string) error {
			if held = opennimble.HeldJobFor(ctx, kind, id); held != nil {
				// What the reconcile's last transaction does once it commits.
				st.mu.Lock()
				delete(st.jobs, id)
				st.mu.Unlock()
				held.MarkCompleted()
			}
			return nil
		}), clock, Options{Logger: quiet(), CompleteInTx: inTx})
		if n, err := w.RunDue(t.Context()); n != 1 || err != nil {
			t.Fatalf("RunDue = %d, %v", n, err)
		}
		wantCompletes := 1
		if inTx {
			wantCompletes = 0
			if held == nil || held.Job.ResourceID != "a" {
				t.Fatalf("in-transaction: the reconcile saw job %+v", held)
			}
		} else if held != nil {
			t.Fatalf("without the option the reconcile saw job %+v", held)
		}
		if st.completes != wantCompletes || st.has("a") {
			t.Errorf("CompleteInTx %v: %d CompleteJob calls, job kept %v; want %d and gone", inTx, st.completes, st.has("a"), wantCompletes)
		}
	}
}

func TestFailuresBackOffExponentially(t *testing.T) {
	st, clock := newJobStore(), opennimble.NewFakeClock(t0)
	st.add("bad", t0)
	w := New(st, reconcilerFunc(func(context.Context, opennimble.Kind, string) error { return errors.New("nope") }),
		clock, Options{Logger: quiet(), MinBackoff: time.Second, MaxBackoff: 5 * time.Second})
	for range 5 {
		if _, ok, _ := st.NextJobAt(t.Context()); !ok {
			t.Fatal("the failing job was dropped")
		}
		at, _, _ := st.NextJobAt(t.Context())
		clock.Set(at)
		if n, _ := w.RunDue(t.Context()); n != 1 {
			t.Fatalf("RunDue ran %d", n)
		}
	}
	var gaps []time.Duration
	prev := t0
	for _, r := range st.retries {
		gaps = append(gaps, r.Sub(prev))
		prev = r
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if gaps[i] != want[i] {
			t.Fatalf("backoffs %v, want %v", gaps, want)
		}
	}
}

func TestPanicIsRetried(t *testing.T) {
	st, clock := newJobStore(), opennimble.NewFakeClock(t0)
	st.add("p", t0)
	w := New(st, reconcilerFunc(func(context.Context, opennimble.Kind, string) error { panic("boom") }), clock, Options{Logger: quiet()})
	if _, err := w.RunDue(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !st.has("p") || len(st.retries) != 1 {
		t.Fatal("a panicking reconcile was not retried")
	}
}

// signal returns a reconciler that reports each id on a channel.
func signal() (Reconciler, chan string) {
	ch := make(chan string, 16)
	return reconcilerFunc(func(ctx context.Context, kind opennimble.Kind, id string) error { ch <- id; return nil }), ch
}

func waitFor(t *testing.T, ch chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("reconciled %s, want %s", got, want)
		}
	case <-time.After(time.Until(testwait.Deadline(t))):
		t.Fatalf("%s was never reconciled", want)
	}
}

func TestKickWakesTheWorker(t *testing.T) {
	st, clock := newJobStore(), opennimble.NewFakeClock(t0)
	r, ch := signal()
	w := New(st, r, clock, Options{Logger: quiet(), Poll: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	st.add("k", t0)
	w.Kick()
	waitFor(t, ch, "k")
	cancel()
	<-done
}

// A wake-up with nothing due claims nothing: a claim is a write, and most
// wake-ups (a job finished, work was enqueued for later) find nothing.
func TestWakeWithNothingDueDoesNotClaim(t *testing.T) {
	st, clock := newJobStore(), opennimble.NewFakeClock(t0)
	st.add("later", t0.Add(time.Hour))
	r, ch := signal()
	w := New(st, r, clock, Options{Logger: quiet(), Poll: time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	for range 20 {
		w.Kick()
	}
	st.add("now", t0)
	w.Kick()
	waitFor(t, ch, "now")
	cancel()
	<-done
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.claims != 1 {
		t.Fatalf("%d claims, want the one that found the due job", st.claims)
	}
}

func TestPollNoticesAnAdvancedFakeClock(t *testing.T) {
	st, clock := newJobStore(), opennimble.NewFakeClock(t0)
	st.add("soon", t0.Add(time.Hour))
	r, ch := signal()
	w := New(st, r, clock, Options{Logger: quiet(), Poll: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go w.Run(ctx)
	clock.Advance(time.Hour)
	waitFor(t, ch, "soon")
}

func TestJobsRunInParallel(t *testing.T) {
	st, clock := newJobStore(), opennimble.NewFakeClock(t0)
	st.add("x", t0)
	st.add("y", t0)
	var both sync.WaitGroup
	both.Add(2)
	w := New(st, reconcilerFunc(func(context.Context, opennimble.Kind, string) error {
		both.Done()
		both.Wait() // deadlocks unless both run at once
		return nil
	}), clock, Options{Logger: quiet(), Parallel: 2})
	if n, err := w.RunDue(t.Context()); n != 2 || err != nil {
		t.Fatalf("RunDue = %d, %v", n, err)
	}
}

// A job claimed by a worker that died runs again once its lease expires.
func TestExpiredLeaseRunsAgain(t *testing.T) {
	st, clock := newJobStore(), opennimble.NewFakeClock(t0)
	st.add("orphan", t0)
	if jobs, _ := st.ClaimJobs(t.Context(), "dead", t0, time.Minute, 1); len(jobs) != 1 {
		t.Fatal("setup: claim failed")
	}
	r, ch := signal()
	w := New(st, r, clock, Options{Logger: quiet(), Lease: time.Minute})
	if n, _ := w.RunDue(t.Context()); n != 0 {
		t.Fatal("a leased job ran")
	}
	clock.Advance(time.Minute)
	if n, _ := w.RunDue(t.Context()); n != 1 {
		t.Fatal("the expired job did not run")
	}
	waitFor(t, ch, "orphan")
}

func TestOwnersAreUnique(t *testing.T) {
	a := New(newJobStore(), nil, nil, Options{})
	b := New(newJobStore(), nil, nil, Options{})
	if a.opts.Owner == b.opts.Owner || a.opts.Owner == "" {
		t.Fatalf("owners %q and %q", a.opts.Owner, b.opts.Owner)
	}
}

// Jobs a store leases to the worker in the transactions that enqueue them (Reserve,
// Take) run in the worker's places, like claimed ones: no more than
// Parallel at once, the places not used given back, none reserved before
// Run or after it ended, and Run waits for those it was given.
func TestTakeRunsLeasedJobs(t *testing.T) {
	st, clock := newJobStore(), opennimble.NewFakeClock(t0)
	release := make(chan struct{})
	ran := make(chan string, 8)
	w := New(st, reconcilerFunc(func(ctx context.Context, kind opennimble.Kind, id string) error {
		ran <- id
		<-release
		return nil
	}), clock, Options{Logger: quiet(), Parallel: 2, Poll: time.Hour, Owner: "me"})
	if r := w.Reserve(1); r.Got != 0 {
		t.Fatalf("Reserve before Run got %d places", r.Got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	var r opennimble.JobReservation
	testwait.Eventually(t, "the worker to run", func() bool {
		if r = w.Reserve(3); r.Got == 0 {
			w.Take(r, nil)
			return false
		}
		return true
	})
	if r.Got != 2 || r.Owner != "me" || !r.Now.Equal(t0) || r.Lease != time.Minute {
		t.Fatalf("Reserve(3) = %+v, want 2 places for me, now t0, a minute's lease", r)
	}
	if r2 := w.Reserve(1); r2.Got != 0 {
		t.Fatalf("a third place was reserved with Parallel 2")
	}
	st.add("a", t0) // leased by the store: in the queue with a lease
	st.mu.Lock()
	st.jobs["a"].leaseUntil = t0.Add(time.Minute)
	a := st.jobs["a"].job
	st.mu.Unlock()
	w.Take(r, []opennimble.Job{a}) // one of two places used
	waitFor(t, ran, "a")
	if r2 := w.Reserve(2); r2.Got != 1 {
		t.Fatalf("with a job running, Reserve(2) got %d places, want 1", r2.Got)
	} else {
		w.Take(r2, nil)
	}
	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while a job it was given was running")
	case <-time.After(10 * time.Millisecond):
	}
	if r2 := w.Reserve(1); r2.Got != 0 {
		t.Fatalf("Reserve while stopping got %d places", r2.Got)
	}
	close(release)
	<-done
	if st.has("a") {
		t.Fatal("the job given was not completed")
	}
}
