package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
)

var jobTests = []test{
	{"EnqueueKeepsEarliest", testEnqueueKeepsEarliest},
	{"ClaimRespectsRunAtAndLease", testClaimRespectsRunAtAndLease},
	{"ClaimOrderAndLimit", testClaimOrderAndLimit},
	{"Complete", testCompleteJob},
	{"CompleteInTx", testCompleteJobInTx},
	{"EnqueueWhileLeased", testEnqueueWhileLeased},
	{"Retry", testRetryJob},
	{"RetryAfterEnqueue", testRetryAfterEnqueue},
	{"LeaseExpiry", testLeaseExpiry},
	{"RenewLeases", testRenewLeases},
	{"GenNeverReused", testGenNeverReused},
	{"ConcurrentClaims", testConcurrentClaims},
}

const kSession = opennimble.KindStreamingSession

func enqueue(t *testing.T, s opennimble.Store, id string, runAt time.Time) {
	t.Helper()
	update(t, s, func(tx opennimble.Tx) error { return tx.EnqueueJob(t.Context(), kSession, id, runAt) })
}

func claim(t *testing.T, s opennimble.Store, owner string, now time.Time, limit int) []opennimble.Job {
	t.Helper()
	jobs, err := s.ClaimJobs(t.Context(), owner, now, time.Minute, limit)
	if err != nil {
		t.Fatalf("ClaimJobs(%s, %v): %v", owner, now, err)
	}
	return jobs
}

// claimOne claims at now and expects exactly the job for id.
func claimOne(t *testing.T, s opennimble.Store, owner string, now time.Time, id string) opennimble.Job {
	t.Helper()
	jobs := claim(t, s, owner, now, 10)
	if len(jobs) != 1 || jobs[0].Kind != kSession || jobs[0].ResourceID != id {
		t.Fatalf("ClaimJobs at %v = %+v, want the job for %s", now, jobs, id)
	}
	return jobs[0]
}

func claimNone(t *testing.T, s opennimble.Store, owner string, now time.Time) {
	t.Helper()
	if jobs := claim(t, s, owner, now, 10); len(jobs) != 0 {
		t.Fatalf("ClaimJobs at %v = %+v, want none", now, jobs)
	}
}

func wantNext(t *testing.T, s opennimble.Store, want time.Time, wantOK bool) {
	t.Helper()
	got, ok, err := s.NextJobAt(t.Context())
	if err != nil {
		t.Fatalf("NextJobAt: %v", err)
	}
	if ok != wantOK || (ok && !got.Equal(want)) {
		t.Fatalf("NextJobAt = %v, %v; want %v, %v", got, ok, want, wantOK)
	}
}

func complete(t *testing.T, s opennimble.Store, j opennimble.Job) {
	t.Helper()
	if err := s.CompleteJob(t.Context(), j); err != nil {
		t.Fatalf("CompleteJob(%+v): %v", j, err)
	}
}

func testEnqueueKeepsEarliest(t *testing.T, s opennimble.Store) {
	wantNext(t, s, time.Time{}, false)
	enqueue(t, s, "s-1", at(10*time.Second))
	wantNext(t, s, at(10*time.Second), true)
	enqueue(t, s, "s-1", at(5*time.Second))
	enqueue(t, s, "s-1", at(20*time.Second))
	wantNext(t, s, at(5*time.Second), true)
	claimNone(t, s, "w1", at(4*time.Second))
	j := claimOne(t, s, "w1", at(5*time.Second), "s-1")
	if !j.RunAt.Equal(at(5*time.Second)) || j.Gen == 0 || j.Attempts != 0 {
		t.Errorf("claimed %+v, want RunAt %v, a Gen and no attempts", j, at(5*time.Second))
	}
}

func testClaimRespectsRunAtAndLease(t *testing.T, s opennimble.Store) {
	enqueue(t, s, "s-1", at(0))
	claimNone(t, s, "w1", at(-time.Nanosecond))
	claimOne(t, s, "w1", at(time.Second), "s-1")
	// While the lease lasts nobody else gets the job, and the next chance
	// to claim it is the end of the lease.
	claimNone(t, s, "w2", at(2*time.Second))
	wantNext(t, s, at(time.Second+time.Minute), true)
}

