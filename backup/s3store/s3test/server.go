// Package s3test starts a real S3 server on loopback for tests: versitygw
// with its POSIX backend (built by scripts/s3-server from the Go module
// proxy), never an in-process fake.
package s3test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The credentials of the test server's root user.
const (
	AccessKey = "opennimbletest"
	SecretKey = "opennimbletestsecret"
)

// Server is a running S3 server.
type Server struct {
	Endpoint string // http://127.0.0.1:port
	Dir      string // the POSIX backend's folder: one folder per bucket
	bin      string
	addr     string
	log      *os.File

	mu  sync.Mutex
	cmd *exec.Cmd
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// binary finds versitygw: $OPENNIMBLE_S3_SERVER, else scripts/s3-server
// builds it. A missing server fails the test.
func binary(t testing.TB) string {
	binOnce.Do(func() {
		if p := os.Getenv("OPENNIMBLE_S3_SERVER"); p != "" {
			binPath = p
			return
		}
		dir, err := os.Getwd()
		if err != nil {
			binErr = err
			return
		}
		for !fileExists(filepath.Join(dir, "scripts", "s3-server")) {
			parent := filepath.Dir(dir)
			if parent == dir {
				binErr = fmt.Errorf("scripts/s3-server not found above the test's folder")
				return
			}
			dir = parent
		}
		out, err := exec.Command(filepath.Join(dir, "scripts", "s3-server")).Output()
		if err != nil {
			binErr = fmt.Errorf("scripts/s3-server: %w", err)
			return
		}
		binPath = strings.TrimSpace(string(out))
	})
	if binErr != nil {
		t.Fatalf("the S3 server for the tests: %v", binErr)
	}
	return binPath
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Start runs a server on a free loopback port until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	s := &Server{Endpoint: "http://" + addr, Dir: filepath.Join(dir, "data"), bin: binary(t), addr: addr}
	if err := os.Mkdir(s.Dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if s.log, err = os.Create(filepath.Join(dir, "server.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Kill()
		s.log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(s.log.Name())
			t.Logf("S3 server log (last 4 KiB):\n%s", b[max(0, len(b)-4096):])
		}
	})
	s.Restart(t)
	return s
}

// Restart starts the server again (after Kill), on the same port and
// folder.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	cmd := exec.Command(s.bin, "--access", AccessKey, "--secret", SecretKey, "--port", s.addr, "--quiet", "posix", s.Dir)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the S3 server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the S3 server did not listen on %s: %v", s.addr, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Kill stops the server with SIGKILL and waits for it.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// Client is an S3 client of the server, as its root user.
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
}

// Bucket creates a bucket with a fresh name and returns it.
func (s *Server) Bucket(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("bucket-%d", bucketSeq.Add(1))
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// Credentials are the root user's, for s3store.Options.
func Credentials() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, "")
}

var bucketSeq atomic.Int64
