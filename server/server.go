// Package server is the HTTP edge: request ids, access log, panic recovery,
// SigV4 authentication, rate limiting, then the REST-JSON codec and the
// service. It also serves the health check and the stream pages.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/restjson"
	"github.com/opennimble/opennimble/sigv4"
)

// TimestampMode chooses how responses render timestamps.
type TimestampMode string

// Timestamp modes: auto sends epoch seconds to paws (whose JSON parser reads
// only those) and ISO 8601 to every other client.
const (
	TimestampsAuto    TimestampMode = "auto"
	TimestampsISO8601 TimestampMode = "iso8601"
	TimestampsEpoch   TimestampMode = "epoch"
)

// MaxBodyBytes bounds a request body; the largest valid nimble request is far
// smaller.
const MaxBodyBytes = 4 << 20

// Authenticator verifies a request's signature.
type Authenticator interface {
	Verify(r *http.Request, body []byte) (*sigv4.Identity, error)
}

// Server serves the nimble API.
type Server struct {
	handler    api.Handler
	router     *restjson.Router
	auth       Authenticator
	log        *slog.Logger
	timestamps TimestampMode
	limiter    *limiter
	gate       *bodyGate
	extra      map[string]http.Handler // by path prefix, unauthenticated
	// Hook, when set, runs after authentication and binding and before the
	// operation: the emulator's fault injection and transition rules plug in
	// here (authorisation is a decorator of the handler, authz.New).
	hook func(ctx context.Context, op *api.Operation, in any) error
	// observe, when set, learns every answered request (metrics).
	observe RequestObserver
}

// Options configure a Server.
type Options struct {
	Handler    api.Handler
	Auth       Authenticator
	Logger     *slog.Logger
	Timestamps TimestampMode
	// RateLimit is the sustained requests per second allowed per principal
	// (burst twice that); 0 disables throttling.
	RateLimit float64
	Hook      func(ctx context.Context, op *api.Operation, in any) error
	// Observer, when set, learns every answered request (metrics).
	Observer RequestObserver
	// BodyMemory is the most bytes that request bodies may hold at once (0:
	// DefaultBodyMemory); BodyTimeout how long one may take to arrive (0:
	// DefaultBodyTimeout).
	BodyMemory  int64
	BodyTimeout time.Duration
}

// New returns a server.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Timestamps == "" {
		o.Timestamps = TimestampsAuto
	}
	return &Server{
		handler:    o.Handler,
		router:     restjson.NewRouter(api.Operations),
		auth:       o.Auth,
		log:        o.Logger,
		timestamps: o.Timestamps,
		limiter:    newLimiter(o.RateLimit, nil),
		gate:       newBodyGate(o.BodyMemory, o.BodyTimeout),
		extra:      map[string]http.Handler{},
		hook:       o.Hook,
		observe:    o.Observer,
	}
}

