package app

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	opennimble "github.com/opennimble/opennimble"
)

// TestPublicBase: URLs never name an unspecified address; an emulator
// listening beyond loopback warns.
func TestPublicBase(t *testing.T) {
	for _, tc := range []struct {
		addr, public string
		emulator     bool
		want         string
		warns        bool
	}{
		{"127.0.0.1:8080", "", true, "http://127.0.0.1:8080", false},
		{"0.0.0.0:8080", "", false, "", false},
		{"[::]:8080", "", true, "", true},
		{"0.0.0.0:8080", "https://nimble.example.com", true, "https://nimble.example.com", true},
		{"10.1.2.3:8080", "", true, "http://10.1.2.3:8080", true},
	} {
		var log bytes.Buffer
		cfg := Defaults()
		cfg.PublicURL, cfg.Emulator = tc.public, tc.emulator
		got := publicBase(cfg, tc.addr, slog.New(slog.NewTextHandler(&log, nil)))
		if got != tc.want || strings.Contains(log.String(), "level=WARN") != tc.warns {
			t.Errorf("%s %q emulator %v: %q, log %q", tc.addr, tc.public, tc.emulator, got, log.String())
		}
	}
}

// TestBaseURLFromHost: the base URL of a request is its Host, unless the
// Host is not a plain host[:port].
func TestBaseURLFromHost(t *testing.T) {
	var got string
	h := withBaseURL(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = opennimble.BaseURLFrom(r.Context()) }))
	for host, want := range map[string]string{"nimble.local:8080": "http://nimble.local:8080", "[fd00::1]:80": "http://[fd00::1]:80", "evil/x": ""} {
		got = ""
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		h.ServeHTTP(httptest.NewRecorder(), r)
		if got != want {
			t.Errorf("Host %q: base %q, want %q", host, got, want)
		}
	}
}
