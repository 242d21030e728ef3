// Package lifecycle runs the background work that moves resources out of
// their *_IN_PROGRESS states: it claims due jobs from the store, hands each to
// a Reconciler and completes, or retries with backoff, what it claimed. Jobs
// are durable and leased, so a crashed worker loses nothing (its leases
// expire and another worker, or the restarted one, runs them again) and
// several replicas can share one store.
package lifecycle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// Reconciler moves one resource at most one step. It must be level-based and
// idempotent: it may run again for the same resource at any time.
type Reconciler interface {
	Reconcile(ctx context.Context, kind opennimble.Kind, id string) error
}

// Options tune a Worker; zero values take the defaults.
type Options struct {
	// Owner names this worker in job leases; unique per process by default.
	Owner string
	// Lease is how long a claimed job is this worker's (1 minute): longer
	// than any reconcile step takes, short enough to recover from a crash.
	Lease time.Duration
	// Batch is how many jobs one claim takes (32); Parallel how many of them
	// run at once (16: most of a step is waiting for the store or a driver).
	Batch, Parallel int
	// Poll is the longest real-time wait between looks at the store (250ms),
	// so that a FakeClock advanced by a test is noticed.
	Poll time.Duration
	// MinBackoff and MaxBackoff bound the exponential retry delay of a job
	// whose reconcile failed (1s and 5 minutes).
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	// Observer, when set, learns when jobs start and how they end (metrics).
	Observer Observer
}

// Observer learns about the jobs a worker runs.
type Observer interface {
	JobStarted()
	// JobFinished reports a job's outcome: completed, retried (the
	// reconcile failed and was rescheduled with backoff), failed (it could
	// be neither completed nor rescheduled; its lease expires and it runs
	// again) or handed_back (stopped by Abort; it runs again).
	JobFinished(kind, outcome string)
}

type noObserver struct{}

func (noObserver) JobStarted()                {}
func (noObserver) JobFinished(string, string) {}

func (o *Options) defaults() {
	if o.Owner == "" {
		o.Owner = uniqueOwner()
	}
	setDefault(&o.Lease, time.Minute)
	setDefault(&o.Poll, 250*time.Millisecond)
	setDefault(&o.MinBackoff, time.Second)
	setDefault(&o.MaxBackoff, 5*time.Minute)
	if o.Batch <= 0 {
		o.Batch = 32
	}
	if o.Parallel <= 0 {
		o.Parallel = 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// uniqueOwner names this process: host, pid and a random part, because pids
// repeat across restarts and hosts.
func uniqueOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Worker runs due jobs.
type Worker struct {
	store opennimble.Store
	r     Reconciler
	clock opennimble.Clock
	opts  Options
	kick  chan struct{}
	// abort cancels the contexts of running jobs (see Abort).
	abortMu sync.Mutex
	abort   context.CancelFunc
	running atomic.Int64
	// handedBack counts jobs stopped by Abort.
	handedBack atomic.Int64
}

// New returns a worker; Run starts it.
func New(store opennimble.Store, r Reconciler, clock opennimble.Clock, opts Options) *Worker {
	if clock == nil {
		clock = opennimble.SystemClock{}
	}
	opts.defaults()
	return &Worker{store: store, r: r, clock: clock, opts: opts, kick: make(chan struct{}, 1)}
}

// Kick wakes the worker now, because work became due. It never blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run runs due jobs until ctx is done. It keeps up to Parallel reconciles
// running and claims more as soon as one finishes, so that one slow step
// never holds up the others. When ctx is done it claims nothing more and
// returns once the jobs running have finished: each reaches the end of its
// step (a reconcile is a few transactions and driver calls that never wait
// for long) unless Abort stops it first, and the log says which.
func (w *Worker) Run(ctx context.Context) {
	jctx, abort := context.WithCancel(context.WithoutCancel(ctx))
	w.abortMu.Lock()
	w.abort = abort
	w.abortMu.Unlock()
	defer abort()
	slots := make(chan struct{}, w.opts.Parallel)
	var wg sync.WaitGroup
	defer func() {
		n := w.running.Load()
		if n > 0 {
			w.opts.Logger.Info("lifecycle: stopping; letting running steps reach a safe point", "owner", w.opts.Owner, "running", n)
		}
		wg.Wait()
		if n > 0 {
			back := w.handedBack.Load()
			w.opts.Logger.Info("lifecycle: stopped", "owner", w.opts.Owner, "finished", n-back, "handedBack", back,
				"note", "a handed-back job runs again at the next start or on another replica")
		}
	}()
	for ctx.Err() == nil {
		free := w.opts.Parallel - len(slots)
		if free == 0 {
			select {
			case <-ctx.Done():
				return
			case slots <- struct{}{}: // wait for a slot, then give it back
				<-slots
			}
			continue
		}
		jobs, err := w.store.ClaimJobs(ctx, w.opts.Owner, w.clock.Now(), w.opts.Lease, min(free, w.opts.Batch))
		if err != nil {
			if ctx.Err() == nil {
				w.opts.Logger.Error("lifecycle: claiming jobs failed", "owner", w.opts.Owner, "err", err)
			}
			w.wait(ctx)
			continue
		}
		for _, j := range jobs {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done(); w.Kick() }()
				w.runJob(jctx, j)
			}()
		}
		if len(jobs) == 0 {
			w.wait(ctx)
		}
	}
}

