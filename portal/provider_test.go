package portal_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/authz"
	"github.com/opennimble/opennimble/portal"
)

// redirectProvider stands for an OIDC provider: no form, a link to its
// URL, and the identity settled by a callback (here a query parameter).
type redirectProvider struct{}

func (redirectProvider) ID() string             { return "sso" }
func (redirectProvider) Label() string          { return "Sign in with the studio's SSO" }
func (redirectProvider) Fields() []portal.Field { return nil }
func (redirectProvider) SignIn(w http.ResponseWriter, r *http.Request) (*opennimble.Principal, string, error) {
	who := r.URL.Query().Get("callback_user")
	if who == "" {
		http.Redirect(w, r, "https://idp.example/authorize", http.StatusFound)
		return nil, "", nil
	}
	return &opennimble.Principal{ID: who}, "", nil
}

// TestAnotherProvider: a provider that redirects to an identity provider
// plugs in without changes elsewhere: its link is on the sign-in page, its
// redirect passes through, and its callback signs the person in.
func TestAnotherProvider(t *testing.T) {
	e := start(t, nil)
	e.profile("sso", "alice")
	p := portal.New(portal.Options{API: authz.New(e.App.Service, e.App.Store, authz.Config{}), Providers: []portal.Provider{redirectProvider{}}})
	srv := httptest.NewServer(p)
	defer srv.Close()
	b := e.browser("sso")
	b.base = srv.URL
	_, body := b.get("signin")
	if !strings.Contains(body, `href="/portal/sso/signin/sso"`) || !strings.Contains(body, "studio&#39;s SSO") {
		t.Fatalf("the sign-in page lacks the provider's link:\n%s", body)
	}
	if resp, _ := b.get("signin/sso"); resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://idp.example/authorize" {
		t.Fatalf("the provider's redirect: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.get("signin/sso?callback_user=alice"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %d", resp.StatusCode)
	}
	if resp, body := b.get(""); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Signed in as <strong>alice</strong>") {
		t.Fatalf("home after the callback: %d\n%s", resp.StatusCode, body)
	}
}
