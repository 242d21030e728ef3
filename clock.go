package opennimble

import (
	"sync"
	"time"
)

// Clock is the one source of "now" for everything that schedules. Tests inject
// a FakeClock so that time limits can be checked without sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock, in UTC.
type SystemClock struct{}

// Now returns the current UTC time.
func (SystemClock) Now() time.Time { return time.Now().UTC() }

// FakeClock is a manually advanced clock, safe for concurrent use.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
	// OnAdvance, when set, is called after every Advance or Set, so that
	// schedulers waiting on the clock can look again.
	OnAdvance func()
}

// NewFakeClock returns a clock stopped at t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{now: t.UTC()} }

// Now returns the clock's current time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	f := c.OnAdvance
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

// Set moves the clock to t.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t.UTC()
	f := c.OnAdvance
	c.mu.Unlock()
	if f != nil {
		f()
	}
}
