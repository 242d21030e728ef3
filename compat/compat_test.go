package compat

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serverBin is the opennimble binary TestMain builds.
var serverBin string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	flag.Parse()
	dir, err := os.MkdirTemp("", "opennimble-compat-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	serverBin = filepath.Join(dir, "opennimble")
	start := time.Now()
	build := exec.Command("go", "build", "-o", serverBin, "./cmd/opennimble")
	build.Dir = ".." // the repository root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "compat: go build ./cmd/opennimble: %v\n%s", err, out)
		return 1
	}
	if testing.Verbose() {
		fmt.Printf("compat: built %s in %s\n", serverBin, time.Since(start).Round(time.Millisecond))
	}
	return m.Run()
}

// pageSize is the server's --page-size in the client scenarios: small, so
// that three sessions and three backups take more than one page of each list.
const pageSize = "2"

// server is one running `opennimble serve --emulator` process.
type server struct {
	URL     string
	logPath string
}

// startServer runs the built binary in emulator mode (the access key id
// "test" is an administrator) on a free port of 127.0.0.1 with a fresh data
// folder and extra flags; it is stopped when the test ends. The server's log
// goes to a file, shown when the test fails; a server log at level ERROR
// (an operation that failed other than with a modelled error, a panic) or a
// server that dies fails the test.
func startServer(t *testing.T, flags ...string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{logPath: filepath.Join(dir, "server.log")}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--emulator", "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--sync", "normal", "--log-format", "json"}, flags...)
	cmd := exec.Command(serverBin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "OPENNIMBLE_CONFIG=") // no configuration file from the environment
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
				t.Errorf("opennimble did not stop within 10s of SIGTERM")
			}
		}
		s.checkLog(t)
	})

	deadline := time.Now().Add(30 * time.Second)
	for s.URL == "" {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("opennimble %s exited before serving: %v", strings.Join(args, " "), err)
		case <-time.After(20 * time.Millisecond):
		}
		for _, line := range s.logLines() {
			if line["msg"] == "opennimble serving" {
				s.URL, _ = line["url"].(string)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("opennimble did not log %q within 30s", "opennimble serving")
		}
	}
	t.Logf("opennimble serve --emulator %s: %s", strings.Join(flags, " "), s.URL)
	return s
}

// logLines returns the JSON lines of the server's log.
func (s *server) logLines() []map[string]any {
	b, _ := os.ReadFile(s.logPath)
	var out []map[string]any
	for _, l := range bytes.Split(b, []byte("\n")) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// checkLog fails the test on server errors and, when the test failed, shows
// the end of the server's log.
func (s *server) checkLog(t *testing.T) {
	b, _ := os.ReadFile(s.logPath)
	for _, l := range strings.Split(string(b), "\n") {
		var m map[string]any
		if l == "" {
			continue
		}
		if json.Unmarshal([]byte(l), &m) != nil {
			// Not a log record: a Go panic, a race report, a fatal error.
			t.Errorf("opennimble wrote to its stderr: %s", l)
			continue
		}
		if m["level"] == "ERROR" {
			t.Errorf("opennimble logged an error: %s", l)
		}
	}
	if t.Failed() {
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		t.Logf("last %d lines of the server log (%s):\n%s", len(lines), s.logPath, strings.Join(lines, "\n"))
	}
}

// clientEnv is the environment of a client process: this process's without
// its AWS_* and PYTHON* settings (no profile, no config file, no session
// token leaks in), plus the test credentials, region and endpoint.
func clientEnv(endpoint string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "PYTHONPATH=") || strings.HasPrefix(kv, "PYTHONHOME=") ||
			strings.HasPrefix(kv, "NODE_OPTIONS=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_DEFAULT_REGION=us-west-2",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"TZ=UTC", // the CLI prints timestamps in the local zone
		"NIMBLE_ENDPOINT_URL="+endpoint,
	)
}

// clientContext bounds one client's run by the test's own deadline (go test
// -timeout), less a margin to report it: a client that loops (a server that
// hands out next tokens forever) fails instead of hanging the suite, while a
// slow, busy machine only makes the clients slower (the AWS CLI starts
// Python for each call).
func clientContext(t *testing.T) (context.Context, context.CancelFunc) {
	if d, ok := t.Deadline(); ok {
		return context.WithDeadline(context.Background(), d.Add(-30*time.Second))
	}
	return context.WithCancel(context.Background())
}

// runClient runs a client's scenario script against srv, streaming its
// output into the test log, and fails the test on a non-zero exit.
func runClient(t *testing.T, srv *server, name string, argv ...string) {
	t.Helper()
	runClientEnv(t, srv, name, nil, argv...)
}

