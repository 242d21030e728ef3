package portal_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/internal/fixture"
	"github.com/opennimble/opennimble/portal"
)

// TestCookieFlags: the session cookie is HttpOnly and SameSite=Strict, and
// Secure when the public URL is https.
func TestCookieFlags(t *testing.T) {
	for _, public := range []string{"", "https://studio.example.com"} {
		e := start(t, func(c *app.Config) { c.PublicURL = public })
		b := e.browser("anystudio")
		k := e.keys["alice"]
		resp, body := b.signIn(k.AccessKeyID, k.SecretAccessKey)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in: %d %s", resp.StatusCode, body)
		}
		var c *http.Cookie
		for _, x := range resp.Cookies() {
			if x.Name == portal.CookieName {
				c = x
			}
		}
		if c == nil || c.Value == "" {
			t.Fatalf("no session cookie in %v", resp.Header["Set-Cookie"])
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/portal/" {
			t.Errorf("cookie %v: want HttpOnly, SameSite=Strict, Path=/portal/", c)
		}
		if want := public != ""; c.Secure != want {
			t.Errorf("public URL %q: cookie Secure = %v, want %v", public, c.Secure, want)
		}
	}
}

// TestWrongSecretsRefusedAndThrottled: a wrong secret is refused and
// logged; after five, even the right one is refused for a while.
func TestWrongSecretsRefusedAndThrottled(t *testing.T) {
	e := start(t, nil)
	e.profile("throttle", "alice")
	k := e.keys["alice"]
	b := e.browser("throttle")
	for i := range 5 {
		resp, body := b.signIn(k.AccessKeyID, k.SecretAccessKey+"x")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "wrong") {
			t.Fatalf("wrong secret %d: %d %s", i, resp.StatusCode, body)
		}
		for _, c := range resp.Cookies() {
			if c.Name == portal.CookieName && c.MaxAge >= 0 {
				t.Fatalf("a wrong secret got a session cookie")
			}
		}
	}
	resp, body := b.signIn(k.AccessKeyID, k.SecretAccessKey)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many failed sign-ins") {
		t.Fatalf("after five failures, the right secret: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if !strings.Contains(e.Log.String(), "portal: failed sign-in") || !strings.Contains(e.Log.String(), "access_key_id="+k.AccessKeyID) {
		t.Errorf("failed sign-ins are not logged:\n%s", e.Log.String())
	}
	// An unknown key is refused in the same words.
	e.Clock.Advance(10 * time.Minute)
	resp, body = b.signIn("ONAKNOSUCHKEY", "whatever")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "wrong") {
		t.Fatalf("unknown key: %d %s", resp.StatusCode, body)
	}
	// Once the throttle refills, the right secret works.
	e.Clock.Advance(10 * time.Minute)
	if resp, body := b.signIn(k.AccessKeyID, k.SecretAccessKey); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the throttle refilled: %d %s", resp.StatusCode, body)
	}
}

// TestSignOutAndIdleTimeout: a signed-out cookie no longer works, nor one
// idle for longer than the timeout.
func TestSignOutAndIdleTimeout(t *testing.T) {
	e := start(t, func(c *app.Config) { c.PortalIdleTimeout = 10 * time.Minute })
	e.profile("signout", "alice")
	b := e.signedIn("alice", "signout")
	var cookie string
	u, _ := url.Parse(e.App.URL + "/portal/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == portal.CookieName {
			cookie = c.Value
		}
	}
	if resp, _ := b.post("signout", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	// Replay the old cookie, as a thief who copied it would.
	for _, path := range []string{"", "live/sessions"} {
		req, _ := http.NewRequest(http.MethodGet, b.url(path), nil)
		req.AddCookie(&http.Cookie{Name: portal.CookieName, Value: cookie})
		resp, _ := b.do(req)
		if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s with a signed-out cookie: %d, want a redirect to sign in or 401", path, resp.StatusCode)
		}
		if resp.StatusCode == http.StatusSeeOther && !strings.Contains(resp.Header.Get("Location"), "/signin") {
			t.Errorf("redirected to %s", resp.Header.Get("Location"))
		}
	}
	b = e.signedIn("alice", "signout")
	e.Clock.Advance(9 * time.Minute)
	if resp, _ := b.get(""); resp.StatusCode != http.StatusOK {
		t.Fatalf("9 minutes idle: %d", resp.StatusCode)
	}
	// An open page's live updates do not count as use.
	for range 3 {
		e.Clock.Advance(4 * time.Minute)
		if resp, _ := b.get("live/sessions"); resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("live update: %d", resp.StatusCode)
		}
	}
	if resp, _ := b.get("live/sessions"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("live update 12 minutes after the last use: %d, want 401", resp.StatusCode)
	}
	if resp, _ := b.get(""); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("12 minutes idle: %d, want a redirect to sign in", resp.StatusCode)
	}
}

