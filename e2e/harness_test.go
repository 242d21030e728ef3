// Package e2e drives a real opennimble server, started in-process on
// 127.0.0.1:0 with a temporary data folder, through the real aws-sdk-go v1
// nimblestudio client.
package e2e

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/request"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/internal/fixture"
	"github.com/opennimble/opennimble/internal/testwait"
)

// env is one running server.
type env struct {
	t     *testing.T
	App   *app.App
	Clock *opennimble.FakeClock
	// Admin is a client signed with an administrator's key.
	Admin *nimblestudio.NimbleStudio
	dir   string
}

type option func(*app.Config, *app.Options)

// start runs a server in emulator mode (the key id "test" is an
// administrator) unless an option says otherwise.
func start(t *testing.T, opts ...option) *env {
	t.Helper()
	dir := t.TempDir()
	cfg := app.Defaults()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dir
	cfg.Sync = "normal"
	cfg.Emulator = true
	clock := opennimble.NewFakeClock(time.Now())
	o := app.Options{Clock: clock, Logger: testLogger()}
	for _, opt := range opts {
		opt(&cfg, &o)
	}
	a, err := app.Start(context.Background(), cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, App: a, Clock: clock, dir: dir}
	t.Cleanup(func() { _ = a.Close() })
	if cfg.Emulator {
		e.Admin = e.client("test", "test")
	} else if a.NewAdmin != nil {
		e.Admin = e.client(a.NewAdmin.AccessKeyID, a.NewAdmin.SecretAccessKey)
	}
	return e
}

func testLogger() *slog.Logger {
	if os.Getenv("OPENNIMBLE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// client returns a real nimblestudio client signing with the given key.
func (e *env) client(akid, secret string) *nimblestudio.NimbleStudio {
	sess := session.Must(session.NewSession(&aws.Config{
		Region:      aws.String(e.App.Config.Region),
		Endpoint:    aws.String(e.App.URL),
		Credentials: credentials.NewStaticCredentials(akid, secret, ""),
		HTTPClient:  &http.Client{Timeout: 30 * time.Second},
		MaxRetries:  aws.Int(0),
	}))
	return nimblestudio.New(sess)
}

// fast makes SDK waiters poll every 20ms instead of every few seconds.
func fast() request.WaiterOption { return fixture.Fast() }

// ctx bounds a call by the test binary's deadline, not a budget of its own.
func ctx(t *testing.T) context.Context { return testwait.Context(t) }

// errCode returns the AWS error code of err, "" for nil.
func errCode(err error) string {
	if err == nil {
		return ""
	}
	var ae awserr.Error
	if errors.As(err, &ae) {
		return ae.Code()
	}
	return "not an awserr: " + err.Error()
}

func mustCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := errCode(err); got != code {
		t.Fatalf("error code %q, want %q (err: %v)", got, code, err)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// studio creates a READY studio and returns its id.
func (e *env) studio(name string) string {
	t := e.t
	t.Helper()
	out, err := e.Admin.CreateStudioWithContext(ctx(t), &nimblestudio.CreateStudioInput{
		AdminRoleArn: aws.String("arn:aws:iam::000000000000:role/admin"),
		UserRoleArn:  aws.String("arn:aws:iam::000000000000:role/user"),
		DisplayName:  aws.String("Studio " + name),
		StudioName:   aws.String(name),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.StringValue(out.Studio.StudioId)
	if err := e.Admin.WaitUntilStudioReadyWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: &id}, fast()); err != nil {
		t.Fatal(err)
	}
	return id
}