func testClaimOrderAndLimit(t *testing.T, s opennimble.Store) {
	for i, d := range []int{50, 10, 40, 20, 30} {
		enqueue(t, s, fmt.Sprintf("s-%d", i), at(time.Duration(d)*time.Second))
	}
	if jobs := claim(t, s, "w1", at(time.Hour), 0); len(jobs) != 0 {
		t.Errorf("ClaimJobs with limit 0 = %+v", jobs)
	}
	jobs := claim(t, s, "w1", at(time.Hour), 2)
	if len(jobs) != 2 || jobs[0].ResourceID != "s-1" || jobs[1].ResourceID != "s-3" {
		t.Fatalf("first two claims = %+v, want s-1 then s-3", jobs)
	}
	jobs = claim(t, s, "w2", at(35*time.Second), 10)
	if len(jobs) != 1 || jobs[0].ResourceID != "s-4" {
		t.Fatalf("claims due at 35s = %+v, want s-4", jobs)
	}
	wantNext(t, s, at(40*time.Second), true)
}

func testCompleteJob(t *testing.T, s opennimble.Store) {
	enqueue(t, s, "s-1", at(0))
	enqueue(t, s, "s-2", at(time.Hour))
	j := claimOne(t, s, "w1", at(0), "s-1")
	complete(t, s, j)
	wantNext(t, s, at(time.Hour), true)
	claimNone(t, s, "w1", at(time.Hour-time.Nanosecond))
	// Completing again, or completing a job that is gone, is harmless.
	complete(t, s, j)
	complete(t, s, opennimble.Job{Kind: kSession, ResourceID: "nope", Gen: 1})
	claimOne(t, s, "w1", at(time.Hour), "s-2")
}

