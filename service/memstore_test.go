package service

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// memStore is a minimal in-memory opennimble.Store for the session tests,
// with the job semantics of the SQLite store: an Update works on a copy of
// the state that replaces it only on commit, so a failing (or "crashing")
// transaction leaves nothing behind.
type memStore struct {
	mu sync.RWMutex
	st *memState
}

type memKey struct {
	kind opennimble.Kind
	id   string
}

type memJob struct {
	job        opennimble.Job
	owner      string
	leaseUntil time.Time
	next       *time.Time // an enqueue during the lease
}

type memState struct {
	seq, gen int64
	records  map[memKey]*opennimble.Record
	idem     map[string]*opennimble.IdempotencyRecord
	jobs     map[memKey]*memJob
	meta     map[string][]byte
	creds    map[string]opennimble.Credential // not transactional, as in the stores
}

func newMemStore() *memStore {
	return &memStore{st: &memState{records: map[memKey]*opennimble.Record{}, idem: map[string]*opennimble.IdempotencyRecord{},
		jobs: map[memKey]*memJob{}, meta: map[string][]byte{}, creds: map[string]opennimble.Credential{}}}
}

func (s *memState) clone() *memState {
	c := *s
	c.records = maps.Clone(s.records) // records are replaced, never changed in place
	c.idem = maps.Clone(s.idem)
	c.meta = maps.Clone(s.meta)
	c.jobs = make(map[memKey]*memJob, len(s.jobs))
	for k, j := range s.jobs {
		cj := *j
		c.jobs[k] = &cj
	}
	return &c
}

func (m *memStore) View(ctx context.Context, fn func(opennimble.Tx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return fn(&memTx{st: m.st})
}

func (m *memStore) Update(ctx context.Context, fn func(opennimble.Tx) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	c := m.st.clone()
	if err := fn(&memTx{st: c, writable: true}); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	m.st = c
	return nil
}

// write runs fn on the state under the lock (job methods are their own
// transactions).
func (m *memStore) write(fn func(*memState) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fn(m.st)
}

func (j *memJob) due() time.Time {
	if j.owner != "" {
		return j.leaseUntil
	}
	return j.job.RunAt
}

func (m *memStore) ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]opennimble.Job, error) {
	var out []opennimble.Job
	err := m.write(func(s *memState) error {
		var due []*memJob
		for _, j := range s.jobs {
			if !j.due().After(now) {
				due = append(due, j)
			}
		}
		slices.SortFunc(due, func(a, b *memJob) int { return a.due().Compare(b.due()) })
		for _, j := range due[:min(limit, len(due))] {
			taken := j.owner != ""
			if taken {
				j.job.Attempts++ // the lease expired: its worker is presumed dead
			}
			j.owner, j.leaseUntil, j.next = owner, now.Add(lease), nil
			claimed := j.job
			claimed.TakenOver = taken
			out = append(out, claimed)
		}
		return nil
	})
	return out, err
}

func (m *memStore) CompleteJob(ctx context.Context, job opennimble.Job) error {
	return m.write(func(s *memState) error {
		s.completeJob(job)
		return nil
	})
}

func (s *memState) completeJob(job opennimble.Job) {
	k := memKey{job.Kind, job.ResourceID}
	j := s.jobs[k]
	switch {
	case j == nil:
	case j.job.Gen == job.Gen:
		delete(s.jobs, k)
	case j.owner != "":
		j.release()
	}
}

// release frees a leased job to run when it was last asked for.
func (j *memJob) release() {
	if j.next != nil {
		j.job.RunAt = *j.next
	}
	j.owner, j.next = "", nil
}

func (m *memStore) RetryJob(ctx context.Context, job opennimble.Job, runAt time.Time) error {
	return m.write(func(s *memState) error {
		j := s.jobs[memKey{job.Kind, job.ResourceID}]
		if j == nil {
			return opennimble.ErrNoRecord
		}
		if j.job.Gen == job.Gen {
			j.owner, j.next, j.job.RunAt = "", nil, runAt
			j.job.Attempts++
			return nil
		}
		j.release()
		if runAt.Before(j.job.RunAt) {
			j.job.RunAt = runAt
		}
		return nil
	})
}

