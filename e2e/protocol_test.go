package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	v4 "github.com/aws/aws-sdk-go/aws/signer/v4"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	"github.com/opennimble/opennimble/app"
)

// signed sends a raw request signed for nimble with the given key.
func (e *env) signed(t *testing.T, akid, secret, method, path, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, e.App.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	signer := v4.NewSigner(credentials.NewStaticCredentials(akid, secret, ""))
	if _, err := signer.Sign(req, strings.NewReader(body), "nimble", e.App.Config.Region, time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestSignedWireErrors(t *testing.T) {
	e := start(t)
	cases := []struct {
		name, method, path, body string
		status                   int
		code, msg                string
	}{
		{"unknown path", "GET", "/2020-08-01/nothing", "", 404, "UnknownOperationException", "No operation"},
		{"wrong method", "PUT", "/2020-08-01/studios", "", 405, "MethodNotAllowedException", "PUT is not allowed"},
		{"malformed JSON", "POST", "/2020-08-01/studios", `{"studioName":`, 400, "ValidationException", "not valid JSON"},
		{"body of the wrong type", "POST", "/2020-08-01/studios", `"a string"`, 400, "ValidationException", "must be a JSON object"},
		{"member of the wrong type", "POST", "/2020-08-01/studios", `{"studioName":["x"]}`, 400, "ValidationException", "at 'studioName'"},
		{"unknown members ignored, missing ones reported", "POST", "/2020-08-01/studios", `{"bogus":1}`, 400, "ValidationException", "4 validation errors"},
		{"bad query integer", "GET", "/2020-08-01/studios/stu-1/launch-profiles?maxResults=x", "", 400, "ValidationException", "maxResults"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := e.signed(t, "test", "test", c.method, c.path, c.body, nil)
			if resp.StatusCode != c.status || resp.Header.Get("x-amzn-ErrorType") != c.code || resp.Header.Get("x-amzn-RequestId") == "" {
				t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"), body)
			}
			var eb struct{ Message, Code string }
			if err := json.Unmarshal(body, &eb); err != nil || eb.Code != c.code || !strings.Contains(eb.Message, c.msg) {
				t.Fatalf("body %s", body)
			}
		})
	}
	t.Run("success responses hold model members and Z timestamps", func(t *testing.T) {
		id := e.studio("wire")
		resp, body := e.signed(t, "test", "test", "GET", "/2020-08-01/studios/"+id, "", nil)
		if resp.StatusCode != 200 || resp.Header.Get("x-amzn-RequestId") == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
		var out map[string]map[string]any
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		created, _ := out["studio"]["createdAt"].(string)
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", created); err != nil {
			t.Fatalf("createdAt %q: %v", created, err)
		}
		for k := range out["studio"] {
			switch k {
			case "adminRoleArn", "arn", "createdAt", "displayName", "homeRegion", "ssoClientId", "state", "statusCode", "statusMessage",
				"studioEncryptionConfiguration", "studioId", "studioName", "studioUrl", "tags", "updatedAt", "userRoleArn":
			default:
				t.Errorf("member %q is not in the model", k)
			}
		}
	})
	t.Run("tag operations answer 204", func(t *testing.T) {
		id := e.studio("tags")
		arn := "arn:aws:nimble:us-west-2:000000000000:studio/" + id
		path := "/2020-08-01/tags/" + strings.NewReplacer(":", "%3A", "/", "%2F").Replace(arn)
		resp, body := e.signed(t, "test", "test", "POST", path, `{"tags":{"a":"b"}}`, nil)
		if resp.StatusCode != 204 || len(body) != 0 {
			t.Fatalf("TagResource %d %s", resp.StatusCode, body)
		}
		resp, body = e.signed(t, "test", "test", "DELETE", path+"?tagKeys=a", "", nil)
		if resp.StatusCode != 204 {
			t.Fatalf("UntagResource %d %s", resp.StatusCode, body)
		}
	})
}

