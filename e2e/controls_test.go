package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	v4 "github.com/aws/aws-sdk-go/aws/signer/v4"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/internal/testwait"
)

// ctl calls the emulator controls, signing with SigV4 as any client does.
type ctl struct {
	t            *testing.T
	url, region  string
	akid, secret string // "" sends no signature
}

func (e *env) ctl(akid, secret string) *ctl {
	return &ctl{t: e.t, url: e.App.URL, region: e.App.Config.Region, akid: akid, secret: secret}
}

// adminCtl signs with the environment's administrator key.
func (e *env) adminCtl() *ctl {
	if e.App.NewAdmin != nil {
		return e.ctl(e.App.NewAdmin.AccessKeyID, e.App.NewAdmin.SecretAccessKey)
	}
	return e.ctl("test", "test")
}

// call sends a control request; body is marshalled to JSON unless it is a
// string. It returns the status and x-amzn-ErrorType, and decodes a JSON
// answer into out when out is not nil.
func (c *ctl) call(method, path string, body, out any) (int, string) {
	c.t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			c.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.url+path, bytes.NewReader(b))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.akid != "" {
		signer := v4.NewSigner(credentials.NewStaticCredentials(c.akid, c.secret, ""))
		if _, err := signer.Sign(req, bytes.NewReader(b), "nimble", c.region, time.Now()); err != nil {
			c.t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType")
}

// ok calls a control that must succeed.
func (c *ctl) ok(method, path string, body, out any) {
	c.t.Helper()
	if status, code := c.call(method, path, body, out); status >= 300 {
		c.t.Fatalf("%s %s = %d %s", method, path, status, code)
	}
}

// refused calls a control that must fail with status and code.
func (c *ctl) refused(method, path string, body any, status int, code string) {
	c.t.Helper()
	if s, cd := c.call(method, path, body, nil); s != status || cd != code {
		c.t.Fatalf("%s %s = %d %s, want %d %s", method, path, s, cd, status, code)
	}
}

// eventually polls cond until it holds, within the test's deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testwait.Eventually(t, what, cond)
}

type heldView struct {
	Held []struct{ Type, ID, State string } `json:"held"`
}

// isHeld reports whether the policy holds the resource's transition.
func (c *ctl) isHeld(id string) bool {
	var v heldView
	c.ok("GET", "/_nimble/transitions", nil, &v)
	for _, h := range v.Held {
		if h.ID == id {
			return true
		}
	}
	return false
}

type advanced struct {
	Advanced []struct{ Type, ID, From, State, Error string } `json:"advanced"`
}

func (e *env) studioState(id string) string {
	out, err := e.Admin.GetStudioWithContext(ctx(e.t), &nimblestudio.GetStudioInput{StudioId: &id})
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.StringValue(out.Studio.State)
}

func (e *env) createStudio(name string) string {
	e.t.Helper()
	out := must[*nimblestudio.CreateStudioOutput](e.t)(e.Admin.CreateStudioWithContext(ctx(e.t), &nimblestudio.CreateStudioInput{
		AdminRoleArn: aws.String("arn:aws:iam::000000000000:role/admin"), UserRoleArn: aws.String("arn:aws:iam::000000000000:role/user"),
		DisplayName: aws.String(name), StudioName: aws.String(name),
	}))
	return aws.StringValue(out.Studio.StudioId)
}

// syncBuffer collects the server's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func withLog(buf *syncBuffer) option {
	return func(_ *app.Config, o *app.Options) { o.Logger = slog.New(slog.NewTextHandler(buf, nil)) }
}

func authenticated(controls bool) option {
	return func(c *app.Config, _ *app.Options) { c.Emulator, c.Controls = false, controls }
}

