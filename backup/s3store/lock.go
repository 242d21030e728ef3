package s3store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The repository lock on object storage. There is no flock(2) in S3; the
// lock is made of objects under ".locks/" (never listed as keys):
//
//   - the exclusive holder owns ".locks/exclusive", created with a
//     conditional write (If-None-Match: *), so that of two processes
//     racing for it exactly one succeeds; it then waits until no shared
//     lock object is left;
//   - each shared holder writes ".locks/shared-<owner>-<n>" and then looks
//     for the exclusive object: if there is one it removes its own and
//     waits.
//
// S3 is strongly consistent (read-after-write and list-after-write), so a
// shared holder's check and an exclusive holder's listing cannot both miss
// each other: one of them comes after the other's write.
//
// A holder renews its object every Lease/3 (rewriting it changes its
// ETag). A waiter that sees a lock object keep the same ETag for a whole
// Lease, by its own clock (so clocks need not agree), takes its holder for
// dead (killed with -9, or cut off) and deletes the object. The limits:
// a holder stalled for longer than a Lease (a paused VM) loses its lock
// without knowing until its next renewal, which logs it; and the server
// must support conditional writes (AWS S3 does since 2024, as do MinIO
// and versitygw): one that does not makes Lock fail with a clear error
// rather than hand out an exclusive lock twice.
const (
	lockDir      = ".locks/"
	exclusiveKey = lockDir + "exclusive"
	sharedPrefix = lockDir + "shared-"
)

