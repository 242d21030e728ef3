package local_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/opennimble/opennimble/internal/testwait"
	"io"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/driver/local"
)

// These tests run real desktops: bubblewrap, Xvnc, openbox and xterm, which
// scripts/test installs. A missing program fails them.

func desktopDriver(t *testing.T, dir string, o local.DesktopOptions) *local.Driver {
	t.Helper()
	if err := local.DesktopsAvailable(); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		t.Fatal("desktops need root: every sandbox gets a uid of its own")
	}
	o.Grace = time.Second
	return newDriver(t, dir, local.Options{Desktop: &o})
}

func provisionDesktop(t *testing.T, d *local.Driver, id string, ws opennimble.Workstation) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		p, err := d.Provision(ctx, opennimble.ProvisionParams{SessionID: id, StudioID: "st", OwnedBy: "alice", Token: "t1",
			InstanceType: "g4dn.xlarge", Volume: opennimble.Volume{Generation: 1}, Workstation: ws})
		if err != nil || p.Done {
			return err
		}
	}
}

// rfbBanner reads the version banner of the session's VNC server.
func rfbBanner(t *testing.T, d *local.Driver, id string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := d.DialVNC(ctx, id, "st")
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	b := make([]byte, 12)
	_, err = io.ReadFull(c, b)
	return string(b), err
}

// processesOf lists the host's processes of uid (ps), as an operator
// would look for strays.
func processesOf(t *testing.T, uid int) []string {
	t.Helper()
	out, err := osexec.Command("ps", "-o", "pid=,comm=", "-u", fmt.Sprint(uid)).Output()
	var ee *osexec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		return nil // none
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.TrimSpace(string(out)))
}

func TestDesktopLifecycle(t *testing.T) {
	dir := t.TempDir()
	uidBase := 230000 + os.Getpid()%1000*20
	d := desktopDriver(t, dir, local.DesktopOptions{UIDBase: uidBase})
	var mu sync.Mutex
	var changed []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go d.Watch(ctx, func(id, _ string) { mu.Lock(); changed = append(changed, id); mu.Unlock() })

	ws := opennimble.Workstation{Home: "/home/alice", UserScripts: []opennimble.InitScript{
		{ComponentID: "sc-1", ComponentName: "hello", Script: "echo hello from $(id -u) in $PWD; echo mark > $HOME/mark"}}}
	if err := provisionDesktop(t, d, "ses-a", ws); err != nil {
		t.Fatal(err)
	}
	if b, err := rfbBanner(t, d, "ses-a"); err != nil || !strings.HasPrefix(b, "RFB 003.") {
		t.Fatalf("VNC banner %q, %v", b, err)
	}
	if err := d.Check(ctx, "ses-a", "st"); err != nil {
		t.Fatalf("Check of a running desktop: %v", err)
	}
	log, err := local.SessionLog(dir, "ses-a")
	if err != nil || !strings.Contains(string(log), fmt.Sprintf("hello from %d in /home/alice", uidBase)) {
		t.Fatalf("session log: %v\n%s", err, log)
	}
	if fi, err := os.Stat(filepath.Join(d.VolumePath("ses-a"), "mark")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(uidBase) {
		t.Fatalf("the script's file on the volume: %v", err)
	}
	if ps := processesOf(t, uidBase); len(ps) == 0 {
		t.Fatal("no process runs as the session's uid")
	}

	// The X server killed from outside: Check reports it, the watcher hears.
	out, _ := osexec.Command("ps", "-o", "pid=", "-u", fmt.Sprint(uidBase), "-C", "Xvnc,Xtigervnc").Output()
	pids := strings.Fields(string(out))
	if len(pids) == 0 {
		t.Fatal("no X server found")
	}
	for _, p := range pids {
		_ = osexec.Command("kill", "-KILL", p).Run()
	}
	awaitT(t, "the watcher to hear of the lost desktop", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(strings.Join(changed, " "), "ses-a")
	})
	var de *opennimble.DriverError
	if err := d.Check(ctx, "ses-a", "st"); !errors.As(err, &de) || !strings.Contains(de.Message, "ended on its own") {
		t.Fatalf("Check after the X server died: %v", err)
	}
	awaitT(t, "no process of the dead desktop", func() bool { return len(processesOf(t, uidBase)) == 0 })

	// Stop and start again: the same uid, no strays after the stop.
	if _, err := runUntilDone(t, func(ctx context.Context) (opennimble.Progress, error) {
		return d.Stop(ctx, opennimble.StopParams{SessionID: "ses-a", StudioID: "st", Token: "t2"})
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		tok := fmt.Sprintf("s%d", i)
		if _, err := runUntilDone(t, func(ctx context.Context) (opennimble.Progress, error) {
			return d.Start(ctx, opennimble.StartParams{SessionID: "ses-a", StudioID: "st", Token: tok, Volume: opennimble.Volume{Generation: 1}, Workstation: ws})
		}); err != nil {
			t.Fatal(err)
		}
		if len(processesOf(t, uidBase)) == 0 {
			t.Fatal("the started desktop runs no process as the session's uid")
		}
		if _, err := runUntilDone(t, func(ctx context.Context) (opennimble.Progress, error) {
			return d.Stop(ctx, opennimble.StopParams{SessionID: "ses-a", StudioID: "st", Token: "x" + tok})
		}); err != nil {
			t.Fatal(err)
		}
		if ps := processesOf(t, uidBase); len(ps) > 0 {
			t.Fatalf("processes left after stop %d: %v", i, ps)
		}
	}
}

func TestDesktopInitScriptFailure(t *testing.T) {
	d := desktopDriver(t, t.TempDir(), local.DesktopOptions{UIDBase: 240000 + os.Getpid()%1000*20})
	ws := opennimble.Workstation{Home: "/home/alice", SystemScripts: []opennimble.InitScript{
		{ComponentID: "sc-ok", ComponentName: "first", Script: "echo first ran"},
		{ComponentID: "sc-bad", ComponentName: "licence-server", Script: "echo cannot reach the licence server; exit 7"},
		{ComponentID: "sc-never", ComponentName: "third", Script: "echo third ran"},
	}}
	err := provisionDesktop(t, d, "ses-f", ws)
	var de *opennimble.DriverError
	if !errors.As(err, &de) || de.StatusCode != "INITIALIZATION_SCRIPT_ERROR" || !strings.Contains(de.Message, "licence-server (sc-bad)") || !strings.Contains(de.Message, "status 7") {
		t.Fatalf("provision with a failing script: %v", err)
	}
}

func TestDesktopSharedFileSystemRoots(t *testing.T) {
	root := t.TempDir()
	share := filepath.Join(root, "projects")
	if err := os.MkdirAll(share, 0o755); err != nil {
		t.Fatal(err)
	}
	d := desktopDriver(t, t.TempDir(), local.DesktopOptions{UIDBase: 250000 + os.Getpid()%1000*20, SharedRoots: []string{root}})
	outside := t.TempDir()
	err := provisionDesktop(t, d, "ses-o", opennimble.Workstation{Home: "/home/alice", SharedFileSystems: []opennimble.SharedFileSystem{
		{ComponentID: "sc-fs", ComponentName: "evil", Endpoint: outside, MountPoint: "/mnt/x"}}})
	var de *opennimble.DriverError
	if !errors.As(err, &de) || !strings.Contains(de.Message, "outside the allowed roots") || !strings.Contains(de.Message, "evil (sc-fs)") {
		t.Fatalf("a share outside the roots: %v", err)
	}
}

func runUntilDone(t *testing.T, call func(ctx context.Context) (opennimble.Progress, error)) (opennimble.Progress, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		p, err := call(ctx)
		if err != nil || p.Done {
			return p, err
		}
	}
}

