package sigv4

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws/credentials"
	v4 "github.com/aws/aws-sdk-go/aws/signer/v4"
	smithycreds "github.com/aws/smithy-go/aws-http-auth/credentials"
	smithysigv4 "github.com/aws/smithy-go/aws-http-auth/sigv4"
	smithyv4 "github.com/aws/smithy-go/aws-http-auth/v4"

	"github.com/opennimble/opennimble"
)

// signedV1 returns a request signed at t0 by aws-sdk-go v1, as the server reads it.
func signedV1(t *testing.T, method, target, body string, presign bool) (*http.Request, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:18080"+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	signer := v4.NewSigner(credentials.NewStaticCredentials("test", "test", ""))
	if presign {
		_, err = signer.Presign(req, strings.NewReader(body), "nimble", "us-west-2", time.Hour, t0)
	} else {
		_, err = signer.Sign(req, strings.NewReader(body), "nimble", "us-west-2", t0)
	}
	if err != nil {
		t.Fatal(err)
	}
	return onWire(t, req)
}

func replaceAuth(old, new string) func(r *http.Request) {
	return func(r *http.Request) {
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
	}
}

func editQuery(key, value string) func(r *http.Request) {
	return func(r *http.Request) {
		q := r.URL.Query()
		if value == "" {
			q.Del(key)
		} else {
			q.Set(key, value)
		}
		r.URL.RawQuery = q.Encode()
		r.RequestURI = r.URL.RequestURI()
	}
}

func TestVerifyErrors(t *testing.T) {
	tests := []struct {
		name     string
		presign  bool
		edit     func(r *http.Request)
		wantCode string
		wantMsg  string
	}{
		{name: "valid"},
		{name: "valid presigned", presign: true},
		{name: "no authorization", edit: func(r *http.Request) { r.Header.Del("Authorization") },
			wantCode: opennimble.ErrMissingAuthentication},
		{name: "presigned without signature", presign: true, edit: editQuery(sigQueryKey, ""),
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "Query-string authentication requires"},
		{name: "another scheme", edit: func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc") },
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "Authorization header requires the AWS4-HMAC-SHA256 algorithm"},
		{name: "no credential", edit: replaceAuth("Credential=", "Credentials="),
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "Authorization header has an unknown component"},
		{name: "missing parameters", edit: func(r *http.Request) { r.Header.Set("Authorization", "AWS4-HMAC-SHA256 SignedHeaders=host") },
			wantCode: opennimble.ErrIncompleteSignature,
			wantMsg:  "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter."},
		{name: "repeated parameter", edit: func(r *http.Request) { r.Header.Set("Authorization", r.Header.Get("Authorization")+", Signature=00") },
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "Authorization header repeats the 'Signature' parameter"},
		{name: "short credential", edit: replaceAuth("/us-west-2/", "/"),
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "Credential must have the form"},
		{name: "bad terminator", edit: replaceAuth("aws4_request", "aws4_reqest"),
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "Credential should be scoped with a valid terminator"},
		{name: "host not signed", edit: replaceAuth("host;", ""),
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "'Host' or ':authority' must be a 'SignedHeader'"},
		{name: "empty signed header", edit: replaceAuth("host;", "host;;"),
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "SignedHeaders 'content-type;host;;x-amz-date' has an empty header name"},
		{name: "signature not hex", edit: replaceAuth("Signature=", "Signature=zz"),
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "Signature must be 64 hexadecimal characters"},
		{name: "no x-amz-date", edit: func(r *http.Request) { r.Header.Del("X-Amz-Date") },
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "Authorization header requires existence of a 'X-Amz-Date' header"},
		{name: "x-amz-date not ISO 8601", edit: func(r *http.Request) { r.Header.Set("X-Amz-Date", "2026-11-26T19:26:16Z") },
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "X-Amz-Date must be in the ISO8601 Long Format"},
		{name: "signed headers upper case", edit: replaceAuth("content-type;host;x-amz-date", "Content-Type;Host;X-Amz-Date")},
		{name: "signature upper case", edit: func(r *http.Request) {
			h := r.Header.Get("Authorization")
			i := strings.Index(h, "Signature=") + len("Signature=")
			r.Header.Set("Authorization", h[:i]+strings.ToUpper(h[i:]))
		}},
		{name: "wrong signature", edit: func(r *http.Request) {
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:len(h)-64]+strings.Repeat("0", 64))
		}, wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch},
		{name: "x-amz-content-sha256 not the body's", edit: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", sha256Hex("other")) },
			wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch},
		{name: "x-amz-content-sha256 malformed", edit: func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") },
			wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch},
		{name: "presigned expires missing", presign: true, edit: editQuery("X-Amz-Expires", ""),
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "Query-string authentication requires"},
		{name: "presigned expires too long", presign: true, edit: editQuery("X-Amz-Expires", "604801"),
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "X-Amz-Expires must be a number of seconds"},
		{name: "presigned expires overflows", presign: true, edit: editQuery("X-Amz-Expires", "9223372036854775807"),
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "X-Amz-Expires must be a number of seconds"},
		{name: "presigned algorithm", presign: true, edit: editQuery("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256"),
			wantCode: opennimble.ErrIncompleteSignature, wantMsg: "X-Amz-Algorithm must be AWS4-HMAC-SHA256"},
		{name: "presigned date changed", presign: true, edit: editQuery("X-Amz-Date", "20261126T192617Z"),
			wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch},
		{name: "presigned parameter added", presign: true, edit: editQuery("maxResults", "1"),
			wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := signedV1(t, "POST", testARNPath, `{"tags":{"k":"v"}}`, tt.presign)
			if tt.presign {
				r, body = signedV1(t, "GET", testARNPath+"?nextToken=a%2Fb", "", true)
			}
			if tt.edit != nil {
				tt.edit(r)
			}
			v := &Verifier{Credentials: testCreds, Clock: opennimble.NewFakeClock(t0)}
			_, err := v.Verify(r, body)
			checkErr(t, err, tt.wantCode, tt.wantMsg)
		})
	}
}

