package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	v4 "github.com/aws/aws-sdk-go/aws/signer/v4"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	"github.com/opennimble/opennimble/app"
)

// testDeadline is when a raw connection stops waiting: the test binary's
// own deadline, so that a slow machine never fails a test by being slow.
func testDeadline(t *testing.T) time.Time {
	if d, ok := t.Deadline(); ok {
		return d.Add(-5 * time.Second)
	}
	return time.Now().Add(10 * time.Minute)
}

// dial opens a raw connection to the server.
func (e *env) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", e.App.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(testDeadline(t))
	return c
}

// awsError reads one response from c and returns its status, its
// x-amzn-ErrorType and its JSON body's code and message.
func awsError(t *testing.T, c net.Conn) (status int, errType, code, msg string) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	var body struct{ Message, Code string }
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("%d, body %q is not AWS's JSON error: %v", resp.StatusCode, raw, err)
	}
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body.Code, body.Message
}

// postHead writes the head of a signed-looking POST whose body is to follow.
// With expect, it asks for "100 Continue" and waits for it: the server then
// reads the body, its signature's headers checked and the body's memory
// reserved.
func postHead(t *testing.T, c net.Conn, akid string, length int, expect bool) {
	t.Helper()
	now := time.Now().UTC()
	extra := ""
	if expect {
		extra = "Expect: 100-continue\r\n"
	}
	head := fmt.Sprintf("POST /2020-08-01/studios HTTP/1.1\r\nHost: %s\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\n"+
		"X-Amz-Date: %s\r\nAuthorization: AWS4-HMAC-SHA256 Credential=%s/%s/us-west-2/nimble/aws4_request, SignedHeaders=host;x-amz-date, Signature=%s\r\n\r\n",
		c.RemoteAddr(), extra, length, now.Format("20060102T150405Z"), akid, now.Format("20060102"), strings.Repeat("0", 64))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	if expect {
		const cont = "HTTP/1.1 100 Continue\r\n\r\n"
		got := make([]byte, len(cont))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != cont {
			t.Fatalf("waiting for 100 Continue: %q, %v", got, err)
		}
	}
}

func (e *env) healthy(t *testing.T) {
	t.Helper()
	resp, err := http.Get(e.App.URL + "/_nimble/health")
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("health check: %d", resp.StatusCode)
	}
}

func createStudio(c *nimblestudio.NimbleStudio, t *testing.T, name string) error {
	_, err := c.CreateStudioWithContext(ctx(t), &nimblestudio.CreateStudioInput{
		AdminRoleArn: aws.String("arn:aws:iam::000000000000:role/admin"),
		UserRoleArn:  aws.String("arn:aws:iam::000000000000:role/user"),
		DisplayName:  aws.String(name), StudioName: aws.String(name),
	})
	return err
}

// TestBodyRefusedBeforeItArrives: an unknown key is refused on its headers,
// without the server waiting for (and holding) the 4 MiB body it announced.
func TestBodyRefusedBeforeItArrives(t *testing.T) {
	e := start(t, func(c *app.Config, _ *app.Options) { c.Emulator = false })
	c := e.dial(t)
	postHead(t, c, "AKIDNOSUCHKEY0000000", 4<<20-1, false)
	status, typ, code, _ := awsError(t, c)
	if status != 403 || typ != "UnrecognizedClientException" || code != typ {
		t.Fatalf("%d %s %s, want 403 UnrecognizedClientException", status, typ, code)
	}
}

// TestSlowBodyTimesOut: a body that trickles is given up after
// --body-timeout, and its memory with it.
func TestSlowBodyTimesOut(t *testing.T) {
	e := start(t, func(c *app.Config, _ *app.Options) { c.BodyTimeout = time.Second })
	c := e.dial(t)
	postHead(t, c, "test", 100, true)
	if _, err := io.WriteString(c, `{"studioName":`); err != nil {
		t.Fatal(err)
	}
	status, typ, _, msg := awsError(t, c)
	if status != 400 || typ != "ValidationException" || !strings.Contains(msg, "did not arrive within 1s") {
		t.Fatalf("%d %s %q, want 400 ValidationException naming the body timeout", status, typ, msg)
	}
}

