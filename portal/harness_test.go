package portal_test

import (
	"bytes"
	"context"
	"github.com/opennimble/opennimble/internal/testwait"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/internal/fixture"
)

// syncBuffer collects the server's log, to check what it says.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is a server with real credentials (not emulator mode): an
// administrator, and the artists alice and bob.
type env struct {
	t     *testing.T
	App   *app.App
	Log   *syncBuffer
	Clock *opennimble.FakeClock // the portal's (and signatures') clock
	Admin *nimblestudio.NimbleStudio
	keys  map[string]opennimble.Credential
}

func start(t *testing.T, mod func(*app.Config)) *env {
	t.Helper()
	cfg := app.Defaults()
	cfg.Listen, cfg.DataDir, cfg.Sync = "127.0.0.1:0", t.TempDir(), "normal"
	if mod != nil {
		mod(&cfg)
	}
	log := &syncBuffer{}
	clock := opennimble.NewFakeClock(time.Now())
	a, err := app.Start(context.Background(), cfg, app.Options{Logger: slog.New(slog.NewTextHandler(log, nil)), AuthClock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	e := &env{t: t, App: a, Log: log, Clock: clock, keys: map[string]opennimble.Credential{"admin": *a.NewAdmin}}
	for _, who := range []string{"alice", "bob"} {
		c := app.NewCredential(who, false, time.Now())
		if err := a.Store.PutCredential(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		e.keys[who] = c
	}
	e.Admin = e.client("admin")
	return e
}

func (e *env) client(who string) *nimblestudio.NimbleStudio {
	k := e.keys[who]
	return nimblestudio.New(session.Must(session.NewSession(&aws.Config{
		Region: aws.String(e.App.Config.Region), Endpoint: aws.String(e.App.URL),
		Credentials: credentials.NewStaticCredentials(k.AccessKeyID, k.SecretAccessKey, ""),
		MaxRetries:  aws.Int(0),
	})))
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// profile makes a READY launch profile in a new studio and adds members.
func (e *env) profile(name string, members ...string) fixture.Profile {
	e.t.Helper()
	p, err := fixture.Make(ctx(e.t), e.Admin, name, fixture.WithBackups(3), fixture.WithPersistence(60))
	if err != nil {
		e.t.Fatal(err)
	}
	e.addMembers(p, members...)
	return p
}

func (e *env) addMembers(p fixture.Profile, members ...string) {
	e.t.Helper()
	if len(members) == 0 {
		return
	}
	var ms []*nimblestudio.NewLaunchProfileMember
	for _, m := range members {
		ms = append(ms, &nimblestudio.NewLaunchProfileMember{PrincipalId: aws.String(m), Persona: aws.String("USER")})
	}
	must[*nimblestudio.PutLaunchProfileMembersOutput](e.t)(e.Admin.PutLaunchProfileMembersWithContext(ctx(e.t), &nimblestudio.PutLaunchProfileMembersInput{
		StudioId: &p.Studio, LaunchProfileId: &p.LaunchProfile, IdentityStoreId: aws.String("d-1234567890"), Members: ms}))
}

// browser is a cookie-keeping HTTP client that does not follow redirects,
// so that tests see each answer.
type browser struct {
	t      *testing.T
	base   string // server URL
	studio string
	c      *http.Client
	last   string // the last page's body
}

func (e *env) browser(studio string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.App.URL, studio: studio, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

// get fetches path (relative to the studio's portal unless it starts
// with /) and remembers the page.
func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.url(path), nil)
	resp, body := b.do(req)
	if resp.StatusCode == http.StatusOK {
		b.last = body
	}
	return resp, body
}

func (b *browser) url(path string) string {
	if strings.HasPrefix(path, "/") {
		return b.base + path
	}
	return b.base + "/portal/" + b.studio + strings.TrimSuffix("/"+path, "/")
}

// post sends a form; csrf is added from the last page unless the form has
// one.
func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf())
	}
	req, _ := http.NewRequest(http.MethodPost, b.url(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) csrf() string {
	m := csrfRE.FindStringSubmatch(b.last)
	if m == nil {
		b.t.Fatalf("no CSRF token on the last page:\n%s", b.last)
	}
	return html.UnescapeString(m[1])
}

// signIn signs in with the key of who and secret, returning the answer.
func (b *browser) signIn(id, secret string) (*http.Response, string) {
	b.t.Helper()
	if resp, body := b.get("signin"); resp.StatusCode != http.StatusOK {
		b.t.Fatalf("sign-in page: %d %s", resp.StatusCode, body)
	}
	return b.post("signin/key", url.Values{"access_key_id": {id}, "secret": {secret}})
}

func (e *env) signedIn(who, studio string) *browser {
	e.t.Helper()
	b := e.browser(studio)
	k := e.keys[who]
	if resp, body := b.signIn(k.AccessKeyID, k.SecretAccessKey); resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("sign in as %s: %d %s", who, resp.StatusCode, body)
	}
	if resp, body := b.get(""); resp.StatusCode != http.StatusOK {
		e.t.Fatalf("home of %s: %d %s", who, resp.StatusCode, body)
	}
	return b
}

// await polls cond until it holds or the test binary's deadline nears: a
// busy machine only makes it wait longer.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Eventually(t, what, cond)
}