// Abort stops the jobs that Run is still running after its context ended:
// their contexts are cancelled and they are handed back (their leases are
// released at the next start of a SQLite server, or expire for replicas).
func (w *Worker) Abort() {
	w.abortMu.Lock()
	defer w.abortMu.Unlock()
	if w.abort != nil {
		w.abort()
	}
}

// wait returns at the earliest of a Kick, the next job's run time and the
// poll interval.
func (w *Worker) wait(ctx context.Context) {
	d := w.opts.Poll
	if at, ok, err := w.store.NextJobAt(ctx); err == nil && ok {
		d = min(d, max(at.Sub(w.clock.Now()), 0))
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-w.kick:
	case <-timer.C:
	}
}

// RunDue claims the jobs due now, runs them (a few at a time) and returns
// how many it ran. Tests call it to step the lifecycle deterministically.
func (w *Worker) RunDue(ctx context.Context) (int, error) {
	jobs, err := w.store.ClaimJobs(ctx, w.opts.Owner, w.clock.Now(), w.opts.Lease, w.opts.Batch)
	if err != nil {
		return 0, err
	}
	sem := make(chan struct{}, w.opts.Parallel)
	var wg sync.WaitGroup
	for _, j := range jobs {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			w.runJob(ctx, j)
		}()
	}
	wg.Wait()
	return len(jobs), nil
}

// runJob reconciles one job's resource, then completes the job or retries it
// with exponential backoff.
func (w *Worker) runJob(ctx context.Context, j opennimble.Job) {
	log := w.opts.Logger.With("kind", j.Kind, "id", j.ResourceID, "attempt", j.Attempts)
	w.running.Add(1)
	defer w.running.Add(-1)
	w.opts.Observer.JobStarted()
	outcome := "completed"
	defer func() { w.opts.Observer.JobFinished(string(j.Kind), outcome) }()
	err := w.reconcile(ctx, j)
	if ctx.Err() != nil {
		// Aborted: the lease is released at the next start or expires,
		// and the job runs again.
		w.handedBack.Add(1)
		outcome = "handed_back"
		log.Info("lifecycle: step handed back", "err", err)
		return
	}
	if err == nil {
		if err := w.store.CompleteJob(ctx, j); err != nil {
			outcome = "failed"
			log.Error("lifecycle: completing job failed", "err", err)
		}
		return
	}
	outcome = "retried"
	delay := w.backoff(j.Attempts)
	log.Warn("lifecycle: reconcile failed, will retry", "err", err, "retryIn", delay)
	if err := w.store.RetryJob(ctx, j, w.clock.Now().Add(delay)); err != nil {
		outcome = "failed"
		log.Error("lifecycle: rescheduling job failed", "err", err)
	}
}

// reconcile calls the reconciler, turning a panic into an error so that one
// bad resource cannot stop the worker.
func (w *Worker) reconcile(ctx context.Context, j opennimble.Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return w.r.Reconcile(ctx, j.Kind, j.ResourceID)
}

// backoff is MinBackoff doubled per earlier attempt, at most MaxBackoff.
func (w *Worker) backoff(attempts int) time.Duration {
	d := w.opts.MinBackoff
	for range min(attempts, 30) {
		d *= 2
		if d >= w.opts.MaxBackoff {
			return w.opts.MaxBackoff
		}
	}
	return d
}
