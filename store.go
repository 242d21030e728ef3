package opennimble

import (
	"context"
	"errors"
	"time"
)

// Kind names a type of stored resource.
type Kind string

// The kinds of resource the service stores.
const (
	KindStudio              Kind = "studio"
	KindStudioComponent     Kind = "studio-component"
	KindLaunchProfile       Kind = "launch-profile"
	KindStreamingImage      Kind = "streaming-image"
	KindStreamingSession    Kind = "streaming-session"
	KindStreamingBackup     Kind = "streaming-session-backup"
	KindStreamingStream     Kind = "streaming-session-stream"
	KindStudioMember        Kind = "studio-member"
	KindLaunchProfileMember Kind = "launch-profile-member"
	KindEulaAcceptance      Kind = "eula-acceptance"
)

// ErrNoRecord is returned by stores when a record, job or key does not exist.
// The service turns it into a ResourceNotFoundException naming the resource.
var ErrNoRecord = errors.New("opennimble: no such record")

// ErrVersionConflict is returned by Tx.Put when Record.Version does not match
// the stored version (another writer got there first).
var ErrVersionConflict = errors.New("opennimble: version conflict")

// Record is one stored resource: a few indexed columns and the resource's
// JSON document, which only the service layer interprets.
type Record struct {
	Kind     Kind
	ID       string // unique within Kind
	StudioID string // "" for resources outside a studio
	ParentID string // the launch profile of a member, the session of a backup or stream
	OwnedBy  string // the principal that owns a session or backup
	State    string // the model's state enum value, "" for stateless resources
	// Seq is assigned by the store on first insert and never changes. It grows
	// with every insert, so it is the keyset for stable pagination.
	Seq int64
	// Version is 0 for a record that is not stored yet; Put increments it.
	// Put fails with ErrVersionConflict unless it equals the stored version.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
	Data      []byte
}

// ListQuery selects records of one kind, in Seq order, from a keyset cursor.
type ListQuery struct {
	Kind     Kind
	StudioID string   // "" matches any
	ParentID string   // "" matches any
	OwnedBy  string   // "" matches any
	States   []string // empty matches any
	// ExcludeStates drops records in any of these states (usually DELETED).
	ExcludeStates []string
	// After is the Seq of the last record already seen: only records beyond it
	// (greater, or smaller when Descending) are returned. 0 starts from the
	// beginning.
	After      int64
	Descending bool
	Limit      int // 0 means no limit
}

// IdempotencyRecord remembers the outcome of a request that carried a client
// token, so that a replay returns the first result.
type IdempotencyRecord struct {
	Key         string // principal, operation and token
	RequestHash string // hash of the request's parameters
	Response    []byte // the output, as the service encoded it
	CreatedAt   time.Time
	// ExpiresAt is when the record stops counting: a record of the same key
	// created then or later replaces it, and stores delete expired records
	// a few at a time as they write new ones. Zero: never.
	ExpiresAt time.Time
}

// neverExpires stands for a zero ExpiresAt in the stores' columns (before
// 2262, the end of int64 nanoseconds since 1970).
var neverExpires = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)

// Expiry is r.ExpiresAt, or a moment far in the future when it is zero.
func (r *IdempotencyRecord) Expiry() time.Time {
	if r.ExpiresAt.IsZero() {
		return neverExpires
	}
	return r.ExpiresAt
}

// Idempotency records are purged by the writes of new ones: one in
// IdempotencyPurgeEvery writes (at random, so that concurrent writers
// rarely compete for the same rows) also deletes up to
// IdempotencyPurgeBatch expired records, which removes expired records
// several times faster than they can appear.
const (
	IdempotencyPurgeEvery = 8
	IdempotencyPurgeBatch = 64
)

// Job asks the lifecycle to look at one resource at or after RunAt. There is at
// most one job per resource; enqueueing again keeps the earlier RunAt.
type Job struct {
	Kind       Kind
	ResourceID string
	RunAt      time.Time
	Attempts   int
	// Gen changes on every enqueue, so that completing a job that was
	// re-enqueued while it ran does not lose the newer request.
	Gen int64
	// TakenOver reports that this claim took the job over from a worker
	// whose lease had expired (it stopped, crashed or stalled).
	TakenOver bool
}

// Credential is an access key and the principal it authenticates.
type Credential struct {
	AccessKeyID     string
	SecretAccessKey string
	PrincipalID     string
	Admin           bool
	CreatedAt       time.Time
}

