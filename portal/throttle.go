package portal

import (
	"sync"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// throttle limits failed sign-ins per client address and per access key:
// each failure spends one of Burst tokens, which come back one per Refill.
// With no token left, sign-ins are refused without being tried, so that a
// secret cannot be guessed faster than Burst per Refill.
type throttle struct {
	mu      sync.Mutex
	burst   float64
	refill  time.Duration
	clock   opennimble.Clock
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newThrottle(burst int, refill time.Duration, clock opennimble.Clock) *throttle {
	return &throttle{burst: float64(burst), refill: refill, clock: clock, buckets: map[string]*bucket{}}
}

// level refreshes and returns the bucket of key (nil when it is full).
func (t *throttle) level(key string, now time.Time) *bucket {
	b := t.buckets[key]
	if b == nil {
		return nil
	}
	b.tokens += float64(now.Sub(b.at)) / float64(t.refill)
	b.at = now
	if b.tokens >= t.burst {
		delete(t.buckets, key)
		return nil
	}
	return b
}

// wait returns how long until keys may try again; 0 if they may now.
func (t *throttle) wait(keys ...string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	var longest time.Duration
	for _, k := range keys {
		if b := t.level(k, now); b != nil && b.tokens < 1 {
			longest = max(longest, time.Duration((1-b.tokens)*float64(t.refill)))
		}
	}
	return longest
}

// fail spends a token of each key.
func (t *throttle) fail(keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	if len(t.buckets) > 100_000 {
		// Bounded memory under a spray of addresses: forget the oldest
		// state rather than grow without limit.
		clear(t.buckets)
	}
	for _, k := range keys {
		b := t.level(k, now)
		if b == nil {
			b = &bucket{tokens: t.burst, at: now}
			t.buckets[k] = b
		}
		b.tokens = max(b.tokens-1, 0)
	}
}
