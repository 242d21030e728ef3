package restjson

import (
	"bytes"
	"errors"
	"net/http/httptest"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// FuzzBind feeds arbitrary methods, paths, query strings and bodies through
// routing, binding and validation. Whatever arrives, the codec must answer
// with a modelled client error or a bound input, never panic, and never
// produce an error that would reach the client as a 5xx.
func FuzzBind(f *testing.F) {
	seeds := []struct{ method, target, body string }{
		{"POST", "/2020-08-01/studios", `{"adminRoleArn":"arn:aws:iam::000000000000:role/a","displayName":"d","studioName":"abc","userRoleArn":"arn:aws:iam::000000000000:role/u"}`},
		{"POST", "/2020-08-01/studios", `{"studioName":"ABC!","tags":{"a":"b"},"studioEncryptionConfiguration":{"keyType":"NOPE"}}`},
		{"POST", "/2020-08-01/studios", `{"studioName":5}`},
		{"POST", "/2020-08-01/studios", `[1,2,3]`},
		{"POST", "/2020-08-01/studios", `{"studioName":`},
		{"GET", "/2020-08-01/studios/stu-1/launch-profiles?maxResults=0&states=READY&states=BOGUS", ``},
		{"GET", "/2020-08-01/studios/stu-1/launch-profiles?maxResults=abc", ``},
		{"POST", "/2020-08-01/studios/stu-1/launch-profiles", `{"ec2SubnetIds":[],"launchProfileProtocolVersions":["2021-03-31"],"name":"n","streamConfiguration":{"clipboardMode":"ENABLED","ec2InstanceTypes":["g4dn.xlarge"],"streamingImageIds":["si-1"],"sessionBackup":{"mode":"AUTOMATIC","maxBackupsToRetain":11}},"studioComponentIds":["sc-1"]}`},
		{"POST", "/2020-08-01/studios/stu-1/studio-components", `{"name":"c","type":"SHARED_FILE_SYSTEM","configuration":{"sharedFileSystemConfiguration":{"fileSystemId":"fs"},"computeFarmConfiguration":{}},"scriptParameters":[null]}`},
		{"POST", "/2020-08-01/studios/stu-1/streaming-sessions/ses-1/streams", `{"expirationInSeconds":5}`},
		{"POST", "/2020-08-01/studios/stu-1/streaming-sessions/ses-1/start", `{"backupId":"bak-1"}`},
		{"POST", "/2020-08-01/studios/stu-1/streaming-sessions/ses-1/stop", `{"volumeRetentionMode":"RETAIN"}`},
		{"GET", "/2020-08-01/studios/stu-1/streaming-session-backups?ownedBy=alice&nextToken=AAAA", ``},
		{"DELETE", "/2020-08-01/tags/arn%3Aaws%3Animble%3Aus-west-2%3A000000000000%3Astudio%2Fstu-1?tagKeys=a&tagKeys=b", ``},
		{"POST", "/2020-08-01/tags/arn%3Aaws%3Animble%3Aus-west-2%3A000000000000%3Astudio%2Fstu-1", `{"tags":{"k":"v"}}`},
		{"PATCH", "/2020-08-01/studios/stu-1/launch-profiles/lp-1/membership/p1", `{"persona":"USER","identityStoreId":"d-1"}`},
		{"GET", "/2020-08-01/studios/stu-1/launch-profiles/lp-1/init?launchProfileProtocolVersions=2021-03-31&launchPurpose=X&platform=LINUX", ``},
		{"PUT", "/2020-08-01/studios/%ZZ/sso-configuration", ``},
		{"GET", "/nope", ``},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, []byte(s.body))
	}
	router := NewRouter(api.Operations)
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		if len(target) == 0 || target[0] != '/' {
			target = "/" + target
		}
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("panic on %s %q %q: %v", method, target, body, p)
			}
		}()
		r := httptest.NewRequest("GET", "/", bytes.NewReader(body))
		r.Method = method
		if u, err := r.URL.Parse(target); err == nil {
			r.URL = u
		} else {
			return
		}
		op, labels, _, err := router.Match(r.Method, r.URL.EscapedPath())
		if err != nil {
			checkClientError(t, err)
			return
		}
		in, err := op.Bind(NewRequest(r, labels, body))
		if err != nil {
			checkClientError(t, err)
			return
		}
		if in == nil {
			t.Fatalf("%s bound a nil input without an error", op.Name)
		}
	})
}

func checkClientError(t *testing.T, err error) {
	t.Helper()
	var e *opennimble.Error
	if !errors.As(err, &e) {
		t.Fatalf("error is not an *opennimble.Error: %v", err)
	}
	if s := opennimble.HTTPStatus(e.Code); s < 400 || s >= 500 {
		t.Fatalf("client input produced status %d (%s): %s", s, e.Code, e.Message)
	}
	if e.Message == "" {
		t.Fatalf("error %s without a message", e.Code)
	}
}
