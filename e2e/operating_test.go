package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/nimblestudio"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/app"
)

// scrape reads url's /metrics.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics = %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// metric sums the values (counters, gauges, histogram counts) of family
// name whose labels include want.
func metric(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	sum := 0.0
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// TestMetricsMoveWithTheFlow runs the binary and a session's life through
// the Go SDK, and watches /metrics follow it: requests by operation and
// error code, lifecycle jobs and steps, sessions by state, backups, store
// transactions, build info.
func TestMetricsMoveWithTheFlow(t *testing.T) {
	p := startProc(t, t.TempDir(), freePort(t), "--sim-step-duration", "20ms")
	before := scrape(t, p.URL)
	if metric(before, "opennimble_build_info", nil) != 1 {
		t.Fatal("no opennimble_build_info")
	}
	cx := ctx(t)
	c := p.client()
	pr := makeProfile(t, cx, c, "metrics", withBackups(3), withPersistence(600))
	sess := must[*nimblestudio.CreateStreamingSessionOutput](t)(c.CreateStreamingSessionWithContext(cx, &nimblestudio.CreateStreamingSessionInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile})).Session
	get := &nimblestudio.GetStreamingSessionInput{StudioId: &pr.Studio, SessionId: sess.SessionId}
	check(t, c.WaitUntilStreamingSessionReadyWithContext(cx, get, fast()))
	mid := scrape(t, p.URL)
	if got := metric(mid, "opennimble_sessions", map[string]string{"state": "READY"}); got != 1 {
		t.Errorf("sessions READY = %v, want 1", got)
	}
	must[*nimblestudio.StopStreamingSessionOutput](t)(c.StopStreamingSessionWithContext(cx, &nimblestudio.StopStreamingSessionInput{StudioId: &pr.Studio, SessionId: sess.SessionId}))
	check(t, c.WaitUntilStreamingSessionStoppedWithContext(cx, get, fast()))
	_, err := c.GetStudioWithContext(cx, &nimblestudio.GetStudioInput{StudioId: aws.String("stid-nope")})
	mustCode(t, err, "ResourceNotFoundException")

	after := scrape(t, p.URL)
	moved := func(name string, labels map[string]string, atLeast float64) {
		t.Helper()
		b, a := metric(before, name, labels), metric(after, name, labels)
		if a-b < atLeast {
			t.Errorf("%s%v went from %v to %v, want it up by %v", name, labels, b, a, atLeast)
		}
	}
	moved("opennimble_requests_total", map[string]string{"operation": "CreateStreamingSession", "code": ""}, 1)
	moved("opennimble_requests_total", map[string]string{"operation": "GetStudio", "code": "ResourceNotFoundException"}, 1)
	moved("opennimble_request_duration_seconds", map[string]string{"operation": "StopStreamingSession"}, 1)
	moved("opennimble_lifecycle_jobs_total", map[string]string{"outcome": "completed"}, 2)
	moved("opennimble_lifecycle_step_duration_seconds", map[string]string{"step": "provision", "driver": "sim", "outcome": "done"}, 1)
	moved("opennimble_lifecycle_step_duration_seconds", map[string]string{"step": "snapshot", "driver": "sim", "outcome": "done"}, 1)
	moved("opennimble_backups_total", map[string]string{"outcome": "taken"}, 1)
	moved("opennimble_store_transaction_duration_seconds", map[string]string{"kind": "update", "outcome": "ok"}, 5)
	moved("opennimble_state_changes_total", map[string]string{"kind": "streaming-session", "state": "STOPPED"}, 1)
	if got := metric(after, "opennimble_sessions", map[string]string{"state": "STOPPED"}); got != 1 {
		t.Errorf("sessions STOPPED = %v, want 1", got)
	}
	if got := metric(after, "opennimble_sessions", map[string]string{"state": "READY"}); got != 0 {
		t.Errorf("sessions READY = %v, want 0", got)
	}
	if _, ok := after["opennimble_lifecycle_jobs_queued"]; !ok {
		t.Error("no opennimble_lifecycle_jobs_queued")
	}
	// One process on SQLite: nothing else holds the database lock.
	if _, ok := after["opennimble_store_transaction_retries_total"]; !ok || metric(after, "opennimble_store_transaction_retries_total", nil) != 0 {
		t.Errorf("opennimble_store_transaction_retries_total: present %v, %v; want 0", ok, metric(after, "opennimble_store_transaction_retries_total", nil))
	}
}

