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
	// Lease is how long a claimed job is this worker's (1 minute) unless
	// renewed: short enough to recover from a crash. While a job runs, its
	// lease is renewed every third of it, so that a step that takes longer
	// than a lease is never taken over by another worker.
	Lease time.Duration
	// Batch is how many jobs one claim takes (32); Parallel how many of them
	// run at once (DefaultParallel).
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
	// CompleteInTx lets a reconcile complete its job with its last
	// transaction (the job rides in its context as an opennimble.HeldJob):
	// one write fewer per job where writes are what cost, one round trip
	// fewer where they are sent to a server (the store's Tx.CompleteJob says
	// whether inside the transaction or right after its commit).
	CompleteInTx bool
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

// DefaultParallel is how many reconciles a worker runs at once unless told.
// A reconcile mostly waits (for its transactions to be flushed, for a
// driver's answer), and the waits of many overlap: on SQLite they share
// group commits. With 16, 64 sessions cycling kept the reconciles queued
// behind each other, the sessions' states moved late and their clients
// polled twice as often (nimblebench: 340-510 cycles a second at 2.4-3.1 ms
// of CPU a cycle, against 750-840 at 1.6-1.7 ms with 64); more at once
// makes the API's own writes wait longer in the commit groups they share
// (api_write_rps_ratio 0.19-0.27 to 0.12-0.14 in the same runs).
const DefaultParallel = 64

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
		o.Parallel = DefaultParallel
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
	abortMu  sync.Mutex
	abort    context.CancelFunc
	inFlight atomic.Int64
	// handedBack counts jobs stopped by Abort.
	handedBack atomic.Int64

	mu        sync.Mutex
	running   map[jobKey]opennimble.Job // jobs whose leases are renewed
	renewedAt time.Time                 // on the clock, when they last were

	// slots holds a token for each reconcile running or reserved (see
	// Reserve), Parallel at most; wg counts them.
	slots chan struct{}
	wg    sync.WaitGroup
	// runMu guards live (Run is running and takes jobs) and jctx (the
	// context that running jobs get).
	runMu sync.Mutex
	live  bool
	jctx  context.Context
}

var _ opennimble.JobRunner = (*Worker)(nil)

type jobKey struct {
	kind opennimble.Kind
	id   string
}

// New returns a worker; Run starts it.
func New(store opennimble.Store, r Reconciler, clock opennimble.Clock, opts Options) *Worker {
	if clock == nil {
		clock = opennimble.SystemClock{}
	}
	opts.defaults()
	return &Worker{store: store, r: r, clock: clock, opts: opts, kick: make(chan struct{}, 1), running: map[jobKey]opennimble.Job{},
		slots: make(chan struct{}, opts.Parallel)}
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
	w.runMu.Lock()
	w.live, w.jctx = true, jctx
	w.runMu.Unlock()
	// Leases are renewed on the jobs' context, until the last running job
	// has ended: a drain at shutdown may outlast a lease.
	rctx, stopRenew := context.WithCancel(jctx)
	renewDone := make(chan struct{})
	go func() { defer close(renewDone); w.renewLoop(rctx) }()
	defer func() {
		// No job is taken from now on (Reserve gets no room), so that the
		// wait below waits for every job that will run.
		w.runMu.Lock()
		w.live = false
		w.runMu.Unlock()
		n := w.inFlight.Load()
		if n > 0 {
			w.opts.Logger.Info("lifecycle: stopping; letting running steps reach a safe point", "owner", w.opts.Owner, "running", n)
		}
		w.wg.Wait()
		stopRenew()
		<-renewDone
		if n > 0 {
			back := w.handedBack.Load()
			w.opts.Logger.Info("lifecycle: stopped", "owner", w.opts.Owner, "finished", n-back, "handedBack", back,
				"note", "a handed-back job runs again at the next start or on another replica")
		}
	}()
	for ctx.Err() == nil {
		free := w.opts.Parallel - len(w.slots)
		if free == 0 {
			select {
			case <-ctx.Done():
				return
			case w.slots <- struct{}{}: // wait for a slot, then give it back
				<-w.slots
			}
			continue
		}
		// Renew first when due on the clock: a test's fake clock may have
		// jumped past the leases of this worker's own running jobs.
		w.renew(ctx, false)
		// A claim is a write; most wake-ups (a job finished, work was
		// enqueued) find nothing due, which a read tells.
		now := w.clock.Now()
		if at, ok, err := w.store.NextJobAt(ctx); err == nil && (!ok || at.After(now)) {
			w.waitUntil(ctx, at, ok)
			continue
		}
		jobs, err := w.store.ClaimJobs(ctx, w.opts.Owner, now, w.opts.Lease, min(free, w.opts.Batch))
		if err != nil {
			if ctx.Err() == nil {
				w.opts.Logger.Error("lifecycle: claiming jobs failed", "owner", w.opts.Owner, "err", err)
			}
			w.wait(ctx)
			continue
		}
		for _, j := range jobs {
			w.slots <- struct{}{}
			w.wg.Add(1)
			w.start(jctx, j)
		}
		if len(jobs) == 0 {
			w.wait(ctx)
		}
	}
}

// start runs j, which holds a slot and is counted by wg, in a goroutine of
// its own.
func (w *Worker) start(ctx context.Context, j opennimble.Job) {
	go func() {
		defer func() { <-w.slots; w.wg.Done(); w.Kick() }()
		w.runJob(ctx, j)
	}()
}

