package sigv4

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opennimble/opennimble"
)

// wireVector is a request exactly as a real client put it on the wire,
// written with "\n" line ends (readWire turns them into CRLF) and "<TAB>" for
// a tab.
type wireVector struct {
	name string
	raw  string
}

// wireVectors are the requests of docs/WIRE.md, signed with test/test
// by aws-cli 2.9.19, boto3 1.26.27, @aws-sdk/client-nimble 3.523.0 and
// aws-sdk-go 1.55.8.
var wireVectors = []wireVector{
	{"cli/StopStreamingSession", `POST /2020-08-01/studios/stu-4El1ftOH5xaqaGvnS5/streaming-sessions/ses-3LV1dYrsZCllEccuc9/stop HTTP/1.1
Host: 127.0.0.1:18080
Accept-Encoding: identity
X-Amz-Client-Token: 0d1ba12f-c012-46da-93d2-4ac9fe22c6e0
Content-Type: application/json
User-Agent: aws-cli/2.9.19 Python/3.11.2 Linux/6.18.44-fc-v657 source/x86_64.debian.12 prompt/off command/nimble.stop-streaming-session
X-Amz-Date: 20261126T192616Z
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=content-type;host;x-amz-client-token;x-amz-date, Signature=e3c5aba01d67a1bd541a8b2b0ef84a2798cec99753b01dd0e5fde7934b26210d
Content-Length: 33

{"volumeRetentionMode": "RETAIN"}`},
	{"python/StopStreamingSession", `POST /2020-08-01/studios/stu-67I0u3hYT30s330LF5/streaming-sessions/ses-dZXRnFaharmT91FF5G/stop HTTP/1.1
Accept-Encoding: identity
X-Amz-Client-Token: 4431367c-97e9-4f20-a677-9d2b274f9904
Content-Type: application/json
User-Agent: Boto3/1.26.27 Python/3.11.2 Linux/6.18.44-fc-v657 awscrt/1.0.0.dev0 Botocore/1.29.27
host: 127.0.0.1:18080
X-Amz-Date: 20261126T192634Z
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=content-type;host;x-amz-client-token;x-amz-date, Signature=ad1c100f288e92db281a4099028dbd04cdf2a16809026e797be32f86916cd4b7
amz-sdk-invocation-id: d6ce0fcd-698e-42ed-9f01-f4a3b41d2579
amz-sdk-request: attempt=1
Content-Length: 33

{"volumeRetentionMode": "RETAIN"}`},
	{"js/StopStreamingSession", `POST /2020-08-01/studios/stu-Iy6Sgn3tmqoRbLRwqy/streaming-sessions/ses-4lVqubZJ5FiHB5vS5b/stop HTTP/1.1
content-type: application/json
content-length: 32
host: 127.0.0.1:18080
x-amz-user-agent: aws-sdk-js/3.523.0
user-agent: aws-sdk-js/3.523.0 ua/2.0 os/linux#6.18.44-fc-v657 lang/js md/nodejs#20.20.2 api/nimble#3.523.0
amz-sdk-invocation-id: f2f5c0c9-b9c4-4ada-bc1e-1854a122f282
amz-sdk-request: attempt=1; max=3
x-amz-date: 20261126T192637Z
x-amz-content-sha256: a360c5c4434501e5daf3353a36b03d7ae040f23a30aaa7bf0d58886861fec9a8
authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-user-agent, Signature=cdc84bcd814d48ab7688e44f1d00e197785743d552af4fe89d60feb04ab14501
Connection: keep-alive

{"volumeRetentionMode":"RETAIN"}`},
	{"go/StopStreamingSession", `POST /2020-08-01/studios/stu-eazO4YjcwB26bmcQ8o/streaming-sessions/ses-ZBypozJxr38RKAPEil/stop HTTP/1.1
Host: 127.0.0.1:18080
User-Agent: aws-sdk-go/1.55.8 (go1.26.8; linux; amd64)
Content-Length: 32
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date, Signature=47e2c50b6ef8ccdbcd080083ef5998961dff38505c848e1674f17f5a1a3db4fd
Content-Type: application/json
X-Amz-Date: 20261126T192642Z
Accept-Encoding: gzip

{"volumeRetentionMode":"RETAIN"}`},
	{"cli/GetStreamingSessionBackup", `GET /2020-08-01/studios/stu-4El1ftOH5xaqaGvnS5/streaming-session-backups/bak-lcQFtNMKZOEPee5gMH HTTP/1.1
Host: 127.0.0.1:18080
Accept-Encoding: identity
User-Agent: aws-cli/2.9.19 Python/3.11.2 Linux/6.18.44-fc-v657 source/x86_64.debian.12 prompt/off command/nimble.get-streaming-session-backup
X-Amz-Date: 20261126T192618Z
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=host;x-amz-date, Signature=95eacc920cbb7e397e3382837402f39199ea6cbf6f42f541d709042aa33b2a87

`},
	{"python/GetStreamingSessionBackup", `GET /2020-08-01/studios/stu-67I0u3hYT30s330LF5/streaming-session-backups/bak-fIJpZsRkVH9VDxbyXk HTTP/1.1
Accept-Encoding: identity
User-Agent: Boto3/1.26.27 Python/3.11.2 Linux/6.18.44-fc-v657 awscrt/1.0.0.dev0 Botocore/1.29.27
host: 127.0.0.1:18080
X-Amz-Date: 20261126T192634Z
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=host;x-amz-date, Signature=a1047c507dab6461c2d79c468ee8ba317d4d7fcf511b2cd5b34cd8017cf56581
amz-sdk-invocation-id: 588f142e-66ed-45ac-995f-361312b16b56
amz-sdk-request: attempt=1

`},
	{"js/GetStreamingSessionBackup", `GET /2020-08-01/studios/stu-Iy6Sgn3tmqoRbLRwqy/streaming-session-backups/bak-A2pYJ4M9kNm4j30gr0 HTTP/1.1
host: 127.0.0.1:18080
x-amz-user-agent: aws-sdk-js/3.523.0
user-agent: aws-sdk-js/3.523.0 ua/2.0 os/linux#6.18.44-fc-v657 lang/js md/nodejs#20.20.2 api/nimble#3.523.0
amz-sdk-invocation-id: 012c6bdb-d363-4c7c-95fb-a1a5db78f8da
amz-sdk-request: attempt=1; max=3
x-amz-date: 20261126T192638Z
x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=amz-sdk-invocation-id;amz-sdk-request;host;x-amz-content-sha256;x-amz-date;x-amz-user-agent, Signature=9506ff0c98f7162dc9f2732467b2c8041fc1ce421a50bba020b4d9f1bcf40011
Connection: keep-alive

`},
	{"go/GetStreamingSessionBackup", `GET /2020-08-01/studios/stu-eazO4YjcwB26bmcQ8o/streaming-session-backups/bak-Yogy0ATuwAc8Vnv0XV HTTP/1.1
Host: 127.0.0.1:18080
User-Agent: aws-sdk-go/1.55.8 (go1.26.8; linux; amd64)
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=host;x-amz-date, Signature=001713d3bfee123dbbae6d6d101a9e72ac47b6c12bf06dbcae29b7343eabb142
X-Amz-Date: 20261126T192642Z
Accept-Encoding: gzip

`},
}

