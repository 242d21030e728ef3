package sigv4

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	v4 "github.com/aws/aws-sdk-go/aws/signer/v4"
	"github.com/aws/aws-sdk-go/service/nimblestudio"
	smithycreds "github.com/aws/smithy-go/aws-http-auth/credentials"
	smithysigv4 "github.com/aws/smithy-go/aws-http-auth/sigv4"
	smithyv4 "github.com/aws/smithy-go/aws-http-auth/v4"

	"github.com/opennimble/opennimble"
)

// seen is what the test server observed about one request.
type seen struct {
	requestURI string
	id         *Identity
	err        error
}

// verifyServer is an httptest server that verifies every request and answers
// errors the way the real server will (x-amzn-ErrorType and a JSON body).
type verifyServer struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seen
}

func newVerifyServer(t *testing.T, v *Verifier) *verifyServer {
	s := &verifyServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading body: %v", err)
		}
		id, err := v.Verify(r, body)
		s.mu.Lock()
		s.seen = append(s.seen, seen{r.RequestURI, id, err})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			code := opennimble.ErrorCode(err)
			w.Header().Set("X-Amzn-Errortype", code)
			w.WriteHeader(opennimble.HTTPStatus(code))
			fmt.Fprintf(w, `{"code":%q,"message":%q}`, code, err.Error())
			return
		}
		w.Write([]byte("{}"))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *verifyServer) last(t *testing.T) seen {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		t.Fatal("the server saw no request")
	}
	return s.seen[len(s.seen)-1]
}

const testARN = "arn:aws:nimble:us-west-2:123456789012:studio/stu-abc"
const testARNPath = "/2020-08-01/tags/arn%3Aaws%3Animble%3Aus-west-2%3A123456789012%3Astudio%2Fstu-abc"

func nimbleClient(t *testing.T, endpoint, secret string) *nimblestudio.NimbleStudio {
	t.Helper()
	sess, err := session.NewSession(&aws.Config{
		Region:      aws.String("us-west-2"),
		Endpoint:    aws.String(endpoint),
		Credentials: credentials.NewStaticCredentials("test", secret, ""),
		MaxRetries:  aws.Int(0),
	})
	if err != nil {
		t.Fatal(err)
	}
	return nimblestudio.New(sess)
}

// TestNimbleStudioClientV1 runs the real aws-sdk-go v1 nimblestudio client
// against a verifying server, and checks the path it puts on the wire.
func TestNimbleStudioClientV1(t *testing.T) {
	srv := newVerifyServer(t, &Verifier{Credentials: testCreds, Region: "us-west-2"})
	c := nimbleClient(t, srv.URL, "test")
	tests := []struct {
		name    string
		call    func() error
		wantURI string
	}{
		{"TagResource", func() error {
			_, err := c.TagResource(&nimblestudio.TagResourceInput{ResourceArn: aws.String(testARN), Tags: aws.StringMap(map[string]string{"k": "v w"})})
			return err
		}, testARNPath},
		{"ListTagsForResource", func() error {
			_, err := c.ListTagsForResource(&nimblestudio.ListTagsForResourceInput{ResourceArn: aws.String(testARN)})
			return err
		}, testARNPath},
		{"UntagResource", func() error {
			_, err := c.UntagResource(&nimblestudio.UntagResourceInput{ResourceArn: aws.String(testARN),
				TagKeys: aws.StringSlice([]string{"zeta", "a/b", "a-b", "a b", "a+b"})})
			return err
		}, testARNPath + "?tagKeys=a%20b&tagKeys=a%2Bb&tagKeys=a-b&tagKeys=a%2Fb&tagKeys=zeta"},
		{"GetStreamingSessionBackup", func() error {
			_, err := c.GetStreamingSessionBackup(&nimblestudio.GetStreamingSessionBackupInput{StudioId: aws.String("stu-1"), BackupId: aws.String("bak-1")})
			return err
		}, "/2020-08-01/studios/stu-1/streaming-session-backups/bak-1"},
		{"GetStreamingSessionBackup/odd labels", func() error {
			_, err := c.GetStreamingSessionBackup(&nimblestudio.GetStreamingSessionBackupInput{StudioId: aws.String("stu 1:x%y"), BackupId: aws.String("bak/1")})
			return err
		}, "/2020-08-01/studios/stu%201%3Ax%25y/streaming-session-backups/bak%2F1"},
		{"ListStreamingSessions", func() error {
			_, err := c.ListStreamingSessions(&nimblestudio.ListStreamingSessionsInput{StudioId: aws.String("stu-1"),
				NextToken: aws.String("ab=+/c d~*"), CreatedBy: aws.String("u/1"), SessionIds: aws.String("s1,s2")})
			return err
		}, "/2020-08-01/studios/stu-1/streaming-sessions?createdBy=u%2F1&nextToken=ab%3D%2B%2Fc%20d~%2A&sessionIds=s1%2Cs2"},
		{"ListStreamingSessionBackups", func() error {
			_, err := c.ListStreamingSessionBackups(&nimblestudio.ListStreamingSessionBackupsInput{StudioId: aws.String("stu-1"),
				NextToken: aws.String("eyJzIjoxfQ=="), OwnedBy: aws.String("user-test")})
			return err
		}, "/2020-08-01/studios/stu-1/streaming-session-backups?nextToken=eyJzIjoxfQ%3D%3D&ownedBy=user-test"},
		{"StopStreamingSession", func() error {
			_, err := c.StopStreamingSession(&nimblestudio.StopStreamingSessionInput{StudioId: aws.String("stu-1"),
				SessionId: aws.String("ses-1"), VolumeRetentionMode: aws.String("RETAIN")})
			return err
		}, "/2020-08-01/studios/stu-1/streaming-sessions/ses-1/stop"},
		{"GetStreamingSessionBackup/presigned", func() error {
			req, _ := c.GetStreamingSessionBackupRequest(&nimblestudio.GetStreamingSessionBackupInput{StudioId: aws.String("stu-1"), BackupId: aws.String("bak:1")})
			u, err := req.Presign(5 * time.Minute)
			if err != nil {
				return err
			}
			resp, err := http.Get(u)
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		}, "/2020-08-01/studios/stu-1/streaming-session-backups/bak%3A1?X-Amz-Algorithm="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatalf("call: %v", err)
			}
			got := srv.last(t)
			if got.err != nil {
				t.Fatalf("Verify: %v", got.err)
			}
			if !strings.HasPrefix(got.requestURI, tt.wantURI) {
				t.Errorf("wire request URI = %s, want %s", got.requestURI, tt.wantURI)
			}
			if got.id.PrincipalID != "user-test" || !got.id.Admin || got.id.Region != "us-west-2" {
				t.Errorf("identity = %+v", got.id)
			}
		})
	}
}

