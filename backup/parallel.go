package backup

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
)

// largestFirst calls fn for the entries of m that idx names, largest first
// (so that the big files do not come last and leave the other goroutines
// idle), on up to workers goroutines, each with a state of its own from
// newState. The first error stops the rest and is returned.
func largestFirst[S any](ctx context.Context, m *Manifest, idx []int, workers int, newState func() (S, error), fn func(context.Context, S, *Entry) error) error {
	slices.SortFunc(idx, func(a, b int) int { return int(min(max(m.Entries[b].Size-m.Entries[a].Size, -1), 1)) })
	return inParallel(ctx, len(idx), workers, newState, func(ctx context.Context, st S, i int) error {
		return fn(ctx, st, &m.Entries[idx[i]])
	})
}

// inParallel calls fn for 0 to n-1, in order, on up to workers goroutines,
// each with a state of its own from newState. The first error stops the
// rest and is returned.
func inParallel[S any](ctx context.Context, n, workers int, newState func() (S, error), fn func(context.Context, S, int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			st, err := newState()
			if err != nil {
				cancel(err)
				return
			}
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := fn(ctx, st, i); err != nil {
					cancel(err)
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