// testCompleteJobInTx: a job completed inside a transaction is completed
// when, and only when, the transaction commits; an enqueue earlier in the
// same transaction keeps the job, to run when it was asked for.
func testCompleteJobInTx(t *testing.T, s opennimble.Store) {
	enqueue(t, s, "s-1", at(0))
	j := claimOne(t, s, "w1", at(0), "s-1")
	boom := errors.New("rolled back")
	err := s.Update(t.Context(), func(tx opennimble.Tx) error {
		if err := tx.CompleteJob(t.Context(), j); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the rollback", err)
	}
	// Still leased to w1: nobody may claim it before its lease ends.
	claimNone(t, s, "w2", at(30*time.Second))
	update(t, s, func(tx opennimble.Tx) error { return tx.CompleteJob(t.Context(), j) })
	wantNext(t, s, time.Time{}, false)
	complete(t, s, j) // completing it again outside is harmless

	// The step's transaction asks for a later look, then completes.
	enqueue(t, s, "s-2", at(0))
	j = claimOne(t, s, "w1", at(0), "s-2")
	update(t, s, func(tx opennimble.Tx) error {
		if err := tx.EnqueueJob(t.Context(), kSession, "s-2", at(40*time.Second)); err != nil {
			return err
		}
		return tx.CompleteJob(t.Context(), j)
	})
	wantNext(t, s, at(40*time.Second), true)
	claimNone(t, s, "w2", at(39*time.Second))
	claimOne(t, s, "w2", at(40*time.Second), "s-2")

	// A read-only transaction cannot complete a job.
	enqueue(t, s, "s-3", at(0))
	j = claimOne(t, s, "w1", at(0), "s-3")
	if err := s.View(t.Context(), func(tx opennimble.Tx) error { return tx.CompleteJob(t.Context(), j) }); err == nil {
		t.Fatal("CompleteJob in a View succeeded")
	}
}

// testEnqueueWhileLeased: a job enqueued again while a worker runs it must run
// again after the worker completes it, at the earliest time asked for during
// the run.
func testEnqueueWhileLeased(t *testing.T, s opennimble.Store) {
	enqueue(t, s, "s-1", at(0))
	j := claimOne(t, s, "w1", at(0), "s-1")
	enqueue(t, s, "s-1", at(100*time.Second))
	enqueue(t, s, "s-1", at(50*time.Second))
	enqueue(t, s, "s-1", at(70*time.Second))
	claimNone(t, s, "w2", at(30*time.Second)) // still leased
	complete(t, s, j)
	wantNext(t, s, at(50*time.Second), true)
	claimNone(t, s, "w2", at(49*time.Second))
	j2 := claimOne(t, s, "w2", at(50*time.Second), "s-1")
	if j2.Gen == j.Gen {
		t.Errorf("re-enqueued job kept Gen %d", j.Gen)
	}
	complete(t, s, j2)
	wantNext(t, s, time.Time{}, false)

	// An enqueue for a time already past makes the job due as soon as the
	// lease is released.
	enqueue(t, s, "s-1", at(time.Hour))
	j3 := claimOne(t, s, "w1", at(time.Hour), "s-1")
	enqueue(t, s, "s-1", at(0))
	complete(t, s, j3)
	claimOne(t, s, "w1", at(time.Hour), "s-1")
}

func testRetryJob(t *testing.T, s opennimble.Store) {
	enqueue(t, s, "s-1", at(0))
	j := claimOne(t, s, "w1", at(0), "s-1")
	if err := s.RetryJob(t.Context(), j, at(30*time.Second)); err != nil {
		t.Fatalf("RetryJob: %v", err)
	}
	wantNext(t, s, at(30*time.Second), true)
	claimNone(t, s, "w1", at(29*time.Second))
	j = claimOne(t, s, "w2", at(30*time.Second), "s-1")
	if j.Attempts != 1 || !j.RunAt.Equal(at(30*time.Second)) {
		t.Errorf("after one retry claimed %+v, want Attempts 1 and RunAt %v", j, at(30*time.Second))
	}
	if err := s.RetryJob(t.Context(), j, at(time.Minute)); err != nil {
		t.Fatalf("RetryJob: %v", err)
	}
	j = claimOne(t, s, "w1", at(time.Minute), "s-1")
	if j.Attempts != 2 {
		t.Errorf("after two retries Attempts = %d", j.Attempts)
	}
	complete(t, s, j)
	err := s.RetryJob(t.Context(), j, at(time.Hour))
	wantErr(t, "RetryJob of a completed job", err, opennimble.ErrNoRecord)
}

func testRetryAfterEnqueue(t *testing.T, s opennimble.Store) {
	enqueue(t, s, "s-1", at(0))
	j := claimOne(t, s, "w1", at(0), "s-1")
	enqueue(t, s, "s-1", at(10*time.Second))
	if err := s.RetryJob(t.Context(), j, at(30*time.Second)); err != nil {
		t.Fatalf("RetryJob: %v", err)
	}
	// The newer request is earlier than the retry: it wins, and it is not a
	// failed attempt.
	j = claimOne(t, s, "w1", at(10*time.Second), "s-1")
	if j.Attempts != 0 {
		t.Errorf("Attempts = %d after a retry overtaken by an enqueue, want 0", j.Attempts)
	}

	// A later request does not delay the retry.
	enqueue(t, s, "s-1", at(time.Hour))
	if err := s.RetryJob(t.Context(), j, at(40*time.Second)); err != nil {
		t.Fatalf("RetryJob: %v", err)
	}
	wantNext(t, s, at(40*time.Second), true)
}

func testLeaseExpiry(t *testing.T, s opennimble.Store) {
	enqueue(t, s, "s-1", at(0))
	j1 := claimOne(t, s, "w1", at(0), "s-1")
	claimNone(t, s, "w2", at(time.Minute-time.Nanosecond))
	// w1 is presumed dead: its claim counts as a failed attempt.
	j2 := claimOne(t, s, "w2", at(time.Minute), "s-1")
	if j2.Gen != j1.Gen || j2.Attempts != 1 || !j2.TakenOver {
		t.Errorf("claim after lease expiry = %+v, want Gen %d, Attempts 1 and TakenOver", j2, j1.Gen)
	}
	if j1.TakenOver {
		t.Errorf("first claim of a free job reports a takeover: %+v", j1)
	}
	claimNone(t, s, "w1", at(time.Minute+time.Second))
	complete(t, s, j2)
	wantNext(t, s, time.Time{}, false)
}

// testGenNeverReused: a stale worker completing a job that was completed by
// someone else and enqueued afresh must not delete the new job.
func testGenNeverReused(t *testing.T, s opennimble.Store) {
	enqueue(t, s, "s-1", at(0))
	stale := claimOne(t, s, "w1", at(0), "s-1")
	fresh := claimOne(t, s, "w2", at(time.Minute), "s-1") // w1's lease expired
	complete(t, s, fresh)
	enqueue(t, s, "s-1", at(2*time.Minute))
	complete(t, s, stale)
	claimOne(t, s, "w2", at(2*time.Minute), "s-1")
}

// testConcurrentClaims: workers claiming at the same time get every job
// exactly once.
func testConcurrentClaims(t *testing.T, s opennimble.Store) {
	const n = 60
	update(t, s, func(tx opennimble.Tx) error {
		for i := range n {
			if err := tx.EnqueueJob(t.Context(), kSession, fmt.Sprintf("s-%d", i), at(0)); err != nil {
				return err
			}
		}
		return nil
	})
	var mu sync.Mutex
	claimed := map[string]int{}
	var wg sync.WaitGroup
	var errs []error
	for w := range 4 {
		wg.Go(func() {
			for {
				jobs, err := s.ClaimJobs(t.Context(), fmt.Sprintf("w%d", w), at(0), time.Hour, 3)
				if err == nil && len(jobs) == 0 {
					return
				}
				for _, j := range jobs {
					if err == nil {
						err = s.CompleteJob(t.Context(), j)
					}
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				for _, j := range jobs {
					claimed[j.ResourceID]++
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if c := claimed[fmt.Sprintf("s-%d", i)]; c != 1 {
			t.Errorf("s-%d claimed %d times", i, c)
		}
	}
	wantNext(t, s, time.Time{}, false)
}

// testRenewLeases: renewing keeps a job its owner's past the first lease's
// end, for as long as the renewals go on; a renewal by a worker that no
// longer holds the lease (it expired and another worker took the job)
// changes nothing; completing after renewals still completes.
func testRenewLeases(t *testing.T, s opennimble.Store) {
	ctx := t.Context()
	enqueue(t, s, "s-1", at(0))
	enqueue(t, s, "s-2", at(0))
	jobs := claim(t, s, "w1", at(0), 10)
	if len(jobs) != 2 {
		t.Fatalf("claimed %+v, want two jobs", jobs)
	}
	for i := 1; i <= 5; i++ {
		now := at(time.Duration(i) * 50 * time.Second)
		if n, err := s.RenewJobs(ctx, "w1", jobs, now.Add(time.Minute)); err != nil || n != 2 {
			t.Fatalf("RenewJobs at %v = %d, %v; want 2", now, n, err)
		}
		claimNone(t, s, "w2", now.Add(30*time.Second))
		wantNext(t, s, now.Add(time.Minute), true)
	}
	// w1 stops renewing: the leases expire and w2 takes both jobs over.
	late := at(250*time.Second + time.Minute)
	taken := claim(t, s, "w2", late, 10)
	if len(taken) != 2 {
		t.Fatalf("claims after the renewed leases ended = %+v, want both jobs", taken)
	}
	if n, err := s.RenewJobs(ctx, "w1", jobs, late.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("RenewJobs by a worker that lost the leases = %d, %v; want 0", n, err)
	}
	wantNext(t, s, late.Add(time.Minute), true)
	if n, err := s.RenewJobs(ctx, "w2", taken[:1], late.Add(2*time.Minute)); err != nil || n != 1 {
		t.Fatalf("RenewJobs of one job = %d, %v; want 1", n, err)
	}
	for _, j := range taken {
		complete(t, s, j)
	}
	wantNext(t, s, time.Time{}, false)
	if n, err := s.RenewJobs(ctx, "w2", taken, late.Add(time.Hour)); err != nil || n != 0 {
		t.Fatalf("RenewJobs of completed jobs = %d, %v; want 0", n, err)
	}
}
