package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	v4 "github.com/aws/aws-sdk-go/aws/signer/v4"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/internal/testwait"
)

// TestAuthenticatedMode runs without --emulator: only keys in the credential
// store are accepted.
func TestAuthenticatedMode(t *testing.T) {
	e := start(t, func(c *app.Config, o *app.Options) { c.Emulator = false })
	if e.App.NewAdmin == nil {
		t.Fatal("first start created no administrator credential")
	}
	fi, err := os.Stat(app.AdminCredentialFile(e.dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin credential file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(app.AdminCredentialFile(e.dir))
	if !strings.Contains(string(b), e.App.NewAdmin.SecretAccessKey) {
		t.Fatal("admin credential file lacks the secret")
	}
	if _, err := e.Admin.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{}); err != nil {
		t.Fatal(err)
	}

	t.Run("unknown key", func(t *testing.T) {
		_, err := e.client("test", "test").ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{})
		mustCode(t, err, "UnrecognizedClientException")
	})
	t.Run("wrong secret", func(t *testing.T) {
		_, err := e.client(e.App.NewAdmin.AccessKeyID, "wrong").ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{})
		mustCode(t, err, "InvalidSignatureException")
	})
	t.Run("no signature", func(t *testing.T) {
		resp, err := http.Get(e.App.URL + "/2020-08-01/studios")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get("x-amzn-ErrorType") != "MissingAuthenticationTokenException" {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
		}
	})
	t.Run("new credential and deletion", func(t *testing.T) {
		cred := app.NewCredential("alice", false, time.Now())
		check(t, e.App.Store.PutCredential(context.Background(), cred))
		c := e.client(cred.AccessKeyID, cred.SecretAccessKey)
		if _, err := c.ListEulasWithContext(ctx(t), &nimblestudio.ListEulasInput{}); err != nil {
			t.Fatal(err)
		}
		check(t, e.App.Store.DeleteCredential(context.Background(), cred.AccessKeyID))
		// Verified credentials are cached for a second: the deletion takes
		// effect within that.
		deadline := testwait.Deadline(t)
		var err error
		for time.Now().Before(deadline) {
			if _, err = c.ListEulasWithContext(ctx(t), &nimblestudio.ListEulasInput{}); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		mustCode(t, err, "UnrecognizedClientException")
	})
	t.Run("presigned URL", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.App.URL+"/2020-08-01/eulas", nil)
		signer := v4.NewSigner(credentials.NewStaticCredentials(e.App.NewAdmin.AccessKeyID, e.App.NewAdmin.SecretAccessKey, ""))
		if _, err := signer.Presign(req, nil, "nimble", "us-west-2", 5*time.Minute, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(req.URL.String())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("presigned GET: %d %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
		}
	})
	t.Run("clock skew", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.App.URL+"/2020-08-01/eulas", nil)
		signer := v4.NewSigner(credentials.NewStaticCredentials(e.App.NewAdmin.AccessKeyID, e.App.NewAdmin.SecretAccessKey, ""))
		if _, err := signer.Sign(req, nil, "nimble", "us-west-2", time.Now().Add(-20*time.Minute)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || resp.Header.Get("x-amzn-ErrorType") != "InvalidSignatureException" {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
		}
	})
	t.Run("second start keeps the credential and creates none", func(t *testing.T) {
		check(t, e.App.Close())
		e2 := start(t, func(c *app.Config, o *app.Options) { c.Emulator = false; c.DataDir = e.dir })
		if e2.App.NewAdmin != nil {
			t.Fatal("a second administrator credential was created")
		}
		if _, err := e2.client(e.App.NewAdmin.AccessKeyID, e.App.NewAdmin.SecretAccessKey).ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestFirstStartAfterUserKey: a store that holds a user's key but no
// administrator's (made by an earlier opennimble, whose `credentials create`
// made a database in a fresh folder, or by hand on a shared store) does not
// stop a start from making an administrator, whose key (in the data folder)
// can do what only administrators can, while the user's cannot. Today's
// `credentials create` refuses a folder with no opennimble data.
func TestFirstStartAfterUserKey(t *testing.T) {
	dir := t.TempDir()
	out, err := exec.Command(binary(t), "credentials", "create", "--principal-id", "alice", "--data-dir", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "holds no opennimble data") {
		t.Fatalf("credentials create in a fresh folder: %v\n%s", err, out)
	}
	cfg := app.Defaults()
	cfg.DataDir = dir
	st, err := app.OpenStore(t.Context(), cfg)
	check(t, err)
	cred := app.NewCredential("alice", false, time.Now().UTC())
	check(t, st.PutCredential(t.Context(), cred))
	check(t, st.Close())
	user := [2]string{cred.AccessKeyID, cred.SecretAccessKey}
	addr := freePort(t)
	cmd := exec.Command(binary(t), "serve", "--listen", addr, "--data-dir", dir)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	check(t, cmd.Start())
	p := &proc{cmd: cmd, URL: "http://" + addr, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	file := app.AdminCredentialFile(dir)
	eventually(t, "the administrator credential file", func() bool {
		_, err := os.Stat(file)
		return err == nil
	})
	b, err := os.ReadFile(file)
	check(t, err)
	admin := keyFrom(t, string(b))
	eventually(t, "the server to print the administrator key it made", func() bool { return strings.Contains(stderr.String(), admin[0]) })
	client := func(k [2]string) *nimblestudio.NimbleStudio {
		return nimblestudio.New(session.Must(session.NewSession(&aws.Config{
			Region: aws.String("us-west-2"), Endpoint: aws.String(p.URL),
			Credentials: credentials.NewStaticCredentials(k[0], k[1], ""), MaxRetries: aws.Int(0),
		})))
	}
	in := &nimblestudio.CreateStudioInput{AdminRoleArn: aws.String("arn:aws:iam::000000000000:role/admin"),
		UserRoleArn: aws.String("arn:aws:iam::000000000000:role/user"), DisplayName: aws.String("first"), StudioName: aws.String("first")}
	eventually(t, "the server to answer", func() bool {
		_, err := client(user).ListEulasWithContext(ctx(t), &nimblestudio.ListEulasInput{})
		return err == nil
	})
	_, err = client(user).CreateStudioWithContext(ctx(t), in)
	mustCode(t, err, "AccessDeniedException")
	if _, err := client(admin).CreateStudioWithContext(ctx(t), in); err != nil {
		t.Fatalf("the administrator made at the first start: %v", err)
	}
}

// keyFrom reads the access key id and secret from the output of
// `opennimble credentials create` or an AWS shared-credentials file.
func keyFrom(t *testing.T, s string) [2]string {
	t.Helper()
	var k [2]string
	for _, line := range strings.Split(s, "\n") {
		name, value, _ := strings.Cut(line, "=")
		switch strings.TrimSpace(name) {
		case "aws_access_key_id":
			k[0] = strings.TrimSpace(value)
		case "aws_secret_access_key":
			k[1] = strings.TrimSpace(value)
		}
	}
	if k[0] == "" || k[1] == "" {
		t.Fatalf("no key in %q", s)
	}
	return k
}