func awaitT(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Eventually(t, what, cond)
}

// TestDesktopGeometry: the configured screen size and depth are the X
// server's, and the server has no GLX (software OpenGL would cost every
// desktop ~50 MiB of memory, see session-start.sh).
func TestDesktopGeometry(t *testing.T) {
	dir := t.TempDir()
	d := desktopDriver(t, dir, local.DesktopOptions{UIDBase: 260000 + os.Getpid()%1000*20, Geometry: "1024x768x16"})
	ws := opennimble.Workstation{Home: "/home/alice", UserScripts: []opennimble.InitScript{{ComponentID: "sc-x", ComponentName: "screen",
		Script: "xdpyinfo | grep -E 'dimensions|depth of root'; echo extensions: $(xdpyinfo | sed -n '/number of extensions/,/default screen/p' | tr -s ' \\n' ' ')"}}}
	if err := provisionDesktop(t, d, "ses-g", ws); err != nil {
		t.Fatal(err)
	}
	log, err := local.SessionLog(dir, "ses-g")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Join(strings.Fields(string(log)), " ")
	for _, want := range []string{"dimensions: 1024x768 pixels", "depth of root window: 16 planes", "extensions:", "RENDER"} {
		if !strings.Contains(s, want) {
			t.Fatalf("session log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(s, "GLX") {
		t.Fatalf("the X server has GLX:\n%s", log)
	}
}

// TestCheckGeometry: the geometry setting is refused with a message naming
// what is wrong.
func TestCheckGeometry(t *testing.T) {
	for g, want := range map[string]string{
		"1280x800": "", "1280x800x24": "", "1920x1080x16": "",
		"1280": "want WIDTHxHEIGHT", "1280x800x8": `depth "8"`, "100x800": `width "100"`, "1280xabc": `height "abc"`, "1x2x3x4": "want WIDTHxHEIGHT",
	} {
		err := local.CheckGeometry(g)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckGeometry(%q) = %v, want %q", g, err, want)
		}
	}
}
