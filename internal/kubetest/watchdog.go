package kubetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// watchdog is a shell that kills etcd and the API server, and removes their
// folder, when this test binary exits without Stop: envtest starts them in
// process groups of their own with no parent-death signal, so they would
// otherwise outlive a test binary that fails, times out or never calls Stop.
// The shell reads a pipe whose only writer is this process; the kernel
// closes it whatever way the process ends.
type watchdog struct {
	cmd *exec.Cmd
	w   *os.File // kept referenced: collecting it would close the pipe
}

// watchdogScript gets the folder to remove and the process ids (each the
// leader of its process group) to kill. A line on stdin means Stop already
// did the work; end of file means the test binary is gone. (dash's kill
// takes no "--"; a zombie, left where nothing reaps orphans, is not alive.)
const watchdogScript = `dir=$1; shift
if read -r _; then exit 0; fi
alive() {
	kill -0 "-$1" 2>/dev/null || return 1
	[ -r "/proc/$1/stat" ] || return 0
	read -r _ _ state _ < "/proc/$1/stat" 2>/dev/null && [ "$state" != Z ]
}
for p in "$@"; do kill -TERM "-$p" 2>/dev/null; done
i=0
while [ $i -lt 100 ]; do
	live=
	for p in "$@"; do alive "$p" && live=1; done
	[ -z "$live" ] && break
	sleep 0.1; i=$((i+1))
done
for p in "$@"; do kill -KILL "-$p" 2>/dev/null; done
rm -rf -- "$dir"
`

// startWatchdog starts the watchdog for the children of this process that
// run the given binaries. Where there is no /proc (not Linux) it watches
// nothing and Stop is the only cleanup.
func startWatchdog(dir string, binaries ...string) (*watchdog, error) {
	pids := childrenRunning(binaries)
	if len(pids) == 0 {
		return &watchdog{}, nil
	}
	args := []string{"-c", watchdogScript, "kubetest-watchdog", dir}
	for _, pid := range pids {
		args = append(args, strconv.Itoa(pid))
	}
	cmd := exec.Command("/bin/sh", args...)
	// Its own process group, so that the ^C that ends `go test` does
	// not also end the watchdog before it has done its work.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdin = r
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("starting the watchdog: %w", err)
	}
	r.Close()
	go func() { _ = cmd.Wait() }()
	return &watchdog{cmd: cmd, w: w}, nil
}

// release tells the watchdog that Stop has cleaned up, and lets it exit.
func (d *watchdog) release() {
	if d == nil || d.w == nil {
		return
	}
	_, _ = d.w.WriteString("stopped\n")
	_ = d.w.Close()
	d.w = nil
}

// childrenRunning returns the ids of this process's children whose
// executable is one of binaries (after resolving symbolic links).
func childrenRunning(binaries []string) []int {
	want := map[string]bool{}
	for _, b := range binaries {
		if p, err := filepath.EvalSymlinks(b); err == nil {
			want[p] = true
		}
	}
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		rest := stat[bytes.LastIndexByte(stat, ')')+1:]
		f := bytes.Fields(rest)
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(string(f[1])); ppid != self {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err == nil && want[exe] {
			pids = append(pids, pid)
		}
	}
	return pids
}
