// Package portal is the studio portal: the web application served at each
// studio's studioUrl (<public-url>/portal/<studioName>), where artists
// launch, open, stop and restart their workstations and studio
// administrators look after launch profiles, members and sessions.
//
// Every page acts through the API's own handler, authorisation decorator
// included (authz wraps the service), with the signed-in principal in the
// request context: a person sees and may do in the portal exactly what the
// API allows them. The portal adds sign-in, its own session cookie, CSRF
// tokens and HTML; it never reads the store itself.
package portal

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// DefaultIdleTimeout is how long a portal session lasts without a request.
const DefaultIdleTimeout = 30 * time.Minute

// Options configure a Portal.
type Options struct {
	// API is the authorised API handler (authz around the service), the
	// one the HTTP API serves.
	API api.Handler
	// Providers are the ways of signing in, shown in this order.
	Providers []Provider
	// PublicURL is where people reach the server; an https URL makes the
	// cookies Secure.
	PublicURL   string
	IdleTimeout time.Duration // DefaultIdleTimeout when 0
	// FailedSignIns is how many failed sign-ins an address or access key
	// may make in a row (default 5); one more is allowed every
	// FailedSignInRefill (default 1 minute).
	FailedSignIns      int
	FailedSignInRefill time.Duration
	Clock              opennimble.Clock
	Logger             *slog.Logger
}

// Portal serves /portal/ and /_portal/ (its static files).
type Portal struct {
	api       api.Handler
	providers []Provider
	secure    bool
	sessions  *sessions
	throttle  *throttle
	log       *slog.Logger
	mux       *http.ServeMux
	pages     map[string]*template.Template
}

// StaticPrefix is the path prefix of the portal's stylesheet and script.
const StaticPrefix = "/_portal/"

// New returns the portal.
func New(o Options) *Portal {
	if o.Clock == nil {
		o.Clock = opennimble.SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.FailedSignIns <= 0 {
		o.FailedSignIns = 5
	}
	if o.FailedSignInRefill <= 0 {
		o.FailedSignInRefill = time.Minute
	}
	p := &Portal{
		api:       o.API,
		providers: o.Providers,
		secure:    strings.HasPrefix(strings.ToLower(o.PublicURL), "https://"),
		sessions:  newSessions(o.IdleTimeout, o.Clock),
		throttle:  newThrottle(o.FailedSignIns, o.FailedSignInRefill, o.Clock),
		log:       o.Logger,
		pages:     parsePages(),
	}
	p.routes()
	return p
}

func (p *Portal) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /_portal/static/", http.StripPrefix("/_portal/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /portal/{studio}", p.signedIn(p.home))
	m.HandleFunc("GET /portal/{studio}/{$}", p.signedIn(p.home))
	m.HandleFunc("GET /portal/{studio}/signin", p.signInPage)
	m.HandleFunc("/portal/{studio}/signin/{provider}", p.signIn)
	m.HandleFunc("POST /portal/{studio}/signout", p.signOut)
	m.HandleFunc("POST /portal/{studio}/eulas", p.signedIn(p.acceptEulas))
	m.HandleFunc("POST /portal/{studio}/sessions", p.signedIn(p.launch))
	m.HandleFunc("GET /portal/{studio}/sessions/{id}", p.signedIn(p.sessionPage))
	m.HandleFunc("POST /portal/{studio}/sessions/{id}/{action}", p.signedIn(p.sessionAction))
	m.HandleFunc("POST /portal/{studio}/sessions/{id}/backups/{backup}/start", p.signedIn(p.startFromBackup))
	m.HandleFunc("GET /portal/{studio}/streams/{id}/{stream}", p.signedIn(p.streamPage))
	m.HandleFunc("GET /portal/{studio}/live/sessions", p.signedIn(p.liveSessions))
	m.HandleFunc("GET /portal/{studio}/live/sessions/{id}", p.signedIn(p.liveSession))
	m.HandleFunc("GET /portal/{studio}/live/streams/{id}/{stream}", p.signedIn(p.liveStream))
	m.HandleFunc("GET /portal/{studio}/live/admin", p.signedIn(p.liveAdmin))
	m.HandleFunc("GET /portal/{studio}/admin", p.signedIn(p.adminPage))
	m.HandleFunc("POST /portal/{studio}/admin/profiles/{lp}/members", p.signedIn(p.addMember))
	m.HandleFunc("POST /portal/{studio}/admin/profiles/{lp}/members/{principal}/remove", p.signedIn(p.removeMember))
	m.HandleFunc("POST /portal/{studio}/admin/sessions/{id}/stop", p.signedIn(p.adminStop))
	p.mux = m
}

// ServeHTTP serves the portal, with the headers every page carries.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	if !strings.HasPrefix(r.URL.Path, StaticPrefix) {
		h.Set("Cache-Control", "no-store")
	}
	p.mux.ServeHTTP(w, r)
}

// req is a signed-in request within a studio.
type req struct {
	w      http.ResponseWriter
	r      *http.Request
	ctx    context.Context // carries the principal
	token  string          // the session cookie
	sess   session
	studio *api.Studio
	admin  *bool // whether the caller administers the studio, once asked
}

// validStudioName is the model's pattern for studio names.
func validStudioName(s string) bool {
	return s != "" && len(s) <= 64 && strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789") == ""
}

