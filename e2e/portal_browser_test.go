package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/opennimble/opennimble/internal/browsertest"
	"github.com/opennimble/opennimble/internal/testwait"
)

// The studio portal in a real browser (headless Chromium) against the real
// binary with the local driver, in emulator mode (any secret signs in, as
// the API takes any signature; the handler-level tests in portal/ check
// real secrets). Screenshots of every page at 1280 and 390 pixels wide are
// kept in test-artifacts/.

// page is a browser tab of the portal.
type page struct {
	t   *testing.T
	ctx context.Context
	url string // server URL
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatal(err)
	}
}

// eval returns a JavaScript expression's value.
func (p *page) eval(js string) string {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		p.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// until waits until a JavaScript expression is true.
func (p *page) until(what, js string) {
	p.t.Helper()
	browsertest.WaitFor(p.t, p.ctx, what, func() (bool, error) {
		return chromedp.Run(p.ctx, chromedp.Evaluate[bool](js))
	})
}

// shots saves the page at 1280 and at 390 pixels wide.
func (p *page) shots(name string) {
	p.t.Helper()
	drawn := `document.readyState === "complete" && document.body !== null && document.body.getBoundingClientRect().width > 0`
	p.until("the page drawn", drawn)
	p.do(chromedp.EmulateViewport(390, 844))
	p.until("the page drawn at 390 px", drawn)
	browsertest.Screenshot(p.t, p.ctx, name+"-390")
	// Nothing may be wider than a phone's screen.
	if w := p.eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		p.t.Errorf("%s at 390 px is %s px wide", name, w)
	}
	p.do(chromedp.EmulateViewport(1280, 800))
	p.until("the page drawn at 1280 px", drawn)
	browsertest.Screenshot(p.t, p.ctx, name+"-1280")
}

// mark sets a value on window that a page load would lose: the page is
// updated in place as long as it is still there.
func (p *page) mark() { p.eval(`window.__portalMark = "kept"; "ok"`) }

func (p *page) stillMarked() {
	p.t.Helper()
	if p.eval(`String(window.__portalMark)`) != "kept" {
		p.t.Fatalf("the page was reloaded")
	}
}