// Tx is a transaction. Reads see the transaction's own writes. Methods return
// ErrNoRecord for missing rows.
type Tx interface {
	Get(ctx context.Context, kind Kind, id string) (*Record, error)
	// Put inserts (Version 0) or replaces (Version equal to the stored one)
	// a record, and updates r's Seq, Version and timestamps in place.
	Put(ctx context.Context, r *Record) error
	Delete(ctx context.Context, kind Kind, id string) error
	List(ctx context.Context, q ListQuery) ([]*Record, error)
	Count(ctx context.Context, q ListQuery) (int, error)

	// GetIdempotency returns the record of key, expired or not.
	GetIdempotency(ctx context.Context, key string) (*IdempotencyRecord, error)
	// PutIdempotency stores r, replacing a record of the same key only if
	// that one expired by r.CreatedAt (otherwise ErrVersionConflict).
	PutIdempotency(ctx context.Context, r *IdempotencyRecord) error

	// EnqueueJob schedules a look at a resource; an existing job keeps the
	// earlier of the two run times and gets a new Gen.
	EnqueueJob(ctx context.Context, kind Kind, id string, runAt time.Time) error
	// CompleteJob is Store.CompleteJob inside the transaction: the job is
	// completed if and only if the transaction commits, so that the last
	// step of a reconcile and the end of its job are one write.
	CompleteJob(ctx context.Context, j Job) error

	GetMeta(ctx context.Context, key string) ([]byte, error)
	PutMeta(ctx context.Context, key string, value []byte) error
}

// Store is the durable state of a server. An acknowledged Update survives a
// crash. Implementations: sqlite (embedded default) and postgres.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits when it returns
	// nil. It may run fn more than once when the database asks to retry.
	Update(ctx context.Context, fn func(Tx) error) error

	// ClaimJobs leases up to limit jobs whose RunAt is not after now and
	// whose lease (if any) has expired, to owner until now+lease.
	ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Job, error)
	// CompleteJob removes a claimed job unless it was enqueued again since it
	// was claimed (its Gen changed), in which case only the lease is released.
	CompleteJob(ctx context.Context, j Job) error
	// RetryJob releases a claimed job to run again at runAt, counting an attempt.
	RetryJob(ctx context.Context, j Job, runAt time.Time) error
	// RenewJobs extends to until the leases of those of jobs that owner still
	// holds, so that a step running longer than a lease is not taken over,
	// and returns how many it extended. A job whose lease another worker took
	// over is left alone.
	RenewJobs(ctx context.Context, owner string, jobs []Job, until time.Time) (int, error)
	// NextJobAt returns the earliest RunAt of any job, or ok false if none.
	NextJobAt(ctx context.Context) (t time.Time, ok bool, err error)

	PutCredential(ctx context.Context, c Credential) error
	// PutFirstAdmin stores c only if the store holds no administrator
	// credential, atomically (replicas starting together on a store without
	// one create one administrator between them), and reports whether it did.
	// Credentials of other principals do not count.
	PutFirstAdmin(ctx context.Context, c Credential) (bool, error)
	GetCredential(ctx context.Context, accessKeyID string) (*Credential, error)
	ListCredentials(ctx context.Context) ([]Credential, error)
	DeleteCredential(ctx context.Context, accessKeyID string) error

	Close() error
}

// RecordGetter is an optional capability of a Store: a single committed
// record, read outside any transaction, possibly from a cache that the store
// keeps exact. Read-only operations that need one record use it.
type RecordGetter interface {
	GetRecord(ctx context.Context, kind Kind, id string) (*Record, error)
}

// TxRetryCounter is an optional capability of a Store: how many times a
// write transaction started over because the database asked (PostgreSQL's
// serialization failures and deadlocks, SQLite's busy lock), since the
// store was opened (metrics).
type TxRetryCounter interface {
	TxRetries() int64
}

// JobCounter is an optional capability of a Store: how many lifecycle jobs
// wait or run (for metrics).
type JobCounter interface {
	CountJobs(ctx context.Context) (int, error)
}

// JobTaker is an optional capability of a Store: SetJobTaker gives it the
// lifecycle worker of this process, and a transaction that enqueues a job
// that is due then also leases it to that worker, when it has room, and
// hands it over once the transaction has committed. The worker gets the job
// without a claim (a transaction) of its own, and other replicas, which see
// the job leased, do not race for it. A job the worker has no room for is
// left to be claimed as any other.
type JobTaker interface {
	SetJobTaker(JobRunner)
}

// JobRunner is the worker side of a JobTaker.
type JobRunner interface {
	// Reserve reserves up to n of the worker's free places for jobs and
	// says how to lease them: to Owner, for Lease, due at Now (the
	// worker's clock). Got is 0 when the worker has no room, or is not
	// running.
	Reserve(n int) JobReservation
	// Take runs jobs leased under r (at most r.Got of them) and frees the
	// places that they do not use. Every Reserve is followed by exactly
	// one Take, with no jobs when none was leased or the transaction did
	// not commit.
	Take(r JobReservation, jobs []Job)
}

// JobReservation is places reserved in a worker (see JobRunner).
type JobReservation struct {
	Got   int
	Owner string
	Now   time.Time
	Lease time.Duration
}
