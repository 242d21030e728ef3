package controls

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/server"
	"github.com/opennimble/opennimble/transitions"
)

// ErrorSpec is the modelled error an operation fault answers with.
type ErrorSpec struct {
	Code string `json:"code"`
	// Status must be the model's status for Code when given; it is filled
	// in on output.
	Status  int    `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
}

// Fault is a fault rule. An operation fault (Operation set) adds Latency to,
// and/or answers Error instead of, the operations it matches; a lifecycle
// fault (Step set) makes the driver's operations of that step fail
// with StatusCode, which the session (and its backup, for a snapshot) shows
// in its *_FAILED state.
type Fault struct {
	ID string `json:"id"`

	Operation string               `json:"operation,omitempty"` // an operation name or "*"
	Principal string               `json:"principal,omitempty"` // only requests of this principal
	Error     *ErrorSpec           `json:"error,omitempty"`
	Latency   transitions.Duration `json:"latency,omitempty"`

	Step       string `json:"step,omitempty"`      // a driver step: provision, stop, start, terminate, snapshot, restore, delete-volume, delete-backup
	SessionID  string `json:"sessionId,omitempty"` // only operations on this session
	StatusCode string `json:"statusCode,omitempty"`
	Message    string `json:"message,omitempty"`

	// Probability that a matching request or step is hit (default 1).
	Probability *float64 `json:"probability,omitempty"`
	// Count, when not 0, is how many hits the rule has; it then stays
	// listed, with Remaining 0, and hits nothing more.
	Count     int  `json:"count,omitempty"`
	Hits      int  `json:"hits"`
	Remaining *int `json:"remaining,omitempty"`
}

// modelledErrors are the exceptions of the model, which every operation
// declares.
var modelledErrors = []string{
	opennimble.ErrAccessDenied, opennimble.ErrConflict, opennimble.ErrInternal, opennimble.ErrNotFound,
	opennimble.ErrServiceQuotaExceeded, opennimble.ErrThrottling, opennimble.ErrValidation,
}

// Faults holds the fault rules. It is safe for concurrent use.
type Faults struct {
	log *slog.Logger

	mu    sync.Mutex
	rng   *rand.Rand
	next  int
	rules []*Fault
}

// NewFaults returns an empty rule set. A seed that is not 0 makes the
// probability draws reproducible.
func NewFaults(seed uint64, log *slog.Logger) *Faults {
	if seed == 0 {
		var b [8]byte
		_, _ = crand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Faults{log: log, rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))}
}

// validate checks a new rule and fills in its defaults.
func (f *Fault) validate(stepFaults bool) error {
	if (f.Operation == "") == (f.Step == "") {
		return invalid("A fault names either an operation (\"*\" for all) or a lifecycle step, not both or neither")
	}
	if f.Probability == nil {
		one := 1.0
		f.Probability = &one
	}
	if p := *f.Probability; !(p > 0 && p <= 1) {
		return invalid("probability %v: want more than 0 and at most 1", p)
	}
	if f.Count < 0 {
		return invalid("count %d: want 0 (no limit) or more", f.Count)
	}
	if f.ID != "" || f.Hits != 0 || f.Remaining != nil {
		return invalid("id, hits and remaining are set by the server")
	}
	if f.Operation != "" {
		return f.validateOperation()
	}
	return f.validateStep(stepFaults)
}

func (f *Fault) validateOperation() error {
	if f.SessionID != "" || f.StatusCode != "" || f.Message != "" {
		return invalid("sessionId, statusCode and message belong to lifecycle faults; an operation fault takes error {code, status, message}")
	}
	declared := modelledErrors
	if f.Operation != "*" {
		i := slices.IndexFunc(api.Operations, func(op *api.Operation) bool { return op.Name == f.Operation })
		if i < 0 {
			return invalid("operation %q is not an operation of the model (names such as CreateStreamingSession, or \"*\")", f.Operation)
		}
		declared = api.Operations[i].Errors
	}
	if f.Error == nil && f.Latency <= 0 {
		return invalid("An operation fault needs an error, a latency of more than 0, or both")
	}
	if f.Latency < 0 || time.Duration(f.Latency) > 5*time.Minute {
		return invalid("latency %s: want 0 to 5m", time.Duration(f.Latency))
	}
	if e := f.Error; e != nil {
		if !slices.Contains(declared, e.Code) {
			return invalid("error code %q: %s answers only %v", e.Code, f.Operation, declared)
		}
		want := opennimble.HTTPStatus(e.Code)
		if e.Status != 0 && e.Status != want {
			return invalid("status %d: the model answers %s with %d", e.Status, e.Code, want)
		}
		e.Status = want
	}
	return nil
}

func (f *Fault) validateStep(stepFaults bool) error {
	if f.Error != nil || f.Latency != 0 || f.Principal != "" {
		return invalid("error, latency and principal belong to operation faults; a lifecycle fault takes statusCode and message")
	}
	if !stepFaults {
		return invalid("Lifecycle faults need the emulator's fault injection around the driver")
	}
	if !slices.Contains(opennimble.Steps, opennimble.Step(f.Step)) {
		return invalid("step %q: want one of %v", f.Step, opennimble.Steps)
	}
	if f.StatusCode == "" {
		f.StatusCode = string(api.StreamingSessionStatusCodeInternalError)
	}
	if !slices.Contains(api.StreamingSessionStatusCodeValues, f.StatusCode) {
		return invalid("statusCode %q: want one of %v", f.StatusCode, api.StreamingSessionStatusCodeValues)
	}
	return nil
}

// add stores a validated rule and returns a copy of it with its id.
func (fs *Faults) add(f Fault) Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.next++
	f.ID = fmt.Sprintf("fault-%d", fs.next)
	fs.rules = append(fs.rules, &f)
	return f.view()
}

// view is a copy of f for output, with Remaining when f has a count.
func (f *Fault) view() Fault {
	c := *f
	if f.Error != nil {
		e := *f.Error
		c.Error = &e
	}
	if f.Count > 0 {
		left := f.Count - f.Hits
		c.Remaining = &left
	}
	return c
}

func (fs *Faults) list() []Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]Fault, 0, len(fs.rules))
	for _, f := range fs.rules {
		out = append(out, f.view())
	}
	return out
}

// Clear removes every rule and reports how many there were.
func (fs *Faults) Clear() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := len(fs.rules)
	fs.rules = nil
	return n
}

func (fs *Faults) remove(id string) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := len(fs.rules)
	fs.rules = slices.DeleteFunc(fs.rules, func(f *Fault) bool { return f.ID == id })
	return len(fs.rules) < n
}

// hit picks the first rule that matches and whose draw succeeds, and counts
// the hit. It returns a copy of the rule, or nil.
func (fs *Faults) hit(matches func(*Fault) bool) *Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.rules {
		if (f.Count > 0 && f.Hits >= f.Count) || !matches(f) {
			continue
		}
		if p := *f.Probability; p < 1 && fs.rng.Float64() >= p {
			continue
		}
		f.Hits++
		c := f.view()
		return &c
	}
	return nil
}

// injected is an operation fault's error: the API error it answers, and the
// rule for the access log.
type injected struct {
	err  *opennimble.Error
	rule string
}

func (e *injected) Error() string { return e.err.Error() }
func (e *injected) Unwrap() error { return e.err }

// Fault names the rule and the error for the access log.
func (e *injected) Fault() string { return e.rule + ": " + e.err.Code }

// apply runs the operation fault that hits a request, if any: it waits the
// latency (noted in the access log), then returns the error.
func (fs *Faults) apply(ctx context.Context, op, principal string) error {
	f := fs.hit(func(f *Fault) bool {
		return (f.Operation == op || f.Operation == "*") && (f.Principal == "" || f.Principal == principal)
	})
	if f == nil {
		return nil
	}
	if d := time.Duration(f.Latency); d > 0 {
		server.NoteFault(ctx, fmt.Sprintf("%s: latency %s", f.ID, d))
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	if f.Error == nil {
		return nil
	}
	msg := f.Error.Message
	if msg == "" {
		msg = fmt.Sprintf("This error was injected by the emulator's fault rule %s", f.ID)
	}
	return &injected{err: &opennimble.Error{Code: f.Error.Code, Message: msg}, rule: f.ID}
}

// StepRule is the rule of the fault-injecting driver decorator
// (driver/faulty): a lifecycle fault that hits a new driver
// operation of step on a session (or backup) makes it fail.
func (fs *Faults) StepRule(step opennimble.Step, sessionID, backupID string) *opennimble.DriverError {
	f := fs.hit(func(f *Fault) bool {
		return f.Step == string(step) && (f.SessionID == "" || f.SessionID == sessionID)
	})
	if f == nil {
		return nil
	}
	msg := f.Message
	if msg == "" {
		msg = fmt.Sprintf("The %s step failed: injected by the emulator's fault rule %s", step, f.ID)
	}
	fs.log.Info("fault injected", "fault", f.ID, "step", step, "session", sessionID, "backup", backupID, "status_code", f.StatusCode)
	return &opennimble.DriverError{StatusCode: f.StatusCode, Message: msg}
}

func (c *Controls) addFault(_ *http.Request, body []byte, _ string) (int, any, error) {
	var f Fault
	if len(body) == 0 {
		return 0, nil, invalid("POST /_nimble/faults needs a fault rule as its JSON body")
	}
	if err := readJSON(body, &f); err != nil {
		return 0, nil, err
	}
	if err := f.validate(c.o.StepFaults); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, c.o.Faults.add(f), nil
}

func (c *Controls) listFaults(*http.Request, []byte, string) (int, any, error) {
	return http.StatusOK, map[string]any{"faults": c.o.Faults.list()}, nil
}

func (c *Controls) clearFaults(*http.Request, []byte, string) (int, any, error) {
	return http.StatusOK, map[string]any{"deleted": c.o.Faults.Clear()}, nil
}

func (c *Controls) deleteFault(_ *http.Request, _ []byte, id string) (int, any, error) {
	if !c.o.Faults.remove(id) {
		return 0, nil, opennimble.NotFound("fault", id)
	}
	return http.StatusOK, map[string]any{"deleted": 1}, nil
}
