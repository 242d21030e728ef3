package e2e

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// failingStore makes every transaction fail while broken is set, the way a
// full disk or a lost database would.
type failingStore struct {
	opennimble.Store
	broken atomic.Bool
}

var errDiskFull = errors.New("disk I/O error: simulated by the test")

func (s *failingStore) Update(ctx context.Context, fn func(opennimble.Tx) error) error {
	if s.broken.Load() {
		return errDiskFull
	}
	return s.Store.Update(ctx, fn)
}

func (s *failingStore) View(ctx context.Context, fn func(opennimble.Tx) error) error {
	if s.broken.Load() {
		return errDiskFull
	}
	return s.Store.View(ctx, fn)
}

func (s *failingStore) ClaimJobs(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]opennimble.Job, error) {
	if s.broken.Load() {
		return nil, errDiskFull
	}
	return s.Store.ClaimJobs(ctx, owner, now, lease, limit)
}