func TestErrorStatuses(t *testing.T) {
	for code, want := range map[string]int{
		opennimble.ErrMissingAuthentication: 403,
		opennimble.ErrIncompleteSignature:   400,
		opennimble.ErrUnrecognizedClient:    403,
		opennimble.ErrInvalidSignature:      403,
	} {
		if got := opennimble.HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%s) = %d, want %d", code, got, want)
		}
	}
}

func TestSkewMessages(t *testing.T) {
	r, body := signedV1(t, "GET", testARNPath, "", false)
	tests := []struct {
		name  string
		skew  time.Duration
		clock time.Time
		want  string
	}{
		{"expired", 0, t0.Add(20 * time.Minute),
			"Signature expired: 20261126T192616Z is now earlier than 20261126T193116Z (20261126T194616Z - 15 min.)"},
		{"not yet current", 0, t0.Add(-20 * time.Minute),
			"Signature not yet current: 20261126T192616Z is still later than 20261126T192116Z (20261126T190616Z + 15 min.)"},
		{"custom skew", 5 * time.Minute, t0.Add(6 * time.Minute),
			"Signature expired: 20261126T192616Z is now earlier than 20261126T192716Z (20261126T193216Z - 5 min.)"},
		{"just within custom skew", 5 * time.Minute, t0.Add(5 * time.Minute), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &Verifier{Credentials: testCreds, Clock: opennimble.NewFakeClock(tt.clock), MaxSkew: tt.skew}
			_, err := v.Verify(r, body)
			if tt.want == "" {
				checkErr(t, err, "", "")
				return
			}
			checkErr(t, err, opennimble.ErrInvalidSignature, tt.want)
		})
	}
}

func TestUnsignedPayloadHeader(t *testing.T) {
	req, _ := http.NewRequest("PUT", "http://127.0.0.1:18080/2020-08-01/studios/stu-1", strings.NewReader("anything"))
	err := smithysigv4.New().SignRequest(&smithysigv4.SignRequestInput{
		Request:     req,
		PayloadHash: smithyv4.UnsignedPayload(),
		Credentials: smithycreds.Credentials{AccessKeyID: "test", SecretAccessKey: "test"},
		Service:     "nimble", Region: "us-west-2", Time: t0,
	}, func(o *smithyv4.SignerOptions) { o.AddPayloadHashHeader = true })
	if err != nil {
		t.Fatal(err)
	}
	r, _ := onWire(t, req)
	// Over plain HTTP a body changed in transit would be taken: refused,
	// before the body is read, and in emulator mode too.
	for _, v := range []*Verifier{
		{Credentials: testCreds, Clock: opennimble.NewFakeClock(t0)},
		{Emulator: true, Clock: opennimble.NewFakeClock(t0)},
	} {
		_, err := v.Begin(r)
		checkErr(t, err, opennimble.ErrInvalidSignature, MsgUnsignedPayload)
		_, err = v.Verify(r, []byte("something else"))
		checkErr(t, err, opennimble.ErrInvalidSignature, MsgUnsignedPayload)
	}
	// Over TLS (a server that terminated it itself) the signature is checked
	// without the body's hash.
	r.TLS = &tls.ConnectionState{}
	v := &Verifier{Credentials: testCreds, Clock: opennimble.NewFakeClock(t0)}
	if _, err := v.Verify(r, []byte("something else")); err != nil {
		t.Fatalf("Verify with UNSIGNED-PAYLOAD over TLS: %v", err)
	}
}