func TestControlsHealth(t *testing.T) {
	for _, mode := range []struct {
		name string
		opt  option
	}{{"emulator", func(*app.Config, *app.Options) {}}, {"authenticated", authenticated(false)}} {
		t.Run(mode.name, func(t *testing.T) {
			e := start(t, mode.opt)
			resp, err := http.Get(e.App.URL + "/_nimble/health")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var h struct {
				Ready                  bool
				Version, Uptime, Store string
				Driver                 string
				Emulator, Controls     bool
			}
			if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || !h.Ready || h.Version == "" || h.Uptime == "" || h.Store != "sqlite" || h.Driver != "sim" ||
				h.Controls != (mode.name == "emulator") {
				t.Fatalf("health = %d %+v", resp.StatusCode, h)
			}
		})
	}
	t.Run("store down", func(t *testing.T) {
		fs := &failingStore{}
		e := start(t, func(_ *app.Config, o *app.Options) {
			o.WrapStore = func(s opennimble.Store) opennimble.Store { fs.Store = s; return fs }
		})
		fs.broken.Store(true)
		defer fs.broken.Store(false)
		resp, err := http.Get(e.App.URL + "/_nimble/health")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h struct{ Ready bool }
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || resp.StatusCode != 503 || h.Ready {
			t.Fatalf("health with the store down = %d %+v %v", resp.StatusCode, h, err)
		}
	})
}

// TestControlsNeedAnAdministrator: in every mode, no control but health
// answers a request that is unsigned, wrongly signed or signed by someone
// who is not an administrator, and such a request changes nothing.
func TestControlsNeedAnAdministrator(t *testing.T) {
	calls := []struct {
		method, path string
		body         any
	}{
		{"POST", "/_nimble/reset", nil},
		{"POST", "/_nimble/reset", map[string]any{"controls": true}},
		{"GET", "/_nimble/transitions", nil},
		{"PUT", "/_nimble/transitions", map[string]any{"rules": []any{}}},
		{"POST", "/_nimble/transitions/advance", map[string]any{}},
		{"GET", "/_nimble/faults", nil},
		{"POST", "/_nimble/faults", map[string]any{"operation": "ListStudios", "error": map[string]any{"code": "ThrottlingException"}}},
		{"DELETE", "/_nimble/faults", nil},
		{"DELETE", "/_nimble/faults/fault-1", nil},
		{"GET", "/_nimble/state", nil},
		{"GET", "/_nimble/no-such-control", nil},
	}
	for _, mode := range []struct {
		name     string
		opt      option
		controls bool
	}{
		{"emulator", func(*app.Config, *app.Options) {}, true},
		{"authenticated with controls", authenticated(true), true},
		{"authenticated without controls", authenticated(false), false},
	} {
		t.Run(mode.name, func(t *testing.T) {
			e := start(t, mode.opt)
			studio := e.createStudio("kept")
			user := e.ctl("alice", "alice") // in emulator mode any key is valid
			var wrong *ctl
			if !e.App.Config.Emulator {
				cred := app.NewCredential("alice", false, time.Now())
				check(t, e.App.Store.PutCredential(context.Background(), cred))
				user = e.ctl(cred.AccessKeyID, cred.SecretAccessKey)
				wrong = e.ctl(e.App.NewAdmin.AccessKeyID, "not the secret")
			}
			for _, c := range calls {
				e.ctl("", "").refused(c.method, c.path, c.body, 403, "MissingAuthenticationTokenException")
				if wrong != nil {
					wrong.refused(c.method, c.path, c.body, 403, "InvalidSignatureException")
				}
				if mode.controls {
					user.refused(c.method, c.path, c.body, 403, "AccessDeniedException")
				} else {
					// Without controls /_nimble/ is just an unknown path.
					user.refused(c.method, c.path, c.body, 404, "UnknownOperationException")
				}
			}
			if got := e.studioState(studio); got == "" {
				t.Fatal("the studio is gone")
			}
			var faults struct{ Faults []any }
			if mode.controls {
				e.adminCtl().ok("GET", "/_nimble/faults", nil, &faults)
				if len(faults.Faults) != 0 {
					t.Fatalf("a refused request added a fault: %v", faults)
				}
			}
			// Administrators reach every control (when the controls are on).
			for _, c := range calls {
				status, code := e.adminCtl().call(c.method, c.path, c.body, nil)
				switch {
				case !mode.controls && (status != 404 || code != "UnknownOperationException"):
					t.Fatalf("controls off: %s %s = %d %s", c.method, c.path, status, code)
				case mode.controls && status == 403:
					t.Fatalf("administrator refused: %s %s = %d %s", c.method, c.path, status, code)
				}
			}
			resp, err := http.Get(e.App.URL + "/_nimble/health")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("health = %d", resp.StatusCode)
			}
		})
	}
}

