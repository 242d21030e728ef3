package e2e

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/driver/local"
	"github.com/opennimble/opennimble/internal/browsertest"
	"github.com/opennimble/opennimble/internal/testwait"
)

// Desktops of the local driver, end to end: sessions made through the Go
// SDK, their stream URLs opened in a real (headless) Chromium running
// noVNC, typed into, and their volumes looked at on the server.

// desktops runs the local driver with desktops, which need root and the
// programs scripts/test installs: without them the server does not start
// and the test fails.
func desktops(roots ...string) option {
	return func(c *app.Config, o *app.Options) {
		c.Driver, c.LocalDesktop, c.LocalSharedRoots = "local", "on", roots
		c.LocalDesktopUIDBase = desktopUIDBase()
	}
}

// desktopUIDBase is a first desktop uid of this test binary's own, so that
// desktops of test runs side by side do not share uids.
func desktopUIDBase() int { return 300000 + os.Getpid()%1000*50 }

// desktopSession creates a session and waits until it is READY.
func (e *env) desktopSession(t *testing.T, pr profile) *sess {
	t.Helper()
	out := must[*nimblestudio.CreateStreamingSessionOutput](t)(e.Admin.CreateStreamingSessionWithContext(ctx(t), &nimblestudio.CreateStreamingSessionInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile}))
	s := &sess{e: e, studio: pr.Studio, id: out.Session.SessionId, c: e.Admin, profile: pr, t: t}
	s.waitDesktop()
	return s
}

func (s *sess) waitDesktop() { s.waitState("READY") }

func (s *sess) waitStopped() { s.waitState("STOPPED") }

// waitState polls the session until it is in state. A driver step that
// takes longer than the driver's wait (a desktop starting on a busy
// machine) is asked again after a retry delay on the server's clock, which
// is the test's fake clock: it is moved on while the session is on its way.
func (s *sess) waitState(state string) {
	s.t.Helper()
	deadline := testwait.Deadline(s.t)
	for {
		got := s.get()
		st := aws.StringValue(got.State)
		switch {
		case st == state:
			return
		case strings.HasSuffix(st, "_FAILED") || time.Now().After(deadline):
			s.t.Fatalf("session %s: want %s, got %s", *s.id, state, got)
		}
		s.e.Clock.Advance(time.Second)
		time.Sleep(100 * time.Millisecond)
	}
}

// streamURL creates a stream of the session and returns its URL.
func (s *sess) streamURL() (url, streamID string) {
	s.t.Helper()
	st := must[*nimblestudio.CreateStreamingSessionStreamOutput](s.t)(s.c.CreateStreamingSessionStreamWithContext(ctx(s.t),
		&nimblestudio.CreateStreamingSessionStreamInput{StudioId: &s.studio, SessionId: s.id})).Stream
	in := &nimblestudio.GetStreamingSessionStreamInput{StudioId: &s.studio, SessionId: s.id, StreamId: st.StreamId}
	check(s.t, s.c.WaitUntilStreamingSessionStreamReadyWithContext(ctx(s.t), in, fast()))
	got := must[*nimblestudio.GetStreamingSessionStreamOutput](s.t)(s.c.GetStreamingSessionStreamWithContext(ctx(s.t), in)).Stream
	return aws.StringValue(got.Url), *st.StreamId
}

// openDesktop opens url in the browser and waits until noVNC says it is
// connected; it returns the desktop's name as noVNC shows it (the title).
func openDesktop(t *testing.T, b context.Context, url string) string {
	t.Helper()
	check(t, chromedp.Do(b, chromedp.Navigate(url)))
	browsertest.WaitFor(t, b, "noVNC to connect", func() (bool, error) {
		return chromedp.Run(b, chromedp.Evaluate[bool](`document.documentElement.classList.contains("noVNC_connected")`))
	})
	title, err := chromedp.Run(b, chromedp.Evaluate[string](`document.title`))
	check(t, err)
	return title
}

// desktopShown waits until the page shows a desktop with a terminal (a
// dark background and a large light area, xterm's white window, rather
// than one flat colour: a blank or an error page), and keeps that
// screenshot as name.
func desktopShown(t *testing.T, b context.Context, name string) {
	t.Helper()
	var last string
	browsertest.WaitFor(t, b, "the desktop and its terminal on the page", func() (bool, error) {
		shot, err := chromedp.Run(b, chromedp.FullScreenshot(100))
		if err != nil {
			return false, err
		}
		light, dark, err := lightAndDark(shot)
		last = fmt.Sprintf("%d%% light, %d%% dark", light, dark)
		return err == nil && light >= 10 && dark >= 10, fmt.Errorf("%s", last)
	})
	browsertest.Screenshot(t, b, name)
}