const botocoreUA = "Botocore/1.43.11 ua/2.1 os/linux#6.18.44-fc-v657 md/arch#x86_64 lang/python#3.11.7 md/pyimpl#CPython m/Z,N,e,b,D cfg/retry-mode#legacy"

// botocoreVectors were captured from botocore 1.43.11 (a nimble client built
// from aws-sdk-go's copy of the model) talking to a raw socket, signed with
// test/test. They cover what docs/WIRE.md does not: ARN labels, repeated and
// unsorted query values, odd characters in a nextToken, header whitespace,
// a presigned URL, and dot segments that botocore removes before signing.
var botocoreVectors = []wireVector{
	{"botocore/TagResource", `POST /2020-08-01/tags/arn%3Aaws%3Animble%3Aus-west-2%3A123456789012%3Astudio%2Fstu-abc HTTP/1.1
Host: 127.0.0.1:18080
Accept-Encoding: identity
Content-Type: application/json
User-Agent: ` + botocoreUA + `
X-Amz-Date: 20261126T200451Z
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=4a45c11d89003ba5b1eb000bd0ccb47a761d59d91c4bf5a5f3894ab6f1c7e684
amz-sdk-invocation-id: 97a06680-4f3a-4ca8-8838-093151325238
amz-sdk-request: attempt=1
Content-Length: 20

{"tags": {"k": "v"}}`},
	{"botocore/ListTagsForResource", `GET /2020-08-01/tags/arn%3Aaws%3Animble%3Aus-west-2%3A123456789012%3Astudio%2Fstu-abc HTTP/1.1
Host: 127.0.0.1:18080
Accept-Encoding: identity
User-Agent: ` + botocoreUA + `
X-Amz-Date: 20261126T200451Z
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=host;x-amz-date, Signature=698b4b18fa7c043a2c3f2b0bba5735b2e87b88704bbca12a3876670b7827c1d4
amz-sdk-invocation-id: 0bd41158-9759-409c-83bf-9af845133848
amz-sdk-request: attempt=1

`},
	{"botocore/UntagResource", `DELETE /2020-08-01/tags/arn%3Aaws%3Animble%3Aus-west-2%3A123456789012%3Astudio%2Fstu-abc?tagKeys=zeta&tagKeys=a%2Fb&tagKeys=a-b&tagKeys=a%20b HTTP/1.1
Host: 127.0.0.1:18080
Accept-Encoding: identity
User-Agent: ` + botocoreUA + `
X-Amz-Date: 20261126T200451Z
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=host;x-amz-date, Signature=9fbe731f937b72eda4c9aa94aa9e1d12aefb9512e17211281ee1f8e7bddec1dc
amz-sdk-invocation-id: 1f28fd9e-4478-498b-9730-7babe28b0968
amz-sdk-request: attempt=1
Content-Length: 0

`},
	{"botocore/ListStreamingSessions", `GET /2020-08-01/studios/stu-1/streaming-sessions?nextToken=ab%3D%2B%2Fc%20d~%2A&createdBy=u%2F1 HTTP/1.1
Host: 127.0.0.1:18080
Accept-Encoding: identity
User-Agent: ` + botocoreUA + `
X-Amz-Date: 20261126T200451Z
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=host;x-amz-date, Signature=7c97e5f28e64d1e08c72ce752180b12550df2bed6cc0987398e38951be554a12
amz-sdk-invocation-id: fd1ad569-e91e-461b-a48d-bd9d6407b4c1
amz-sdk-request: attempt=1

`},
	{"botocore/StopStreamingSession", `POST /2020-08-01/studios/stu-1/streaming-sessions/ses-1/stop HTTP/1.1
Host: 127.0.0.1:18080
Accept-Encoding: identity
X-Amz-Client-Token: 3d58b2ab-61fe-471b-9240-8b65429fd5ed
Content-Type: application/json
User-Agent: ` + botocoreUA + `
X-Amz-Date: 20261126T200451Z
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=content-type;host;x-amz-client-token;x-amz-date, Signature=9340f82f630ecf0c5726762534d02ccbe14fbf9f4643ffe881f563037b1d190c
amz-sdk-invocation-id: 178a3936-7ed8-4b2b-a932-7c063dc78a3a
amz-sdk-request: attempt=1
Content-Length: 33

{"volumeRetentionMode": "RETAIN"}`},
	{"botocore/WhitespaceHeader", `GET /2020-08-01/studios/stu-1/streaming-session-backups/bak-ws HTTP/1.1
Host: 127.0.0.1:18080
Accept-Encoding: identity
User-Agent: ` + botocoreUA + `
X-Amz-Meta-Odd: a  b<TAB><TAB>c
X-Amz-Date: 20261126T200451Z
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=host;x-amz-date;x-amz-meta-odd, Signature=26e5c9ef7e150fbbaeb0a0e54afdf115ba97e22be566ed90f053d7eea2d5c621
amz-sdk-invocation-id: 8ed7699e-5c3b-4db6-887b-0980e65f1910
amz-sdk-request: attempt=1

`},
	{"botocore/Presigned", `GET /2020-08-01/studios/stu-1/streaming-session-backups/bak-1?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=test%2F20261126%2Fus-west-2%2Fnimble%2Faws4_request&X-Amz-Date=20261126T200451Z&X-Amz-Expires=600&X-Amz-SignedHeaders=host&X-Amz-Signature=bc5297ebdc7c6551e4e0e4de6f5ed08c4b2c0c9c2ec376c77175788169a60bff HTTP/1.1
Accept-Encoding: identity
Host: 127.0.0.1:18080
User-Agent: Python-urllib/3.11
Connection: close

`},
	// SigV4Auth.add_auth on an AWSRequest, at a fixed time.
	{"botocore/DotSegments", `GET /2020-08-01/studios//stu-1/./streaming-sessions/../streaming-sessions/ HTTP/1.1
Host: 127.0.0.1:18080
X-Amz-Date: 20261126T200000Z
Authorization: AWS4-HMAC-SHA256 Credential=test/20261126/us-west-2/nimble/aws4_request, SignedHeaders=host;x-amz-date, Signature=5051d524ba098e9733e33a23855d5e72ff44d59e83029bd509c9b60bdc3f1b1d

`},
}