type lockBody struct {
	Owner     string    `json:"owner"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Exclusive bool      `json:"exclusive"`
	Renewed   time.Time `json:"renewed"`
	Seq       int64     `json:"seq"` // changes the ETag of every renewal
}

var lockSeq atomic.Int64

func newOwner() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Store) lockBody(exclusive bool) []byte {
	host, _ := os.Hostname()
	b, _ := json.Marshal(lockBody{Owner: s.owner, Host: host, PID: os.Getpid(), Exclusive: exclusive, Renewed: time.Now().UTC(), Seq: lockSeq.Add(1)})
	return b
}

// staleness remembers, per lock object, since when this waiter has seen
// the same ETag.
type staleness struct {
	lease time.Duration
	seen  map[string]seenTag
}

type seenTag struct {
	etag  string
	since time.Time
}

func (st *staleness) stale(key, etag string) bool {
	if st.seen == nil {
		st.seen = map[string]seenTag{}
	}
	now := time.Now()
	if t, ok := st.seen[key]; ok && t.etag == etag {
		return now.Sub(t.since) > st.lease
	}
	st.seen[key] = seenTag{etag: etag, since: now}
	return false
}

// Lock takes the shared or exclusive lock; see above.
func (s *Store) Lock(ctx context.Context, exclusive bool) (func(), error) {
	st := &staleness{lease: s.opts.Lease}
	wait := 20 * time.Millisecond
	pause := func() error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond)
		return nil
	}
	var key string
	if exclusive {
		key = exclusiveKey
		for {
			ok, err := s.createExclusive(ctx)
			if err != nil {
				return nil, err
			}
			if ok {
				break
			}
			if err := s.dropIfStale(ctx, st, exclusiveKey); err != nil {
				return nil, err
			}
			if err := pause(); err != nil {
				return nil, err
			}
		}
	} else {
		key = fmt.Sprintf("%s%s-%d", sharedPrefix, s.owner, lockSeq.Add(1))
		for {
			if err := s.putLock(ctx, key, false); err != nil {
				return nil, err
			}
			held, err := s.exclusiveHeld(ctx, st)
			if err != nil {
				s.dropLock(key)
				return nil, err
			}
			if !held {
				break
			}
			s.dropLock(key)
			if err := pause(); err != nil {
				return nil, err
			}
		}
	}
	stop := s.renew(key, exclusive)
	unlock := func() {
		stop()
		s.dropLock(key)
	}
	if exclusive {
		// Wait for the shared holders to finish; new ones see our object
		// and stay away.
		for {
			n, err := s.liveShared(ctx, st)
			if err != nil {
				unlock()
				return nil, err
			}
			if n == 0 {
				break
			}
			if err := pause(); err != nil {
				unlock()
				return nil, err
			}
		}
	}
	var once sync.Once
	return func() { once.Do(unlock) }, nil
}

// createExclusive creates the exclusive lock object unless it exists.
func (s *Store) createExclusive(ctx context.Context) (bool, error) {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: s.key(exclusiveKey),
		Body: bytes.NewReader(s.lockBody(true)), IfNoneMatch: aws.String("*")})
	switch status(err) {
	case 0:
		if err != nil {
			return false, fmt.Errorf("backup store: lock: %w", describe(err))
		}
		return true, nil
	case 412, 409: // exists, or another conditional write raced ours
		return false, nil
	case 501:
		return false, fmt.Errorf("backup store: lock: the S3 server does not support conditional writes (If-None-Match), which the repository lock needs: %w", describe(err))
	}
	return false, fmt.Errorf("backup store: lock: %w", describe(err))
}

func (s *Store) putLock(ctx context.Context, key string, exclusive bool) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: s.key(key), Body: bytes.NewReader(s.lockBody(exclusive))})
	if err != nil {
		return fmt.Errorf("backup store: lock: %w", describe(err))
	}
	return nil
}

// dropLock deletes a lock object, even when the caller's context is done.
func (s *Store) dropLock(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: s.key(key)}); err != nil && !notFound(err) {
		s.opts.Logger.Warn("backup store: cannot remove a lock object; it expires after the lease", "key", key, "err", describe(err))
	}
}

// exclusiveHeld reports whether a live exclusive lock object exists,
// removing a stale one.
func (s *Store) exclusiveHeld(ctx context.Context, st *staleness) (bool, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: s.key(exclusiveKey)})
	if notFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("backup store: lock: %w", describe(err))
	}
	if st.stale(exclusiveKey, aws.ToString(out.ETag)) {
		s.opts.Logger.Warn("backup store: removing an exclusive lock whose holder stopped renewing it", "lease", s.opts.Lease)
		s.dropLock(exclusiveKey)
	}
	return true, nil
}

func (s *Store) dropIfStale(ctx context.Context, st *staleness, key string) error {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: s.key(key)})
	if notFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("backup store: lock: %w", describe(err))
	}
	if st.stale(key, aws.ToString(out.ETag)) {
		s.opts.Logger.Warn("backup store: removing a lock whose holder stopped renewing it", "key", key, "lease", s.opts.Lease)
		s.dropLock(key)
	}
	return nil
}

// liveShared counts the shared lock objects, removing stale ones.
func (s *Store) liveShared(ctx context.Context, st *staleness) (int, error) {
	n := 0
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + sharedPrefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return 0, fmt.Errorf("backup store: lock: %w", describe(err))
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)[len(s.prefix):]
			if st.stale(key, aws.ToString(o.ETag)) {
				s.opts.Logger.Warn("backup store: removing a shared lock whose holder stopped renewing it", "key", key, "lease", s.opts.Lease)
				s.dropLock(key)
				continue
			}
			n++
		}
	}
	return n, nil
}

// renew rewrites the lock object every Lease/3 until stop is called. An
// exclusive holder first checks that the object is still its own.
func (s *Store) renew(key string, exclusive bool) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(s.opts.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), s.opts.Lease/3)
			if exclusive && !s.ownsExclusive(ctx) {
				s.opts.Logger.Error("backup store: lost the exclusive lock (this process stalled for longer than the lease)", "lease", s.opts.Lease)
				cancel()
				return
			}
			if err := s.putLock(ctx, key, exclusive); err != nil {
				s.opts.Logger.Warn("backup store: cannot renew the lock", "key", key, "err", err)
			}
			cancel()
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

func (s *Store) ownsExclusive(ctx context.Context) bool {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: s.key(exclusiveKey)})
	if err != nil {
		return !notFound(err) // cannot tell: keep renewing
	}
	defer out.Body.Close()
	var b lockBody
	if err := json.NewDecoder(out.Body).Decode(&b); err != nil {
		return true
	}
	return b.Owner == s.owner
}