// lightAndDark are the percentages of light and dark pixels of a PNG.
func lightAndDark(shot []byte) (light, dark int, err error) {
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		return 0, 0, err
	}
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 4 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 4 {
			r, g, b, _ := img.At(x, y).RGBA()
			lum := (r + g + b) / 3 >> 8
			switch {
			case lum > 200:
				light++
			case lum < 60:
				dark++
			}
			n++
		}
	}
	return light * 100 / n, dark * 100 / n, nil
}

// typeInTerminal clicks into the xterm (top left of the screen) and types
// line and Enter through noVNC's canvas.
func typeInTerminal(t *testing.T, b context.Context, line string) {
	t.Helper()
	type rect struct{ X, Y, W, H float64 }
	r, err := chromedp.Run(b, chromedp.Evaluate[rect](`(() => { const r = document.querySelector("#noVNC_container canvas").getBoundingClientRect(); return {X: r.left, Y: r.top, W: r.width, H: r.height}; })()`))
	check(t, err)
	check(t, chromedp.Do(b, chromedp.MouseClickXY(r.X+r.W*0.15, r.Y+r.H*0.15), chromedp.KeyEvent(line+"\r")))
}

func readFileEventually(t *testing.T, path, want string) {
	t.Helper()
	awaitCond(t, "a file with "+want+" at "+path, func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.Contains(string(b), want)
	})
}

// TestDesktopInBrowser: a session's stream URL shows its desktop in a real
// browser; what is typed into its terminal lands on the session's volume,
// survives stop (with its backup) and start from that backup. A stream
// leads to its own session's desktop only, an expired one is refused and
// its open WebSocket closed.
func TestDesktopInBrowser(t *testing.T) {
	e := start(t, desktops())
	pr := makeProfile(t, ctx(t), e.Admin, "desk", withBackups(2), withPersistence(600))
	s := e.desktopSession(t, pr)
	other := e.desktopSession(t, pr)
	b := browsertest.New(t, browsertest.Options{})

	url, _ := s.streamURL()
	if title := openDesktop(t, b, url); !strings.Contains(title, *s.id) {
		t.Fatalf("the stream of %s shows desktop %q", *s.id, title)
	}
	desktopShown(t, b, "desktop")

	word := fmt.Sprintf("word%d", rand.Uint32())
	typeInTerminal(t, b, "echo "+word+" > ~/typed.txt")
	vol := filepath.Join(e.dir, "volumes", *s.id)
	readFileEventually(t, filepath.Join(vol, "typed.txt"), word)
	browsertest.Screenshot(t, b, "typed")

	// The other session's stream shows the other desktop.
	url2, _ := other.streamURL()
	if title := openDesktop(t, browsertest.Tab(t, b, browsertest.Options{}), url2); !strings.Contains(title, *other.id) || strings.Contains(title, *s.id) {
		t.Fatalf("the stream of %s shows desktop %q", *other.id, title)
	}

	// Stop (AUTOMATIC backup), start from that backup: the file is back and
	// the desktop is up again.
	backupID := s.stopWithBackup()
	check(t, os.RemoveAll(vol))
	check(t, s.start(backupID))
	s.waitDesktop()
	readFileEventually(t, filepath.Join(vol, "typed.txt"), word)
	url, _ = s.streamURL()
	openDesktop(t, b, url)
	desktopShown(t, b, "restarted")
	typeInTerminal(t, b, "cat ~/typed.txt > ~/again.txt")
	readFileEventually(t, filepath.Join(vol, "again.txt"), word)

	// An open WebSocket closes when its stream expires; the URL then answers 403.
	wsURL := "ws" + strings.TrimPrefix(strings.TrimSuffix(url, "/"), "http") + "/websockify"
	conn, _, err := websocket.Dial(ctx(t), wsURL, &websocket.DialOptions{Subprotocols: []string{"binary"}})
	check(t, err)
	defer conn.CloseNow()
	_, banner, err := conn.Read(ctx(t))
	if err != nil || !strings.HasPrefix(string(banner), "RFB ") {
		t.Fatalf("the WebSocket did not lead to VNC: %q %v", banner, err)
	}
	e.Clock.Advance(121 * time.Second)
	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for err == nil {
		_, _, err = conn.Read(rctx)
	}
	if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("the expired stream's WebSocket ended with %v, want a policy-violation close", err)
	}
	resp, err := http.Get(url + "vnc.html")
	check(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the expired stream answered %d", resp.StatusCode)
	}
}