func (m *memStore) RenewJobs(ctx context.Context, owner string, jobs []opennimble.Job, until time.Time) (int, error) {
	n := 0
	err := m.write(func(s *memState) error {
		for _, job := range jobs {
			if j := s.jobs[memKey{job.Kind, job.ResourceID}]; j != nil && j.owner == owner {
				j.leaseUntil = until
				n++
			}
		}
		return nil
	})
	return n, err
}

func (m *memStore) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var at time.Time
	ok := false
	for _, j := range m.st.jobs {
		if !ok || j.due().Before(at) {
			at, ok = j.due(), true
		}
	}
	return at, ok, nil
}

func (m *memStore) PutCredential(_ context.Context, c opennimble.Credential) error {
	return m.write(func(s *memState) error {
		if c.CreatedAt.IsZero() {
			c.CreatedAt = time.Now().UTC()
		}
		s.creds[c.AccessKeyID] = c
		return nil
	})
}

func (m *memStore) PutFirstAdmin(ctx context.Context, c opennimble.Credential) (bool, error) {
	stored := false
	err := m.write(func(s *memState) error {
		for _, have := range s.creds {
			if have.Admin {
				return nil
			}
		}
		if c.CreatedAt.IsZero() {
			c.CreatedAt = time.Now().UTC()
		}
		s.creds[c.AccessKeyID], stored = c, true
		return nil
	})
	return stored, err
}

func (m *memStore) GetCredential(_ context.Context, id string) (*opennimble.Credential, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	c, ok := m.st.creds[id]
	if !ok {
		return nil, opennimble.ErrNoRecord
	}
	return &c, nil
}

func (m *memStore) ListCredentials(context.Context) ([]opennimble.Credential, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := slices.Collect(maps.Values(m.st.creds))
	slices.SortFunc(out, func(a, b opennimble.Credential) int { return strings.Compare(a.AccessKeyID, b.AccessKeyID) })
	return out, nil
}

func (m *memStore) DeleteCredential(_ context.Context, id string) error {
	return m.write(func(s *memState) error {
		if _, ok := s.creds[id]; !ok {
			return opennimble.ErrNoRecord
		}
		delete(s.creds, id)
		return nil
	})
}

func (m *memStore) Close() error { return nil }

// memTx is a transaction on a memState.
type memTx struct {
	st       *memState
	writable bool
}

var errMemReadOnly = errors.New("memstore: write in a read-only transaction")

func memCopy(r *opennimble.Record) *opennimble.Record {
	c := *r
	c.Data = slices.Clone(r.Data)
	return &c
}

func (t *memTx) Get(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	r := t.st.records[memKey{kind, id}]
	if r == nil {
		return nil, opennimble.ErrNoRecord
	}
	return memCopy(r), nil
}

func (t *memTx) Put(ctx context.Context, r *opennimble.Record) error {
	if !t.writable {
		return errMemReadOnly
	}
	k := memKey{r.Kind, r.ID}
	old := t.st.records[k]
	now := time.Now().UTC()
	switch {
	case r.Version == 0 && old == nil:
		t.st.seq++
		r.Seq = t.st.seq
		if r.CreatedAt.IsZero() {
			r.CreatedAt = now
		}
	case old == nil:
		return opennimble.ErrNoRecord
	case old.Version != r.Version:
		return opennimble.ErrVersionConflict
	default:
		r.Seq, r.CreatedAt = old.Seq, old.CreatedAt
	}
	r.Version++
	if r.UpdatedAt.IsZero() {
		r.UpdatedAt = now
	}
	t.st.records[k] = memCopy(r)
	return nil
}