// TestBodyMemoryBudget: while slow bodies hold the budget of body memory,
// other bodies are refused at once with ThrottlingException (which the SDKs
// retry), requests without a body and health checks are served, and once
// the slow body times out the budget serves again.
func TestBodyMemoryBudget(t *testing.T) {
	e := start(t, func(c *app.Config, _ *app.Options) {
		c.BodyMemoryMiB = 4
		c.BodyTimeout = 3 * time.Second
	})
	hog := e.dial(t)
	postHead(t, hog, "attacker", 4<<20, true)
	if _, err := hog.Write(make([]byte, 4<<20-1)); err != nil {
		t.Fatal(err)
	}
	mustCode(t, createStudio(e.Admin, t, "blocked"), "ThrottlingException")
	e.healthy(t)
	if _, err := e.Admin.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{}); err != nil {
		t.Fatalf("a request without a body: %v", err)
	}
	status, typ, _, _ := awsError(t, hog)
	if status != 400 || typ != "ValidationException" {
		t.Fatalf("the hog got %d %s", status, typ)
	}
	if err := createStudio(e.Admin, t, "served"); err != nil {
		t.Fatalf("after the hog timed out: %v", err)
	}
}

// TestIdleConnectionsClosed: a keep-alive connection idle for
// --idle-timeout is closed by the server.
func TestIdleConnectionsClosed(t *testing.T) {
	e := start(t, func(c *app.Config, _ *app.Options) { c.IdleTimeout = time.Second })
	c := e.dial(t)
	fmt.Fprintf(c, "GET /_nimble/health HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: read %v, want EOF (closed by the server)", err)
	}
}

// TestConnectionCap: past the cap less its reserve, idle keep-alive
// connections are closed, oldest first, and new clients are served; with
// every connection busy, a new one is refused with ThrottlingException.
func TestConnectionCap(t *testing.T) {
	const max = 20
	e := start(t, func(c *app.Config, _ *app.Options) { c.MaxConnections = max })
	var idle []net.Conn
	for range 3 * max {
		c := e.dial(t)
		fmt.Fprintf(c, "GET /_nimble/health HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("client %d of %d: %v", len(idle), 3*max, err)
		}
		resp.Body.Close()
		idle = append(idle, c)
	}
	e.healthy(t)
	if _, err := e.Admin.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{}); err != nil {
		t.Fatal(err)
	}
	closed := 0
	for _, c := range idle[:2*max] {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if closed < max {
		t.Fatalf("%d of the %d oldest idle connections closed, want at least %d", closed, 2*max, max)
	}
	for _, c := range idle {
		c.Close()
	}

	// Every connection in the middle of a request: a new one is refused.
	var busy []net.Conn
	for range max {
		c := e.dial(t)
		postHead(t, c, "test", 100, true)
		busy = append(busy, c)
	}
	var status int
	var typ string
	for deadline := testDeadline(t); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		c := e.dial(t)
		fmt.Fprintf(c, "GET /_nimble/health HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil {
			continue
		}
		resp.Body.Close()
		if status, typ = resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"); status == 429 {
			break
		}
	}
	if status != 429 || typ != "ThrottlingException" {
		t.Fatalf("over the cap: %d %s, want 429 ThrottlingException", status, typ)
	}
	for _, c := range busy {
		c.Close()
	}
}

// TestMalformedRequestsGetAWSErrors: requests net/http cannot parse are
// answered in the AWS error shape, not with Go's plain text.
func TestMalformedRequestsGetAWSErrors(t *testing.T) {
	e := start(t)
	for name, req := range map[string]string{
		"bad escape in path":      "GET /2020-08-01/studios/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
		"control byte in header":  "GET /2020-08-01/studios HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n",
		"no Host":                 "GET /2020-08-01/studios HTTP/1.1\r\n\r\n",
		"headers too large":       "GET /2020-08-01/studios HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 200<<10) + "\r\n\r\n",
		"unknown transfer coding": "POST /2020-08-01/studios HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c := e.dial(t)
			if _, err := io.WriteString(c, req); err != nil {
				t.Fatal(err)
			}
			status, typ, code, msg := awsError(t, c)
			if status != 400 || typ != "ValidationException" || code != typ || !strings.HasPrefix(msg, "The request is not valid HTTP/1.1: ") {
				t.Fatalf("%d %s %s %q", status, typ, code, msg)
			}
		})
	}
}

