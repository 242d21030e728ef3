package portal

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

type signInData struct {
	StudioName string
	Next       string
	Providers  []Provider
	Token      string
	Error      string
}

// signInPage shows the ways of signing in. Its forms carry a token that
// must match a cookie set here, so that another site cannot sign a browser
// in under an identity of its choosing.
func (p *Portal) signInPage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("studio")
	if !validStudioName(name) {
		http.NotFound(w, r)
		return
	}
	p.showSignIn(w, r, http.StatusOK, name, "")
}

func (p *Portal) showSignIn(w http.ResponseWriter, r *http.Request, status int, name, problem string) {
	token := randomToken()
	http.SetCookie(w, p.cookie(preCookie, token, 3600))
	next := r.FormValue("next")
	if !strings.HasPrefix(next, "/portal/"+name) {
		next = ""
	}
	d := signInData{StudioName: name, Next: next, Providers: p.providers, Token: token, Error: problem}
	p.write(w, status, "signin", "layout.html", view{Title: "Sign in", Base: "/portal/" + name, Path: r.URL.Path, Data: d})
}

// signIn hands the request to the provider it names, throttling and
// logging failures, and starts a session for whoever the provider names.
func (p *Portal) signIn(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("studio")
	pr := p.provider(r.PathValue("provider"))
	if !validStudioName(name) || pr == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodPost {
		c, err := r.Cookie(preCookie)
		if err != nil || !sameToken(r.PostFormValue("csrf"), c.Value) {
			p.log.Warn("portal: sign-in form without a valid token", "client", clientAddr(r))
			p.showSignIn(w, r, http.StatusForbidden, name, "The sign-in form had expired. Please try again.")
			return
		}
	}
	client := "addr:" + clientAddr(r)
	if wait := p.throttle.wait(client); wait > 0 {
		p.throttled(w, r, name, wait, client, "")
		return
	}
	who, attempt, err := pr.SignIn(w, r)
	if attempt != "" {
		if wait := p.throttle.wait("key:" + attempt); wait > 0 {
			p.throttled(w, r, name, wait, client, attempt)
			return
		}
	}
	switch {
	case errors.Is(err, ErrBadCredentials):
		if attempt != "" {
			p.throttle.fail(client, "key:"+attempt)
		} else {
			p.throttle.fail(client)
		}
		p.log.Warn("portal: failed sign-in", "client", clientAddr(r), "access_key_id", attempt, "provider", pr.ID(), "studio", name)
		p.showSignIn(w, r, http.StatusUnauthorized, name, "The access key id or secret is wrong.")
		return
	case err != nil:
		p.log.Error("portal: sign-in failed", "provider", pr.ID(), "error", err)
		p.showSignIn(w, r, http.StatusInternalServerError, name, "Signing in failed on the server; this has been logged.")
		return
	case who == nil:
		return // the provider answered (a redirect to an identity provider)
	}
	token := p.sessions.create(*who, pr.ID())
	http.SetCookie(w, p.cookie(CookieName, token, 0))
	http.SetCookie(w, p.cookie(preCookie, "", -1))
	p.log.Info("portal: signed in", "principal", who.ID, "access_key_id", who.AccessKeyID, "provider", pr.ID(), "studio", name, "client", clientAddr(r))
	next := r.PostFormValue("next")
	if next != "/portal/"+name && !strings.HasPrefix(next, "/portal/"+name+"/") {
		next = "/portal/" + name
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (p *Portal) throttled(w http.ResponseWriter, r *http.Request, name string, wait time.Duration, client, key string) {
	p.log.Warn("portal: sign-in throttled", "client", strings.TrimPrefix(client, "addr:"), "access_key_id", key, "retry_after", wait.Round(time.Second).String())
	secs := int(wait.Seconds() + 0.999)
	w.Header().Set("Retry-After", fmt.Sprint(secs))
	p.showSignIn(w, r, http.StatusTooManyRequests, name, fmt.Sprintf("Too many failed sign-ins. Try again in %d seconds.", secs))
}

func (p *Portal) provider(id string) Provider {
	for _, pr := range p.providers {
		if pr.ID() == id {
			return pr
		}
	}
	return nil
}

// signOut ends the session: its cookie no longer works, here or anywhere.
func (p *Portal) signOut(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("studio")
	if c, err := r.Cookie(CookieName); err == nil {
		se, ok := p.sessions.get(c.Value, true)
		if ok && !sameToken(r.PostFormValue("csrf"), se.csrf) {
			http.Error(w, "This form has expired or did not come from this portal. Reload the page and try again.", http.StatusForbidden)
			return
		}
		p.sessions.end(c.Value)
		if ok {
			p.log.Info("portal: signed out", "principal", se.principal.ID)
		}
	}
	http.SetCookie(w, p.cookie(CookieName, "", -1))
	if !validStudioName(name) {
		http.NotFound(w, r)
		return
	}
	http.Redirect(w, r, "/portal/"+name+"/signin", http.StatusSeeOther)
}

// clientAddr is the address the request came from. Forwarding headers are
// not trusted: they would let a guesser pick a fresh address per try.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