// readWire parses a vector the way net/http's server does.
func readWire(t testing.TB, raw string) (*http.Request, []byte) {
	t.Helper()
	head, body, _ := strings.Cut(raw, "\n\n")
	head = strings.ReplaceAll(strings.ReplaceAll(head, "<TAB>", "\t"), "\n", "\r\n")
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head + "\r\n\r\n" + body)))
	if err != nil {
		t.Fatalf("reading request: %v", err)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return r, b
}

// signedAt returns the X-Amz-Date of a request, from its header or query.
func signedAt(t testing.TB, r *http.Request) time.Time {
	t.Helper()
	v := r.Header.Get("X-Amz-Date")
	if v == "" {
		v = r.URL.Query().Get("X-Amz-Date")
	}
	tm, err := time.Parse(timeFormat, v)
	if err != nil {
		t.Fatalf("X-Amz-Date %q: %v", v, err)
	}
	return tm
}

// credMap is a CredentialSource over a map.
type credMap map[string]opennimble.Credential

func (m credMap) GetCredential(_ context.Context, id string) (*opennimble.Credential, error) {
	c, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("access key %q: %w", id, opennimble.ErrNoRecord)
	}
	return &c, nil
}

var testCreds = credMap{"test": {AccessKeyID: "test", SecretAccessKey: "test", PrincipalID: "user-test", Admin: true}}

