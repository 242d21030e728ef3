package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/sigv4"
)

// headerAuth takes the principal from a header: these tests are about what
// the server does after authentication.
type headerAuth struct{}

func (headerAuth) Verify(r *http.Request, _ []byte) (*sigv4.Identity, error) {
	return &sigv4.Identity{PrincipalID: r.Header.Get("X-Test-Principal")}, nil
}

// handler answers every operation with around, never reaching a service.
func handler(around func(ctx context.Context, op string) (any, error)) api.Handler {
	return api.Decorate(nil, func(ctx context.Context, op string, _ any, _ func(context.Context, any) (any, error)) (any, error) {
		return around(ctx, op)
	})
}

func listStudios(t *testing.T, s *Server, who string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/2020-08-01/studios", nil)
	r.Header.Set("X-Test-Principal", who)
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Header().Get("x-amzn-RequestId") == "" {
		t.Errorf("no request id on %d", w.Code)
	}
	return w
}

func errorType(w *httptest.ResponseRecorder) string { return w.Header().Get("x-amzn-ErrorType") }

// A panicking handler answers InternalServerErrorException and the server
// goes on serving.
func TestPanicIsAnInternalError(t *testing.T) {
	panics := true
	s := New(Options{Auth: headerAuth{}, Handler: handler(func(context.Context, string) (any, error) {
		if panics {
			panic("boom")
		}
		return &api.ListStudiosResponse{}, nil
	})})
	if w := listStudios(t, s, "alice"); w.Code != 500 || errorType(w) != opennimble.ErrInternal {
		t.Fatalf("panic answered %d %q", w.Code, errorType(w))
	}
	panics = false
	if w := listStudios(t, s, "alice"); w.Code != 200 {
		t.Fatalf("after a panic: %d %s", w.Code, w.Body)
	}
}

// The hook runs with the principal in the context, before the handler; its
// error is the answer and the handler is not reached.
func TestHookRunsBeforeTheHandler(t *testing.T) {
	reached := 0
	s := New(Options{Auth: headerAuth{}, Handler: handler(func(context.Context, string) (any, error) {
		reached++
		return &api.ListStudiosResponse{}, nil
	}), Hook: func(ctx context.Context, op *api.Operation, _ any) error {
		if p, _ := opennimble.PrincipalFrom(ctx); p.ID == "mallory" && op.Name == "ListStudios" {
			return opennimble.Errorf(opennimble.ErrConflict, "no")
		}
		return nil
	}})
	if w := listStudios(t, s, "mallory"); w.Code != 409 || errorType(w) != opennimble.ErrConflict || reached != 0 {
		t.Fatalf("hook refusal: %d %q, handler reached %d times", w.Code, errorType(w), reached)
	}
	if w := listStudios(t, s, "alice"); w.Code != 200 || reached != 1 {
		t.Fatalf("hook pass: %d, handler reached %d times", w.Code, reached)
	}
}

// Each principal has its own token bucket.
func TestThrottlingIsPerPrincipal(t *testing.T) {
	// One request per 1000 s, a burst of one: a second request is refused
	// however slow the machine.
	s := New(Options{Auth: headerAuth{}, RateLimit: 0.001, Handler: handler(func(context.Context, string) (any, error) {
		return &api.ListStudiosResponse{}, nil
	})})
	if w := listStudios(t, s, "alice"); w.Code != 200 {
		t.Fatalf("first request: %d", w.Code)
	}
	if w := listStudios(t, s, "alice"); w.Code != 429 || errorType(w) != opennimble.ErrThrottling {
		t.Fatalf("second request: %d %q", w.Code, errorType(w))
	}
	if w := listStudios(t, s, "bob"); w.Code != 200 {
		t.Fatalf("another principal: %d", w.Code)
	}
}

// paws reads only epoch timestamps; every other client gets ISO 8601 unless
// the server is told otherwise.
func TestTimestampFormat(t *testing.T) {
	cases := []struct {
		mode TimestampMode
		ua   string
		want api.TimestampFormat
	}{
		{TimestampsAuto, "paws/0.7.0", api.TimestampEpoch},
		{TimestampsAuto, "aws-cli/2.9.19", api.TimestampISO8601},
		{"", "Boto3/1.26.27", api.TimestampISO8601},
		{TimestampsEpoch, "aws-cli/2.9.19", api.TimestampEpoch},
		{TimestampsISO8601, "paws/0.7.0", api.TimestampISO8601},
	}
	for _, c := range cases {
		s := New(Options{Timestamps: c.mode})
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("User-Agent", c.ua)
		if got := s.encodeOptions(r).Timestamps; got != c.want {
			t.Errorf("%q with %s: %v, want %v", c.mode, c.ua, got, c.want)
		}
	}
}

// An unauthenticated path goes to the handler of its longest prefix.
func TestLongestPrefixWins(t *testing.T) {
	s := New(Options{})
	named := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(name)) })
	}
	s.Handle("/_nimble/", named("controls"))
	s.Handle("/_nimble/health", named("health"))
	for path, want := range map[string]string{"/_nimble/health": "health", "/_nimble/state": "controls"} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Body.String() != want {
			t.Errorf("%s served by %q, want %q", path, w.Body, want)
		}
	}
}