// Handle serves an unauthenticated path prefix (health, stream pages) with h.
func (s *Server) Handle(prefix string, h http.Handler) { s.extra[prefix] = h }

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes, and
// the hijack of a WebSocket upgrade proxied to a workstation).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP serves one request.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := uuid.NewString()
	rw.Header().Set(restjson.RequestIDHeader, reqID)
	w := &statusWriter{ResponseWriter: rw}
	var (
		opName    = "-"
		principal = "-"
		fault     string
		authKey   string // the access key id of a request that failed authentication
	)
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic serving request", "request_id", reqID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if w.status == 0 {
				restjson.WriteError(w, errors.New("panic"))
			}
		}
		code := w.Header().Get("x-amzn-ErrorType")
		// The access log line is built only when it is written: with the
		// log at warn or above (as under load), its attributes would be
		// a dozen allocations a request for nothing.
		if s.log.Enabled(r.Context(), slog.LevelInfo) {
			attrs := []any{"request_id", reqID, "method", r.Method, "path", RedactPath(r.URL.EscapedPath()), "operation", opName,
				"principal", principal, "status", w.status, "duration_ms", float64(time.Since(start).Microseconds()) / 1000}
			if fault != "" {
				attrs = append(attrs, "fault", fault)
			}
			if code != "" {
				attrs = append(attrs, "error_code", code)
			}
			if authKey != "" {
				attrs = append(attrs, "access_key_id", authKey)
			}
			s.log.Info("request", attrs...)
		}
		if s.observe != nil {
			s.observe.ObserveRequest(opName, code, time.Since(start))
		}
	}()

	if prefix, h := s.extraFor(r.URL.Path); h != nil {
		opName = prefix
		release, err := s.gate.guard(w, r)
		if err != nil {
			restjson.WriteError(w, err)
			return
		}
		defer release()
		h.ServeHTTP(w, r)
		return
	}

	id, body, release, err := s.Authenticate(w, r)
	if err != nil {
		opName, authKey = s.describeRejected(r)
		restjson.WriteError(w, err)
		return
	}
	defer release()
	principal = id.PrincipalID
	if !s.limiter.allow(id.PrincipalID) {
		restjson.WriteError(w, opennimble.Errorf(opennimble.ErrThrottling, "Rate exceeded for principal %s", id.PrincipalID))
		return
	}
	op, labels, allow, err := s.router.Match(r.Method, r.URL.EscapedPath())
	if err != nil {
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
		}
		restjson.WriteError(w, err)
		return
	}
	opName = op.Name
	in, err := op.Bind(restjson.NewRequest(r, labels, body))
	if err != nil {
		restjson.WriteError(w, err)
		return
	}
	ctx := opennimble.WithPrincipal(r.Context(), opennimble.Principal{ID: id.PrincipalID, AccessKeyID: id.AccessKeyID, Admin: id.Admin})
	ctx = context.WithValue(ctx, faultKey{}, &fault)
	ctx = context.WithValue(ctx, operationKey{}, op.Name)
	if s.hook != nil {
		if err := s.hook(ctx, op, in); err != nil {
			if f, ok := err.(interface{ Fault() string }); ok {
				NoteFault(ctx, f.Fault())
			}
			restjson.WriteError(w, err)
			return
		}
	}
	out, err := op.Call(ctx, s.handler, in)
	if err != nil {
		var e *opennimble.Error
		if !errors.As(err, &e) {
			s.log.Error("operation failed", "request_id", reqID, "operation", op.Name, "error", err)
		}
		restjson.WriteError(w, err)
		return
	}
	restjson.WriteOutput(w, op.SuccessCode, out, s.encodeOptions(r))
}

// The encoding options, shared by every response (never changed).
var (
	epochTimestamps   = &api.EncodeOptions{Timestamps: api.TimestampEpoch}
	iso8601Timestamps = &api.EncodeOptions{Timestamps: api.TimestampISO8601}
)

func (s *Server) encodeOptions(r *http.Request) *api.EncodeOptions {
	switch s.timestamps {
	case TimestampsEpoch:
		return epochTimestamps
	case TimestampsISO8601:
		return iso8601Timestamps
	}
	if strings.HasPrefix(r.Header.Get("User-Agent"), "paws/") {
		return epochTimestamps
	}
	return iso8601Timestamps
}

// extraFor returns the handler of the longest prefix of path given to
// Handle ("/_nimble/health" before "/_nimble/"), or nil.
func (s *Server) extraFor(path string) (string, http.Handler) {
	best := ""
	for prefix := range s.extra {
		if strings.HasPrefix(path, prefix) && len(prefix) > len(best) {
			best = prefix
		}
	}
	return best, s.extra[best]
}

type faultKey struct{}

// NoteFault records, for the access log's "fault" attribute, a fault that
// the hook injected into the request ctx serves without failing it (added
// latency). A hook's error with a Fault() string method is noted without
// it.
func NoteFault(ctx context.Context, desc string) {
	if p, ok := ctx.Value(faultKey{}).(*string); ok {
		if *p != "" {
			*p += "; "
		}
		*p += desc
	}
}

type operationKey struct{}

// OperationFrom returns the name of the operation a request's context
// serves ("" outside a request): the state-change log names it.
func OperationFrom(ctx context.Context) string {
	s, _ := ctx.Value(operationKey{}).(string)
	return s
}