// runClientEnv is runClient with extra environment settings, which override
// clientEnv's; srv is nil for a client that starts its own server.
func runClientEnv(t *testing.T, srv *server, name string, env []string, argv ...string) {
	t.Helper()
	ctx, cancel := clientContext(t)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	endpoint := ""
	if srv != nil {
		endpoint = srv.URL
	}
	cmd.Env = append(clientEnv(endpoint), env...)
	cmd.WaitDelay = 5 * time.Second
	w := &lineLogger{t: t, prefix: name + ": "}
	cmd.Stdout, cmd.Stderr = w, w
	start := time.Now()
	err := cmd.Run()
	w.flush()
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		t.Fatalf("%s did not finish before the test's deadline (go test -timeout)", name)
	case err != nil:
		t.Fatalf("%s failed (%v) after %s; its output is above", name, err, time.Since(start).Round(time.Millisecond))
	}
	if srv != nil {
		t.Logf("%s passed in %s, %d requests", name, time.Since(start).Round(time.Millisecond), srv.requests())
	} else {
		t.Logf("%s passed in %s", name, time.Since(start).Round(time.Millisecond))
	}
}

// requests counts the API requests the server has logged.
func (s *server) requests() int {
	n := 0
	for _, l := range s.logLines() {
		if l["msg"] == "request" {
			n++
		}
	}
	return n
}

// lineLogger writes each complete line to t.Log.
type lineLogger struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.t.Log(l.prefix + string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.t.Log(l.prefix + string(l.buf))
		l.buf = nil
	}
}

// output runs a command and returns its combined output, for version checks.
func output(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = clientEnv("http://127.0.0.1:1")
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	err := cmd.Run()
	return strings.TrimSpace(b.String()), err
}

// firstLine is the first line of s.
func firstLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	if sc.Scan() {
		return sc.Text()
	}
	return ""
}

const (
	debianAWS     = "/usr/bin/aws"
	debianPython  = "/usr/bin/python3"
	awscliData    = "/usr/lib/python3/dist-packages/awscli/botocore/data"
	awscliNimble  = awscliData + "/nimble/2020-08-01/service-2.json"
	aptInstall    = "apt-get update && apt-get install -y awscli python3-boto3 (what .ci/run does)"
	jsSDKVersion  = "3.523.0"
	jsInstallHint = "run `npm ci` in compat/js (what .ci/run does)"
)

// TestAWSCLI runs the scenario with the AWS CLI v2 of Debian's awscli package.
func TestAWSCLI(t *testing.T) {
	t.Parallel()
	v, err := output(debianAWS, "--version")
	if err != nil {
		t.Fatalf("the AWS CLI v2 is missing (%s --version: %v %s): %s", debianAWS, err, v, aptInstall)
	}
	if !strings.HasPrefix(v, "aws-cli/2.") {
		t.Fatalf("%s is %q, not the AWS CLI v2: %s", debianAWS, firstLine(v), aptInstall)
	}
	if _, err := os.Stat(awscliNimble); err != nil {
		t.Fatalf("%s has no nimble model (%v): %s", debianAWS, err, aptInstall)
	}
	t.Log(v)
	// The CLI scenario makes two sessions and two backups (each aws call
	// costs a Python start-up): pages of one make two pages of each.
	srv := startServer(t, "--page-size", "1")
	runClient(t, srv, "cli", "bash", "cli/scenario.sh")
}

// TestBoto3 runs the scenario with Debian's python3-boto3 and the nimble
// model of Debian's awscli package.
func TestBoto3(t *testing.T) {
	t.Parallel()
	v, err := output(debianPython, "-c", "import boto3, botocore; print('boto3', boto3.__version__, 'botocore', botocore.__version__)")
	if err != nil {
		t.Fatalf("boto3 is missing from %s (%v: %s): %s", debianPython, err, v, aptInstall)
	}
	if _, err := os.Stat(awscliNimble); err != nil {
		t.Fatalf("the nimble model of Debian's awscli package is missing (%v); Debian's boto3 model lacks the backup operations: %s", err, aptInstall)
	}
	t.Log(v)
	srv := startServer(t, "--page-size", pageSize)
	runClientEnv(t, srv, "boto3", []string{"COMPAT_AWSCLI_DATA=" + awscliData}, debianPython, "python/scenario.py")
}

// TestJavaScriptSDKv3 runs the scenario with @aws-sdk/client-nimble on Node.
func TestJavaScriptSDKv3(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is missing (%v): install Node.js 18 or later (Debian: apt-get install -y nodejs npm)", err)
	}
	v, err := output(node, "--version")
	if err != nil {
		t.Fatalf("%s --version: %v %s", node, err, v)
	}
	b, err := os.ReadFile("js/node_modules/@aws-sdk/client-nimble/package.json")
	if err != nil {
		t.Fatalf("@aws-sdk/client-nimble is not installed (%v): %s", err, jsInstallHint)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(b, &pkg); err != nil || pkg.Version != jsSDKVersion {
		t.Fatalf("@aws-sdk/client-nimble is %q, want %s (%v): %s", pkg.Version, jsSDKVersion, err, jsInstallHint)
	}
	t.Logf("node %s, @aws-sdk/client-nimble %s", v, pkg.Version)
	srv := startServer(t, "--page-size", pageSize)
	runClient(t, srv, "js", node, "js/scenario.mjs")
}