// TestDeletedCredentialEndsSession: deleting the access key signs its
// portal sessions out.
func TestDeletedCredentialEndsSession(t *testing.T) {
	e := start(t, nil)
	e.profile("revoke", "alice")
	b := e.signedIn("alice", "revoke")
	if err := e.App.Store.DeleteCredential(ctx(t), e.keys["alice"].AccessKeyID); err != nil {
		t.Fatal(err)
	}
	await(t, "the credential cache to forget the key", func() bool {
		resp, _ := b.get("")
		return resp.StatusCode == http.StatusSeeOther
	})
}

// TestCSRF: a form without or with a wrong token is refused and changes
// nothing.
func TestCSRF(t *testing.T) {
	e := start(t, nil)
	p := e.profile("csrf", "alice")
	b := e.signedIn("alice", "csrf")
	launch := url.Values{"launchProfileId": {p.LaunchProfile}, "streamingImageId": {p.Image}, "ec2InstanceType": {"g4dn.xlarge"}, "token": {"t1"}}
	for _, token := range []string{"", "wrong", strings.Repeat("A", 43)} {
		f := url.Values{}
		for k, v := range launch {
			f[k] = v
		}
		f.Set("csrf", token)
		resp, _ := b.post("sessions", f)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("launch with CSRF token %q: %d, want 403", token, resp.StatusCode)
		}
	}
	alice := e.client("alice")
	out := must[*nimblestudio.ListStreamingSessionsOutput](t)(alice.ListStreamingSessionsWithContext(ctx(t), &nimblestudio.ListStreamingSessionsInput{StudioId: &p.Studio}))
	if len(out.Sessions) != 0 {
		t.Fatalf("refused forms launched %d sessions", len(out.Sessions))
	}
	// Sign-out without the token does not sign out either.
	resp, _ := b.post("signout", url.Values{"csrf": {"wrong"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign out with a wrong token: %d", resp.StatusCode)
	}
	if resp, _ := b.get(""); resp.StatusCode != http.StatusOK {
		t.Errorf("after a refused sign-out: %d, want still signed in", resp.StatusCode)
	}
	// With the token it launches.
	if resp, body := b.post("sessions", launch); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("launch: %d %s", resp.StatusCode, body)
	}
	out = must[*nimblestudio.ListStreamingSessionsOutput](t)(alice.ListStreamingSessionsWithContext(ctx(t), &nimblestudio.ListStreamingSessionsInput{StudioId: &p.Studio}))
	if len(out.Sessions) != 1 {
		t.Fatalf("%d sessions after one launch", len(out.Sessions))
	}
}

var idRE = regexp.MustCompile(`/sessions/([A-Za-z0-9_-]+)`)