// TestDesktopIsolationAndComponents: studio components apply (scripts in
// order, logged; a shared file system at its mount point), a desktop sees
// neither the data folder, nor another session's home, nor /root, nor other
// sessions' processes, and holds its memory limit. A failing script and a
// share outside the allowed roots fail the start with a message naming the
// component; a desktop whose X server is killed leaves READY with a message;
// stopped desktops leave no process behind.
func TestDesktopIsolationAndComponents(t *testing.T) {
	root := t.TempDir()
	share := filepath.Join(root, "projects")
	check(t, os.MkdirAll(share, 0o755))
	check(t, os.WriteFile(filepath.Join(share, "brief.txt"), []byte("shot 010 brief\n"), 0o644))
	e := start(t, desktops(root))
	cx := ctx(t)
	pr := makeProfile(t, cx, e.Admin, "iso", withBackups(1), withPersistence(600))
	first := e.desktopSession(t, pr) // running while the second one looks around
	firstVol := filepath.Join(e.dir, "volumes", *first.id)

	probe := strings.Join([]string{
		"echo order-1 >> $HOME/probe.txt",
		"cat " + filepath.Join(e.dir, "opennimble.db") + " >/dev/null 2>&1 && echo data-visible >> $HOME/probe.txt",
		"ls " + e.dir + " >/dev/null 2>&1 && echo datadir-visible >> $HOME/probe.txt",
		"ls " + firstVol + " >/dev/null 2>&1 && echo other-home-visible >> $HOME/probe.txt",
		"ls /root >/dev/null 2>&1 && echo root-visible >> $HOME/probe.txt",
		"ls /home >> $HOME/probe.txt",
		"echo xservers=$(ps -eo comm= | grep -c -E '^X(vnc|tigervnc)') >> $HOME/probe.txt",
		"echo uid=$(id -u) >> $HOME/probe.txt",
		"python3 -c 'bytearray(20 << 30)' 2>/dev/null && echo memory-unlimited >> $HOME/probe.txt",
		"python3 -c 'bytearray(1 << 30)' && echo memory-1g-ok >> $HOME/probe.txt",
		"cat /mnt/projects/brief.txt >> $HOME/probe.txt",
		"echo probe done",
	}, "\n")
	comp := func(name, typ string, cfg *nimblestudio.StudioComponentConfiguration, scripts ...*nimblestudio.StudioComponentInitializationScript) string {
		out := must[*nimblestudio.CreateStudioComponentOutput](t)(e.Admin.CreateStudioComponentWithContext(cx, &nimblestudio.CreateStudioComponentInput{
			StudioId: &pr.Studio, Name: aws.String(name), Type: aws.String(typ), Configuration: cfg, InitializationScripts: scripts}))
		return *out.StudioComponent.StudioComponentId
	}
	script := func(runContext, body string) *nimblestudio.StudioComponentInitializationScript {
		return &nimblestudio.StudioComponentInitializationScript{LaunchProfileProtocolVersion: aws.String("2021-03-31"), Platform: aws.String("LINUX"),
			RunContext: aws.String(runContext), Script: aws.String(body)}
	}
	sys := comp("system-setup", "CUSTOM", nil, script("SYSTEM_INITIALIZATION", "echo system ran first > $HOME/order.txt"))
	usr := comp("probe", "CUSTOM", nil, script("USER_INITIALIZATION", "echo user ran second >> $HOME/order.txt\n"+probe))
	fs := comp("projects", "SHARED_FILE_SYSTEM", &nimblestudio.StudioComponentConfiguration{SharedFileSystemConfiguration: &nimblestudio.SharedFileSystemConfiguration{
		Endpoint: aws.String(share), LinuxMountPoint: aws.String("/mnt/projects"), FileSystemId: aws.String("fs-1")}})
	setComponents := func(ids ...string) {
		must[*nimblestudio.UpdateLaunchProfileOutput](t)(e.Admin.UpdateLaunchProfileWithContext(cx, &nimblestudio.UpdateLaunchProfileInput{
			StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile, StudioComponentIds: aws.StringSlice(ids)}))
		check(t, e.Admin.WaitUntilLaunchProfileReadyWithContext(cx, &nimblestudio.GetLaunchProfileInput{StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile}, fast()))
	}
	setComponents(sys, usr, fs)

	second := e.desktopSession(t, pr)
	vol := filepath.Join(e.dir, "volumes", *second.id)
	readFileEventually(t, filepath.Join(vol, "probe.txt"), "brief")
	probeOut, _ := os.ReadFile(filepath.Join(vol, "probe.txt"))
	got := string(probeOut)
	for _, bad := range []string{"data-visible", "datadir-visible", "other-home-visible", "root-visible", "memory-unlimited", "uid=0"} {
		if strings.Contains(got, bad) {
			t.Errorf("inside the desktop: %s\n%s", bad, got)
		}
	}
	for _, want := range []string{"xservers=1\n", "memory-1g-ok", "shot 010 brief", "order-1"} {
		if !strings.Contains(got, want) {
			t.Errorf("inside the desktop, want %q:\n%s", want, got)
		}
	}
	order, _ := os.ReadFile(filepath.Join(vol, "order.txt"))
	if string(order) != "system ran first\nuser ran second\n" {
		t.Errorf("scripts ran in the order:\n%s", order)
	}
	if log := sessionLog(t, e.dir, *second.id); !strings.Contains(log, "probe done") || !strings.Contains(log, "== user initialization: probe") {
		t.Errorf("session log:\n%s", log)
	}
	init := must[*nimblestudio.GetLaunchProfileInitializationOutput](t)(e.Admin.GetLaunchProfileInitializationWithContext(cx, &nimblestudio.GetLaunchProfileInitializationInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile, LaunchProfileProtocolVersions: aws.StringSlice([]string{"2021-03-31"}),
		LaunchPurpose: aws.String("test"), Platform: aws.String("LINUX")})).LaunchProfileInitialization
	if len(init.SystemInitializationScripts) != 1 || len(init.UserInitializationScripts) != 1 ||
		!strings.Contains(aws.StringValue(init.UserInitializationScripts[0].Script), "probe done") {
		t.Errorf("GetLaunchProfileInitialization does not answer what the session ran: %s", init)
	}

	// The X server killed: the session leaves READY with a message.
	killXServer(t, e.App.Config.LocalDesktopUIDBase+1)
	second.waitStopped()
	if msg := aws.StringValue(second.get().StatusMessage); !strings.Contains(msg, "ended on its own") {
		t.Fatalf("status message of the session whose X server died: %q", msg)
	}

	// A failing script fails the start, naming its component.
	bad := comp("licence", "CUSTOM", nil, script("SYSTEM_INITIALIZATION", "echo no licence server; exit 9"))
	setComponents(sys, bad, usr)
	check(t, second.start(""))
	awaitCond(t, "the start to fail", func() bool { return aws.StringValue(second.get().State) == "START_FAILED" })
	if got := second.get(); aws.StringValue(got.StatusCode) != "INITIALIZATION_SCRIPT_ERROR" || !strings.Contains(aws.StringValue(got.StatusMessage), "licence ("+bad+")") {
		t.Fatalf("failed start: %s", got)
	}

	// A share outside the allowed roots is refused.
	outside := comp("outside", "SHARED_FILE_SYSTEM", &nimblestudio.StudioComponentConfiguration{SharedFileSystemConfiguration: &nimblestudio.SharedFileSystemConfiguration{
		Endpoint: aws.String(t.TempDir()), LinuxMountPoint: aws.String("/mnt/outside"), FileSystemId: aws.String("fs-2")}})
	setComponents(outside)
	check(t, second.start(""))
	awaitCond(t, "the start to fail", func() bool {
		st := second.get()
		return aws.StringValue(st.State) == "START_FAILED" && strings.Contains(aws.StringValue(st.StatusMessage), "outside ("+outside+")")
	})
	if msg := aws.StringValue(second.get().StatusMessage); !strings.Contains(msg, "outside the allowed roots") {
		t.Fatalf("share outside the roots: %q", msg)
	}

	// Stop/start cycles leave no stray process.
	setComponents(sys)
	for range 2 {
		check(t, first.stop())
		first.waitStopped()
		if ps := uidProcesses(t, e.App.Config.LocalDesktopUIDBase); ps != "" {
			t.Fatalf("processes of a stopped desktop: %s", ps)
		}
		check(t, first.start(""))
		first.waitDesktop()
	}
	check(t, first.stop())
	first.waitStopped()
	if ps := uidProcesses(t, e.App.Config.LocalDesktopUIDBase); ps != "" {
		t.Fatalf("processes of a stopped desktop: %s", ps)
	}
}

