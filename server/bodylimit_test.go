package server

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	opennimble "github.com/opennimble/opennimble"
)

// TestBodyGateBudget: a body of known length is refused with
// ThrottlingException while others hold the budget, and served once they
// give it back; one of unknown length reserves as it grows.
func TestBodyGateBudget(t *testing.T) {
	g := newBodyGate(MaxBodyBytes, 0)
	req := func(body string, length int64) *http.Request {
		r, _ := http.NewRequest("POST", "/", io.NopCloser(strings.NewReader(body)))
		r.ContentLength = length
		return r
	}
	big := strings.Repeat("x", MaxBodyBytes-10)
	b1, release1, err := g.read(req(big, int64(len(big))))
	if err != nil || len(b1) != len(big) {
		t.Fatalf("first body: %d bytes, %v", len(b1), err)
	}
	if _, _, err := g.read(req(strings.Repeat("y", 100), 100)); opennimble.ErrorCode(err) != opennimble.ErrThrottling {
		t.Fatalf("over the budget: %v, want ThrottlingException", err)
	}
	if _, _, err := g.read(req(strings.Repeat("y", 100<<10), -1)); opennimble.ErrorCode(err) != opennimble.ErrThrottling {
		t.Fatalf("chunked over the budget: %v, want ThrottlingException", err)
	}
	release1()
	chunked := strings.Repeat("z", 100<<10+7)
	b2, release2, err := g.read(req(chunked, -1))
	if err != nil || !bytes.Equal(b2, []byte(chunked)) {
		t.Fatalf("chunked body: %d bytes, %v", len(b2), err)
	}
	release2()
	if !g.budget.TryAcquire(MaxBodyBytes) {
		t.Fatal("the budget was not given back whole")
	}
	g.budget.Release(MaxBodyBytes)
	if _, _, err := g.read(req(strings.Repeat("z", MaxBodyBytes+1), -1)); opennimble.ErrorCode(err) != opennimble.ErrValidation {
		t.Fatalf("chunked body too large: %v, want ValidationException", err)
	}
	if _, _, err := g.read(req("", MaxBodyBytes+1)); opennimble.ErrorCode(err) != opennimble.ErrValidation {
		t.Fatalf("declared body too large: %v, want ValidationException", err)
	}
	if !g.budget.TryAcquire(MaxBodyBytes) {
		t.Fatal("a refused body kept part of the budget")
	}
}
