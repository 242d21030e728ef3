package compat

// R paws cannot be installed here (its registry is out of reach), so these
// tests send requests exactly as paws.common does according to
// docs/WIRE.md, signed with aws-sdk-go v1's SigV4 signer (paws.common's
// signer is a port of it):
//
//   - User-Agent starting with "paws/";
//   - Content-Type: application/x-amz-json-1.1 on every request, GET and
//     DELETE included;
//   - GET and DELETE signed over content-type;host;x-amz-date, a POST also
//     over content-length; no X-Amz-Content-Sha256, no client token;
//   - compact JSON bodies.
//
// paws.common reads every JSON timestamp as epoch seconds, so with
// --timestamps auto (the default) the server must answer it with epoch
// seconds as JSON numbers with milliseconds (1795719944.775) and every other
// client with ISO 8601 strings; --timestamps iso8601 and epoch force either.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws/credentials"
	v4 "github.com/aws/aws-sdk-go/aws/signer/v4"
)

const (
	pawsUA      = "paws/0.8.0 (R4.4.1; linux-gnu; x86_64; paws.common 0.8.0)"
	pawsJSON    = "application/x-amz-json-1.1"
	goSDKUA     = "aws-sdk-go/1.55.8 (go1.26.8; linux; amd64)"
	botocoreUA  = "Boto3/1.26.27 Python/3.11.2 Linux/6.1 Botocore/1.29.27"
	jsUA        = "aws-sdk-js/3.523.0 ua/2.0 os/linux lang/js md/nodejs#20.20.2 api/nimble#3.523.0"
	apiPrefix   = "/2020-08-01"
	unknownBack = "bak-doesnotexist0000"
)

// rawClient sends hand-built nimble requests signed with aws-sdk-go v1's
// signer, with the User-Agent and Content-Type given.
type rawClient struct {
	t           *testing.T
	endpoint    string
	userAgent   string
	contentType string // "" sends none
	signer      *v4.Signer
	// sessionToken: the credentials carry one, sent as X-Amz-Security-Token.
	sessionToken bool
}

func newRaw(t *testing.T, endpoint, userAgent, contentType string) *rawClient {
	return &rawClient{t: t, endpoint: endpoint, userAgent: userAgent, contentType: contentType,
		signer: v4.NewSigner(credentials.NewStaticCredentials("test", "test", ""))}
}

// response is one answer: status, headers and the body, decoded with
// json.Number so that the JSON type of every timestamp can be told.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// label percent-encodes a URI label as the SDKs do (everything but the
// unreserved characters), so an ARN fits in one path segment.
func label(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func (c *rawClient) do(method, path string, query url.Values, body any) *response {
	c.t.Helper()
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil { // compact, as paws writes it
			c.t.Fatal(err)
		}
	}
	u := c.endpoint + apiPrefix + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	req.Header.Set("User-Agent", c.userAgent)
	want := "host;x-amz-date"
	if c.sessionToken {
		want += ";x-amz-security-token"
	}
	if c.contentType != "" {
		want = "content-type;" + want
	}
	if payload != nil {
		// Signed, as paws signs it; net/http sends the length from ContentLength.
		req.Header.Set("Content-Length", strconv.Itoa(len(payload)))
		want = "content-length;" + want
	}
	var seeker io.ReadSeeker
	if payload != nil {
		seeker = bytes.NewReader(payload)
	}
	if _, err := c.signer.Sign(req, seeker, "nimble", "us-west-2", time.Now()); err != nil {
		c.t.Fatal(err)
	}
	if auth := req.Header.Get("Authorization"); !strings.Contains(auth, "/us-west-2/nimble/aws4_request, SignedHeaders="+want+",") {
		c.t.Fatalf("the test signed %s %s as %q, want SignedHeaders=%s", method, path, auth, want)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := &response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&r.Body); err != nil {
			c.t.Fatalf("%s %s: %d with a body that is not a JSON object: %v\n%s", method, path, resp.StatusCode, err, raw)
		}
	}
	return r
}

// ok sends a request that must succeed with status want.
func (c *rawClient) ok(want int, method, path string, query url.Values, body any) *response {
	c.t.Helper()
	r := c.do(method, path, query, body)
	if r.Status != want {
		c.t.Fatalf("%s %s with User-Agent %q and Content-Type %q: HTTP %d (%s), want %d\n%s",
			method, path, c.userAgent, c.contentType, r.Status, r.Header.Get("x-amzn-ErrorType"), want, r.Raw)
	}
	return r
}