// TestUnsignedPayloadRefused: a header-signed request with UNSIGNED-PAYLOAD
// over plain HTTP is refused (its body could have been changed in
// transit); a presigned URL, which signs no body, still works.
func TestUnsignedPayloadRefused(t *testing.T) {
	e := start(t, func(c *app.Config, _ *app.Options) { c.Emulator = false })
	creds := credentials.NewStaticCredentials(e.App.NewAdmin.AccessKeyID, e.App.NewAdmin.SecretAccessKey, "")
	body := `{"studioName":"unsigned","displayName":"u","adminRoleArn":"arn:aws:iam::000000000000:role/a","userRoleArn":"arn:aws:iam::000000000000:role/u"}`
	req, _ := http.NewRequest("POST", e.App.URL+"/2020-08-01/studios", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if _, err := v4.NewSigner(creds).Sign(req, strings.NewReader(body), "nimble", "us-west-2", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("x-amzn-ErrorType") != "InvalidSignatureException" || !bytes.Contains(raw, []byte("UNSIGNED-PAYLOAD")) {
		t.Fatalf("UNSIGNED-PAYLOAD: %d %s %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), raw)
	}
	req, _ = http.NewRequest("GET", e.App.URL+"/2020-08-01/eulas", nil)
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if _, err := v4.NewSigner(creds).Presign(req, nil, "nimble", "us-west-2", 5*time.Minute, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("presigned URL with UNSIGNED-PAYLOAD: %d %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
	}
}

// TestStreamTokenNotLogged: the access log names stream URLs without their
// token, which admits whoever holds it to the workstation.
func TestStreamTokenNotLogged(t *testing.T) {
	var logs syncBuffer
	e := start(t, func(_ *app.Config, o *app.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	pr := makeProfile(t, ctx(t), e.Admin, "redact")
	s := e.session(t, pr)
	st := must[*nimblestudio.CreateStreamingSessionStreamOutput](t)(e.Admin.CreateStreamingSessionStreamWithContext(ctx(t),
		&nimblestudio.CreateStreamingSessionStreamInput{StudioId: &s.studio, SessionId: s.id})).Stream
	in := &nimblestudio.GetStreamingSessionStreamInput{StudioId: &s.studio, SessionId: s.id, StreamId: st.StreamId}
	check(t, e.Admin.WaitUntilStreamingSessionStreamReadyWithContext(ctx(t), in, fast()))
	url := aws.StringValue(must[*nimblestudio.GetStreamingSessionStreamOutput](t)(e.Admin.GetStreamingSessionStreamWithContext(ctx(t), in)).Stream.Url)
	token, _, _ := strings.Cut(strings.TrimPrefix(url, e.App.URL+"/_stream/"), "/")
	for _, u := range []string{url, url + "/", url + "/vnc.html"} {
		resp, err := http.Get(u)
		check(t, err)
		resp.Body.Close()
	}
	out := logs.String()
	if token == "" || strings.Contains(out, token) {
		t.Fatalf("the stream token %q is in the log:\n%s", token, out)
	}
	if !strings.Contains(out, "/_stream/REDACTED") {
		t.Fatalf("no redacted stream request in the log:\n%s", out)
	}
}

// TestSlowFormBodyTimesOut: the bodies of unauthenticated pages (the studio
// portal's sign-in form) have the same deadline as the API's.
func TestSlowFormBodyTimesOut(t *testing.T) {
	e := start(t, func(c *app.Config, _ *app.Options) { c.BodyTimeout = time.Second })
	c := e.dial(t)
	fmt.Fprintf(c, "POST /portal/x/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nuser=")
	// Whatever the page answers, the connection ends instead of waiting
	// for the rest of the body.
	_, err := io.Copy(io.Discard, c)
	if err != nil {
		t.Fatalf("the server kept waiting for the body: %v", err)
	}
}
