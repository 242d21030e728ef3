package server

import (
	"fmt"
	"testing"
	"time"
)

// TestLimiterBounded: distinct principals (any key id is one in emulator
// mode) never grow the buckets past the bound, and a principal's bucket
// still throttles it while it keeps calling.
func TestLimiterBounded(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(1, func() time.Time { return now })
	for i := range 5 * maxBuckets {
		l.allow(fmt.Sprintf("AKID%08d", i))
		if i%1000 == 0 {
			now = now.Add(time.Second)
		}
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Fatalf("%d buckets after %d principals, want at most %d", n, 5*maxBuckets, maxBuckets)
	}
	// The same instant: burst 2, then refused.
	if !l.allow("busy") || !l.allow("busy") || l.allow("busy") {
		t.Fatal("a principal's burst is not enforced")
	}
	for i := range maxBuckets {
		l.allow(fmt.Sprintf("late%08d", i))
	}
	if n := len(l.buckets); n > maxBuckets {
		t.Fatalf("%d buckets, want at most %d", n, maxBuckets)
	}
}

// TestLimiterEvictsFullBucketsFirst: when the bound is reached, buckets that
// have refilled go first, so a principal that is being throttled stays
// throttled.
func TestLimiterEvictsFullBucketsFirst(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newLimiter(1, func() time.Time { return now })
	l.max = 100
	for i := range 99 {
		l.allow(fmt.Sprint("idle", i))
	}
	now = now.Add(time.Minute) // all of them refill
	for l.allow("hot") {
	}
	l.allow("new") // the 101st principal: a sweep
	if _, ok := l.buckets["hot"]; !ok {
		t.Fatal("the throttled principal's bucket was evicted")
	}
	if l.allow("hot") {
		t.Fatal("the throttled principal is served again")
	}
	if n := len(l.buckets); n > 3 {
		t.Fatalf("%d buckets left, want the idle ones gone", n)
	}
}
