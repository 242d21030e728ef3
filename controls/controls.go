// Package controls serves the emulator controls under /_nimble/, what test
// suites expect from local AWS emulators (moto's /moto-api/, LocalStack's
// /_localstack/): reset of all state, how transitions progress, fault
// injection and a dump of state. Every request must be signed with SigV4 by
// an administrator, like any request to the server; JSON goes in and out,
// and errors have the API's shape ({"message","code"} and x-amzn-ErrorType).
//
// The health check, which needs no credentials, is served by the app.
package controls

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/restjson"
	"github.com/opennimble/opennimble/server"
	"github.com/opennimble/opennimble/transitions"
)

// Prefix is the reserved path prefix of the controls.
const Prefix = "/_nimble/"

// Lifecycle is what the controls need of the service: running a resource's
// reconciler now, and asking the lifecycle workers to look at it.
type Lifecycle interface {
	Reconcile(ctx context.Context, kind opennimble.Kind, id string) error
	Wake(ctx context.Context, kind opennimble.Kind, id string) error
}

// Resetter is a store that can delete every resource, job and idempotency
// record in one transaction (sqlite.Store does).
type Resetter interface {
	Reset(ctx context.Context) error
}

// Options are the collaborators of the controls.
type Options struct {
	Auth      server.RequestAuthenticator
	Store     opennimble.Store
	Lifecycle Lifecycle
	Policy    *transitions.Policy
	Faults    *Faults
	// Driver is the workstation driver: reset forgets its state when it is
	// an opennimble.Resetter, and the state dump shows it when it is an
	// opennimble.StateDumper.
	Driver opennimble.Driver
	// StepFaults says whether lifecycle faults reach the driver: it is
	// wrapped by driver/faulty with Faults.StepRule as its rule.
	StepFaults bool
	// IDs, when the server is seeded, start their sequence again on reset.
	IDs    *opennimble.SeededIDs
	Clock  opennimble.Clock
	Logger *slog.Logger
}

// Controls is the HTTP handler of the controls and the server hook that
// applies faults and counts reads.
type Controls struct {
	o Options
}

// New returns the controls.
func New(o Options) *Controls {
	if o.Clock == nil {
		o.Clock = opennimble.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Faults == nil {
		o.Faults = NewFaults(0, o.Logger)
	}
	if o.Policy == nil {
		o.Policy = transitions.New(0)
	}
	return &Controls{o: o}
}

// route is one control: a method and a path below Prefix.
type route struct {
	method, path string
	serve        func(c *Controls, r *http.Request, body []byte, arg string) (int, any, error)
}

// routes lists every control. A path ending in "/" takes one more segment,
// passed as arg.
var routes = []route{
	{http.MethodPost, "reset", (*Controls).reset},
	{http.MethodGet, "transitions", (*Controls).getTransitions},
	{http.MethodPut, "transitions", (*Controls).putTransitions},
	{http.MethodPost, "transitions/advance", (*Controls).advance},
	{http.MethodGet, "faults", (*Controls).listFaults},
	{http.MethodPost, "faults", (*Controls).addFault},
	{http.MethodDelete, "faults", (*Controls).clearFaults},
	{http.MethodDelete, "faults/", (*Controls).deleteFault},
	{http.MethodGet, "state", (*Controls).state},
}

// ServeHTTP authenticates the request as the API does, refuses callers that
// are not administrators and serves the control.
func (c *Controls) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, body, release, err := c.o.Auth.Authenticate(w, r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	defer release()
	if !id.Admin {
		restjson.WriteError(w, opennimble.Errorf(opennimble.ErrAccessDenied,
			"The emulator controls are for administrators only, and %s is not one", id.PrincipalID))
		return
	}
	path := strings.TrimPrefix(r.URL.Path, Prefix)
	var allow []string
	for _, rt := range routes {
		arg, ok := match(rt.path, path)
		if !ok {
			continue
		}
		if rt.method != r.Method {
			allow = append(allow, rt.method)
			continue
		}
		status, out, err := rt.serve(c, r, body, arg)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if r.Method != http.MethodGet {
			// Who changed the emulator's state, for the log (the access
			// log does not authenticate these paths).
			c.o.Logger.Info("emulator control", "method", r.Method, "path", r.URL.Path, "principal", id.PrincipalID, "body", string(body[:min(len(body), 1024)]))
		}
		writeJSON(w, status, out)
		return
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		restjson.WriteError(w, opennimble.Errorf(opennimble.ErrMethodNotAllowed, "%s %s is not a control; allowed: %s", r.Method, r.URL.Path, strings.Join(allow, ", ")))
		return
	}
	restjson.WriteError(w, opennimble.Errorf(opennimble.ErrUnknownOperation, "%s is not a control; see the README's Emulator controls", r.URL.Path))
}

// match matches a path against a route path; "faults/" takes one segment.
func match(pattern, path string) (string, bool) {
	if prefix, ok := strings.CutSuffix(pattern, "/"); ok {
		arg, found := strings.CutPrefix(path, prefix+"/")
		return arg, found && arg != "" && !strings.Contains(arg, "/")
	}
	return "", path == pattern
}

// fail writes err; errors that are not the API's are logged and hidden.
func (c *Controls) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *opennimble.Error
	if !errors.As(err, &e) {
		c.o.Logger.Error("emulator control failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	restjson.WriteError(w, err)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		restjson.WriteError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// readJSON decodes a request body into v, refusing unknown members (a typo
// in a control should not be silently ignored). An empty body leaves v as
// it is.
func readJSON(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("The request body is not valid: %v", err)
	}
	if dec.More() {
		return invalid("The request body holds more than one JSON value")
	}
	return nil
}

func invalid(format string, args ...any) error {
	return opennimble.Errorf(opennimble.ErrValidation, format, args...)
}

// Hook is the server hook (server.Options.Hook) of the controls: it applies
// the fault rules to the operation, then counts a read of the resource a Get
// operation names, which may release its held transition.
func (c *Controls) Hook(ctx context.Context, op *api.Operation, in any) error {
	if err := c.o.Faults.apply(ctx, op.Name, principal(ctx)); err != nil {
		return err
	}
	c.countRead(ctx, op.Name, in)
	return nil
}

func principal(ctx context.Context) string {
	p, _ := opennimble.PrincipalFrom(ctx)
	return p.ID
}

// allKinds lists every kind of stored resource, in dump order.
var allKinds = []opennimble.Kind{
	opennimble.KindStudio, opennimble.KindStudioMember, opennimble.KindEulaAcceptance,
	opennimble.KindStudioComponent, opennimble.KindStreamingImage,
	opennimble.KindLaunchProfile, opennimble.KindLaunchProfileMember,
	opennimble.KindStreamingSession, opennimble.KindStreamingBackup, opennimble.KindStreamingStream,
}

func parseKind(s string) (opennimble.Kind, error) {
	for _, k := range allKinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", invalid("Unknown resource type %q; the types are %v", s, allKinds)
}

func inProgress(state string) bool { return strings.HasSuffix(state, "_IN_PROGRESS") }

// getRecord returns a stored record, or nil when there is none.
func (c *Controls) getRecord(ctx context.Context, kind opennimble.Kind, id string) (*opennimble.Record, error) {
	var rec *opennimble.Record
	err := c.o.Store.View(ctx, func(tx opennimble.Tx) error {
		r, err := tx.Get(ctx, kind, id)
		if errors.Is(err, opennimble.ErrNoRecord) {
			return nil
		}
		rec = r
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("controls: read %s %s: %w", kind, id, err)
	}
	return rec, nil
}
