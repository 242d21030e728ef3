// Package testwait is how tests wait: for a condition, for as long as the
// test binary's own deadline (go test -timeout) allows, never for a fixed
// wall-clock budget that a busy machine can miss.
package testwait

import (
	"context"
	"testing"
	"time"
)

// margin is kept before the binary's deadline, so that a test that waits in
// vain fails with its own message rather than the binary's panic.
const margin = 10 * time.Second

type deadliner interface{ Deadline() (time.Time, bool) }

// Deadline is when t must stop waiting: shortly before the test binary's
// deadline, or a day away when it has none (go test -timeout 0).
func Deadline(t testing.TB) time.Time {
	if d, ok := t.(deadliner); ok {
		if at, ok := d.Deadline(); ok {
			if early := at.Add(-margin); time.Until(early) > 0 {
				return early
			}
			return at
		}
	}
	return time.Now().Add(24 * time.Hour)
}

// Context is a context that ends at Deadline(t), or when t ends.
func Context(t testing.TB) context.Context {
	c, cancel := context.WithDeadline(context.Background(), Deadline(t))
	t.Cleanup(cancel)
	return c
}

// Eventually polls cond every 10ms until it holds, failing t with what if it
// still does not hold at Deadline(t).
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := Deadline(t)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s at the test's deadline", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