// TestNimbleStudioClientV1WrongSecret checks what the client reports.
func TestNimbleStudioClientV1WrongSecret(t *testing.T) {
	srv := newVerifyServer(t, &Verifier{Credentials: testCreds})
	c := nimbleClient(t, srv.URL, "not-test")
	_, err := c.ListTagsForResource(&nimblestudio.ListTagsForResourceInput{ResourceArn: aws.String(testARN)})
	var ae awserr.RequestFailure
	if !errors.As(err, &ae) || ae.Code() != opennimble.ErrInvalidSignature || ae.StatusCode() != 403 {
		t.Fatalf("err = %v, want a 403 InvalidSignatureException", err)
	}
}

// signerCase is a request to sign with a library signer and send.
type signerCase struct {
	name    string
	method  string
	target  string // escaped path and query
	body    string
	headers http.Header
}

var signerCases = []signerCase{
	{name: "ARN label", method: "GET", target: testARNPath},
	{name: "ARN label POST", method: "POST", target: testARNPath, body: `{"tags":{"k":"v"}}`,
		headers: http.Header{"Content-Type": {"application/json"}}},
	{name: "odd labels", method: "GET", target: "/2020-08-01/studios/stu%201%3Ax%25y/streaming-session-backups/bak%2F1"},
	{name: "repeated query values", method: "DELETE", target: testARNPath + "?tagKeys=zeta&tagKeys=a%2Fb&tagKeys=a-b&tagKeys=a%20b"},
	{name: "nextToken", method: "GET", target: "/2020-08-01/studios/stu-1/streaming-sessions?nextToken=ab%3D%2B%2Fc%20d~%2A&maxResults=5"},
	{name: "empty query value", method: "GET", target: "/2020-08-01/studios?flag=&x=1"},
	{name: "whitespace in a value", method: "GET", target: "/2020-08-01/studios",
		headers: http.Header{"X-Amz-Meta-Odd": {"a  b\t\tc   d"}}},
	{name: "repeated header", method: "GET", target: "/2020-08-01/studios",
		headers: http.Header{"X-Amz-Meta-Multi": {"one", " two  three "}}},
	{name: "client token", method: "POST", target: "/2020-08-01/studios/stu-1/streaming-sessions/ses-1/stop",
		body:    `{"volumeRetentionMode":"RETAIN"}`,
		headers: http.Header{"Content-Type": {"application/json"}, "X-Amz-Client-Token": {"0d1ba12f-c012-46da-93d2-4ac9fe22c6e0"}}},
}

func (c signerCase) request(t *testing.T, base string) *http.Request {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, base+c.target, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range c.headers {
		req.Header[k] = append([]string(nil), vs...)
	}
	return req
}