type failingSource struct{}

func (failingSource) GetCredential(context.Context, string) (*opennimble.Credential, error) {
	return nil, errors.New("database is locked")
}

func TestCredentialSourceFailure(t *testing.T) {
	r, body := signedV1(t, "GET", testARNPath, "", false)
	for _, v := range []*Verifier{
		{Credentials: failingSource{}, Clock: opennimble.NewFakeClock(t0)},
		{Clock: opennimble.NewFakeClock(t0)},
	} {
		_, err := v.Verify(r, body)
		if err == nil || opennimble.ErrorCode(err) != opennimble.ErrInternal {
			t.Errorf("Verify = %v, want an internal error", err)
		}
	}
}

func TestEmulator(t *testing.T) {
	v := &Verifier{Emulator: true, EmulatorAdmins: []string{"test"}, Clock: opennimble.NewFakeClock(t0), Region: "eu-west-1"}
	tests := []struct {
		name     string
		edit     func(r *http.Request)
		want     Identity
		wantCode string
	}{
		{name: "admin", want: Identity{AccessKeyID: "test", PrincipalID: "test", Admin: true, Region: "us-west-2"}},
		{name: "any key and region, bad signature", edit: func(r *http.Request) {
			replaceAuth("test/", "AKIDEXAMPLE/")(r)
			replaceAuth("us-west-2", "ap-south-1")(r)
			replaceAuth("Signature=", "Signature=00")(r)
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:len(h)-2])
		}, want: Identity{AccessKeyID: "AKIDEXAMPLE", PrincipalID: "AKIDEXAMPLE", Region: "ap-south-1"}},
		{name: "key id longer than IAM's", edit: replaceAuth("test/", strings.Repeat("K", 129)+"/"), wantCode: opennimble.ErrUnrecognizedClient},
		{name: "key id with a control byte", edit: replaceAuth("test/", "te\x01st/"), wantCode: opennimble.ErrUnrecognizedClient},
		{name: "malformed", edit: replaceAuth("SignedHeaders=", "Signed="), wantCode: opennimble.ErrIncompleteSignature},
		{name: "missing", edit: func(r *http.Request) { r.Header.Del("Authorization") }, wantCode: opennimble.ErrMissingAuthentication},
		{name: "stale", edit: func(r *http.Request) { r.Header.Set("X-Amz-Date", "20261126T190000Z") }, wantCode: opennimble.ErrInvalidSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, body := signedV1(t, "GET", testARNPath, "", false)
			if tt.edit != nil {
				tt.edit(r)
			}
			id, err := v.Verify(r, body)
			checkErr(t, err, tt.wantCode, "")
			if err == nil && *id != tt.want {
				t.Errorf("identity = %+v, want %+v", *id, tt.want)
			}
		})
	}
}

// TestBeginNeedsNoBody: an unknown key, a foreign scope or a stale date is
// refused by Begin, before a server reads the body; a good request's Begin
// succeeds and Finish checks the body.
func TestBeginNeedsNoBody(t *testing.T) {
	v := &Verifier{Credentials: testCreds, Clock: opennimble.NewFakeClock(t0), Region: "us-west-2"}
	for _, tt := range []struct {
		name, code string
		edit       func(r *http.Request)
	}{
		{"unknown key", opennimble.ErrUnrecognizedClient, replaceAuth("test/", "AKIDUNKNOWN/")},
		{"other region", opennimble.ErrInvalidSignature, replaceAuth("us-west-2", "eu-west-1")},
		{"stale", opennimble.ErrInvalidSignature, func(r *http.Request) { r.Header.Set("X-Amz-Date", "20261126T190000Z") }},
		{"malformed", opennimble.ErrIncompleteSignature, replaceAuth("SignedHeaders=", "Signed=")},
	} {
		r, _ := signedV1(t, "POST", testARNPath, `{"k":"v"}`, false)
		tt.edit(r)
		_, err := v.Begin(r)
		checkErr(t, err, tt.code, "")
	}
	r, body := signedV1(t, "POST", testARNPath, `{"k":"v"}`, false)
	c, err := v.Begin(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Finish([]byte(`{"k":"w"}`)); opennimble.ErrorCode(err) != opennimble.ErrInvalidSignature {
		t.Fatalf("Finish with a changed body = %v, want InvalidSignatureException", err)
	}
	if id, err := c.Finish(body); err != nil || id.PrincipalID == "" {
		t.Fatalf("Finish = %v, %v", id, err)
	}
}
