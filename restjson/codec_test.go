package restjson

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

func bind(t *testing.T, method, target, body string) (any, error) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	op, labels, _, err := NewRouter(api.Operations).Match(r.Method, r.URL.EscapedPath())
	if err != nil {
		return nil, err
	}
	return op.Bind(NewRequest(r, labels, []byte(body)))
}

func TestRouterCoversEveryOperation(t *testing.T) {
	if len(api.Operations) != 49 {
		t.Fatalf("%d operations, want 49", len(api.Operations))
	}
	rt := NewRouter(api.Operations)
	for _, op := range api.Operations {
		path := strings.NewReplacer("{studioId}", "stu-1", "{launchProfileId}", "lp-1", "{principalId}", "p-1",
			"{sessionId}", "ses-1", "{streamId}", "str-1", "{backupId}", "bak-1", "{eulaId}", "eula-1",
			"{studioComponentId}", "sc-1", "{streamingImageId}", "si-1", "{resourceArn}", "arn%3Aaws%3Animble%3Aus-west-2%3A0%3Astudio%2Fstu-1").Replace(op.URI)
		got, labels, _, err := rt.Match(op.Method, path)
		if err != nil {
			t.Errorf("%s %s: %v", op.Method, path, err)
			continue
		}
		if got.Name != op.Name {
			t.Errorf("%s %s routed to %s, want %s", op.Method, path, got.Name, op.Name)
		}
		if v, ok := labels.Get("resourceArn"); ok && v != "arn:aws:nimble:us-west-2:0:studio/stu-1" {
			t.Errorf("resourceArn label not decoded: %q", v)
		}
	}
}

func TestRouterErrors(t *testing.T) {
	rt := NewRouter(api.Operations)
	_, _, _, err := rt.Match("GET", "/2020-08-01/nothing")
	if opennimble.ErrorCode(err) != opennimble.ErrUnknownOperation {
		t.Fatalf("unknown path: %v", err)
	}
	_, _, allow, err := rt.Match("PUT", "/2020-08-01/studios/stu-1")
	if opennimble.ErrorCode(err) != opennimble.ErrMethodNotAllowed || strings.Join(allow, ",") != "DELETE,GET,PATCH" {
		t.Fatalf("wrong method: %v %v", err, allow)
	}
}

func TestValidationMessages(t *testing.T) {
	cases := []struct {
		name, method, target, body string
		want                       []string
	}{
		{"pattern and missing members all reported", "POST", "/2020-08-01/studios", `{"studioName":"ABC"}`, []string{
			"4 validation errors detected",
			"Value 'ABC' at 'studioName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-z0-9]*$",
			"Value null at 'adminRoleArn' failed to satisfy constraint: Member must not be null",
			"Value null at 'displayName'", "Value null at 'userRoleArn'",
		}},
		{"length", "POST", "/2020-08-01/studios", `{"studioName":"ab","adminRoleArn":"a","userRoleArn":"u","displayName":"d"}`, []string{
			"1 validation error detected: Value 'ab' at 'studioName' failed to satisfy constraint: Member must have length greater than or equal to 3",
		}},
		{"enum in nested structure", "POST", "/2020-08-01/studios", `{"studioName":"abc","adminRoleArn":"a","userRoleArn":"u","displayName":"d","studioEncryptionConfiguration":{"keyType":"X"}}`, []string{
			"Value 'X' at 'studioEncryptionConfiguration.keyType' failed to satisfy constraint: Member must satisfy enum value set: [AWS_OWNED_KEY, CUSTOMER_MANAGED_KEY]",
		}},
		{"sensitive values redacted", "POST", "/2020-08-01/studios", `{"studioName":"abc","adminRoleArn":"a","userRoleArn":"u","displayName":"` + strings.Repeat("x", 65) + `"}`, []string{
			"Value '*** Sensitive Data Redacted ***' at 'displayName' failed to satisfy constraint: Member must have length less than or equal to 64",
		}},
		{"numeric range", "POST", "/2020-08-01/studios/stu-1/streaming-sessions/ses-1/streams", `{"expirationInSeconds":5}`, []string{
			"Value '5' at 'expirationInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60",
		}},
		{"query integer", "GET", "/2020-08-01/studios/stu-1/launch-profiles?maxResults=abc", ``, []string{
			"Value 'abc' at 'maxResults' failed to satisfy constraint: Member must be an integer",
		}},
		{"query enum list", "GET", "/2020-08-01/studios/stu-1/launch-profiles?states=READY&states=NOPE", ``, []string{
			"Value 'NOPE' at 'states.2.member'",
		}},
		{"list size", "POST", "/2020-08-01/studios/stu-1/membership", `{"identityStoreId":"d","members":[]}`, []string{
			"at 'members' failed to satisfy constraint: Member must have length greater than or equal to 1",
		}},
		{"wrong JSON type", "POST", "/2020-08-01/studios", `{"studioName":5}`, []string{
			"Value of JSON type number at 'studioName' cannot be read as a string",
		}},
		{"malformed JSON", "POST", "/2020-08-01/studios", `{"studioName":`, []string{"Request body is not valid JSON"}},
		{"body not an object", "POST", "/2020-08-01/studios", `[1]`, []string{"Request body must be a JSON object"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := bind(t, c.method, c.target, c.body)
			if opennimble.ErrorCode(err) != opennimble.ErrValidation {
				t.Fatalf("got %v, want ValidationException", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q\nlacks %q", err.Error(), w)
				}
			}
		})
	}
}

func TestBindLocations(t *testing.T) {
	r := httptest.NewRequest("POST", "/2020-08-01/studios/stu-1/streaming-sessions/ses-1/stop", strings.NewReader(`{"volumeRetentionMode":"DELETE","unknown":{"x":1}}`))
	r.Header.Set("X-Amz-Client-Token", "tok-1")
	op, labels, _, err := NewRouter(api.Operations).Match(r.Method, r.URL.EscapedPath())
	if err != nil {
		t.Fatal(err)
	}
	in, err := op.Bind(NewRequest(r, labels, []byte(`{"volumeRetentionMode":"DELETE","unknown":{"x":1}}`)))
	if err != nil {
		t.Fatal(err)
	}
	got := in.(*api.StopStreamingSessionRequest)
	if got.StudioId != "stu-1" || got.SessionId != "ses-1" || got.ClientToken != "tok-1" || got.VolumeRetentionMode != api.VolumeRetentionModeDelete {
		t.Fatalf("bound %+v", got)
	}
}

func TestErrorBody(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, opennimble.NotFound("streaming session backup", "bak-1"))
	if w.Code != 404 || w.Header().Get("x-amzn-ErrorType") != "ResourceNotFoundException" {
		t.Fatalf("status %d header %q", w.Code, w.Header().Get("x-amzn-ErrorType"))
	}
	var body struct {
		Message, Code string
		Context       map[string]string
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Code != "ResourceNotFoundException" || body.Context["resourceId"] != "bak-1" || !strings.Contains(body.Message, "bak-1") {
		t.Fatalf("body %s", w.Body.String())
	}
	w = httptest.NewRecorder()
	WriteError(w, errEOF{})
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret detail") {
		t.Fatalf("internal error leaked: %d %s", w.Code, w.Body.String())
	}
}

type errEOF struct{}

func (errEOF) Error() string { return "secret detail" }