func TestWireVectorsVerify(t *testing.T) {
	for _, vec := range append(wireVectors[:len(wireVectors):len(wireVectors)], botocoreVectors...) {
		t.Run(vec.name, func(t *testing.T) {
			r, body := readWire(t, vec.raw)
			v := &Verifier{Credentials: testCreds, Clock: opennimble.NewFakeClock(signedAt(t, r)), Region: "us-west-2"}
			id, err := v.Verify(r, body)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := Identity{AccessKeyID: "test", PrincipalID: "user-test", Admin: true, Region: "us-west-2"}
			if *id != want {
				t.Errorf("identity = %+v, want %+v", *id, want)
			}
		})
	}
}

// mutation changes one thing about a vector's request, body, verifier or clock.
type mutation struct {
	name     string
	apply    func(r *http.Request, body *[]byte, v *Verifier, clock *opennimble.FakeClock)
	wantCode string // "" means the request must still verify
	wantMsg  string // a prefix of the message, if set
}

func TestWireVectorsMutated(t *testing.T) {
	for _, vec := range append(wireVectors[:len(wireVectors):len(wireVectors)], botocoreVectors...) {
		r, _ := readWire(t, vec.raw)
		for _, m := range mutationsFor(r) {
			t.Run(vec.name+"/"+m.name, func(t *testing.T) {
				r, body := readWire(t, vec.raw)
				clock := opennimble.NewFakeClock(signedAt(t, r))
				v := &Verifier{Credentials: testCreds, Clock: clock, Region: "us-west-2"}
				m.apply(r, &body, v, clock)
				_, err := v.Verify(r, body)
				checkErr(t, err, m.wantCode, m.wantMsg)
			})
		}
	}
}

func checkErr(t *testing.T, err error, wantCode, wantMsg string) {
	t.Helper()
	if wantCode == "" {
		if err != nil {
			t.Fatalf("Verify: %v, want success", err)
		}
		return
	}
	var e *opennimble.Error
	if !errors.As(err, &e) {
		t.Fatalf("Verify: %v (%T), want *opennimble.Error %s", err, err, wantCode)
	}
	if e.Code != wantCode {
		t.Fatalf("code = %s (%s), want %s", e.Code, e.Message, wantCode)
	}
	if !strings.HasPrefix(e.Message, wantMsg) {
		t.Fatalf("message = %q, want prefix %q", e.Message, wantMsg)
	}
}