// TestLogsTellTheStory: state changes are logged once with ids and the
// principal, a *_FAILED state at WARN with its status, and a request that
// fails authentication with its operation, access key id and error code,
// never the secret.
func TestLogsTellTheStory(t *testing.T) {
	var buf syncBuffer
	e := start(t, withLog(&buf), authenticated(true))
	admin := e.App.NewAdmin
	id := e.createStudio("logs")
	eventually(t, "studio READY", func() bool { return e.studioState(id) == "READY" })
	// The line is written once the transaction has committed, which a
	// client may see a moment before.
	eventually(t, "the studio's READY logged", func() bool {
		for _, line := range strings.Split(buf.String(), "\n") {
			if strings.Contains(line, "id="+id) && strings.Contains(line, "to=READY") {
				return true
			}
		}
		return false
	})
	ready := 0
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.Contains(line, "msg=\"state change\"") && strings.Contains(line, "id="+id) && strings.Contains(line, "to=READY") {
			ready++
			if !strings.Contains(line, "from=CREATE_IN_PROGRESS") || !strings.Contains(line, "by=lifecycle") {
				t.Errorf("state change line %q", line)
			}
		}
		if strings.Contains(line, "msg=\"state change\"") && strings.Contains(line, "id="+id) && strings.Contains(line, "to=CREATE_IN_PROGRESS") &&
			!strings.Contains(line, "principal=admin") {
			t.Errorf("creation not attributed to the principal: %q", line)
		}
	}
	if ready != 1 {
		t.Errorf("studio READY logged %d times, want once:\n%s", ready, buf.String())
	}

	// A failed step: WARN with the status code and message.
	ac := e.adminCtl()
	ac.ok("POST", "/_nimble/faults", map[string]any{"step": "provision", "statusCode": "INSUFFICIENT_CAPACITY", "message": "no gpus today"}, nil)
	cx := ctx(t)
	pr := makeProfile(t, cx, e.client(admin.AccessKeyID, admin.SecretAccessKey), "logsfail")
	c := e.client(admin.AccessKeyID, admin.SecretAccessKey)
	s := must[*nimblestudio.CreateStreamingSessionOutput](t)(c.CreateStreamingSessionWithContext(cx, &nimblestudio.CreateStreamingSessionInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile})).Session
	eventually(t, "a WARN line for the failed session", func() bool {
		for _, line := range strings.Split(buf.String(), "\n") {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, "id="+*s.SessionId) && strings.Contains(line, "to=CREATE_FAILED") &&
				strings.Contains(line, "statusCode=INSUFFICIENT_CAPACITY") && strings.Contains(line, "no gpus today") {
				return true
			}
		}
		return false
	})

	// A wrong secret.
	bad := e.client(admin.AccessKeyID, "not-the-secret")
	_, err := bad.ListStudiosWithContext(cx, &nimblestudio.ListStudiosInput{})
	if err == nil {
		t.Fatal("a wrong secret was accepted")
	}
	found := false
	for _, line := range strings.Split(buf.String(), "\n") {
		if strings.Contains(line, "msg=request") && strings.Contains(line, "access_key_id="+admin.AccessKeyID) {
			found = strings.Contains(line, "operation=ListStudios") && strings.Contains(line, "error_code=")
			if !found {
				t.Errorf("auth failure line %q", line)
			}
		}
	}
	if !found {
		t.Errorf("no access log line names the access key id of the refused request:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), admin.SecretAccessKey) || strings.Contains(buf.String(), "not-the-secret") {
		t.Error("a secret went into the log")
	}
}