// get returns the object at a dotted path of the body.
func (r *response) get(path string) any {
	var v any = r.Body
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func (r *response) str(path string) string { s, _ := r.get(path).(string); return s }

// timestampMembers are the model's Timestamp members (shape "Timestamp").
var timestampMembers = map[string]bool{
	"acceptedAt": true, "createdAt": true, "expiresAt": true, "startedAt": true, "stopAt": true,
	"stoppedAt": true, "terminateAt": true, "updatedAt": true,
}

// timestamps returns every timestamp member in v, by JSON path.
func timestamps(v any, path string, out map[string]any) map[string]any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if timestampMembers[k] {
				out[path+"."+k] = e
			} else {
				timestamps(e, path+"."+k, out)
			}
		}
	case []any:
		for i, e := range x {
			timestamps(e, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
	return out
}

var (
	epochRE = regexp.MustCompile(`^[0-9]{10}\.[0-9]{3}$`)
	isoRE   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$`)
)

// instant parses a timestamp in either format and checks that it is in
// the format wanted ("epoch" or "iso8601") and recent.
func instant(t *testing.T, where string, v any, format string) time.Time {
	t.Helper()
	var ts time.Time
	switch x := v.(type) {
	case json.Number:
		if format != "epoch" || !epochRE.MatchString(x.String()) {
			t.Fatalf("%s = %s (a JSON number), want %s", where, x, describe(format))
		}
		sec, frac, _ := strings.Cut(x.String(), ".")
		s, _ := strconv.ParseInt(sec, 10, 64)
		ms, _ := strconv.ParseInt(frac, 10, 64)
		ts = time.UnixMilli(s*1000 + ms).UTC()
	case string:
		if format != "iso8601" || !isoRE.MatchString(x) {
			t.Fatalf("%s = %q (a JSON string), want %s", where, x, describe(format))
		}
		var err error
		if ts, err = time.Parse(time.RFC3339Nano, x); err != nil {
			t.Fatalf("%s = %q: %v", where, x, err)
		}
	default:
		t.Fatalf("%s = %#v (%T), want %s", where, v, v, describe(format))
	}
	// stopAt and terminateAt lie hours ahead.
	if d := time.Since(ts); d > 10*time.Minute || d < -48*time.Hour {
		t.Fatalf("%s = %v is %s away from now", where, v, d)
	}
	return ts
}

func describe(format string) string {
	if format == "epoch" {
		return "epoch seconds as a JSON number with milliseconds, like 1795719944.775"
	}
	return "an ISO 8601 string in UTC, like \"2026-11-26T19:25:39.891Z\""
}

// checkTimestamps checks every timestamp of a response, and that there is
// at least min of them.
func checkTimestamps(t *testing.T, what string, r *response, format string, min int) map[string]time.Time {
	t.Helper()
	all := timestamps(r.Body, "", map[string]any{})
	if len(all) < min {
		t.Fatalf("%s: %d timestamps, want at least %d: %s", what, len(all), min, r.Raw)
	}
	out := map[string]time.Time{}
	for p, v := range all {
		out[p] = instant(t, what+p, v, format)
	}
	return out
}

// waitState polls GET path until the state at statePath is want.
func (c *rawClient) waitState(path, statePath, want string) *response {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := c.ok(200, "GET", path, nil, nil)
		if r.str(statePath) == want {
			return r
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("GET %s: %s is %q, want %s", path, statePath, r.str(statePath), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPawsRequests runs a scenario the way paws sends it, against the
// default --timestamps auto: every request accepted, every timestamp of
// every answer epoch seconds; the same requests from other clients get ISO
// 8601; errors as paws reads them.
func TestPawsRequests(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	paws := newRaw(t, srv.URL, pawsUA, pawsJSON)

	r := paws.ok(200, "POST", "/studios", nil, map[string]any{
		"studioName": "compatpaws", "displayName": "Compat paws",
		"adminRoleArn": "arn:aws:iam::000000000000:role/admin", "userRoleArn": "arn:aws:iam::000000000000:role/user",
		"tags": map[string]string{"suite": "compat"},
	})
	checkTimestamps(t, "CreateStudio", r, "epoch", 2)
	studio := r.str("studio.studioId")
	sp := "/studios/" + label(studio)
	r = paws.waitState(sp, "studio.state", "READY")
	pawsTimes := checkTimestamps(t, "GetStudio", r, "epoch", 2)
	checkTimestamps(t, "ListStudios", paws.ok(200, "GET", "/studios", nil, nil), "epoch", 2)
	t.Logf("ok: paws CreateStudio, GetStudio, ListStudios: epoch timestamps, e.g. createdAt %s", r.get("studio.createdAt"))

	// The same GetStudio from every other client: ISO 8601, the same instants.
	for _, ua := range []string{goSDKUA, botocoreUA, jsUA, "curl/8.0"} {
		other := newRaw(t, srv.URL, ua, "")
		times := checkTimestamps(t, "GetStudio with User-Agent "+ua, other.ok(200, "GET", sp, nil, nil), "iso8601", 2)
		for p, ts := range pawsTimes {
			if !times[p].Equal(ts) {
				t.Fatalf("%s is %v for paws and %v for %q", p, ts, times[p], ua)
			}
		}
	}
	t.Log("ok: the same GetStudio with any other User-Agent: ISO 8601 strings, the same instants to the millisecond")

	// Temporary credentials: paws sends and signs X-Amz-Security-Token.
	withToken := newRaw(t, srv.URL, pawsUA, pawsJSON)
	withToken.signer = v4.NewSigner(credentials.NewStaticCredentials("test", "test", "FwoGZXIvYXdzEXAMPLETOKEN"))
	withToken.sessionToken = true
	checkTimestamps(t, "GetStudio with a session token", withToken.ok(200, "GET", sp, nil, nil), "epoch", 2)

	// paws' Content-Type, application/json and none are all accepted.
	for _, ct := range []string{pawsJSON, "application/json", ""} {
		c := newRaw(t, srv.URL, pawsUA, ct)
		checkTimestamps(t, "GetStudio with Content-Type "+ct, c.ok(200, "GET", sp, nil, nil), "epoch", 2)
	}

	// Image, component, launch profile with automatic backups.
	r = paws.ok(200, "POST", sp+"/streaming-images", nil, map[string]any{"name": "compat-image", "ec2ImageId": "ami-0123456789abcdef0"})
	image := r.str("streamingImage.streamingImageId")
	paws.waitState(sp+"/streaming-images/"+label(image), "streamingImage.state", "READY")
	r = paws.ok(200, "POST", sp+"/studio-components", nil, map[string]any{"name": "compat-component", "type": "CUSTOM"})
	checkTimestamps(t, "CreateStudioComponent", r, "epoch", 2)
	component := r.str("studioComponent.studioComponentId")
	paws.waitState(sp+"/studio-components/"+label(component), "studioComponent.state", "READY")
	r = paws.ok(200, "POST", sp+"/launch-profiles", nil, map[string]any{
		"name": "compat-profile", "ec2SubnetIds": []string{"subnet-0123456789abcdef0"},
		"launchProfileProtocolVersions": []string{"2021-03-31"}, "studioComponentIds": []string{component},
		"streamConfiguration": map[string]any{
			"clipboardMode": "ENABLED", "ec2InstanceTypes": []string{"g4dn.xlarge"}, "streamingImageIds": []string{image},
			"maxSessionLengthInMinutes": 60, "sessionPersistenceMode": "ACTIVATED", "automaticTerminationMode": "ACTIVATED",
			"maxStoppedSessionLengthInMinutes": 120, "sessionBackup": map[string]any{"mode": "AUTOMATIC", "maxBackupsToRetain": 2},
		},
	})
	profile := r.str("launchProfile.launchProfileId")
	checkTimestamps(t, "GetLaunchProfile", paws.waitState(sp+"/launch-profiles/"+label(profile), "launchProfile.state", "READY"), "epoch", 2)

	// A session: created, READY, stopped (a backup), its backup READY.
	r = paws.ok(200, "POST", sp+"/streaming-sessions", nil, map[string]any{"launchProfileId": profile})
	session := r.str("session.sessionId")
	ssp := sp + "/streaming-sessions/" + label(session)
	r = paws.waitState(ssp, "session.state", "READY")
	checkTimestamps(t, "GetStreamingSession", r, "epoch", 5) // createdAt, startedAt, stopAt, terminateAt, updatedAt
	paws.ok(200, "POST", ssp+"/stop", nil, map[string]any{"volumeRetentionMode": "RETAIN"})
	r = paws.waitState(ssp, "session.state", "STOPPED")
	checkTimestamps(t, "GetStreamingSession (stopped)", r, "epoch", 6)
	var backup string
	deadline := time.Now().Add(30 * time.Second)
	for backup == "" {
		r = paws.ok(200, "GET", sp+"/streaming-session-backups", url.Values{"ownedBy": {"test"}}, nil)
		checkTimestamps(t, "ListStreamingSessionBackups", r, "epoch", 0)
		if list, _ := r.get("streamingSessionBackups").([]any); len(list) > 0 {
			backup, _ = list[0].(map[string]any)["backupId"].(string)
		} else if time.Now().After(deadline) {
			t.Fatalf("no backup listed after the stop: %s", r.Raw)
		} else {
			time.Sleep(100 * time.Millisecond)
		}
	}
	r = paws.waitState(sp+"/streaming-session-backups/"+label(backup), "streamingSessionBackup.state", "READY")
	checkTimestamps(t, "GetStreamingSessionBackup", r, "epoch", 1)
	checkTimestamps(t, "ListStreamingSessions", paws.ok(200, "GET", sp+"/streaming-sessions", nil, nil), "epoch", 6)
	t.Logf("ok: paws session %s stopped, backup %s READY; createdAt %s", session, backup, r.get("streamingSessionBackup.createdAt"))

	// Start from the backup.
	r = paws.ok(200, "POST", ssp+"/start", nil, map[string]any{"backupId": backup})
	if r.str("session.startedFromBackupId") != backup {
		t.Fatalf("StartStreamingSession: startedFromBackupId %q, want %s", r.str("session.startedFromBackupId"), backup)
	}
	paws.waitState(ssp, "session.state", "READY")

	// Errors as paws reads them: x-amzn-ErrorType (cut at ':'), then the
	// body's code; the message from the body's lower-case "message".
	r = paws.do("GET", sp+"/streaming-session-backups/"+unknownBack, nil, nil)
	if r.Status != 404 || r.Header.Get("x-amzn-ErrorType") != "ResourceNotFoundException" ||
		r.str("code") != "ResourceNotFoundException" || !strings.Contains(r.str("message"), unknownBack) {
		t.Fatalf("GetStreamingSessionBackup of an unknown backup: HTTP %d, x-amzn-ErrorType %q, body %s; want 404, "+
			"ResourceNotFoundException in the header and as the body's code, and a message naming the backup",
			r.Status, r.Header.Get("x-amzn-ErrorType"), r.Raw)
	}
	t.Logf("ok: paws sees ResourceNotFoundException (HTTP 404). %s", r.str("message"))

	// Tags by ARN: POST, GET and DELETE (with tagKeys in the query), all with paws' Content-Type.
	arn := paws.ok(200, "GET", ssp, nil, nil).str("session.arn")
	tp := "/tags/" + label(arn)
	paws.ok(204, "POST", tp, nil, map[string]any{"tags": map[string]string{"team": "fx", "stage": "compat"}})
	paws.ok(204, "DELETE", tp, url.Values{"tagKeys": {"stage", "nothere"}}, nil)
	r = paws.ok(200, "GET", tp, nil, nil)
	if tags, _ := r.get("tags").(map[string]any); len(tags) != 1 || tags["team"] != "fx" {
		t.Fatalf("ListTagsForResource after tag and untag: %s", r.Raw)
	}

	// Delete everything with DELETE requests that carry paws' Content-Type.
	paws.ok(200, "POST", ssp+"/stop", nil, map[string]any{})
	paws.waitState(ssp, "session.state", "STOPPED")
	checkTimestamps(t, "DeleteStreamingSession", paws.ok(200, "DELETE", ssp, nil, nil), "epoch", 5)
	paws.waitState(ssp, "session.state", "DELETED")
	for _, p := range []struct{ path, state string }{
		{sp + "/launch-profiles/" + label(profile), "launchProfile.state"},
		{sp + "/studio-components/" + label(component), "studioComponent.state"},
		{sp + "/streaming-images/" + label(image), "streamingImage.state"},
		{sp, "studio.state"},
	} {
		paws.ok(200, "DELETE", p.path, nil, nil)
		paws.waitState(p.path, p.state, "DELETED")
	}
	t.Log("ok: paws DELETE requests with Content-Type application/x-amz-json-1.1; everything DELETED")
}

// TestTimestampsFlag checks that --timestamps iso8601 and epoch override
// the User-Agent.
func TestTimestampsFlag(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ flag, ua, want string }{
		{"iso8601", pawsUA, "iso8601"},
		{"iso8601", goSDKUA, "iso8601"},
		{"epoch", goSDKUA, "epoch"},
		{"epoch", pawsUA, "epoch"},
		{"auto", pawsUA, "epoch"},
		{"auto", jsUA, "iso8601"},
	} {
		t.Run(tc.flag+"/"+strings.Fields(tc.ua)[0], func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, "--timestamps", tc.flag)
			c := newRaw(t, srv.URL, tc.ua, "")
			if strings.HasPrefix(tc.ua, "paws/") {
				c.contentType = pawsJSON
			}
			r := c.ok(200, "POST", "/studios", nil, map[string]any{
				"studioName": "stamps", "displayName": "d", "adminRoleArn": "a", "userRoleArn": "u",
			})
			checkTimestamps(t, "CreateStudio", r, tc.want, 2)
			r = c.waitState("/studios/"+label(r.str("studio.studioId")), "studio.state", "READY")
			checkTimestamps(t, "GetStudio", r, tc.want, 2)
			checkTimestamps(t, "ListStudios", c.ok(200, "GET", "/studios", nil, nil), tc.want, 2)
			t.Logf("ok: --timestamps %s, User-Agent %q: createdAt %s", tc.flag, tc.ua, r.get("studio.createdAt"))
		})
	}
}