// mutationsFor lists the generic mutations plus one per signed header.
func mutationsFor(r *http.Request) []mutation {
	ms := []mutation{
		{name: "unsigned user-agent changed", apply: func(r *http.Request, _ *[]byte, _ *Verifier, _ *opennimble.FakeClock) {
			r.Header.Set("User-Agent", "something else")
		}},
		{name: "emulator mode", apply: func(_ *http.Request, _ *[]byte, v *Verifier, _ *opennimble.FakeClock) {
			*v = Verifier{Emulator: true, EmulatorAdmins: []string{"test"}, Clock: v.Clock}
		}},
		{name: "clock 14 minutes later", apply: func(_ *http.Request, _ *[]byte, _ *Verifier, c *opennimble.FakeClock) {
			c.Advance(9 * time.Minute)
		}},
		{name: "body changed", wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch,
			apply: func(_ *http.Request, b *[]byte, _ *Verifier, _ *opennimble.FakeClock) {
				*b = append(*b, ' ')
			}},
		{name: "wrong secret", wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch,
			apply: func(_ *http.Request, _ *[]byte, v *Verifier, _ *opennimble.FakeClock) {
				v.Credentials = credMap{"test": {AccessKeyID: "test", SecretAccessKey: "tesT", PrincipalID: "p"}}
			}},
		{name: "unknown access key", wantCode: opennimble.ErrUnrecognizedClient, wantMsg: MsgUnrecognizedClient,
			apply: func(_ *http.Request, _ *[]byte, v *Verifier, _ *opennimble.FakeClock) {
				v.Credentials = credMap{}
			}},
		{name: "another service", wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch,
			apply: func(_ *http.Request, _ *[]byte, v *Verifier, _ *opennimble.FakeClock) {
				v.Service = "execute-api"
			}},
		{name: "another region", wantCode: opennimble.ErrInvalidSignature, wantMsg: "Credential should be scoped to a valid region",
			apply: func(_ *http.Request, _ *[]byte, v *Verifier, _ *opennimble.FakeClock) {
				v.Region = "eu-west-1"
			}},
		{name: "method changed", wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch,
			apply: func(r *http.Request, _ *[]byte, _ *Verifier, _ *opennimble.FakeClock) {
				r.Method = "PUT"
			}},
		{name: "path changed", wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch,
			apply: func(r *http.Request, _ *[]byte, _ *Verifier, _ *opennimble.FakeClock) {
				r.RequestURI = strings.Replace(r.RequestURI, "/2020-08-01/", "/2020-08-02/", 1)
			}},
		{name: "query added", wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch,
			apply: func(r *http.Request, _ *[]byte, _ *Verifier, _ *opennimble.FakeClock) {
				r.URL.RawQuery += "&maxResults=1"
			}},
	}
	if r.Header.Get("Authorization") == "" {
		return append(ms,
			mutation{name: "presigned URL expired", wantCode: opennimble.ErrInvalidSignature, wantMsg: "Request has expired",
				apply: func(_ *http.Request, _ *[]byte, _ *Verifier, c *opennimble.FakeClock) {
					c.Advance(601 * time.Second)
				}},
			mutation{name: "presigned signature changed", wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch,
				apply: func(r *http.Request, _ *[]byte, _ *Verifier, _ *opennimble.FakeClock) {
					q := r.URL.Query()
					q.Set(sigQueryKey, strings.Repeat("0", 64))
					r.URL.RawQuery = q.Encode()
				}})
	}
	ms = append(ms,
		mutation{name: "clock 16 minutes later", wantCode: opennimble.ErrInvalidSignature, wantMsg: "Signature expired: ",
			apply: func(_ *http.Request, _ *[]byte, _ *Verifier, c *opennimble.FakeClock) {
				c.Advance(16 * time.Minute)
			}},
		mutation{name: "clock 16 minutes earlier", wantCode: opennimble.ErrInvalidSignature, wantMsg: "Signature not yet current: ",
			apply: func(_ *http.Request, _ *[]byte, _ *Verifier, c *opennimble.FakeClock) {
				c.Advance(-16 * time.Minute)
			}},
		mutation{name: "scope date is another day", wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch,
			apply: func(r *http.Request, _ *[]byte, _ *Verifier, _ *opennimble.FakeClock) {
				r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/20261126/", "/20261125/", 1))
			}},
	)
	_, signed, _ := strings.Cut(r.Header.Get("Authorization"), "SignedHeaders=")
	signed, _, _ = strings.Cut(signed, ",")
	for _, name := range strings.Split(signed, ";") {
		ms = append(ms, mutation{name: "signed " + name + " changed", wantCode: opennimble.ErrInvalidSignature, wantMsg: MsgSignatureMismatch,
			apply: func(r *http.Request, _ *[]byte, _ *Verifier, _ *opennimble.FakeClock) {
				mutateHeader(r, name)
			}})
	}
	return ms
}

// mutateHeader changes a header's value so that it still parses.
func mutateHeader(r *http.Request, name string) {
	switch name {
	case "host":
		r.Host = "127.0.0.1:18081"
	case "x-amz-date":
		t, _ := time.Parse(timeFormat, r.Header.Get(name))
		r.Header.Set(name, t.Add(time.Second).Format(timeFormat))
	case "content-length":
		r.Header.Set(name, "1"+r.Header.Get(name))
	case "x-amz-content-sha256":
		r.Header.Set(name, "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881") // SHA-256 of "x"
	default:
		r.Header.Set(name, r.Header.Get(name)+"x")
	}
}