// TestLivenessSurvivesTheStore: with the store down the readiness check
// fails and the liveness check still answers.
func TestLivenessSurvivesTheStore(t *testing.T) {
	fs := &failingStore{}
	e := start(t, func(_ *app.Config, o *app.Options) {
		o.WrapStore = func(s opennimble.Store) opennimble.Store { fs.Store = s; return fs }
	})
	fs.broken.Store(true)
	defer fs.broken.Store(false)
	for path, want := range map[string]int{"/_nimble/health": 503, "/_nimble/live": 200} {
		resp, err := http.Get(e.App.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s with the store down = %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestShutdownFinishesTheRequestInFlight sends SIGTERM to the binary while
// a slow request (an injected latency) is in flight: the request is
// answered, new connections are refused, the log says what happened to the
// lifecycle, and the process exits 0.
func TestShutdownFinishesTheRequestInFlight(t *testing.T) {
	addr := freePort(t)
	var stderr syncBuffer
	cmd := exec.Command(binary(t), "serve", "--emulator", "--listen", addr, "--data-dir", t.TempDir(), "--shutdown-timeout", "60s")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() { done <- cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	url := "http://" + addr
	eventually(t, "the server to answer", func() bool {
		resp, err := http.Get(url + "/_nimble/live")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	ac := &ctl{t: t, url: url, region: "us-west-2", akid: "test", secret: "test"}
	ac.ok("POST", "/_nimble/faults", map[string]any{"operation": "ListStudios", "latency": "1500ms"}, nil)

	c := nimblestudio.New(session.Must(session.NewSession(&aws.Config{
		Region: aws.String("us-west-2"), Endpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentials("test", "test", ""), MaxRetries: aws.Int(0),
	})))
	answered := make(chan error, 1)
	go func() {
		_, err := c.ListStudios(&nimblestudio.ListStudiosInput{})
		answered <- err
	}()
	eventually(t, "the slow request to be in flight", func() bool {
		var faults struct{ Faults []struct{ Hits int } }
		ac.call("GET", "/_nimble/faults", nil, &faults)
		return len(faults.Faults) == 1 && faults.Faults[0].Hits == 1
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-answered; err != nil {
		t.Errorf("the request in flight was not answered: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	log := stderr.String()
	for _, want := range []string{"signal received: shutting down", "finishing requests in flight", "shutdown: done"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if _, err := http.Get(url + "/_nimble/live"); err == nil {
		t.Error("the server still answers after it exited")
	}
}

// TestConfigFileForEverySubcommand: one TOML file, holding server settings
// too, configures serve, credentials and backups; OPENNIMBLE_CONFIG names it
// as well; a data folder with no opennimble data is refused, not created.
func TestConfigFileForEverySubcommand(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	addr := freePort(t)
	file := filepath.Join(dir, "opennimble.toml")
	conf := "data-dir = " + quote(data) + "\nlisten = " + quote(addr) + "\ndriver = \"local\"\nregion = \"eu-west-1\"\nlog-level = \"warn\"\nsync = \"normal\"\n"
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := binary(t)
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// serve: the file's listen, data-dir and driver.
	cmd := exec.Command(bin, "serve", "--config", file)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the server on the file's address", func() bool {
		resp, err := http.Get("http://" + addr + "/_nimble/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var h struct{ Driver string }
		_ = json.NewDecoder(resp.Body).Decode(&h)
		return h.Driver == "local"
	})
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve: %v\n%s", err, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(data, "admin-credentials")); err != nil {
		t.Fatalf("the server did not use the file's data-dir: %v", err)
	}
	if strings.Contains(stderr.String(), "aws_secret_access_key") {
		t.Error("the first administrator's secret went to a standard error that is not a terminal")
	}

	out, err := run(nil, "credentials", "create", "--config", file, "--principal-id", "alice")
	if err != nil || !strings.Contains(out, "principal_id          = alice") {
		t.Fatalf("credentials create --config: %v\n%s", err, out)
	}
	out, err = run([]string{"OPENNIMBLE_CONFIG=" + file}, "credentials", "list")
	if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "admin") {
		t.Fatalf("credentials list with OPENNIMBLE_CONFIG: %v\n%s", err, out)
	}
	out, err = run(nil, "backups", "list", "--config", file)
	if err != nil || !strings.Contains(out, "BACKUP ID") {
		t.Fatalf("backups list --config: %v\n%s", err, out)
	}
	out, err = run([]string{"OPENNIMBLE_CONFIG=" + file}, "backups", "verify")
	if err != nil {
		t.Fatalf("backups verify with OPENNIMBLE_CONFIG: %v\n%s", err, out)
	}

	typo := filepath.Join(dir, "typo")
	out, err = run(nil, "credentials", "list", "--data-dir", typo)
	if err == nil || !strings.Contains(out, "holds no opennimble data") {
		t.Fatalf("credentials list on an empty folder: %v\n%s", err, out)
	}
	if _, err := os.Stat(typo); err == nil {
		t.Error("credentials list created the mistyped data folder")
	}
	out, err = run(nil, "credentials", "create", "--config", file, "--principal-id", "bad id/x")
	if err == nil || !strings.Contains(out, "principal id") {
		t.Fatalf("a principal id with a space and a slash: %v\n%s", err, out)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("data-dir = "+quote(data)+"\nlisen = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(nil, "credentials", "list", "--config", bad); err == nil || !strings.Contains(out, `unknown setting "lisen"`) {
		t.Fatalf("a misspelt key: %v\n%s", err, out)
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(bytes.TrimSpace(b))
}

// TestVersionFlags: `version` and `--version` print the version, revision
// and build time.
func TestVersionFlags(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, err := exec.Command(binary(t), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		for _, want := range []string{"opennimble ", "revision:", "built:", "go:"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%v printed %q, lacks %q", args, out, want)
			}
		}
	}
}