func TestControlsReset(t *testing.T) {
	e := start(t, authenticated(true))
	admin := e.adminCtl()
	pr := makeProfile(t, ctx(t), e.Admin, "reset", withBackups(2), withPersistence(600))
	s := e.session(t, pr)
	s.stopWithBackup()
	create := func(name string) error {
		_, err := e.Admin.CreateStudioWithContext(ctx(t), &nimblestudio.CreateStudioInput{
			AdminRoleArn: aws.String("arn:aws:iam::000000000000:role/admin"), UserRoleArn: aws.String("arn:aws:iam::000000000000:role/user"),
			DisplayName: aws.String(name), StudioName: aws.String(name), ClientToken: aws.String("the-token"),
		})
		return err
	}
	check(t, create("first"))
	mustCode(t, create("other"), "ConflictException") // the token is remembered
	admin.ok("POST", "/_nimble/faults", map[string]any{"operation": "GetEula", "error": map[string]any{"code": "ThrottlingException"}}, nil)
	admin.ok("PUT", "/_nimble/transitions", map[string]any{"rules": []any{map[string]any{"type": "studio", "state": "*", "mode": "manual"}}}, nil)

	studios := func() int {
		out, err := e.Admin.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{})
		if err != nil {
			t.Error(err)
			return -1
		}
		return len(out.Studios)
	}
	before := studios()
	if before != 2 {
		t.Fatalf("%d studios before the reset", before)
	}
	// Readers during the reset see everything or nothing.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if n := studios(); n != before && n != 0 {
					t.Errorf("a reader saw %d studios during the reset", n)
					return
				}
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	var res struct{ Reset, Controls bool }
	admin.ok("POST", "/_nimble/reset", nil, &res)
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	if !res.Reset || res.Controls {
		t.Fatalf("reset answered %+v", res)
	}

	if n := studios(); n != 0 {
		t.Fatalf("%d studios after the reset", n)
	}
	_, err := e.Admin.GetStreamingSessionWithContext(ctx(t), s.in())
	mustCode(t, err, "ResourceNotFoundException")
	var st struct {
		Resources []any
		Driver    struct{ Sessions, Backups []any }
	}
	admin.ok("GET", "/_nimble/state", nil, &st)
	if len(st.Resources) != 0 || len(st.Driver.Sessions) != 0 || len(st.Driver.Backups) != 0 {
		t.Fatalf("state after the reset: %+v", st)
	}
	check(t, create("other")) // idempotency records are gone; the credential stays

	// Faults and transition rules stay, unless the reset names them.
	_, err = e.Admin.GetEulaWithContext(ctx(t), &nimblestudio.GetEulaInput{EulaId: aws.String("eula-1")})
	mustCode(t, err, "ThrottlingException")
	admin.ok("POST", "/_nimble/reset", map[string]any{"controls": true}, nil)
	var faults struct{ Faults []any }
	admin.ok("GET", "/_nimble/faults", nil, &faults)
	var tr struct {
		Rules   []any
		Default struct{ Mode string }
	}
	admin.ok("GET", "/_nimble/transitions", nil, &tr)
	if len(faults.Faults) != 0 || len(tr.Rules) != 0 || tr.Default.Mode != "delay" {
		t.Fatalf("after a reset of the controls: faults %v, transitions %+v", faults, tr)
	}
	admin.refused("POST", "/_nimble/reset", `{"everything": true}`, 400, "ValidationException")
}

