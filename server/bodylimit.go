package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/semaphore"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/sigv4"
)

// Defaults of the limits on request bodies.
const (
	// DefaultBodyTimeout is how long a request body may take to arrive once
	// its headers have: the largest valid body is a few kilobytes.
	DefaultBodyTimeout = 30 * time.Second
	// DefaultBodyMemory is how many bytes the bodies being read and served
	// may hold at once, all connections together.
	DefaultBodyMemory = 32 << 20
)

// BodyChecker is an Authenticator that can check a request before its body
// is read: sigv4.Verifier is one. The server then never buffers a body for
// a caller whose signature is malformed, stale, out of scope or names an
// unknown key.
type BodyChecker interface {
	Begin(r *http.Request) (*sigv4.Check, error)
}

// RequestAuthenticator authenticates a whole request, body included, within
// the server's limits on bodies: *Server is one. The emulator controls use
// it, so that their paths are no way around the limits.
type RequestAuthenticator interface {
	Authenticate(w http.ResponseWriter, r *http.Request) (*sigv4.Identity, []byte, func(), error)
}

// bodyGate bounds the time and memory that request bodies take.
type bodyGate struct {
	budget  *semaphore.Weighted
	timeout time.Duration
}

func newBodyGate(memory int64, timeout time.Duration) *bodyGate {
	if memory <= 0 {
		memory = DefaultBodyMemory
	}
	if memory < MaxBodyBytes {
		memory = MaxBodyBytes // the largest body must fit
	}
	if timeout <= 0 {
		timeout = DefaultBodyTimeout
	}
	return &bodyGate{budget: semaphore.NewWeighted(memory), timeout: timeout}
}

// Authenticate checks r's signature, reading its body within the body
// deadline and the memory budget, and returns the caller, the body and a
// function that gives the body's memory back (to call once the body is no
// longer used). It checks the signature's form, time, scope and key before
// it reads a byte of the body. Over the budget it answers
// ThrottlingException, which every AWS SDK retries with backoff.
func (s *Server) Authenticate(w http.ResponseWriter, r *http.Request) (*sigv4.Identity, []byte, func(), error) {
	rc := http.NewResponseController(w)
	if r.ContentLength != 0 {
		// Not supported by test recorders; a real connection always is.
		_ = rc.SetReadDeadline(time.Now().Add(s.gate.timeout))
	}
	id, body, release, read, err := s.authenticate(r)
	if err != nil && !read && r.ContentLength != 0 {
		// Refused before the body was read: do not wait for it. What has
		// already arrived is still discarded, so that a small body keeps
		// its connection alive.
		_ = rc.SetReadDeadline(time.Now())
	} else if r.ContentLength != 0 {
		_ = rc.SetReadDeadline(time.Time{})
	}
	return id, body, release, err
}

func noop() {}

// authenticate reports whether the body was read to its end.
func (s *Server) authenticate(r *http.Request) (id *sigv4.Identity, body []byte, release func(), read bool, err error) {
	release = noop
	var check *sigv4.Check
	if bc, ok := s.auth.(BodyChecker); ok {
		if check, err = bc.Begin(r); err != nil {
			return nil, nil, noop, false, err
		}
	}
	body, release, err = s.gate.read(r)
	if err != nil {
		return nil, nil, noop, false, err
	}
	if check != nil {
		id, err = check.Finish(body)
	} else {
		id, err = s.auth.Verify(r, body)
	}
	if err != nil {
		release()
		return nil, nil, noop, true, err
	}
	return id, body, release, true, nil
}

// guard bounds the body of a request that a handler given to Handle reads
// itself (portal forms, the stream proxy): the same deadline, at most the
// largest body, and its declared length (the largest, if unknown) held in
// the budget while it is served. (The emulator controls then hold their
// small bodies twice; harmless.)
func (g *bodyGate) guard(w http.ResponseWriter, r *http.Request) (func(), error) {
	n := r.ContentLength
	switch {
	case n == 0:
		return noop, nil
	case n > MaxBodyBytes:
		return noop, tooLarge()
	case n < 0:
		n = MaxBodyBytes
	}
	if !g.budget.TryAcquire(n) {
		return noop, g.busy()
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(g.timeout))
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	return func() { g.budget.Release(n) }, nil
}

func tooLarge() error {
	return opennimble.Errorf(opennimble.ErrValidation, "The request body is larger than %d bytes", MaxBodyBytes)
}

func (g *bodyGate) busy() error {
	return opennimble.Errorf(opennimble.ErrThrottling,
		"The server is receiving too many request bodies at once; retry after a short wait")
}

func (g *bodyGate) readError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return opennimble.Errorf(opennimble.ErrValidation, "The request body did not arrive within %s", g.timeout)
	}
	return opennimble.Errorf(opennimble.ErrValidation, "Could not read the request body: %v", err)
}

// read reads r's body, holding its size in the budget until release is
// called. A body of known length is reserved whole before it is read, so
// that a refusal comes at once; one of unknown length (chunked) reserves
// more as it grows.
func (g *bodyGate) read(r *http.Request) (body []byte, release func(), err error) {
	n := r.ContentLength
	switch {
	case n == 0:
		return nil, noop, nil
	case n > MaxBodyBytes:
		return nil, noop, tooLarge()
	case n < 0:
		return g.readChunked(r.Body)
	}
	if !g.budget.TryAcquire(n) {
		return nil, noop, g.busy()
	}
	release = func() { g.budget.Release(n) }
	body = make([]byte, n)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		release()
		return nil, noop, g.readError(err)
	}
	return body, release, nil
}

// readChunked reads a body of unknown length, reserving each growth of its
// buffer before making it.
func (g *bodyGate) readChunked(rd io.Reader) ([]byte, func(), error) {
	var held int64
	release := func() { g.budget.Release(held) }
	fail := func(err error) ([]byte, func(), error) {
		release()
		return nil, noop, err
	}
	var buf []byte
	for {
		if len(buf) == MaxBodyBytes {
			// Full: the body must end here.
			var probe [1]byte
			if _, err := io.ReadFull(rd, probe[:]); err != io.EOF {
				if err == nil {
					err = tooLarge()
				} else {
					err = g.readError(err)
				}
				return fail(err)
			}
			return buf, release, nil
		}
		if len(buf) == cap(buf) {
			next := min(max(2*int64(cap(buf)), 16<<10), MaxBodyBytes)
			if !g.budget.TryAcquire(next - held) {
				return fail(g.busy())
			}
			held = next
			buf = append(make([]byte, 0, next), buf...)
		}
		m, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			return buf, release, nil
		}
		if err != nil {
			return fail(g.readError(err))
		}
	}
}
