package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// startForPprof runs a whole server on 127.0.0.1 with pprofListen.
func startForPprof(t *testing.T, pprofListen string) *App {
	t.Helper()
	cfg := Defaults()
	cfg.Listen, cfg.DataDir, cfg.PprofListen = "127.0.0.1:0", t.TempDir(), pprofListen
	a, err := Start(context.Background(), cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// pprofIndex is a line of net/http/pprof's index page.
const pprofIndex = "Types of profiles available"

// TestPprofOffByDefault: without --pprof-listen no profiler answers, on the
// API's listener or anywhere else.
func TestPprofOffByDefault(t *testing.T) {
	a := startForPprof(t, "")
	if a.PprofAddr() != "" {
		t.Fatalf("profiler on %s by default", a.PprofAddr())
	}
	if status, body := get(t, "http://"+a.Addr+"/debug/pprof/"); status == 200 || strings.Contains(body, pprofIndex) {
		t.Fatalf("API listener serves the profiler: %d %.200s", status, body)
	}
}

// TestPprofOwnListener: with --pprof-listen the profiler answers on that
// listener, a CPU profile can be taken there, and the API's listener still
// does not serve it.
func TestPprofOwnListener(t *testing.T) {
	a := startForPprof(t, "127.0.0.1:0")
	addr := a.PprofAddr()
	if addr == "" || addr == a.Addr {
		t.Fatalf("profiler address %q, API %q", addr, a.Addr)
	}
	if status, body := get(t, "http://"+addr+"/debug/pprof/"); status != 200 || !strings.Contains(body, pprofIndex) {
		t.Fatalf("pprof index: %d %.200s", status, body)
	}
	status, body := get(t, "http://"+addr+"/debug/pprof/profile?seconds=1")
	if status != 200 || !strings.HasPrefix(body, "\x1f\x8b") { // a gzipped profile
		t.Fatalf("CPU profile: %d, %d bytes", status, len(body))
	}
	if status, body := get(t, "http://"+a.Addr+"/debug/pprof/"); status == 200 || strings.Contains(body, pprofIndex) {
		t.Fatalf("API listener serves the profiler: %d %.200s", status, body)
	}
}

// TestPprofListenValidated: a malformed address is refused with the flag's
// name before anything starts.
func TestPprofListenValidated(t *testing.T) {
	c := Defaults()
	c.PprofListen = "6060"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `pprof-listen "6060"`) {
		t.Fatalf("got %v", err)
	}
}
