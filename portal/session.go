package portal

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// CookieName is the portal's session cookie.
const CookieName = "opennimble_portal"

// preCookie carries the sign-in form's CSRF token before there is a session.
const preCookie = "opennimble_portal_signin"

// session is one signed-in browser. The cookie holds a random token; the
// server keeps only its hash, so a leaked memory dump or log names no
// usable cookie.
type session struct {
	principal opennimble.Principal
	provider  string
	csrf      string
	lastSeen  time.Time
	flash     []flash
}

// flash is a message shown once, on the next page. A message about a
// transition of the session the page shows holds While the session is in
// that state: the page drops it once the session's live state has moved on
// (a "Stopping…" above a stopped session was stale).
type flash struct {
	Error bool
	Text  string
	While api.StreamingSessionState
}

// sessions are the signed-in browsers of this process. They are kept in
// memory: signing out or an idle timeout ends one at once, and a restart
// ends all (people sign in again).
type sessions struct {
	mu    sync.Mutex
	byKey map[[32]byte]*session
	idle  time.Duration
	clock opennimble.Clock
}

func newSessions(idle time.Duration, clock opennimble.Clock) *sessions {
	return &sessions{byKey: map[[32]byte]*session{}, idle: idle, clock: clock}
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func keyOf(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// create starts a session for p and returns its cookie token.
func (s *sessions) create(p opennimble.Principal, provider string) string {
	token := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweep()
	s.byKey[keyOf(token)] = &session{principal: p, provider: provider, csrf: randomToken(), lastSeen: s.clock.Now()}
	return token
}

// get returns a copy of the session of token, or false if there is none or
// it was idle too long. A request a person made (touch) marks it used; the
// live updates of an open page do not, so a forgotten tab still times out.
func (s *sessions) get(token string, touch bool) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := keyOf(token)
	se, ok := s.byKey[k]
	if !ok {
		return session{}, false
	}
	now := s.clock.Now()
	if now.Sub(se.lastSeen) > s.idle {
		delete(s.byKey, k)
		return session{}, false
	}
	if touch {
		se.lastSeen = now
	}
	c := *se
	c.flash = nil
	return c, true
}

// takeFlash returns and forgets the session's messages.
func (s *sessions) takeFlash(token string) []flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.byKey[keyOf(token)]
	if !ok {
		return nil
	}
	f := se.flash
	se.flash = nil
	return f
}

func (s *sessions) addFlash(token string, f flash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if se, ok := s.byKey[keyOf(token)]; ok && len(se.flash) < 8 {
		se.flash = append(se.flash, f)
	}
}

func (s *sessions) end(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byKey, keyOf(token))
}

// sweep forgets idle sessions; called on each sign-in, so the map is bounded
// by the sign-ins of one idle period.
func (s *sessions) sweep() {
	now := s.clock.Now()
	for k, se := range s.byKey {
		if now.Sub(se.lastSeen) > s.idle {
			delete(s.byKey, k)
		}
	}
}

// sameToken compares a posted CSRF token in constant time.
func sameToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// cookie is a portal cookie with the flags every one of them carries.
func (p *Portal) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/portal/", MaxAge: maxAge,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteStrictMode}
}
