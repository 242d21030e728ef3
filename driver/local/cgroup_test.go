package local

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/opennimble/opennimble/internal/testwait"
)

func TestOwnCgroupFrom(t *testing.T) {
	const v2 = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
	const hybrid = "30 24 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
		"31 24 0:28 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
	const spaced = "31 24 0:28 / /mnt/cg\\040two rw,relatime - cgroup2 none rw\n"
	const nested = "40 30 0:29 /kubepods/pod1 /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"
	for _, tc := range []struct {
		name, self, mounts, want, err string
	}{
		{"systemd service", "0::/system.slice/opennimble.service\n", v2, "/sys/fs/cgroup/system.slice/opennimble.service", ""},
		{"hybrid", "4:memory:/x\n0::/\n", hybrid, "/sys/fs/cgroup/unified", ""},
		{"escaped mount point", "0::/a\n", spaced, "/mnt/cg two/a", ""},
		{"mount of a sub-tree (a container)", "0::/kubepods/pod1/c1\n", nested, "/sys/fs/cgroup/c1", ""},
		{"v1 only", "4:memory:/x\n", hybrid, "", "no 0:: line"},
		{"no cgroup2 mounted", "0::/\n", "30 24 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n", "", "no cgroup v2 file system"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ownCgroupFrom([]byte(tc.self), []byte(tc.mounts))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// fakeCgroup makes a folder that looks like a cgroup v2 folder with the
// given controllers: this machine's own cgroup may not be delegated, so
// the decision and the control files are tested on a plain folder.
func fakeCgroup(t *testing.T, controllers string) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range map[string]string{"cgroup.controllers": controllers + "\n", "cgroup.subtree_control": "", "cgroup.procs": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fakeChild adds the control files the kernel makes with a cgroup.
func fakeChild(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"memory.max", "pids.max", "cgroup.kill", "cgroup.procs"} {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCgroupDecision: a folder offering memory and pids is used, with
// both enabled for its children; each desktop's cgroup gets its instance
// type's limits and is killed on removal; a folder without them, "off" and
// a relative folder are refused or fall back to rlimits.
func TestCgroupDecision(t *testing.T) {
	dir := fakeCgroup(t, "cpuset cpu io memory hugetlb pids rdma misc")
	// A previous server's desktop, left behind.
	old := filepath.Join(dir, "desktop-ses-old")
	fakeChild(t, old)
	cg, reason, err := openCgroups(dir)
	if err != nil || cg == nil || reason != "" {
		t.Fatalf("a delegated folder: %v, %q, %v", cg, reason, err)
	}
	if got := readFile(t, filepath.Join(dir, "cgroup.subtree_control")); got != "+memory +pids" {
		t.Fatalf("subtree_control %q, want memory and pids enabled", got)
	}
	// sweep kills what the old cgroup holds (a plain folder with files is
	// not removable as a cgroup would be, so its error is expected here).
	if err := cg.sweep(); err == nil || readFile(t, filepath.Join(old, "cgroup.kill")) != "1" {
		t.Fatalf("sweep: %v; cgroup.kill %q", err, readFile(t, filepath.Join(old, "cgroup.kill")))
	}

	// create writes into the control files the kernel makes with a cgroup;
	// a plain folder has none, so create fails naming the first and leaves
	// nothing behind. The limits are checked on a faked child.
	own := filepath.Join(dir, "desktop-ses-1")
	if _, _, err := cg.create("ses-1", limitsFor("g4dn.2xlarge")); err == nil || !strings.Contains(err.Error(), "memory.max") {
		t.Fatalf("create without the kernel's control files: %v", err)
	}
	if _, err := os.Stat(own); !os.IsNotExist(err) {
		t.Fatalf("a failed create left %s: %v", own, err)
	}
	fakeChild(t, own)
	if err := writeLimits(own, limitsFor("g4dn.2xlarge")); err != nil {
		t.Fatalf("limits where the host has no swap accounting: %v", err)
	}
	if _, err := os.Stat(filepath.Join(own, "memory.swap.max")); !os.IsNotExist(err) {
		t.Fatal("memory.swap.max made where the kernel has none")
	}
	if err := os.WriteFile(filepath.Join(own, "memory.swap.max"), []byte("max"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeLimits(own, limitsFor("g4dn.2xlarge")); err != nil || readFile(t, filepath.Join(own, "memory.swap.max")) != "0" {
		t.Fatalf("swap: %v", err)
	}
	for f, want := range map[string]string{"memory.max": fmt.Sprint(int64(32) << 30), "pids.max": "4096"} {
		if got := readFile(t, filepath.Join(own, f)); got != want {
			t.Fatalf("%s = %q, want %q", f, got, want)
		}
	}

	// No memory or pids controller: auto falls back, a named folder fails.
	bare := fakeCgroup(t, "cpu io")
	if _, _, err := openCgroups(bare); err == nil || !strings.Contains(err.Error(), "memory, pids controller") {
		t.Fatalf("a named folder without the controllers: %v", err)
	}
	if cg, reason, err := openCgroups(CgroupOff); cg != nil || err != nil || !strings.Contains(reason, "off") {
		t.Fatalf("off: %v, %q, %v", cg, reason, err)
	}
	if _, _, err := openCgroups("relative/dir"); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Fatalf("a relative folder: %v", err)
	}
	if _, _, err := openCgroups(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a cgroup v2 folder") {
		t.Fatalf("a plain folder: %v", err)
	}
}

// TestCgroupAutoHere: on this machine, auto uses the server's own cgroup
// exactly when it offers memory and pids, and otherwise says why not.
func TestCgroupAutoHere(t *testing.T) {
	own, err := ownCgroup()
	if err != nil {
		cg, reason, err := openCgroups(CgroupAuto)
		if cg != nil || err != nil || !strings.Contains(reason, "no cgroup v2") {
			t.Fatalf("no cgroup v2 here, yet auto gave %v, %q, %v", cg, reason, err)
		}
		return
	}
	b, _ := os.ReadFile(filepath.Join(own, "cgroup.controllers"))
	have := strings.Fields(string(b))
	delegated := slices.Contains(have, "memory") && slices.Contains(have, "pids")
	cg, reason, err := openCgroups(CgroupAuto)
	t.Logf("own cgroup %s offers %v: auto gives %v, %q, %v", own, have, cg, reason, err)
	switch {
	case err != nil:
		t.Fatal(err)
	case !delegated && (cg != nil || !strings.Contains(reason, "does not offer")):
		t.Fatalf("cgroup %s lacks memory or pids, yet auto gave %v, %q", own, cg, reason)
	case delegated && cg == nil && !strings.Contains(reason, "delegated"):
		t.Fatalf("cgroup %s offers memory and pids, yet auto gave no cgroup and says %q", own, reason)
	}
}

// TestCgroupRemoveKills runs a process in a real cgroup v2 (a child of
// this process's own, no controllers needed) as spawn does (clone3 into
// the cgroup's folder), and checks that remove kills it and removes the
// cgroup: what ends a desktop's strays.
func TestCgroupRemoveKills(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root, as the desktop tests do")
	}
	own, err := ownCgroup()
	if err != nil {
		t.Fatal(err)
	}
	c := &cgroups{dir: own}
	dir := filepath.Join(own, fmt.Sprintf("desktop-test-%d", os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.remove(dir) })
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A shell with a child: both must end.
	cmd := exec.Command("sh", "-c", "sleep 600 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(f.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	testwait.Eventually(t, "the shell and its child in the cgroup", func() bool {
		return len(strings.Fields(readFile(t, filepath.Join(dir, "cgroup.procs")))) == 2
	})
	if err := c.remove(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the cgroup is still there: %v", err)
	}
	if err := <-waited; err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the shell ended with %v, want killed", err)
	}
}

// TestSandboxLimitsPath: with rlimits the start script runs under prlimit
// with the instance type's limits; in a cgroup it does not.
func TestSandboxLimitsPath(t *testing.T) {
	sb := &sandbox{sessionID: "ses-1", volume: "/v", runtime: "/r", script: "/s", home: "/home/a", uid: 200000,
		limits: limitsFor("g5.xlarge"), rlimits: true}
	args := strings.Join(sb.args(), " ")
	if !strings.Contains(args, fmt.Sprintf("prlimit --as=%d --nproc=2048 -- setpriv", int64(16)<<30)) {
		t.Fatalf("rlimits: %s", args)
	}
	sb.rlimits = false
	if args := strings.Join(sb.args(), " "); strings.Contains(args, "prlimit") || !strings.Contains(args, "-- setpriv --reuid 200000") {
		t.Fatalf("cgroup: %s", args)
	}
}

// TestSetupLimitsLogs: the server says which limits its desktops get.
func TestSetupLimitsLogs(t *testing.T) {
	var buf bytes.Buffer
	d := &Driver{log: slog.New(slog.NewTextHandler(&buf, nil))}
	dir := fakeCgroup(t, "memory pids")
	if err := d.setupLimits(dir); err != nil || d.cg == nil {
		t.Fatalf("setupLimits(%s): %v, %v", dir, d.cg, err)
	}
	if err := (&Driver{log: d.log}).setupLimits(CgroupOff); err != nil {
		t.Fatal(err)
	}
	if err := (&Driver{log: d.log}).setupLimits(fakeCgroup(t, "cpu")); err == nil {
		t.Fatal("a named folder without memory and pids is accepted")
	}
	log := buf.String()
	for _, want := range []string{"desktop limits are cgroup v2", "under=" + dir, "desktop limits are rlimits", "off"} {
		if !strings.Contains(log, want) {
			t.Fatalf("log lacks %q:\n%s", want, log)
		}
	}
}

// TestOOMNote: a desktop whose cgroup counts OOM kills is said to have run
// out of memory.
func TestOOMNote(t *testing.T) {
	dir := t.TempDir()
	if got := oomNote(dir); got != "" {
		t.Fatalf("no memory.events: %q", got)
	}
	if got := oomNote(""); got != "" {
		t.Fatalf("no cgroup: %q", got)
	}
	write := func(f, v string) {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("memory.max", "17179869184\n")
	write("memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 0\noom_group_kill 0\n")
	if got := oomNote(dir); got != "" {
		t.Fatalf("no OOM kill: %q", got)
	}
	write("memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 2\noom_group_kill 0\n")
	if got := oomNote(dir); !strings.Contains(got, "OOM killer ended 2 of its processes") || !strings.Contains(got, "memory.max 17179869184 bytes") {
		t.Fatalf("after OOM kills: %q", got)
	}
}
