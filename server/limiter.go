package server

import (
	"sync"

	"golang.org/x/time/rate"
)

// limiter throttles each principal with its own token bucket.
type limiter struct {
	rps     float64
	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

func newLimiter(rps float64) *limiter {
	return &limiter{rps: rps, buckets: map[string]*rate.Limiter{}}
}

func (l *limiter) allow(principal string) bool {
	if l.rps <= 0 {
		return true
	}
	l.mu.Lock()
	b, ok := l.buckets[principal]
	if !ok {
		burst := int(2 * l.rps)
		if burst < 1 {
			burst = 1
		}
		b = rate.NewLimiter(rate.Limit(l.rps), burst)
		l.buckets[principal] = b
	}
	l.mu.Unlock()
	return b.Allow()
}