func TestControlsOperationFaults(t *testing.T) {
	var log syncBuffer
	e := start(t, withLog(&log))
	admin := e.adminCtl()
	var f struct {
		ID        string
		Remaining *int
		Error     struct{ Status int }
	}
	admin.ok("POST", "/_nimble/faults", map[string]any{
		"operation": "ListStudios", "error": map[string]any{"code": "ThrottlingException", "message": "Rate exceeded"}, "count": 2,
	}, &f)
	if f.ID == "" || f.Remaining == nil || *f.Remaining != 2 || f.Error.Status != 429 {
		t.Fatalf("fault = %+v", f)
	}
	for range 2 {
		_, err := e.Admin.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{})
		mustCode(t, err, "ThrottlingException")
		if !strings.Contains(err.Error(), "Rate exceeded") {
			t.Fatalf("message: %v", err)
		}
	}
	must[*nimblestudio.ListStudiosOutput](t)(e.Admin.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{}))
	var list struct {
		Faults []struct {
			ID              string
			Hits, Remaining int
		}
	}
	admin.ok("GET", "/_nimble/faults", nil, &list)
	if len(list.Faults) != 1 || list.Faults[0].Hits != 2 || list.Faults[0].Remaining != 0 {
		t.Fatalf("faults = %+v", list)
	}
	if !strings.Contains(log.String(), `fault="`+f.ID+`: ThrottlingException"`) {
		t.Fatalf("the access log does not show the fault:\n%s", log.String())
	}

	// One principal only, on every operation.
	admin.ok("POST", "/_nimble/faults", map[string]any{"operation": "*", "principal": "alice", "error": map[string]any{"code": "InternalServerErrorException"}}, nil)
	_, err := e.client("alice", "x").ListEulasWithContext(ctx(t), &nimblestudio.ListEulasInput{})
	mustCode(t, err, "InternalServerErrorException")
	must[*nimblestudio.ListEulasOutput](t)(e.Admin.ListEulasWithContext(ctx(t), &nimblestudio.ListEulasInput{}))

	// Latency, also in the access log.
	admin.ok("POST", "/_nimble/faults", map[string]any{"operation": "GetStudio", "latency": "300ms"}, &f)
	began := time.Now()
	_, err = e.Admin.GetStudioWithContext(ctx(t), &nimblestudio.GetStudioInput{StudioId: aws.String("stu-none")})
	mustCode(t, err, "ResourceNotFoundException")
	if d := time.Since(began); d < 300*time.Millisecond {
		t.Fatalf("GetStudio took %s with 300ms of latency", d)
	}
	if !strings.Contains(log.String(), `fault="`+f.ID+`: latency 300ms"`) {
		t.Fatalf("the access log does not show the latency:\n%s", log.String())
	}

	for _, bad := range []string{
		`{"operation":"ListStudioz","error":{"code":"ThrottlingException"}}`,
		`{"operation":"ListStudios","error":{"code":"UnrecognizedClientException"}}`,
		`{"operation":"ListStudios","error":{"code":"ThrottlingException","status":503}}`,
		`{"operation":"ListStudios"}`,
		`{"operation":"ListStudios","step":"provision","error":{"code":"ThrottlingException"}}`,
		`{"operation":"ListStudios","error":{"code":"ThrottlingException"},"probability":0}`,
		`{"step":"provision","statusCode":"OUT_OF_LUCK"}`,
		`{"step":"reboot"}`,
		`{"operation":"ListStudios","error":{"code":"ThrottlingException"},"colour":"red"}`,
		``,
	} {
		admin.refused("POST", "/_nimble/faults", bad, 400, "ValidationException")
	}
	admin.ok("DELETE", "/_nimble/faults/"+f.ID, nil, nil)
	admin.refused("DELETE", "/_nimble/faults/"+f.ID, nil, 404, "ResourceNotFoundException")
	var del struct{ Deleted int }
	admin.ok("DELETE", "/_nimble/faults", nil, &del)
	if del.Deleted != 2 {
		t.Fatalf("DELETE /_nimble/faults deleted %d", del.Deleted)
	}
	must[*nimblestudio.ListEulasOutput](t)(e.client("alice", "x").ListEulasWithContext(ctx(t), &nimblestudio.ListEulasInput{}))
}

// TestControlsProbability: with a seed, the draws of a fault's probability
// are reproducible, and about as frequent as asked.
func TestControlsProbability(t *testing.T) {
	hits := func() []bool {
		e := start(t, func(c *app.Config, _ *app.Options) { c.Seed = 7 })
		e.adminCtl().ok("POST", "/_nimble/faults", map[string]any{"operation": "ListEulas", "error": map[string]any{"code": "ThrottlingException"}, "probability": 0.5}, nil)
		var out []bool
		for range 40 {
			_, err := e.Admin.ListEulasWithContext(ctx(t), &nimblestudio.ListEulasInput{})
			out = append(out, err != nil)
		}
		return out
	}
	first, second := hits(), hits()
	n := 0
	for i := range first {
		if first[i] {
			n++
		}
	}
	if n < 8 || n > 32 || fmt.Sprint(first) != fmt.Sprint(second) {
		t.Fatalf("%d of 40 hit; runs %v and %v", n, first, second)
	}
}