// launched launches a session from the home page and returns its id.
func launched(t *testing.T, b *browser, p fixture.Profile) string {
	t.Helper()
	b.get("")
	resp, body := b.post("sessions", url.Values{"launchProfileId": {p.LaunchProfile}, "streamingImageId": {p.Image}, "ec2InstanceType": {"g4dn.xlarge"}, "token": {"tok-" + p.LaunchProfile}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("launch: %d %s", resp.StatusCode, body)
	}
	m := idRE.FindStringSubmatch(resp.Header.Get("Location"))
	if m == nil {
		t.Fatalf("launch went to %q", resp.Header.Get("Location"))
	}
	return m[1]
}

// TestOtherUsersIDsAreNotFound: bob's session and backup ids in alice's
// portal URLs answer 404, as the API answers AccessDenied; nothing changes.
func TestOtherUsersIDsAreNotFound(t *testing.T) {
	e := start(t, nil)
	p := e.profile("isolation", "alice", "bob")
	alice, bob := e.signedIn("alice", "isolation"), e.signedIn("bob", "isolation")
	mine, theirs := launched(t, alice, p), launched(t, bob, p)
	bobAPI := e.client("bob")
	await(t, "bob's session READY", func() bool {
		s, err := bobAPI.GetStreamingSessionWithContext(ctx(t), &nimblestudio.GetStreamingSessionInput{StudioId: &p.Studio, SessionId: &theirs})
		return err == nil && aws.StringValue(s.Session.State) == "READY"
	})
	must[*nimblestudio.StopStreamingSessionOutput](t)(bobAPI.StopStreamingSessionWithContext(ctx(t), &nimblestudio.StopStreamingSessionInput{StudioId: &p.Studio, SessionId: &theirs}))
	var backup string
	await(t, "bob's backup", func() bool {
		out, err := bobAPI.ListStreamingSessionBackupsWithContext(ctx(t), &nimblestudio.ListStreamingSessionBackupsInput{StudioId: &p.Studio})
		if err == nil && len(out.StreamingSessionBackups) > 0 {
			backup = aws.StringValue(out.StreamingSessionBackups[0].BackupId)
		}
		return backup != ""
	})
	// The API refuses alice bob's session.
	_, err := e.client("alice").GetStreamingSessionWithContext(ctx(t), &nimblestudio.GetStreamingSessionInput{StudioId: &p.Studio, SessionId: &theirs})
	if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Fatalf("API: alice reads bob's session: %v", err)
	}
	alice.get("sessions/" + mine)
	for _, c := range []struct{ method, path string }{
		{"GET", "sessions/" + theirs},
		{"GET", "live/sessions/" + theirs},
		{"POST", "sessions/" + theirs + "/stop"},
		{"POST", "sessions/" + theirs + "/start"},
		{"POST", "sessions/" + theirs + "/delete"},
		{"POST", "sessions/" + theirs + "/desktop"},
		{"POST", "sessions/" + theirs + "/backups/" + backup + "/start"},
		{"POST", "sessions/" + mine + "/backups/" + backup + "/start"},
		{"GET", "admin"},
		{"POST", "admin/sessions/" + theirs + "/stop"},
		{"POST", "admin/profiles/" + p.LaunchProfile + "/members"},
	} {
		var resp *http.Response
		if c.method == "GET" {
			resp, _ = alice.get(c.path)
		} else {
			resp, _ = alice.post(c.path, url.Values{"principalId": {"alice"}})
		}
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("alice %s %s: %d, want 404", c.method, c.path, resp.StatusCode)
		}
	}
	s := must[*nimblestudio.GetStreamingSessionOutput](t)(bobAPI.GetStreamingSessionWithContext(ctx(t), &nimblestudio.GetStreamingSessionInput{StudioId: &p.Studio, SessionId: &theirs}))
	if st := aws.StringValue(s.Session.State); st != "STOPPED" && st != "STOP_IN_PROGRESS" {
		t.Errorf("bob's session is %s after alice's refused requests", st)
	}
}

