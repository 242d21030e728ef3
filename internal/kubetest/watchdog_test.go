package kubetest

import (
	"bufio"
	"bytes"
	"fmt"
	"github.com/opennimble/opennimble/internal/testwait"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWatchdogCleansUpAfterAKilledBinary runs a copy of this test binary
// that starts its own API server, kills it with SIGKILL (so no Stop, no
// cleanup, no deferred calls), and waits for etcd and the API server to
// end and their folder to go.
func TestWatchdogCleansUpAfterAKilledBinary(t *testing.T) {
	if os.Getenv("KUBETEST_HELPER") == "hang" {
		Start(t)
		fmt.Printf("kubetest-helper %s %s\n", current.dir,
			strings.Trim(fmt.Sprint(childrenRunning([]string{current.env.ControlPlane.APIServer.Path, current.env.ControlPlane.Etcd.Path})), "[]"))
		time.Sleep(time.Minute)
		return
	}
	Start(t) // have the assets ready before timing the helper
	cmd := exec.Command(os.Args[0], "-test.run=^TestWatchdogCleansUpAfterAKilledBinary$")
	cmd.Env = append(os.Environ(), "KUBETEST_HELPER=hang")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var fields []string
	for sc := bufio.NewScanner(out); sc.Scan(); {
		if f := strings.Fields(sc.Text()); len(f) > 0 && f[0] == "kubetest-helper" {
			fields = f[1:]
			break
		}
	}
	if len(fields) != 3 {
		t.Fatalf("helper printed %q, want a folder and two process ids; stderr:\n%s", fields, stderr.String())
	}
	dir := fields[0]
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	deadline := testwait.Deadline(t)
	for _, p := range fields[1:] {
		pid, _ := strconv.Atoi(p)
		for running(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs after its test binary was killed", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for {
		if _, err := os.Stat(dir); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("folder %s still there after its test binary was killed", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// running says whether the process exists and is not a zombie.
func running(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	f := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
	return len(f) > 0 && string(f[0]) != "Z"
}
