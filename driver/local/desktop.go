package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/deploy/workstation"
)

// DesktopOptions turn every running session into a desktop: the start
// script of deploy/workstation in a bubblewrap sandbox, as the session's own
// unprivileged uid, with its VNC server on a unix socket in the session's
// runtime folder (<data-dir>/local/run/<sessionId>/vnc.sock).
type DesktopOptions struct {
	// UIDBase is the first uid handed out: every session gets the next free
	// one, kept for its life, so that its processes, files and process
	// limit are its own. Default 200000.
	UIDBase int
	// SharedRoots are the host folders in which SHARED_FILE_SYSTEM
	// components may name their endpoint; none are allowed when empty.
	SharedRoots []string
	// Grace is how long a stopping desktop has between SIGTERM and SIGKILL
	// (default 5s).
	Grace time.Duration
	// StartTimeout bounds how long a desktop may take to answer, its
	// initialization scripts included (default 2 minutes).
	StartTimeout time.Duration
	// Cgroup says how desktops are limited (see cgroup.go): CgroupAuto (the
	// default: a cgroup v2 per desktop under the server's own cgroup when it
	// is delegated, else rlimits), CgroupOff (rlimits), or the cgroup v2
	// folder, delegated to the server, to put them under.
	Cgroup string
	// Geometry is the screen: WIDTHxHEIGHT or WIDTHxHEIGHTxDEPTH (default
	// 1280x800x24); see CheckGeometry.
	Geometry string
}

// Programs are what a desktop needs on the host: DesktopsAvailable reports
// whether they are all installed.
var Programs = []string{"bwrap", "prlimit", "setpriv", "openbox", "xterm", "xdpyinfo", "xprop"}

// DesktopsAvailable reports whether this host can run desktops, and if not,
// which program is missing. The X server is Xvnc (or Xtigervnc) of
// TigerVNC.
func DesktopsAvailable() error {
	var missing []string
	for _, p := range Programs {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	if _, err := exec.LookPath("Xvnc"); err != nil {
		if _, err := exec.LookPath("Xtigervnc"); err != nil {
			missing = append(missing, "Xvnc")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing programs: %s (Debian: apt-get install bubblewrap tigervnc-standalone-server openbox xterm x11-utils)", strings.Join(missing, ", "))
	}
	return nil
}

// desktop is one running sandbox.
type desktop struct {
	sessionID string
	cmd       *exec.Cmd
	pid       int    // the sandbox's first process (PID 1 inside)
	pidNS     string // its PID namespace, as /proc/<pid>/ns/pid names it
	socket    string
	cgroup    string        // its cgroup's folder; "" with rlimits
	done      chan struct{} // closed once bubblewrap has ended
	stopping  chan struct{} // closed when the driver ends it
	exit      error         // bubblewrap's exit, once done
}

func (dt *desktop) running() bool {
	select {
	case <-dt.done:
		return false
	default:
		return true
	}
}

func (d *Driver) runtimeDir(id string) string { return filepath.Join(d.runDir, id) }

// startDesktop starts the session's desktop on its volume, unless it runs,
// and waits until it answers. A failing initialization script fails it
// with INITIALIZATION_SCRIPT_ERROR naming the component.
func (d *Driver) startDesktop(ctx context.Context, id string, st *sessionState, ws opennimble.Workstation, instanceType string) error {
	if d.desk == nil {
		return nil
	}
	if dt := d.desktopOf(id); dt != nil && dt.running() {
		return nil
	}
	sb, err := d.prepareSandbox(id, st, ws, instanceType)
	if err != nil {
		return err
	}
	dt, err := d.spawn(sb)
	if err != nil {
		return err
	}
	if err := d.awaitDesktop(ctx, dt); err != nil {
		d.endDesktop(dt)
		return err
	}
	d.log.Info("local driver: desktop started", "session", id, "uid", sb.uid, "home", sb.home, "pid", dt.pid)
	return nil
}

// prepareSandbox gives the session a uid, makes its volume that uid's,
// fills its runtime folder with the initialization scripts and checks the
// mounts.
func (d *Driver) prepareSandbox(id string, st *sessionState, ws opennimble.Workstation, instanceType string) (*sandbox, error) {
	home := ws.Home
	if home == "" {
		home = "/home/user"
	}
	if err := checkMountPoint("the session's home (sessionStorage.root.linux)", home); err != nil {
		return nil, failf("%v", err)
	}
	mounts, err := sharedMounts(ws.SharedFileSystems, d.desk.SharedRoots)
	if err != nil {
		return nil, err
	}
	if st.UID == 0 {
		st.UID = d.allocUID()
	}
	vol, run := d.VolumePath(id), d.runtimeDir(id)
	if err := chownTree(vol, st.UID); err != nil {
		return nil, fmt.Errorf("local driver: give the volume of session %s to uid %d: %w", id, st.UID, err)
	}
	if err := writeRuntime(run, ws, st.UID); err != nil {
		return nil, fmt.Errorf("local driver: runtime folder of session %s: %w", id, err)
	}
	return &sandbox{sessionID: id, volume: vol, runtime: run, script: d.script, home: home, uid: st.UID,
		limits: limitsFor(instanceType), rlimits: d.cg == nil, geometry: d.desk.Geometry, mounts: mounts, systemDirs: systemDirs()}, nil
}

// allocUID hands out the next uid, never one another session has had.
func (d *Driver) allocUID() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nextUID = max(d.nextUID, d.desk.UIDBase)
	uid := d.nextUID
	d.nextUID++
	return uid
}

// writeRuntime empties the runtime folder and writes the initialization
// scripts into init/ as system-NNN and user-NNN, each with a .name file
// naming its component; the folder and its files belong to uid, which the
// start script runs as.
func writeRuntime(run string, ws opennimble.Workstation, uid int) error {
	if err := removeAll(run); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(run, "init"), 0o700); err != nil {
		return err
	}
	write := func(kind string, scripts []opennimble.InitScript) error {
		for i, sc := range scripts {
			name := filepath.Join(run, "init", fmt.Sprintf("%s-%03d", kind, i))
			if err := os.WriteFile(name, []byte(sc.Script), 0o600); err != nil {
				return err
			}
			label := fmt.Sprintf("%s (%s)", sc.ComponentName, sc.ComponentID)
			if err := os.WriteFile(name+".name", []byte(label), 0o600); err != nil {
				return err
			}
		}
		return nil
	}
	if err := write("system", ws.SystemScripts); err != nil {
		return err
	}
	if err := write("user", ws.UserScripts); err != nil {
		return err
	}
	return chownTree(run, uid)
}