func send(t *testing.T, srv *verifyServer, req *http.Request) seen {
	t.Helper()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return srv.last(t)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestSignerV1 signs with aws-sdk-go v1's signer, the one the nimblestudio
// client uses, in the header and the presigned form.
func TestSignerV1(t *testing.T) {
	srv := newVerifyServer(t, &Verifier{Credentials: testCreds})
	signer := v4.NewSigner(credentials.NewStaticCredentials("test", "test", ""))
	for _, presign := range []bool{false, true} {
		for _, c := range signerCases {
			t.Run(fmt.Sprintf("%s/presign=%v", c.name, presign), func(t *testing.T) {
				req := c.request(t, srv.URL)
				var err error
				if presign {
					_, err = signer.Presign(req, strings.NewReader(c.body), "nimble", "us-west-2", time.Minute, time.Now())
				} else {
					_, err = signer.Sign(req, strings.NewReader(c.body), "nimble", "us-west-2", time.Now())
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := send(t, srv, req); got.err != nil {
					t.Fatalf("Verify(%s): %v", got.requestURI, got.err)
				}
			})
		}
	}
}

// signEverything makes the smithy signer sign every header, as the JS SDK
// signs its amz-sdk-* headers and content-length.
type signEverything struct{}

func (signEverything) IsSigned(h string) bool { return h != "user-agent" && h != "authorization" }

// TestSignerSmithy signs with smithy-go's aws-http-auth signer (the v2 and
// JS-style canonicalisation: encoded pairs sorted, values only trimmed).
func TestSignerSmithy(t *testing.T) {
	srv := newVerifyServer(t, &Verifier{Credentials: testCreds})
	signer := smithysigv4.New()
	creds := smithycreds.Credentials{AccessKeyID: "test", SecretAccessKey: "test"}
	modes := []struct {
		name string
		opts []smithyv4.SignerOption
	}{
		{"default", nil},
		{"js-like", []smithyv4.SignerOption{func(o *smithyv4.SignerOptions) {
			o.HeaderRules = signEverything{}
			o.AddPayloadHashHeader = true
		}}},
		{"presigned", nil},
	}
	for _, m := range modes {
		for _, c := range signerCases {
			t.Run(m.name+"/"+c.name, func(t *testing.T) {
				req := c.request(t, srv.URL)
				in := &smithysigv4.SignRequestInput{Request: req, Credentials: creds, Service: "nimble", Region: "us-west-2"}
				if m.name == "presigned" {
					q := req.URL.Query()
					q.Set("X-Amz-Expires", "60")
					req.URL.RawQuery = q.Encode()
					in.SignatureType = smithyv4.SignatureTypeQueryString
				} else {
					sum := sha256.Sum256([]byte(c.body))
					in.PayloadHash = sum[:]
				}
				if m.name == "js-like" {
					req.Header.Set("Amz-Sdk-Invocation-Id", "f2f5c0c9-b9c4-4ada-bc1e-1854a122f282")
					req.Header.Set("Amz-Sdk-Request", "attempt=1; max=3")
					req.Header.Set("X-Amz-User-Agent", "aws-sdk-js/3.523.0")
					if c.body != "" {
						req.Header.Set("Content-Length", fmt.Sprint(len(c.body)))
					}
				}
				if err := signer.SignRequest(in, m.opts...); err != nil {
					t.Fatal(err)
				}
				if got := send(t, srv, req); got.err != nil {
					t.Fatalf("Verify(%s): %v", got.requestURI, got.err)
				}
			})
		}
	}
}

// onWire writes a client request as the transport would and reads it back
// as the server does.
func onWire(t *testing.T, req *http.Request) (*http.Request, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := req.Write(&buf); err != nil {
		t.Fatal(err)
	}
	r, err := http.ReadRequest(bufio.NewReader(&buf))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return r, body
}

var t0 = time.Date(2026, 11, 26, 19, 26, 16, 0, time.UTC)

func TestPresignedExpiry(t *testing.T) {
	tests := []struct {
		name     string
		at       time.Duration // clock offset from signing time
		wantCode string
		wantMsg  string
	}{
		{"at signing", 0, "", ""},
		{"before expiry", 59 * time.Second, "", ""},
		{"at expiry", 60 * time.Second, "", ""},
		{"after expiry", 61 * time.Second, opennimble.ErrInvalidSignature, "Request has expired"},
		{"signed 10 minutes ahead", -10 * time.Minute, "", ""},
		{"signed 16 minutes ahead", -16 * time.Minute, opennimble.ErrInvalidSignature, "Signature not yet current: "},
	}
	signer := v4.NewSigner(credentials.NewStaticCredentials("test", "test", ""))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://127.0.0.1:18080"+testARNPath, nil)
			if _, err := signer.Presign(req, nil, "nimble", "us-west-2", time.Minute, t0); err != nil {
				t.Fatal(err)
			}
			r, body := onWire(t, req)
			v := &Verifier{Credentials: testCreds, Clock: opennimble.NewFakeClock(t0.Add(tt.at))}
			_, err := v.Verify(r, body)
			checkErr(t, err, tt.wantCode, tt.wantMsg)
		})
	}
}
