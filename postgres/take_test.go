package postgres_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
)

// runner is a JobRunner with room for a set number of jobs; it keeps what
// it was given.
type runner struct {
	mu       sync.Mutex
	room     int
	now      time.Time
	reserved int // places reserved and not yet given back by a Take
	taken    []opennimble.Job
	takes    int
}

func (r *runner) Reserve(n int) opennimble.JobReservation {
	r.mu.Lock()
	defer r.mu.Unlock()
	got := min(n, r.room-r.reserved)
	r.reserved += got
	return opennimble.JobReservation{Got: got, Owner: "me", Now: r.now, Lease: time.Hour}
}

func (r *runner) Take(res opennimble.JobReservation, jobs []opennimble.Job) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(jobs) > res.Got {
		panic("more jobs than places")
	}
	r.reserved -= res.Got
	r.takes++
	r.taken = append(r.taken, jobs...)
}

func (r *runner) got() []opennimble.Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.taken)
}

// TestEnqueueLeasesToTheWorker: with a JobTaker's worker set, a transaction
// that enqueues a due job leases it to that worker and hands it over once
// committed; nobody else can claim it, and the worker completes it as a
// claimed job. Jobs not due, jobs leased to another worker, jobs the worker
// has no room for and the jobs of a transaction that did not commit are
// left in the queue, and every place reserved is given back.
func TestEnqueueLeasesToTheWorker(t *testing.T) {
	s := open(t, cluster.Database(t))
	defer s.Close()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	r := &runner{room: 2, now: now}
	s.SetJobTaker(r)
	kind := opennimble.KindStreamingSession
	enqueue := func(runAt time.Time, ids ...string) error {
		return s.Update(ctx, func(tx opennimble.Tx) error {
			for _, id := range ids {
				if err := tx.EnqueueJob(ctx, kind, id, runAt); err != nil {
					return err
				}
			}
			return nil
		})
	}
	claimOthers := func() []string {
		t.Helper()
		jobs, err := s.ClaimJobs(ctx, "other", now.Add(time.Minute), time.Second, 100)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, j := range jobs {
			ids = append(ids, j.ResourceID)
		}
		slices.Sort(ids)
		return ids
	}

	// Due, with room: leased and handed over, twice enqueued in one
	// transaction: one job, with the second enqueue's gen.
	if err := enqueue(now, "a", "a"); err != nil {
		t.Fatal(err)
	}
	got := r.got()
	if len(got) != 1 || got[0].Kind != kind || got[0].ResourceID != "a" || !got[0].RunAt.Equal(now) || got[0].Attempts != 0 {
		t.Fatalf("taken: %+v, want job a", got)
	}
	// The job is leased: another worker cannot claim it, even when its
	// run time has come, until the lease (an hour) ends.
	if ids := claimOthers(); len(ids) != 0 {
		t.Fatalf("another worker claimed %v, a leased job", ids)
	}
	// Completing it with the gen handed over deletes it (the gen is the
	// latest: the second enqueue's).
	if err := s.CompleteJob(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.NextJobAt(ctx); err != nil || ok {
		t.Fatalf("after completion, jobs left: %v %v", ok, err)
	}

	// Not due: left free, the place given back.
	if err := enqueue(now.Add(time.Second), "later"); err != nil {
		t.Fatal(err)
	}
	// No room beyond two places: of three due jobs, two are taken.
	if err := enqueue(now, "b", "c", "d"); err != nil {
		t.Fatal(err)
	}
	// A transaction that fails takes nothing.
	boom := errors.New("boom")
	if err := s.Update(ctx, func(tx opennimble.Tx) error {
		if err := tx.EnqueueJob(ctx, kind, "failed", now); err != nil {
			return err
		}
		_, err := tx.Get(ctx, kind, "x") // the enqueue is sent with it
		if err != nil && !errors.Is(err, opennimble.ErrNoRecord) {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("Update: %v, want boom", err)
	}
	got = r.got()[1:]
	var ids []string
	for _, j := range got {
		ids = append(ids, j.ResourceID)
	}
	if !slices.Equal(ids, []string{"b", "c"}) {
		t.Fatalf("taken %v, want b and c (the worker had room for two)", ids)
	}
	if r.reserved != 0 {
		t.Fatalf("%d places still reserved", r.reserved)
	}
	if ids := claimOthers(); !slices.Equal(ids, []string{"d", "later"}) {
		t.Fatalf("another worker claimed %v, want d and later", ids)
	}

	// A job another worker holds keeps its lease: the enqueue asks for a
	// run after it, and the other worker's completion releases it.
	r.room = 0
	if err := enqueue(now, "f"); err != nil {
		t.Fatal(err)
	}
	held, err := s.ClaimJobs(ctx, "other", now, time.Hour, 10)
	if err != nil || len(held) != 1 {
		t.Fatalf("claim: %v %v", held, err)
	}
	r.room = 10
	before := len(r.got())
	if err := enqueue(now, "f"); err != nil {
		t.Fatal(err)
	}
	if len(r.got()) != before {
		t.Fatalf("a job another worker holds was taken: %+v", r.got()[before:])
	}
	if err := s.CompleteJob(ctx, held[0]); err != nil {
		t.Fatal(err)
	}
	// So does a job this worker holds: taken once only.
	if err := enqueue(now, "e"); err != nil {
		t.Fatal(err)
	}
	if err := enqueue(now, "e"); err != nil {
		t.Fatal(err)
	}
	taken := r.got()[before:]
	if len(taken) != 1 || taken[0].ResourceID != "e" {
		t.Fatalf("taken %+v, want e once", taken)
	}
	// Completing the first lease releases the job (it was enqueued since),
	// free for anyone, due at the time asked for, as the other worker's
	// completion released f.
	if err := s.CompleteJob(ctx, taken[0]); err != nil {
		t.Fatal(err)
	}
	if ids := claimOthers(); !slices.Equal(ids, []string{"e", "f"}) {
		t.Fatalf("after the releases another worker claimed %v, want e and f", ids)
	}
	if r.reserved != 0 {
		t.Fatalf("%d places still reserved", r.reserved)
	}
}