// chownTree gives every file under dir, dir included, to uid (as its
// group too), leaving those that are already its own.
func chownTree(dir string, uid int) error {
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return err
		}
		if s, ok := fi.Sys().(*syscall.Stat_t); ok && int(s.Uid) == uid && int(s.Gid) == uid {
			return nil
		}
		return os.Lchown(p, uid, uid)
	})
}

// spawn starts bubblewrap and learns the sandbox's first process from its
// --info-fd.
func (d *Driver) spawn(sb *sandbox) (*desktop, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	logf, err := os.OpenFile(filepath.Join(sb.runtime, "sandbox.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		w.Close()
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(d.bwrap, sb.args()...)
	cmd.Env, cmd.Dir = sb.env(), "/"
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w}
	// Its own process group, so that a terminal's ^C to the server does not
	// reach it; the server ends it itself. Pdeathsig ends it with a server
	// that is killed (bubblewrap's --die-with-parent ends the sandbox).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cgroup := ""
	if d.cg != nil {
		// Born in its cgroup: no process of the desktop ever runs outside.
		dir, f, err := d.cg.create(sb.sessionID, sb.limits)
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("local driver: %w", err)
		}
		defer f.Close()
		cgroup = dir
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(f.Fd())
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		if cgroup != "" {
			_ = d.cg.remove(cgroup)
		}
		return nil, fmt.Errorf("local driver: start bubblewrap: %w", err)
	}
	dt := &desktop{sessionID: sb.sessionID, cmd: cmd, socket: filepath.Join(sb.runtime, "vnc.sock"), cgroup: cgroup,
		done: make(chan struct{}), stopping: make(chan struct{})}
	var info struct {
		ChildPid int `json:"child-pid"`
	}
	if err := json.NewDecoder(r).Decode(&info); err == nil && info.ChildPid > 0 {
		dt.pid = info.ChildPid
		dt.pidNS, _ = os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", info.ChildPid))
	}
	d.mu.Lock()
	d.desktops[sb.sessionID] = dt
	d.mu.Unlock()
	d.wg.Add(1)
	go d.reap(dt)
	if dt.pid == 0 {
		d.endDesktop(dt)
		out, _ := os.ReadFile(filepath.Join(sb.runtime, "sandbox.log"))
		return nil, failf("the sandbox of session %s did not start: %s", sb.sessionID, strings.TrimSpace(string(out)))
	}
	return dt, nil
}