func (t *memTx) Delete(ctx context.Context, kind opennimble.Kind, id string) error {
	if !t.writable {
		return errMemReadOnly
	}
	if t.st.records[memKey{kind, id}] == nil {
		return opennimble.ErrNoRecord
	}
	delete(t.st.records, memKey{kind, id})
	return nil
}

func memMatches(q opennimble.ListQuery, r *opennimble.Record) bool {
	eq := func(want, got string) bool { return want == "" || want == got }
	return r.Kind == q.Kind && eq(q.StudioID, r.StudioID) && eq(q.ParentID, r.ParentID) && eq(q.OwnedBy, r.OwnedBy) &&
		(len(q.States) == 0 || slices.Contains(q.States, r.State)) && !slices.Contains(q.ExcludeStates, r.State)
}

func (t *memTx) List(ctx context.Context, q opennimble.ListQuery) ([]*opennimble.Record, error) {
	var out []*opennimble.Record
	for _, r := range t.st.records {
		beyond := q.After == 0 || (!q.Descending && r.Seq > q.After) || (q.Descending && r.Seq < q.After)
		if memMatches(q, r) && beyond {
			out = append(out, memCopy(r))
		}
	}
	slices.SortFunc(out, func(a, b *opennimble.Record) int {
		if q.Descending {
			return int(b.Seq - a.Seq)
		}
		return int(a.Seq - b.Seq)
	})
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

func (t *memTx) Count(ctx context.Context, q opennimble.ListQuery) (int, error) {
	q.After, q.Limit = 0, 0
	recs, err := t.List(ctx, q)
	return len(recs), err
}

func (t *memTx) GetIdempotency(ctx context.Context, key string) (*opennimble.IdempotencyRecord, error) {
	r := t.st.idem[key]
	if r == nil {
		return nil, opennimble.ErrNoRecord
	}
	c := *r
	return &c, nil
}

func (t *memTx) PutIdempotency(ctx context.Context, r *opennimble.IdempotencyRecord) error {
	if !t.writable {
		return errMemReadOnly
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = time.Now().UTC()
	}
	if have := t.st.idem[r.Key]; have != nil && have.Expiry().After(r.CreatedAt) {
		return opennimble.ErrVersionConflict
	}
	// The stores purge expired records in batches now and then; a map can
	// afford to drop them all at every write.
	for k, have := range t.st.idem {
		if !have.Expiry().After(r.CreatedAt) {
			delete(t.st.idem, k)
		}
	}
	c := *r
	t.st.idem[r.Key] = &c
	return nil
}

func (t *memTx) EnqueueJob(ctx context.Context, kind opennimble.Kind, id string, runAt time.Time) error {
	if !t.writable {
		return errMemReadOnly
	}
	t.st.gen++
	k := memKey{kind, id}
	j := t.st.jobs[k]
	switch {
	case j == nil:
		t.st.jobs[k] = &memJob{job: opennimble.Job{Kind: kind, ResourceID: id, RunAt: runAt, Gen: t.st.gen}}
		return nil
	case j.owner == "":
		if runAt.Before(j.job.RunAt) {
			j.job.RunAt = runAt
		}
	case j.next == nil || runAt.Before(*j.next):
		j.next = &runAt
	}
	j.job.Gen = t.st.gen
	return nil
}

func (t *memTx) CompleteJob(ctx context.Context, job opennimble.Job) error {
	if !t.writable {
		return errMemReadOnly
	}
	t.st.completeJob(job)
	return nil
}

func (t *memTx) GetMeta(ctx context.Context, key string) ([]byte, error) {
	v, ok := t.st.meta[key]
	if !ok {
		return nil, opennimble.ErrNoRecord
	}
	return slices.Clone(v), nil
}

func (t *memTx) PutMeta(ctx context.Context, key string, value []byte) error {
	if !t.writable {
		return errMemReadOnly
	}
	t.st.meta[key] = slices.Clone(value)
	return nil
}