// untilState waits until the session page shows the session in state; a
// failed state ends the wait at once with the status message shown.
func (p *page) untilState(state string) {
	p.t.Helper()
	browsertest.WaitFor(p.t, p.ctx, "the session "+state, func() (bool, error) {
		got, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(() => { const e = document.querySelector("#session-state"); return e ? e.dataset.state : ""; })()`))
		if err == nil && strings.HasSuffix(got, "_FAILED") {
			p.t.Fatalf("the session is %s, not %s: %s", got, state, p.eval(`(document.querySelector("#session-status") || {}).textContent || ""`))
		}
		return err == nil && got == state, err
	})
}

func (p *page) signIn(studio, key string) {
	p.t.Helper()
	p.do(chromedp.Navigate(p.url + "/portal/" + studio))
	p.until("the sign-in page", `location.pathname.endsWith("/signin")`)
	// Keyboard only: type into the labelled fields and press Enter.
	p.do(chromedp.SendKeys(chromedp.ID("f-access_key_id"), key),
		chromedp.SendKeys(chromedp.ID("f-secret"), "any secret\r"))
	p.until("the home page", `document.querySelector("h1") && document.querySelector("h1").textContent === "My workstations"`)
}

func (p *page) signOut() {
	p.t.Helper()
	p.do(chromedp.Click(chromedp.CSS(`form.signout button`)))
	p.until("the sign-in page", `location.pathname.endsWith("/signin")`)
}

// TestPortalInBrowser: the artist's whole path, then the administrator's.
func TestPortalInBrowser(t *testing.T) {
	dir := t.TempDir()
	// Desktops on: the artist's desktop is a real one, streamed through
	// noVNC. The server runs on the system clock, so a desktop slower to
	// start than the driver's wait is asked again a second later by itself
	// (the in-process desktop tests move their fake clock for that).
	srv := startProc(t, dir, freePort(t), "--driver", "local", "--local-desktop", "on",
		"--local-desktop-uid-base", fmt.Sprint(desktopUIDBase()+25))
	c := srv.client()
	pr := makeProfile(t, ctx(t), c, "portal", withBackups(3), withPersistence(60))
	must[*nimblestudio.PutLaunchProfileMembersOutput](t)(c.PutLaunchProfileMembersWithContext(ctx(t), &nimblestudio.PutLaunchProfileMembersInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile, IdentityStoreId: aws.String("d-1234567890"),
		Members: []*nimblestudio.NewLaunchProfileMember{{PrincipalId: aws.String("alice"), Persona: aws.String("USER")}}}))
	// A file in the image, to see the volume come back from the backup.
	img := filepath.Join(dir, "images", "base")
	if err := os.MkdirAll(img, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(img, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	imgOut := must[*nimblestudio.GetStreamingImageOutput](t)(c.GetStreamingImageWithContext(ctx(t), &nimblestudio.GetStreamingImageInput{StudioId: &pr.Studio, StreamingImageId: &pr.Image}))
	must[*nimblestudio.TagResourceOutput](t)(c.TagResourceWithContext(ctx(t), &nimblestudio.TagResourceInput{
		ResourceArn: imgOut.StreamingImage.Arn, Tags: map[string]*string{"opennimble:source": aws.String("base")}}))

	p := &page{t: t, ctx: browsertest.New(t, browsertest.Options{}), url: srv.URL}
	p.do(chromedp.Navigate(srv.URL + "/portal/portal"))
	p.until("the sign-in page", `location.pathname.endsWith("/signin")`)
	p.shots("01-signin")
	p.signIn("portal", "alice")
	p.shots("02-home")

	// Launch, and see READY without a reload.
	p.do(chromedp.Click(chromedp.CSS(`form.profile button[type=submit]`)))
	p.until("the session page", `location.pathname.includes("/sessions/")`)
	id := p.eval(`location.pathname.split("/").pop()`)
	p.shots("03-session-launching")
	p.mark()
	p.untilState("READY")
	p.stillMarked()
	p.shots("04-session-ready")
	if got := p.eval(`document.querySelector("#stop-note").textContent`); !strings.Contains(got, "takes a backup") {
		t.Errorf("the stop button says %q, not that a backup will be taken", got)
	}

	// Open the desktop: a new tab that goes to the stream's URL, where
	// noVNC connects to the session's desktop; what is typed into its
	// terminal lands on the session's volume.
	opened := chromedp.WaitNewTarget(p.ctx, func(i *target.Info) bool { return i.Type == "page" })
	p.do(chromedp.Click(chromedp.ID("open-desktop")))
	var tid target.ID
	select {
	case tid = <-opened:
	case <-testwait.Context(t).Done():
		t.Fatal("gave up waiting for the desktop's tab at the test's deadline")
	}
	tab, cancel := chromedp.NewContext(p.ctx, chromedp.WithTargetID(tid))
	defer cancel()
	desk := &page{t: t, ctx: tab, url: srv.URL}
	desk.until("the stream URL", `location.pathname.startsWith("/_stream/")`)
	desk.until("noVNC to connect", `document.documentElement.classList.contains("noVNC_connected")`)
	if title := desk.eval(`document.title`); !strings.Contains(title, id) {
		t.Fatalf("the desktop of %s shows desktop %q", id, title)
	}
	desktopShown(t, tab, "05-desktop")
	word := fmt.Sprintf("word%d", rand.Uint32())
	typeInTerminal(t, tab, "echo "+word+" > ~/typed.txt")
	vol := filepath.Join(dir, "volumes", id)
	readFileEventually(t, filepath.Join(vol, "typed.txt"), word)
	browsertest.Screenshot(t, tab, "05-desktop-typed")
	// Close the desktop's tab and bring the portal's to the front: Chromium
	// hides a background tab, and the live updates are checked on a shown one.
	cancel()
	p.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		return t.Call(ctx, "Page.bringToFront", nil, nil)
	}))

	// Stop: the backup becomes READY, the session STOPPED, live.
	p.mark()
	p.do(chromedp.Click(chromedp.ID("stop")))
	// The stop's message is shown while the session stops (unless it had
	// stopped already when the page loaded) and dropped once it has.
	p.until("the stop's message, or the session stopped", `(document.querySelector(".flash[data-while=STOP_IN_PROGRESS]") !== null && document.querySelector(".flash").textContent.includes("backup")) || document.querySelector("#session-state[data-state=STOPPED]") !== null`)
	p.shots("06-session-stopping")
	p.mark()
	p.until("STOPPED with a READY backup", `document.querySelector("#session-state[data-state=STOPPED]") !== null && document.querySelector("tr[id^=backup-][data-state=READY]") !== null`)
	p.stillMarked()
	if n := p.eval(`String(document.querySelectorAll(".flash").length)`); n != "0" {
		t.Errorf("the stopped session's page still shows %s messages: %q", n, p.eval(`document.querySelector(".flash").textContent`))
	}
	p.shots("07-session-stopped")
	backup := strings.TrimPrefix(p.eval(`document.querySelector("tr[id^=backup-]").id`), "backup-")

	// Start from the backup; startedFromBackupId shows it.
	p.do(chromedp.Click(chromedp.CSS(`form[action$="/backups/` + backup + `/start"] button`)))
	p.until("the start's message, or the session started", `(document.querySelector(".flash") !== null && document.querySelector(".flash").textContent.includes("from backup")) || document.querySelector("#session-state[data-state=READY]") !== null`)
	p.mark()
	p.untilState("READY")
	p.stillMarked()
	if n := p.eval(`String(document.querySelectorAll(".flash").length)`); n != "0" {
		t.Errorf("the started session's page still shows %s messages", n)
	}
	if got := p.eval(`document.querySelector("#started-from").textContent`); got != backup {
		t.Fatalf("started from %q, want %q", got, backup)
	}
	p.shots("08-session-restored")
	s := must[*nimblestudio.GetStreamingSessionOutput](t)(c.GetStreamingSessionWithContext(ctx(t), &nimblestudio.GetStreamingSessionInput{StudioId: &pr.Studio, SessionId: &id}))
	if aws.StringValue(s.Session.StartedFromBackupId) != backup {
		t.Fatalf("API: startedFromBackupId %q, want %q", aws.StringValue(s.Session.StartedFromBackupId), backup)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "hello.txt")); err != nil || string(b) != "hello\n" {
		t.Errorf("restored volume: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "typed.txt")); err != nil || !strings.Contains(string(b), word) {
		t.Errorf("restored volume: typed.txt %q, %v; want %s", b, err, word)
	}

	// Delete: back home, where the session leaves the table.
	p.do(chromedp.Click(chromedp.ID("delete")))
	p.until("home", `location.pathname === "/portal/portal"`)
	p.mark()
	p.until("the session gone", `document.querySelector("#row-`+id+`") === null || document.querySelector("#row-`+id+`").dataset.state === "DELETE_IN_PROGRESS"`)
	p.shots("09-home-after-delete")

	// The administrator adds bob to the launch profile; bob then sees it.
	p.signOut()
	p.signIn("portal", "test")
	p.do(chromedp.Click(chromedp.CSS(`nav a[href$="/admin"]`)))
	p.until("the administration page", `document.querySelector("h1").textContent === "Administration"`)
	p.shots("10-admin")
	p.do(chromedp.SendKeys(chromedp.ID("add-0"), "bob\r"))
	p.until("bob listed", `document.querySelector(".flash") !== null && document.body.innerText.includes("bob is now a member")`)
	p.shots("11-admin-member-added")
	p.signOut()
	p.signIn("portal", "bob")
	p.until("bob's launch profile", `document.querySelector("form.profile h3") !== null && document.querySelector("form.profile h3").textContent === "profile"`)
	p.shots("12-bob-home")
}