// reap waits for bubblewrap and, when the driver did not end the desktop,
// reports its end to the watchers.
func (d *Driver) reap(dt *desktop) {
	defer d.wg.Done()
	err := dt.cmd.Wait()
	dt.exit = err
	close(dt.done)
	select {
	case <-dt.stopping:
		return
	default:
	}
	d.log.Warn("local driver: a desktop ended on its own", "session", dt.sessionID, "exit", err)
	d.notify(dt.sessionID)
}

// awaitDesktop waits until the start script reports the desktop ready, or
// its failure.
func (d *Driver) awaitDesktop(ctx context.Context, dt *desktop) error {
	run := filepath.Dir(dt.socket)
	deadline := time.NewTimer(d.desk.StartTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(filepath.Join(run, "ready")); err == nil {
			return nil
		}
		select {
		case <-dt.done:
			return d.startFailure(dt)
		case <-deadline.C:
			return failf("the desktop of session %s did not start within %s; see opennimble session-log %s", dt.sessionID, d.desk.StartTimeout, dt.sessionID)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// startFailure says why a desktop ended before it was ready: a failed
// initialization script (the start script's "failed" marker) or the
// desktop itself.
func (d *Driver) startFailure(dt *desktop) error {
	run := filepath.Dir(dt.socket)
	if b, err := os.ReadFile(filepath.Join(run, "failed")); err == nil {
		f := strings.SplitN(strings.TrimSpace(string(b)), "\n", 3)
		for len(f) < 3 {
			f = append(f, "?")
		}
		return &opennimble.DriverError{StatusCode: "INITIALIZATION_SCRIPT_ERROR", Message: fmt.Sprintf(
			"the %s_INITIALIZATION script of studio component %s failed with exit status %s; its output is in the session log (opennimble session-log %s)",
			strings.ToUpper(f[0]), f[1], f[2], dt.sessionID)}
	}
	return failf("the desktop of session %s ended while starting (%v): %s", dt.sessionID, dt.exit, lastLines(run, 5))
}

// lastLines is the end of a session's desktop and sandbox logs.
func lastLines(run string, n int) string {
	var out []string
	for _, f := range []string{"sandbox.log", "desktop.log"} {
		b, _ := os.ReadFile(filepath.Join(run, f))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		out = append(out, lines[max(0, len(lines)-n):]...)
	}
	return strings.TrimSpace(strings.Join(out, " | "))
}

func (d *Driver) desktopOf(id string) *desktop {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.desktops[id]
}

// stopDesktop ends the session's desktop, if it runs, and returns once no
// process of its sandbox is left, so that nothing writes the volume any
// more.
func (d *Driver) stopDesktop(id string) {
	if dt := d.desktopOf(id); dt != nil {
		d.endDesktop(dt)
	}
}

// endDesktop sends SIGTERM to every process of the sandbox, SIGKILL to
// the sandbox after the grace period (which ends everything in its PID
// namespace), and waits until its namespace has no process left; a
// desktop in a cgroup then has whatever the cgroup holds killed, and the
// cgroup removed.
func (d *Driver) endDesktop(dt *desktop) {
	d.mu.Lock()
	select {
	case <-dt.stopping:
	default:
		close(dt.stopping)
	}
	d.mu.Unlock()
	if dt.running() {
		for _, pid := range nsProcesses(dt.pidNS) {
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
		grace := time.NewTimer(d.desk.Grace)
		select {
		case <-dt.done:
		case <-grace.C:
		}
		grace.Stop()
	}
	if dt.pid > 0 {
		_ = syscall.Kill(dt.pid, syscall.SIGKILL)
	}
	_ = dt.cmd.Process.Kill()
	<-dt.done
	for dt.pidNS != "" && len(nsProcesses(dt.pidNS)) > 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if dt.cgroup != "" {
		if err := d.cg.remove(dt.cgroup); err != nil {
			d.log.Warn("local driver: remove a desktop's cgroup", "session", dt.sessionID, "err", err)
		}
	}
	d.mu.Lock()
	if d.desktops[dt.sessionID] == dt {
		delete(d.desktops, dt.sessionID)
	}
	d.mu.Unlock()
}

// nsProcesses lists the processes in the PID namespace ns.
func nsProcesses(ns string) []int {
	if ns == "" {
		return nil
	}
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && l == ns {
			out = append(out, pid)
		}
	}
	return out
}

// stopAllDesktops ends every desktop, all at once (Close).
func (d *Driver) stopAllDesktops() {
	d.mu.Lock()
	all := make([]*desktop, 0, len(d.desktops))
	for _, dt := range d.desktops {
		all = append(all, dt)
	}
	d.mu.Unlock()
	done := make(chan struct{})
	for _, dt := range all {
		go func() { d.endDesktop(dt); done <- struct{}{} }()
	}
	for range all {
		<-done
	}
}

// Watch names every session the driver runs when it starts, and then every
// session whose desktop ends on its own. Without desktops a session's
// workstation cannot change outside opennimble, and Watch only waits.
func (d *Driver) Watch(ctx context.Context, changed func(sessionID, studioID string)) {
	d.mu.Lock()
	d.watchers = append(d.watchers, changed)
	d.mu.Unlock()
	if d.desk != nil {
		entries, _ := os.ReadDir(d.state)
		for _, e := range entries {
			id, ok := strings.CutSuffix(e.Name(), ".json")
			if !ok || validID(id) != nil {
				continue
			}
			if st, err := d.load(id); err == nil && st.Instance == instanceRunning {
				changed(id, "")
			}
		}
	}
	<-ctx.Done()
	d.mu.Lock()
	d.watchers = d.watchers[:0]
	d.mu.Unlock()
}

func (d *Driver) notify(id string) {
	d.mu.Lock()
	ws := append([]func(string, string){}, d.watchers...)
	d.mu.Unlock()
	for _, w := range ws {
		w(id, "")
	}
}

// Check reports whether the desktop of a READY session runs. A desktop
// that ended on its own, or that ended with the server (a server that
// stops ends its desktops), is a *DriverError.
func (d *Driver) Check(ctx context.Context, sessionID, studioID string) error {
	if d.desk == nil {
		return nil
	}
	dt := d.desktopOf(sessionID)
	if dt != nil && dt.running() {
		return nil
	}
	st, err := d.load(sessionID)
	if err != nil {
		return err
	}
	if st.Instance != instanceRunning {
		return nil // not ours to run: a transition is under way
	}
	if dt == nil {
		return failf("the desktop of session %s is not running: it ended when the server stopped", sessionID)
	}
	return failf("the desktop of session %s ended on its own (%v)%s: %s", sessionID, dt.exit, oomNote(dt.cgroup), lastLines(d.runtimeDir(sessionID), 3))
}

// DialVNC connects to the VNC server of the session's desktop, on the unix
// socket in its runtime folder.
func (d *Driver) DialVNC(ctx context.Context, sessionID, studioID string) (net.Conn, error) {
	dt := d.desktopOf(sessionID)
	if d.desk == nil || dt == nil || !dt.running() {
		return nil, failf("session %s has no running desktop", sessionID)
	}
	return dialUnix(ctx, dt.socket)
}

// dialUnix dials a unix socket whose path may be longer than the 107 bytes
// a socket address holds, through /proc/self/fd/<folder>/<name>.
func dialUnix(ctx context.Context, p string) (net.Conn, error) {
	var dialer net.Dialer
	if len(p) < 100 {
		return dialer.DialContext(ctx, "unix", p)
	}
	dir, err := os.Open(filepath.Dir(p))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	return dialer.DialContext(ctx, "unix", fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(p)))
}

// writeScript writes the embedded start script where sandboxes bind it
// from, root's and read-only.
func writeScript(p string) error {
	if b, err := os.ReadFile(p); err == nil && string(b) == string(workstation.StartScript) {
		return nil
	}
	if err := writeFileAtomic(p, workstation.StartScript); err != nil {
		return err
	}
	return os.Chmod(p, 0o644)
}

// removeDesktopRuntime removes the runtime folder of a terminated session.
func (d *Driver) removeDesktopRuntime(id string) error {
	if d.desk == nil {
		return nil
	}
	return removeAll(d.runtimeDir(id))
}

// SessionLog is the log of the session's last desktop start in the data
// folder dataDir: the output of its initialization scripts (init.log), then
// that of the desktop's programs and its sandbox.
func SessionLog(dataDir, sessionID string) ([]byte, error) {
	if err := validID(sessionID); err != nil {
		return nil, err
	}
	run := filepath.Join(dataDir, "local", "run", sessionID)
	if _, err := os.Stat(run); err != nil {
		return nil, fmt.Errorf("session %s has no desktop log in %s (it never ran a desktop, or the server restarted since)", sessionID, dataDir)
	}
	var out []byte
	for _, f := range []string{"init.log", "desktop.log", "sandbox.log"} {
		b, err := os.ReadFile(filepath.Join(run, f))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		out = append(out, "==> "+f+" <==\n"...)
		out = append(out, b...)
	}
	return out, nil
}

// Shutdown closes every desktop before the server exits (SIGTERM to each
// sandbox, a grace period, then SIGKILL): opennimble.Shutdowner. Sessions
// stay READY in the store; after a restart their desktops are reported lost.
func (d *Driver) Shutdown(context.Context) error {
	d.stopAllDesktops()
	return nil
}