func TestIdempotency(t *testing.T) {
	dir := t.TempDir()
	admins := func(c *app.Config, o *app.Options) { c.DataDir = dir; c.EmulatorAdmins = []string{"test", "test2"} }
	e := start(t, admins)
	in := func(name string) *nimblestudio.CreateStudioInput {
		return &nimblestudio.CreateStudioInput{
			AdminRoleArn: aws.String("a"), UserRoleArn: aws.String("u"), DisplayName: aws.String("d"),
			StudioName: aws.String(name), ClientToken: aws.String("token-0000000001"),
		}
	}
	first := must[*nimblestudio.CreateStudioOutput](t)(e.Admin.CreateStudioWithContext(ctx(t), in("idem")))
	again := must[*nimblestudio.CreateStudioOutput](t)(e.Admin.CreateStudioWithContext(ctx(t), in("idem")))
	if *first.Studio.StudioId != *again.Studio.StudioId || !first.Studio.CreatedAt.Equal(*again.Studio.CreatedAt) {
		t.Fatalf("replay made another studio: %s vs %s", first.Studio, again.Studio)
	}
	_, err := e.Admin.CreateStudioWithContext(ctx(t), in("other"))
	mustCode(t, err, "ConflictException")
	if n := len(must[*nimblestudio.ListStudiosOutput](t)(e.Admin.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{})).Studios); n != 1 {
		t.Fatalf("%d studios", n)
	}
	// Another principal's token is its own.
	other := must[*nimblestudio.CreateStudioOutput](t)(e.client("test2", "x").CreateStudioWithContext(ctx(t), in("second")))
	if *other.Studio.StudioId == *first.Studio.StudioId {
		t.Fatal("a token of one principal answered another's request")
	}

	// After a restart, the token still answers with the first result.
	if err := e.App.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := start(t, admins)
	after := must[*nimblestudio.CreateStudioOutput](t)(e2.Admin.CreateStudioWithContext(ctx(t), in("idem")))
	if *after.Studio.StudioId != *first.Studio.StudioId {
		t.Fatalf("after restart: %s", after.Studio)
	}
}

// TestClientTokenExpiry: a client token answers with the first result for
// the retention (8 hours by default), and a request after it is a new
// request, even with other parameters.
func TestClientTokenExpiry(t *testing.T) {
	e := start(t)
	in := func(name string) *nimblestudio.CreateStudioInput {
		return &nimblestudio.CreateStudioInput{AdminRoleArn: aws.String("a"), UserRoleArn: aws.String("u"), DisplayName: aws.String("d"),
			StudioName: aws.String(name), ClientToken: aws.String("token-expiring-01")}
	}
	first := must[*nimblestudio.CreateStudioOutput](t)(e.Admin.CreateStudioWithContext(ctx(t), in("early")))
	e.Clock.Advance(8*time.Hour - time.Second)
	again := must[*nimblestudio.CreateStudioOutput](t)(e.Admin.CreateStudioWithContext(ctx(t), in("early")))
	if *again.Studio.StudioId != *first.Studio.StudioId {
		t.Fatalf("a retry within the retention made another studio: %s", again.Studio)
	}
	_, err := e.Admin.CreateStudioWithContext(ctx(t), in("late"))
	mustCode(t, err, "ConflictException")
	e.Clock.Advance(time.Second)
	late := must[*nimblestudio.CreateStudioOutput](t)(e.Admin.CreateStudioWithContext(ctx(t), in("late")))
	if *late.Studio.StudioId == *first.Studio.StudioId || aws.StringValue(late.Studio.StudioName) != "late" {
		t.Fatalf("the token answered after its retention: %s", late.Studio)
	}
	replay := must[*nimblestudio.CreateStudioOutput](t)(e.Admin.CreateStudioWithContext(ctx(t), in("late")))
	if *replay.Studio.StudioId != *late.Studio.StudioId {
		t.Fatalf("the renewed token does not replay: %s", replay.Studio)
	}
}