// Reserve reserves up to n free slots for jobs that a store leases to this
// worker in the transaction that enqueues them, to hand them over once it
// has committed (opennimble.JobRunner). It reserves none while Run is not
// running. A claim of the worker's own that finds fewer slots than it took
// jobs waits for a slot, as when its jobs outnumber the free slots.
func (w *Worker) Reserve(n int) opennimble.JobReservation {
	r := opennimble.JobReservation{Owner: w.opts.Owner, Lease: w.opts.Lease, Now: w.clock.Now()}
	w.runMu.Lock()
	defer w.runMu.Unlock()
	if !w.live {
		return r
	}
reserve:
	for r.Got < n {
		select {
		case w.slots <- struct{}{}:
			r.Got++
		default:
			break reserve
		}
	}
	w.wg.Add(r.Got)
	return r
}

// Take runs the jobs leased under r and frees the slots they do not use
// (opennimble.JobRunner).
func (w *Worker) Take(r opennimble.JobReservation, jobs []opennimble.Job) {
	jobs = jobs[:min(len(jobs), r.Got)]
	if len(jobs) > 0 {
		w.runMu.Lock()
		ctx := w.jctx // set: Run cannot have returned while slots are reserved
		w.runMu.Unlock()
		for _, j := range jobs {
			w.start(ctx, j)
		}
	}
	for range r.Got - len(jobs) {
		<-w.slots
		w.wg.Done()
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
	at, ok, err := w.store.NextJobAt(ctx)
	w.waitUntil(ctx, at, ok && err == nil)
}

// waitUntil returns at the earliest of a Kick, at (when ok) and the poll
// interval.
func (w *Worker) waitUntil(ctx context.Context, at time.Time, ok bool) {
	d := w.opts.Poll
	if ok {
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

// renewLoop renews the leases of running jobs every third of a lease, in
// real time, until ctx is done.
func (w *Worker) renewLoop(ctx context.Context) {
	t := time.NewTicker(max(w.opts.Lease/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.renew(ctx, true)
		}
	}
}

// renew extends the leases of the running jobs to a lease from now on the
// clock: always when force is set, otherwise only when a third of a lease
// has passed on the clock since the last renewal.
func (w *Worker) renew(ctx context.Context, force bool) {
	now := w.clock.Now()
	w.mu.Lock()
	if len(w.running) == 0 || (!force && now.Sub(w.renewedAt) < w.opts.Lease/3) {
		w.mu.Unlock()
		return
	}
	jobs := make([]opennimble.Job, 0, len(w.running))
	for _, j := range w.running {
		jobs = append(jobs, j)
	}
	w.renewedAt = now
	w.mu.Unlock()
	n, err := w.store.RenewJobs(ctx, w.opts.Owner, jobs, now.Add(w.opts.Lease))
	switch {
	case err != nil && ctx.Err() == nil:
		w.opts.Logger.Error("lifecycle: renewing job leases failed", "owner", w.opts.Owner, "jobs", len(jobs), "err", err)
	case err == nil && n < len(jobs):
		// A job ended between the copy and the renewal, or its lease had
		// expired and another worker took it over (this one was stalled).
		w.opts.Logger.Debug("lifecycle: some job leases were not renewed", "owner", w.opts.Owner, "jobs", len(jobs), "renewed", n)
	}
}

// track adds j to, or removes it from, the jobs whose leases are renewed.
// A job released by its reconcile's last transaction may be claimed again
// by this worker before the reconcile has returned (a claim, or a
// transaction that enqueues it: opennimble.JobTaker): the new claim has a
// newer Gen, and the end of the older run does not untrack it.
func (w *Worker) track(j opennimble.Job, running bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := jobKey{j.Kind, j.ResourceID}
	if running {
		w.running[k] = j
	} else if w.running[k].Gen == j.Gen {
		delete(w.running, k)
	}
}

// runJob reconciles one job's resource, then completes the job or retries it
// with exponential backoff. Its lease is renewed while it runs.
func (w *Worker) runJob(ctx context.Context, j opennimble.Job) {
	log := w.opts.Logger.With("kind", j.Kind, "id", j.ResourceID, "attempt", j.Attempts)
	if j.TakenOver {
		log.Warn("lifecycle: took over a job whose worker's lease expired (that worker stopped, crashed or stalled)", "owner", w.opts.Owner)
	}
	w.inFlight.Add(1)
	defer w.inFlight.Add(-1)
	w.opts.Observer.JobStarted()
	outcome := "completed"
	defer func() { w.opts.Observer.JobFinished(string(j.Kind), outcome) }()
	w.track(j, true)
	held := &opennimble.HeldJob{Job: j}
	rctx := ctx
	if w.opts.CompleteInTx {
		rctx = opennimble.WithHeldJob(ctx, held)
	}
	err := w.reconcile(rctx, j)
	// Untracked before the job is released, so that a claim of it again by
	// this worker is tracked anew.
	w.track(j, false)
	if ctx.Err() != nil {
		// Aborted: the lease is released at the next start or expires,
		// and the job runs again.
		w.handedBack.Add(1)
		outcome = "handed_back"
		log.Info("lifecycle: step handed back", "err", err)
		return
	}
	if err == nil {
		if held.Completed() {
			return // in the reconcile's last transaction
		}
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