// signedIn wraps a page: it needs a live session (otherwise GETs go to the
// sign-in page), checks the CSRF token of every POST before anything else
// happens, and finds the studio among those the API lets the caller see.
func (p *Portal) signedIn(h func(*req)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("studio")
		if !validStudioName(name) {
			http.NotFound(w, r)
			return
		}
		c, err := r.Cookie(CookieName)
		var se session
		ok := err == nil
		if ok {
			se, ok = p.sessions.get(c.Value, !isLive(r))
		}
		if ok && !p.stillValid(r.Context(), se) {
			p.sessions.end(c.Value)
			ok = false
		}
		if !ok {
			p.notSignedIn(w, r, name)
			return
		}
		if r.Method == http.MethodPost && !sameToken(r.PostFormValue("csrf"), se.csrf) {
			p.log.Warn("portal: refused a form without a valid CSRF token", "principal", se.principal.ID, "path", r.URL.Path)
			http.Error(w, "This form has expired or did not come from this portal. Reload the page and try again.", http.StatusForbidden)
			return
		}
		q := &req{w: w, r: r, ctx: opennimble.WithPrincipal(r.Context(), se.principal), token: c.Value, sess: se}
		if q.studio, err = p.findStudio(q.ctx, name); err != nil {
			p.fail(q, err)
			return
		}
		h(q)
	}
}

func (p *Portal) stillValid(ctx context.Context, se session) bool {
	for _, pr := range p.providers {
		if pr.ID() == se.provider {
			if rv, ok := pr.(Revalidator); ok {
				return rv.StillValid(ctx, se.principal)
			}
			return true
		}
	}
	return false
}

// isLive reports whether r is a live update of an open page.
func isLive(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/portal/"+r.PathValue("studio")+"/live/")
}

// notSignedIn sends a page request to the sign-in page and refuses the rest.
func (p *Portal) notSignedIn(w http.ResponseWriter, r *http.Request, studio string) {
	if r.Method == http.MethodGet && !isLive(r) {
		http.Redirect(w, r, "/portal/"+studio+"/signin?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
		return
	}
	http.Error(w, "Not signed in.", http.StatusUnauthorized)
}

// findStudio returns the studio called name if the caller may see it (the
// API's ListStudios answers only those).
func (p *Portal) findStudio(ctx context.Context, name string) (*api.Studio, error) {
	in := &api.ListStudiosRequest{}
	for {
		out, err := call(ctx, in, p.api.ListStudios)
		if err != nil {
			return nil, err
		}
		for _, s := range out.Studios {
			if s.StudioName == name && s.State != api.StudioStateDeleted {
				return s, nil
			}
		}
		if out.NextToken == "" {
			return nil, opennimble.Errorf(opennimble.ErrNotFound, "No studio %s that you can reach", name)
		}
		in.NextToken = out.NextToken
	}
}

// isAdmin reports whether the caller administers the studio: whether the API
// lets it list the studio's members.
func (q *req) isAdmin(p *Portal) bool {
	if q.admin == nil {
		_, err := call(q.ctx, &api.ListStudioMembersRequest{StudioId: q.studio.StudioId, MaxResults: ptr[int32](1)}, p.api.ListStudioMembers)
		ok := err == nil
		q.admin = &ok
	}
	return *q.admin
}

// fail answers a request the API refused: what the caller may not reach
// does not exist as far as it can tell (404); bad input and conflicts go
// back to the page they came from with the API's message.
func (p *Portal) fail(q *req, err error) {
	code := opennimble.ErrorCode(err)
	switch code {
	case opennimble.ErrNotFound, opennimble.ErrAccessDenied:
		p.render(q, http.StatusNotFound, "error", "Not found", map[string]string{"Message": "There is nothing here that you can reach."})
		return
	case opennimble.ErrInternal:
		p.log.Error("portal: API call failed", "principal", q.sess.principal.ID, "path", q.r.URL.Path, "error", err)
	}
	if q.r.Method == http.MethodPost {
		p.back(q, flash{Error: true, Text: message(err)})
		return
	}
	p.render(q, statusOf(code), "error", "Error", map[string]string{"Message": message(err)})
}

// liveFail answers a live update the API refused, as fail does a page.
func (p *Portal) liveFail(q *req, err error) {
	code := opennimble.ErrorCode(err)
	status := statusOf(code)
	if code == opennimble.ErrNotFound || code == opennimble.ErrAccessDenied {
		status = http.StatusNotFound
	}
	http.Error(q.w, message(err), status)
}

func statusOf(code string) int {
	switch code {
	case opennimble.ErrValidation:
		return http.StatusBadRequest
	case opennimble.ErrConflict:
		return http.StatusConflict
	case opennimble.ErrThrottling, opennimble.ErrServiceQuotaExceeded:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// message is what a person is told of an API error.
func message(err error) string {
	var e *opennimble.Error
	if errors.As(err, &e) && e.Code != opennimble.ErrInternal {
		return e.Message
	}
	return "Something went wrong on the server; it has been logged."
}

// back redirects a form's POST to the page it came from (the form's
// "back" field, a path inside the studio), with a message.
func (p *Portal) back(q *req, f flash) {
	p.sessions.addFlash(q.token, f)
	to := q.r.PostFormValue("back")
	base := "/portal/" + q.studio.StudioName
	if to != base && !strings.HasPrefix(to, base+"/") {
		to = base
	}
	http.Redirect(q.w, q.r, to, http.StatusSeeOther)
}

func ptr[T any](v T) *T { return &v }

// validator is a request of the model: it checks its own constraints.
type validator interface {
	Validate(v *api.Validator, path string)
}

// call validates in as the API's codec does, then calls the handler, so
// that the portal cannot send what a client could not.
func call[I validator, O any](ctx context.Context, in I, fn func(context.Context, I) (O, error)) (O, error) {
	var v api.Validator
	in.Validate(&v, "")
	if err := v.Err(); err != nil {
		var zero O
		return zero, err
	}
	return fn(ctx, in)
}