// TestPortalShowsWhatTheAPIAllows: each person's home page lists exactly
// the launch profiles and sessions the API lists for them; one who is in
// no launch profile of a studio does not find it, as ListStudios does not.
func TestPortalShowsWhatTheAPIAllows(t *testing.T) {
	e := start(t, nil)
	p := e.profile("sameview", "alice")
	second := e.profile("other", "bob")
	_ = second
	alice := e.signedIn("alice", "sameview")
	launched(t, alice, p)
	adminSession := must[*nimblestudio.CreateStreamingSessionOutput](t)(e.Admin.CreateStreamingSessionWithContext(ctx(t), &nimblestudio.CreateStreamingSessionInput{
		StudioId: &p.Studio, LaunchProfileId: &p.LaunchProfile, StreamingImageId: &p.Image, Ec2InstanceType: aws.String("g4dn.xlarge")}))
	_, body := alice.get("")
	api := e.client("alice")
	lps := must[*nimblestudio.ListLaunchProfilesOutput](t)(api.ListLaunchProfilesWithContext(ctx(t), &nimblestudio.ListLaunchProfilesInput{StudioId: &p.Studio}))
	if n := strings.Count(body, `name="launchProfileId"`); n != len(lps.LaunchProfiles) {
		t.Errorf("home shows %d launch profiles, the API lists %d", n, len(lps.LaunchProfiles))
	}
	ss := must[*nimblestudio.ListStreamingSessionsOutput](t)(api.ListStreamingSessionsWithContext(ctx(t), &nimblestudio.ListStreamingSessionsInput{StudioId: &p.Studio}))
	for _, s := range ss.Sessions {
		if !strings.Contains(body, aws.StringValue(s.SessionId)) {
			t.Errorf("home lacks session %s that the API lists", aws.StringValue(s.SessionId))
		}
	}
	if strings.Contains(body, aws.StringValue(adminSession.Session.SessionId)) {
		t.Errorf("alice's home shows the administrator's session")
	}
	if strings.Contains(body, "/admin") {
		t.Errorf("alice's pages link to the administration")
	}
	// Bob is in no launch profile of "sameview": the API lists him no
	// such studio and the portal does not find it.
	studios := must[*nimblestudio.ListStudiosOutput](t)(e.client("bob").ListStudiosWithContext(ctx(t), &nimblestudio.ListStudiosInput{}))
	for _, s := range studios.Studios {
		if aws.StringValue(s.StudioName) == "sameview" {
			t.Fatalf("the API lists sameview to bob")
		}
	}
	bob := e.browser("sameview")
	k := e.keys["bob"]
	bob.signIn(k.AccessKeyID, k.SecretAccessKey)
	if resp, _ := bob.get(""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("bob's portal of sameview: %d, want 404", resp.StatusCode)
	}
	// The administrator sees both sessions on the administration page.
	admin := e.signedIn("admin", "sameview")
	resp, body := admin.get("admin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin page: %d", resp.StatusCode)
	}
	all := must[*nimblestudio.ListStreamingSessionsOutput](t)(e.Admin.ListStreamingSessionsWithContext(ctx(t), &nimblestudio.ListStreamingSessionsInput{StudioId: &p.Studio}))
	for _, s := range all.Sessions {
		if !strings.Contains(body, aws.StringValue(s.SessionId)) {
			t.Errorf("admin page lacks session %s", aws.StringValue(s.SessionId))
		}
	}
}