func TestControlsLifecycleFaults(t *testing.T) {
	var log syncBuffer
	e := start(t, withLog(&log))
	admin := e.adminCtl()
	pr := makeProfile(t, ctx(t), e.Admin, "faults", withBackups(2), withPersistence(600))
	admin.ok("POST", "/_nimble/faults", map[string]any{"step": "provision", "statusCode": "INSUFFICIENT_CAPACITY", "message": "No g4dn.xlarge left", "count": 1}, nil)
	out := must[*nimblestudio.CreateStreamingSessionOutput](t)(e.Admin.CreateStreamingSessionWithContext(ctx(t), &nimblestudio.CreateStreamingSessionInput{StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile}))
	in := &nimblestudio.GetStreamingSessionInput{StudioId: &pr.Studio, SessionId: out.Session.SessionId}
	if err := e.Admin.WaitUntilStreamingSessionReadyWithContext(ctx(t), in, fast()); err == nil {
		t.Fatal("the session became ready despite the fault")
	}
	got := must[*nimblestudio.GetStreamingSessionOutput](t)(e.Admin.GetStreamingSessionWithContext(ctx(t), in)).Session
	if aws.StringValue(got.State) != "CREATE_FAILED" || aws.StringValue(got.StatusCode) != "INSUFFICIENT_CAPACITY" || aws.StringValue(got.StatusMessage) != "No g4dn.xlarge left" {
		t.Fatalf("session = %s", got)
	}
	if !strings.Contains(log.String(), "fault injected") {
		t.Fatalf("the log does not show the lifecycle fault:\n%s", log.String())
	}

	// The rule is used up: the next session comes up. Its backup fails.
	s := e.session(t, pr)
	admin.ok("POST", "/_nimble/faults", map[string]any{"step": "snapshot", "sessionId": *s.id, "message": "disk full"}, nil)
	check(t, s.stop())
	eventually(t, "the failed stop", func() bool { return aws.StringValue(s.get().State) == "STOP_FAILED" })
	b := s.backups()
	if len(b) != 1 || aws.StringValue(b[0].State) != "CREATE_FAILED" || aws.StringValue(b[0].StatusCode) != "INTERNAL_ERROR" ||
		!strings.Contains(aws.StringValue(b[0].StatusMessage), "disk full") {
		t.Fatalf("backup = %s", b)
	}
}

func TestControlsState(t *testing.T) {
	e := start(t)
	admin := e.adminCtl()
	pr := makeProfile(t, ctx(t), e.Admin, "dumped")
	other := e.studio("other")
	type resource struct {
		Type, ID, StudioID, State string
		Version                   int
		Document                  map[string]any
	}
	var st struct {
		Resources []resource
		Driver    *struct{ Sessions []any }
	}
	admin.ok("GET", "/_nimble/state", nil, &st)
	byID := map[string]resource{}
	for _, r := range st.Resources {
		byID[r.ID] = r
	}
	if r := byID[pr.Studio]; r.Type != "studio" || r.State != "READY" || r.Document["studioName"] != "dumped" || r.Version < 1 {
		t.Fatalf("studio in the dump: %+v", r)
	}
	if r := byID[pr.LaunchProfile]; r.Type != "launch-profile" || r.StudioID != pr.Studio || r.Document["launchProfileId"] != pr.LaunchProfile {
		t.Fatalf("launch profile in the dump: %+v", r)
	}
	if _, ok := byID[other]; !ok || st.Driver == nil {
		t.Fatalf("dump misses the other studio or the driver: %+v", st)
	}

	st.Resources, st.Driver = nil, nil
	admin.ok("GET", "/_nimble/state?studioId="+pr.Studio+"&type=streaming-image,studio-component", nil, &st)
	if len(st.Resources) != 2 || st.Driver != nil {
		t.Fatalf("filtered dump: %+v", st)
	}
	for _, r := range st.Resources {
		if r.ID != pr.Image && r.ID != pr.Component {
			t.Fatalf("filtered dump holds %+v", r)
		}
	}
	st.Resources = nil
	admin.ok("GET", "/_nimble/state?type=studio&type=launch-profile&studioId="+other, nil, &st)
	if len(st.Resources) != 1 || st.Resources[0].ID != other {
		t.Fatalf("dump of the other studio: %+v", st)
	}
	admin.refused("GET", "/_nimble/state?type=spaceship", nil, 400, "ValidationException")
	admin.refused("DELETE", "/_nimble/state", nil, 405, "MethodNotAllowedException")
}