// sessionLog is what "opennimble session-log" prints (its function, to
// spare the test a build of the binary).
func sessionLog(t *testing.T, dataDir, id string) string {
	t.Helper()
	b, err := local.SessionLog(dataDir, id)
	if err != nil {
		t.Fatalf("session log: %v", err)
	}
	return string(b)
}

// uidProcesses lists, with ps, the processes running as uid.
func uidProcesses(t *testing.T, uid int) string {
	t.Helper()
	out, _ := exec.Command("ps", "-o", "pid=,comm=", "-u", fmt.Sprint(uid)).Output()
	return strings.TrimSpace(string(out))
}

// killXServer kills the X server running as uid, as a crash would.
func killXServer(t *testing.T, uid int) {
	t.Helper()
	out, _ := exec.Command("ps", "-o", "pid=,comm=", "-u", fmt.Sprint(uid)).Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && strings.HasPrefix(f[1], "X") {
			check(t, exec.Command("kill", "-KILL", f[0]).Run())
			return
		}
	}
	t.Fatalf("no X server runs as uid %d: %s", uid, out)
}

// TestDesktopLostAcrossRestart: desktops end with the server that ran
// them; a READY session whose desktop is gone after a restart on the same
// data folder leaves READY with a status message saying so, and starts
// again into a new desktop.
func TestDesktopLostAcrossRestart(t *testing.T) {
	e := start(t, desktops())
	pr := makeProfile(t, ctx(t), e.Admin, "restart", withPersistence(600))
	s := e.desktopSession(t, pr)
	check(t, e.App.Close())
	if ps := uidProcesses(t, e.App.Config.LocalDesktopUIDBase); ps != "" {
		t.Fatalf("desktop processes outlive the server: %s", ps)
	}

	e2 := start(t, desktops(), func(c *app.Config, o *app.Options) { c.DataDir = e.dir })
	s.e, s.c = e2, e2.Admin
	s.waitStopped()
	got := s.get()
	if msg := aws.StringValue(got.StatusMessage); !strings.Contains(msg, "ended when the server stopped") || !strings.Contains(msg, *s.id) {
		t.Fatalf("after a restart the lost desktop is reported as %s: %q", aws.StringValue(got.StatusCode), msg)
	}
	check(t, s.start(""))
	s.waitDesktop()
	url, _ := s.streamURL()
	rfbBanner(t, url)

	// kill -9 of the server's process: its desktop ends with it (Pdeathsig),
	// and the next server reports the session lost.
	check(t, e2.App.Close())
	p := startProc(t, e.dir, freePort(t), "--driver", "local", "--local-desktop", "on",
		"--local-desktop-uid-base", fmt.Sprint(e.App.Config.LocalDesktopUIDBase))
	s.c = p.client()
	awaitCond(t, "the session lost at the restart to stop", func() bool { return aws.StringValue(s.get().State) == "STOPPED" })
	check(t, s.start(""))
	awaitCond(t, "the session to start in the server process", func() bool { return aws.StringValue(s.get().State) == "READY" })
	if len(sessionProcesses(*s.id)) == 0 {
		t.Fatal("the READY session has no desktop process")
	}
	p.kill()
	awaitCond(t, "the desktop to end with the killed server", func() bool { return len(sessionProcesses(*s.id)) == 0 })
	e3 := start(t, desktops(), func(c *app.Config, o *app.Options) { c.DataDir = e.dir })
	s.e, s.c = e3, e3.Admin
	s.waitStopped()
	if msg := aws.StringValue(s.get().StatusMessage); !strings.Contains(msg, "ended when the server stopped") {
		t.Fatalf("after kill -9 and a restart the lost desktop is reported as %q", msg)
	}
}

// rfbBanner checks that a stream URL's WebSocket leads to a VNC server.
func rfbBanner(t *testing.T, url string) {
	t.Helper()
	conn, _, err := websocket.Dial(ctx(t), "ws"+strings.TrimPrefix(strings.TrimSuffix(url, "/"), "http")+"/websockify",
		&websocket.DialOptions{Subprotocols: []string{"binary"}})
	check(t, err)
	defer conn.CloseNow()
	if _, banner, err := conn.Read(ctx(t)); err != nil || !strings.HasPrefix(string(banner), "RFB ") {
		t.Fatalf("the stream %s did not lead to a desktop: %q %v", url, banner, err)
	}
}

// sessionProcesses are the processes whose command line names the session
// (its sandbox's bubblewrap and X server do).
func sessionProcesses(id string) []string {
	var out []string
	for _, pid := range allPIDs() {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmd), id) {
			out = append(out, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(string(cmd), "\x00", " ")))
		}
	}
	return out
}