func TestPagination(t *testing.T) {
	e := start(t)
	c := e.Admin
	sid := e.studio("pages")
	var ids []string
	for i := 0; i < 7; i++ {
		out := must[*nimblestudio.CreateStudioComponentOutput](t)(c.CreateStudioComponentWithContext(ctx(t), &nimblestudio.CreateStudioComponentInput{
			StudioId: aws.String(sid), Name: aws.String(fmt.Sprintf("c%d", i)), Type: aws.String("CUSTOM"),
		}))
		ids = append(ids, *out.StudioComponent.StudioComponentId)
	}
	// maxResults is honoured and the SDK's paginator follows nextToken.
	var seen []string
	pages := 0
	err := c.ListStudioComponentsPagesWithContext(ctx(t), &nimblestudio.ListStudioComponentsInput{StudioId: aws.String(sid), MaxResults: aws.Int64(3)},
		func(p *nimblestudio.ListStudioComponentsOutput, last bool) bool {
			pages++
			if len(p.StudioComponents) > 3 {
				t.Errorf("page of %d", len(p.StudioComponents))
			}
			for _, sc := range p.StudioComponents {
				seen = append(seen, *sc.StudioComponentId)
			}
			return true
		})
	check(t, err)
	if pages != 3 || strings.Join(seen, ",") != strings.Join(ids, ",") {
		t.Fatalf("%d pages: %v, want %v", pages, seen, ids)
	}

	first := must[*nimblestudio.ListStudioComponentsOutput](t)(c.ListStudioComponentsWithContext(ctx(t), &nimblestudio.ListStudioComponentsInput{StudioId: aws.String(sid), MaxResults: aws.Int64(2)}))
	tok := first.NextToken
	t.Run("tampered token", func(t *testing.T) {
		bad := []byte(*tok)
		bad[3] ^= 1
		_, err := c.ListStudioComponentsWithContext(ctx(t), &nimblestudio.ListStudioComponentsInput{StudioId: aws.String(sid), NextToken: aws.String(string(bad))})
		mustCode(t, err, "ValidationException")
	})
	t.Run("token of another query", func(t *testing.T) {
		_, err := c.ListStudioComponentsWithContext(ctx(t), &nimblestudio.ListStudioComponentsInput{StudioId: aws.String(sid), NextToken: tok, Types: []*string{aws.String("CUSTOM")}})
		mustCode(t, err, "ValidationException")
		_, err = c.ListLaunchProfilesWithContext(ctx(t), &nimblestudio.ListLaunchProfilesInput{StudioId: aws.String(sid), NextToken: tok})
		mustCode(t, err, "ValidationException")
	})
	t.Run("inserts while paging neither repeat nor skip", func(t *testing.T) {
		var mu sync.Mutex
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				_, err := c.CreateStudioComponentWithContext(context.Background(), &nimblestudio.CreateStudioComponentInput{
					StudioId: aws.String(sid), Name: aws.String(fmt.Sprintf("late%d", i)), Type: aws.String("CUSTOM"),
				})
				if err != nil {
					mu.Lock()
					t.Errorf("insert: %v", err)
					mu.Unlock()
					return
				}
			}
		}()
		count := map[string]int{}
		err := c.ListStudioComponentsPagesWithContext(ctx(t), &nimblestudio.ListStudioComponentsInput{StudioId: aws.String(sid), MaxResults: aws.Int64(1)},
			func(p *nimblestudio.ListStudioComponentsOutput, last bool) bool {
				for _, sc := range p.StudioComponents {
					count[*sc.StudioComponentId]++
				}
				return true
			})
		close(stop)
		<-done
		check(t, err)
		for id, n := range count {
			if n != 1 {
				t.Errorf("%s listed %d times", id, n)
			}
		}
		for _, id := range ids {
			if count[id] != 1 {
				t.Errorf("%s, which existed throughout, listed %d times", id, count[id])
			}
		}
	})
}

// TestBodyLimits: an oversized body is refused without reading it all.
func TestBodyLimits(t *testing.T) {
	e := start(t)
	big := `{"displayName":"` + strings.Repeat("x", 5<<20) + `"}`
	req, _ := http.NewRequest("POST", e.App.URL+"/2020-08-01/studios", bytes.NewReader([]byte(big)))
	signer := v4.NewSigner(credentials.NewStaticCredentials("test", "test", ""))
	if _, err := signer.Sign(req, bytes.NewReader([]byte(big)), "nimble", "us-west-2", time.Now()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("x-amzn-ErrorType") != "ValidationException" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("x-amzn-ErrorType"))
	}
}