// TestAdminAddsMember: an administrator adds bob to a launch profile in
// the portal; the API then lists bob as a member, and bob's portal shows
// the profile. Removing him takes it away again.
func TestAdminAddsMember(t *testing.T) {
	e := start(t, nil)
	p := e.profile("members", "alice")
	admin := e.signedIn("admin", "members")
	admin.get("admin")
	resp, _ := admin.post("admin/profiles/"+p.LaunchProfile+"/members", url.Values{"principalId": {"bob"}, "back": {"/portal/members/admin"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add member: %d", resp.StatusCode)
	}
	m := must[*nimblestudio.ListLaunchProfileMembersOutput](t)(e.Admin.ListLaunchProfileMembersWithContext(ctx(t), &nimblestudio.ListLaunchProfileMembersInput{StudioId: &p.Studio, LaunchProfileId: &p.LaunchProfile}))
	var found bool
	for _, x := range m.Members {
		found = found || aws.StringValue(x.PrincipalId) == "bob"
	}
	if !found {
		t.Fatalf("the API does not list bob as a member")
	}
	bob := e.signedIn("bob", "members")
	if !strings.Contains(bob.last, p.LaunchProfile) {
		t.Fatalf("bob's home lacks the launch profile")
	}
	admin.get("admin")
	if resp, _ := admin.post("admin/profiles/"+p.LaunchProfile+"/members/bob/remove", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove member: %d", resp.StatusCode)
	}
	if resp, _ := bob.get(""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bob, removed from the only profile, still reaches the studio: %d", resp.StatusCode)
	}
}

// TestMarkupIsEscaped: names with markup and quotes render as text.
func TestMarkupIsEscaped(t *testing.T) {
	e := start(t, nil)
	p := e.profile("markup", "alice")
	evil := `<script>alert("x")</script>'"`
	must[*nimblestudio.UpdateLaunchProfileOutput](t)(e.Admin.UpdateLaunchProfileWithContext(ctx(t), &nimblestudio.UpdateLaunchProfileInput{
		StudioId: &p.Studio, LaunchProfileId: &p.LaunchProfile, Name: aws.String(evil), Description: aws.String(`<img src=x onerror=alert(1)>`)}))
	must[*nimblestudio.UpdateStudioOutput](t)(e.Admin.UpdateStudioWithContext(ctx(t), &nimblestudio.UpdateStudioInput{StudioId: &p.Studio, DisplayName: aws.String(`<b>Studio</b>"`)}))
	alice := e.signedIn("alice", "markup")
	admin := e.signedIn("admin", "markup")
	_, adminPage := admin.get("admin")
	for name, body := range map[string]string{"home": alice.last, "admin": adminPage} {
		for _, raw := range []string{"<script>alert", "<img src=x", "<b>Studio"} {
			if strings.Contains(body, raw) {
				t.Errorf("%s page contains raw markup %q", name, raw)
			}
		}
		if !strings.Contains(body, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;&#34;") {
			t.Errorf("%s page lacks the escaped profile name", name)
		}
	}
}

// TestEulasBeforeFirstLaunch: a profile whose image needs EULAs cannot
// launch until they are accepted, and accepting them is AcceptEulas.
func TestEulasBeforeFirstLaunch(t *testing.T) {
	e := start(t, nil)
	p := e.profile("eulas", "alice")
	imgs := must[*nimblestudio.ListStreamingImagesOutput](t)(e.Admin.ListStreamingImagesWithContext(ctx(t), &nimblestudio.ListStreamingImagesInput{StudioId: &p.Studio}))
	var owned *nimblestudio.StreamingImage
	for _, im := range imgs.StreamingImages {
		if len(im.EulaIds) > 0 {
			owned = im
		}
	}
	if owned == nil {
		t.Fatal("no image with EULAs")
	}
	must[*nimblestudio.UpdateLaunchProfileOutput](t)(e.Admin.UpdateLaunchProfileWithContext(ctx(t), &nimblestudio.UpdateLaunchProfileInput{
		StudioId: &p.Studio, LaunchProfileId: &p.LaunchProfile, StreamConfiguration: &nimblestudio.StreamConfigurationCreate{
			ClipboardMode: aws.String("ENABLED"), Ec2InstanceTypes: []*string{aws.String("g4dn.xlarge")}, StreamingImageIds: []*string{owned.StreamingImageId}}}))
	await(t, "profile READY", func() bool {
		lp, err := e.Admin.GetLaunchProfileWithContext(ctx(t), &nimblestudio.GetLaunchProfileInput{StudioId: &p.Studio, LaunchProfileId: &p.LaunchProfile})
		return err == nil && aws.StringValue(lp.LaunchProfile.State) == "READY"
	})
	alice := e.signedIn("alice", "eulas")
	if !strings.Contains(alice.last, "Licence agreements to accept") || !strings.Contains(alice.last, "Nimble Studio Streaming Image License") {
		t.Fatalf("home does not show the EULAs:\n%s", alice.last)
	}
	launch := url.Values{"launchProfileId": {p.LaunchProfile}, "streamingImageId": {*owned.StreamingImageId}, "ec2InstanceType": {"g4dn.xlarge"}, "token": {"e1"}}
	resp, _ := alice.post("sessions", launch)
	if resp.StatusCode != http.StatusSeeOther || strings.Contains(resp.Header.Get("Location"), "/sessions/") {
		t.Fatalf("launch before accepting: %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	f := url.Values{"agree": {"yes"}}
	for _, id := range owned.EulaIds {
		f.Add("eula", *id)
	}
	if resp, _ := alice.post("eulas", f); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept: %d", resp.StatusCode)
	}
	acc := must[*nimblestudio.ListEulaAcceptancesOutput](t)(e.client("alice").ListEulaAcceptancesWithContext(ctx(t), &nimblestudio.ListEulaAcceptancesInput{StudioId: &p.Studio}))
	if len(acc.EulaAcceptances) != len(owned.EulaIds) {
		t.Fatalf("%d acceptances, want %d", len(acc.EulaAcceptances), len(owned.EulaIds))
	}
	alice.get("")
	if strings.Contains(alice.last, "Licence agreements to accept") {
		t.Fatalf("EULAs still shown after accepting")
	}
	if resp, _ := alice.post("sessions", launch); resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/sessions/") {
		t.Fatalf("launch after accepting: %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestArtistPath: launch, READY, open the desktop (the stream page leads to
// a stream URL that answers), stop with a backup, start from it, delete;
// each step checked against the API.
func TestArtistPath(t *testing.T) {
	e := start(t, nil)
	p := e.profile("path", "alice")
	alice := e.signedIn("alice", "path")
	api := e.client("alice")
	id := launched(t, alice, p)
	state := func() string {
		s, err := api.GetStreamingSessionWithContext(ctx(t), &nimblestudio.GetStreamingSessionInput{StudioId: &p.Studio, SessionId: &id})
		if err != nil {
			t.Fatal(err)
		}
		return aws.StringValue(s.Session.State)
	}
	live := func(want string) {
		t.Helper()
		await(t, "the live fragment to say "+want, func() bool {
			_, body := alice.get("live/sessions/" + id + "?page=/portal/path/sessions/" + id)
			return strings.Contains(body, `data-state="`+want+`"`)
		})
	}
	live("READY")
	if s := state(); s != "READY" {
		t.Fatalf("portal says READY, API %s", s)
	}
	alice.get("sessions/" + id)
	resp, _ := alice.post("sessions/"+id+"/desktop", nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/streams/"+id+"/") {
		t.Fatalf("desktop: %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	streamPage := strings.TrimPrefix(resp.Header.Get("Location"), "/portal/path/")
	var streamURL string
	await(t, "the stream READY", func() bool {
		_, body := alice.get("live/" + strings.TrimPrefix(streamPage, ""))
		m := regexp.MustCompile(`data-go="([^"]+)"`).FindStringSubmatch(body)
		if m != nil {
			streamURL = m[1]
		}
		return m != nil
	})
	if resp, _ := http.Get(streamURL); resp == nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stream URL %s does not answer", streamURL)
	}
	alice.get("sessions/" + id)
	if !strings.Contains(alice.last, "Stopping takes a backup") {
		t.Errorf("the stop button does not say a backup will be taken")
	}
	resp, _ = alice.post("sessions/"+id+"/stop", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("stop: %d", resp.StatusCode)
	}
	// The stop's message holds while the session stops: the page's script
	// drops it once the live state has moved on (e2e TestPortalInBrowser).
	alice.get("sessions/" + id)
	if !strings.Contains(alice.last, `data-while="STOP_IN_PROGRESS">Stopping session `+id+`. A backup of its volume is being taken.</p>`) {
		t.Errorf("the stop's message is not marked as holding while the session stops")
	}
	live("STOPPED")
	backups := must[*nimblestudio.ListStreamingSessionBackupsOutput](t)(api.ListStreamingSessionBackupsWithContext(ctx(t), &nimblestudio.ListStreamingSessionBackupsInput{StudioId: &p.Studio}))
	if len(backups.StreamingSessionBackups) != 1 || aws.StringValue(backups.StreamingSessionBackups[0].State) != "READY" {
		t.Fatalf("backups after stop: %v", backups)
	}
	backup := aws.StringValue(backups.StreamingSessionBackups[0].BackupId)
	alice.get("sessions/" + id)
	if !strings.Contains(alice.last, `/backups/`+backup+`/start`) {
		t.Fatalf("the session page offers no start from backup %s", backup)
	}
	if resp, _ := alice.post("sessions/"+id+"/backups/"+backup+"/start", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("start from backup: %d", resp.StatusCode)
	}
	live("READY")
	s := must[*nimblestudio.GetStreamingSessionOutput](t)(api.GetStreamingSessionWithContext(ctx(t), &nimblestudio.GetStreamingSessionInput{StudioId: &p.Studio, SessionId: &id}))
	if got := aws.StringValue(s.Session.StartedFromBackupId); got != backup {
		t.Fatalf("startedFromBackupId %q, want %q", got, backup)
	}
	alice.get("sessions/" + id)
	if !strings.Contains(alice.last, `id="started-from">`+backup) {
		t.Errorf("the session page does not show startedFromBackupId")
	}
	if resp, _ := alice.post("sessions/"+id+"/delete", nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	await(t, "the session deleted", func() bool {
		st := state()
		return st == "DELETED"
	})
	if resp, _ := alice.get("sessions/" + id); resp.StatusCode != http.StatusNotFound {
		t.Errorf("deleted session page: %d", resp.StatusCode)
	}
}
