// Package browsertest drives a real, headless Debian Chromium from tests
// (through chromedp) and keeps what it saw as test artifacts, so that the
// desktops and the portal are checked the way a person would see them.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ChromiumPath is Debian's chromium; scripts/test installs the package. A
// missing browser fails the test: a browser test that skips proves nothing.
const ChromiumPath = "/usr/bin/chromium"

// Options shape a browser.
type Options struct {
	// Width and Height of the viewport in CSS pixels (default 1280x800).
	Width, Height int64
}

// New starts a headless Chromium with a fresh profile for t and returns a
// context of its first tab (chromedp v0.23's generic API: chromedp.Do for
// actions, chromedp.Run for one action's value); the browser is closed when the test ends. The
// flags are the ones this machine's closed network needs: without the
// background-networking ones Chromium keeps dialling Google's hosts.
func New(t testing.TB, o Options) context.Context {
	t.Helper()
	path := ChromiumPath
	if p := os.Getenv("OPENNIMBLE_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := exec.LookPath(path); err != nil {
		t.Fatalf("browser test needs Chromium at %s (scripts/test installs Debian's chromium): %v", path, err)
	}
	if o.Width == 0 {
		o.Width, o.Height = 1280, 800
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(int(o.Width), int(o.Height)),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// Start the browser now, so that a broken install fails here with its
	// own error rather than inside the first action of the test.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(o.Width, o.Height)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// Tab opens another tab of the browser of ctx (for a second user, or a
// second viewport), closed when the test ends.
func Tab(t testing.TB, ctx context.Context, o Options) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if o.Width == 0 {
		o.Width, o.Height = 1280, 800
	}
	if err := chromedp.Do(tab, chromedp.EmulateViewport(o.Width, o.Height)); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return tab
}

// ArtifactsDir is where a test's screenshots go: $OPENNIMBLE_ARTIFACTS, else
// test-artifacts/ at the module's root (ignored by git), then the test's name.
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	base := os.Getenv("OPENNIMBLE_ARTIFACTS")
	if base == "" {
		base = filepath.Join(moduleRoot(), "test-artifacts")
	}
	dir := filepath.Join(base, safeName(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts folder: %v", err)
	}
	return dir
}

// Screenshot saves the whole page of ctx as <ArtifactsDir>/<name>.png and
// returns the file's path and the PNG bytes.
func Screenshot(t testing.TB, ctx context.Context, name string) (string, []byte) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(ArtifactsDir(t), safeName(name)+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("save screenshot: %v", err)
	}
	t.Logf("screenshot %s", path)
	return path, png
}

// WaitFor polls cond every 100ms until it returns true, ctx ends or the
// test's own deadline (less a margin for cleanup) passes. It never fails
// because a machine is slow: the only limit is the test binary's.
func WaitFor(t testing.TB, ctx context.Context, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Minute)
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			deadline = dl.Add(-15 * time.Second)
		}
	}
	var last error
	for {
		ok, err := cond()
		if ok {
			return
		}
		last = err
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("waiting for %s: gave up (last error: %v)", what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safeName(s string) string { return unsafe.ReplaceAllString(s, "_") }

func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return os.TempDir()
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}
