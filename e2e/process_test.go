package e2e

import (
	"fmt"
	"github.com/opennimble/opennimble/internal/fixture"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	"github.com/opennimble/opennimble/driver/sim"
	"github.com/opennimble/opennimble/internal/testwait"
)

// binary is the opennimble program, built once per test run.
func binary(t testing.TB) string {
	return fixture.Binary(t)
}

// proc is a server running as a separate process.
type proc struct {
	cmd  *exec.Cmd
	URL  string
	done chan struct{}
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProc runs the binary on dataDir in emulator mode and waits until it
// answers its health check.
func startProc(t *testing.T, dataDir, addr string, args ...string) *proc {
	t.Helper()
	all := append([]string{"serve", "--emulator", "--listen", addr, "--data-dir", dataDir, "--log-level", "warn"}, args...)
	cmd := exec.Command(binary(t), all...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, URL: "http://" + addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill() })
	deadline := testwait.Deadline(t)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.URL + "/_nimble/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("server exited during start")
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("server did not become healthy")
	return nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) client() *nimblestudio.NimbleStudio {
	return nimblestudio.New(session.Must(session.NewSession(&aws.Config{
		Region: aws.String("us-west-2"), Endpoint: aws.String(p.URL),
		Credentials: credentials.NewStaticCredentials("test", "test", ""),
		HTTPClient:  &http.Client{Timeout: 10 * time.Second}, MaxRetries: aws.Int(0),
	})))
}

// TestKill9KeepsAcknowledgedChanges: everything the API acknowledged is there
// after kill -9 and a restart, and transitions in progress complete.
func TestKill9KeepsAcknowledgedChanges(t *testing.T) {
	dir := t.TempDir()
	addr := freePort(t)
	p := startProc(t, dir, addr, "--transition-delay", "300ms")
	c := p.client()
	cx := ctx(t)
	var ids []string
	for i := 0; i < 20; i++ {
		out, err := c.CreateStudioWithContext(cx, &nimblestudio.CreateStudioInput{
			AdminRoleArn: aws.String("a"), UserRoleArn: aws.String("u"), DisplayName: aws.String("d"), StudioName: aws.String(fmt.Sprintf("kill%d", i)),
		})
		check(t, err)
		ids = append(ids, *out.Studio.StudioId)
	}
	p.kill()
	p = startProc(t, dir, addr, "--transition-delay", "300ms")
	c = p.client()
	for _, id := range ids {
		check(t, c.WaitUntilStudioReadyWithContext(cx, &nimblestudio.GetStudioInput{StudioId: aws.String(id)}, fast()))
	}
}

// TestKill9DuringStopWithBackup kills the server at many moments of a
// stop-with-backup and of a start-from-backup: after each restart every
// session reaches a final state, with exactly one READY backup per stop,
// each holding a complete snapshot.
func TestKill9DuringStopWithBackup(t *testing.T) {
	outer := t // restarted servers live as long as the whole test
	dir := t.TempDir()
	addr := freePort(t)
	args := []string{"--sim-step-duration", "150ms"}
	p := startProc(t, dir, addr, args...)
	cx := ctx(t)
	pr := makeProfile(t, cx, p.client(), "crash", withBackups(10), withPersistence(600))
	c := p.client()
	sess := must[*nimblestudio.CreateStreamingSessionOutput](t)(c.CreateStreamingSessionWithContext(cx, &nimblestudio.CreateStreamingSessionInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile,
	})).Session
	sid := sess.SessionId
	check(t, c.WaitUntilStreamingSessionReadyWithContext(cx, &nimblestudio.GetStreamingSessionInput{StudioId: &pr.Studio, SessionId: sid}, fast()))

	var backups []string
	for i, after := range []time.Duration{0, 5, 20, 60, 120, 170, 250, 320, 400, 500} {
		after *= time.Millisecond
		t.Run(fmt.Sprintf("stop killed after %v", after), func(t *testing.T) {
			c := p.client()
			must[*nimblestudio.StopStreamingSessionOutput](t)(c.StopStreamingSessionWithContext(cx, &nimblestudio.StopStreamingSessionInput{StudioId: &pr.Studio, SessionId: sid}))
			time.Sleep(after) // the moment of the crash, not a wait for a result
			p.kill()
			p = startProc(outer, dir, addr, args...)
			c = p.client()
			check(t, c.WaitUntilStreamingSessionStoppedWithContext(cx, &nimblestudio.GetStreamingSessionInput{StudioId: &pr.Studio, SessionId: sid}, fast()))
			list := must[*nimblestudio.ListStreamingSessionBackupsOutput](t)(c.ListStreamingSessionBackupsWithContext(cx, &nimblestudio.ListStreamingSessionBackupsInput{StudioId: &pr.Studio}))
			if len(list.StreamingSessionBackups) != i+1 {
				t.Fatalf("%d backups after %d stops", len(list.StreamingSessionBackups), i+1)
			}
			newest := list.StreamingSessionBackups[0]
			if aws.StringValue(newest.State) != "READY" {
				t.Fatalf("newest backup %s", newest)
			}
			fleet, err := sim.ReadState(filepath.Join(dir, "sim"))
			if err != nil {
				t.Fatal(err)
			}
			snapshots := map[string]bool{}
			for _, b := range fleet.Backups {
				snapshots[b.ID] = true
			}
			for _, b := range list.StreamingSessionBackups {
				if aws.StringValue(b.State) != "READY" {
					t.Fatalf("backup %s", b)
				}
				if !snapshots[*b.BackupId] {
					t.Fatalf("READY backup %s has no snapshot", *b.BackupId)
				}
			}
			backups = append(backups, *newest.BackupId)

			// Start from the backup, and crash that too.
			must[*nimblestudio.StartStreamingSessionOutput](t)(c.StartStreamingSessionWithContext(cx, &nimblestudio.StartStreamingSessionInput{StudioId: &pr.Studio, SessionId: sid, BackupId: newest.BackupId}))
			time.Sleep(after)
			p.kill()
			p = startProc(outer, dir, addr, args...)
			c = p.client()
			check(t, c.WaitUntilStreamingSessionReadyWithContext(cx, &nimblestudio.GetStreamingSessionInput{StudioId: &pr.Studio, SessionId: sid}, fast()))
			got := must[*nimblestudio.GetStreamingSessionOutput](t)(c.GetStreamingSessionWithContext(cx, &nimblestudio.GetStreamingSessionInput{StudioId: &pr.Studio, SessionId: sid}))
			if aws.StringValue(got.Session.StartedFromBackupId) != *newest.BackupId {
				t.Fatalf("started from %q, want %s", aws.StringValue(got.Session.StartedFromBackupId), *newest.BackupId)
			}
		})
	}
}

// TestDataFolderLock: a second server on the same data folder is refused
// rather than sharing the embedded store.
func TestDataFolderLock(t *testing.T) {
	dir := t.TempDir()
	startProc(t, dir, freePort(t))
	out, err := exec.Command(binary(t), "serve", "--emulator", "--listen", freePort(t), "--data-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another opennimble server") {
		t.Fatalf("second server: %v\n%s", err, out)
	}
}