// TestControlsSeed: two seeded servers given the same requests answer the
// same ids and page tokens; a reset starts the sequence again.
func TestControlsSeed(t *testing.T) {
	run := func() (*env, []string) {
		e := start(t, func(c *app.Config, _ *app.Options) { c.Seed, c.PageSize = 42, 1 })
		stu := e.studio("seeded")
		var got []string
		got = append(got, stu)
		for i := range 3 {
			out := must[*nimblestudio.CreateStreamingImageOutput](t)(e.Admin.CreateStreamingImageWithContext(ctx(t), &nimblestudio.CreateStreamingImageInput{
				StudioId: &stu, Ec2ImageId: aws.String("ami-0123456789abcdef0"), Name: aws.String(fmt.Sprint("image", i)),
			}))
			got = append(got, aws.StringValue(out.StreamingImage.StreamingImageId))
		}
		page := must[*nimblestudio.ListStreamingImagesOutput](t)(e.Admin.ListStreamingImagesWithContext(ctx(t), &nimblestudio.ListStreamingImagesInput{StudioId: &stu}))
		return e, append(got, aws.StringValue(page.NextToken))
	}
	e, first := run()
	_, second := run()
	if fmt.Sprint(first) != fmt.Sprint(second) || first[len(first)-1] == "" {
		t.Fatalf("seeded runs differ:\n%v\n%v", first, second)
	}
	e.adminCtl().ok("POST", "/_nimble/reset", nil, nil)
	if again := e.studio("seeded"); again != first[0] {
		t.Fatalf("after a reset the first studio is %s, not %s", again, first[0])
	}

	cfg := app.Defaults()
	cfg.Listen, cfg.DataDir, cfg.Seed = "127.0.0.1:0", t.TempDir(), 42
	if a, err := app.Start(context.Background(), cfg, app.Options{}); err == nil || !strings.Contains(err.Error(), "seed") {
		if a != nil {
			a.Close()
		}
		t.Fatalf("a seed without emulator mode: %v", err)
	}
}

// TestControlsCurl drives the controls with curl --aws-sigv4, as the README
// shows, against a server that checks signatures.
func TestControlsCurl(t *testing.T) {
	if out, err := exec.Command("curl", "--help", "all").Output(); err != nil || !bytes.Contains(out, []byte("--aws-sigv4")) {
		t.Fatal("curl with --aws-sigv4 (7.75 or later) is needed: scripts/test installs Debian's curl")
	}
	e := start(t, authenticated(true))
	k := e.App.NewAdmin
	curl := func(args ...string) string {
		t.Helper()
		base := []string{"-sS", "--fail-with-body", "--aws-sigv4", "aws:amz:" + e.App.Config.Region + ":nimble", "--user", k.AccessKeyID + ":" + k.SecretAccessKey}
		out, err := exec.Command("curl", append(base, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	out := curl("-X", "POST", "-H", "Content-Type: application/json", "--data", `{"operation":"ListStudios","error":{"code":"ThrottlingException"},"count":1}`, e.App.URL+"/_nimble/faults")
	if !strings.Contains(out, `"id": "fault-1"`) {
		t.Fatalf("POST /_nimble/faults: %s", out)
	}
	_, err := e.Admin.ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{})
	mustCode(t, err, "ThrottlingException")
	if out := curl(e.App.URL + "/_nimble/faults"); !strings.Contains(out, `"hits": 1`) {
		t.Fatalf("GET /_nimble/faults: %s", out)
	}
	if out := curl("-X", "POST", e.App.URL+"/_nimble/reset"); !strings.Contains(out, `"reset": true`) {
		t.Fatalf("POST /_nimble/reset: %s", out)
	}
}
