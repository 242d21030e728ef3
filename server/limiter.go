package server

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxBuckets bounds the buckets kept at once. Past it, buckets that are full
// are dropped (a new one is the same), and then, if that is not enough, any:
// the principal dropped gets a full bucket, which errs on the side of
// serving it.
const maxBuckets = 10000

// limiter throttles each principal with its own token bucket. The buckets
// of principals that stopped calling are evicted, so that distinct key ids
// (any well-formed one is a principal in emulator mode) cannot grow it
// without bound.
type limiter struct {
	rps     float64
	burst   int
	max     int
	now     func() time.Time
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiter(rps float64, now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	burst := max(int(2*rps), 1)
	return &limiter{rps: rps, burst: burst, max: maxBuckets, now: now, buckets: map[string]*rate.Limiter{}}
}

func (l *limiter) allow(principal string) bool {
	if l.rps <= 0 {
		return true
	}
	now := l.now()
	l.mu.Lock()
	b, ok := l.buckets[principal]
	if !ok {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = rate.NewLimiter(rate.Limit(l.rps), l.burst)
		l.buckets[principal] = b
	}
	l.mu.Unlock()
	return b.AllowN(now, 1)
}

// evict drops the full buckets, then, if fewer than a quarter went, others
// until a quarter has: the next sweep is that many insertions away, so its
// cost is spread over them.
func (l *limiter) evict(now time.Time) {
	full := float64(l.burst)
	for k, b := range l.buckets {
		if b.TokensAt(now) >= full {
			delete(l.buckets, k)
		}
	}
	for k := range l.buckets {
		if len(l.buckets) <= l.max*3/4 {
			break
		}
		delete(l.buckets, k)
	}
}
