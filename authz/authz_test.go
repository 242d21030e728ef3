package authz

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/sqlite"
)

// The world of the tests.
//
// Studio stu-a: sam is its administrator; alice is a member of lp-a1, bob of
// lp-a2, carol only of lp-a3, which is DELETED (so carol is no user).
// alice owns ses-alice and its backup bak-alice, bob owns ses-bob and bak-bob.
// Studio stu-b: sara is its administrator; alice is a member of lp-b1.
// root is an account administrator; mallory is nobody.
const arnPrefix = "arn:aws:nimble:us-west-2:000000000000:"

var principals = []string{"root", "sam", "sara", "alice", "bob", "carol", "mallory"}

func seed(t *testing.T) opennimble.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "authz.db"), sqlite.Options{Sync: "normal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	recs := []*opennimble.Record{
		{Kind: opennimble.KindStudio, ID: "stu-a", StudioID: "stu-a", State: "READY"},
		{Kind: opennimble.KindStudio, ID: "stu-b", StudioID: "stu-b", State: "READY"},
		{Kind: opennimble.KindStudio, ID: "stu-c", StudioID: "stu-c", State: "READY"},
		{Kind: opennimble.KindStudioMember, ID: "stu-a/sam", StudioID: "stu-a", OwnedBy: "sam"},
		{Kind: opennimble.KindStudioMember, ID: "stu-b/sara", StudioID: "stu-b", OwnedBy: "sara"},
		{Kind: opennimble.KindLaunchProfile, ID: "lp-a1", StudioID: "stu-a", State: "READY"},
		{Kind: opennimble.KindLaunchProfile, ID: "lp-a2", StudioID: "stu-a", State: "READY"},
		{Kind: opennimble.KindLaunchProfile, ID: "lp-a3", StudioID: "stu-a", State: "DELETED"},
		{Kind: opennimble.KindLaunchProfile, ID: "lp-b1", StudioID: "stu-b", State: "READY"},
		{Kind: opennimble.KindLaunchProfileMember, ID: "lp-a1/alice", StudioID: "stu-a", ParentID: "lp-a1", OwnedBy: "alice"},
		{Kind: opennimble.KindLaunchProfileMember, ID: "lp-a2/bob", StudioID: "stu-a", ParentID: "lp-a2", OwnedBy: "bob"},
		{Kind: opennimble.KindLaunchProfileMember, ID: "lp-a3/carol", StudioID: "stu-a", ParentID: "lp-a3", OwnedBy: "carol"},
		{Kind: opennimble.KindLaunchProfileMember, ID: "lp-b1/alice", StudioID: "stu-b", ParentID: "lp-b1", OwnedBy: "alice"},
		{Kind: opennimble.KindStudioComponent, ID: "sc-a1", StudioID: "stu-a", State: "READY"},
		{Kind: opennimble.KindStreamingImage, ID: "si-a1", StudioID: "stu-a", State: "READY"},
		{Kind: opennimble.KindStreamingSession, ID: "ses-alice", StudioID: "stu-a", ParentID: "lp-a1", OwnedBy: "alice", State: "READY"},
		{Kind: opennimble.KindStreamingSession, ID: "ses-bob", StudioID: "stu-a", ParentID: "lp-a2", OwnedBy: "bob", State: "READY"},
		{Kind: opennimble.KindStreamingBackup, ID: "bak-alice", StudioID: "stu-a", ParentID: "ses-alice", OwnedBy: "alice", State: "READY"},
		{Kind: opennimble.KindStreamingBackup, ID: "bak-bob", StudioID: "stu-a", ParentID: "ses-bob", OwnedBy: "bob", State: "READY"},
	}
	err = st.Update(ctx, func(tx opennimble.Tx) error {
		for _, r := range recs {
			r.Data = []byte("{}")
			if err := tx.Put(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func as(who string) context.Context {
	return opennimble.WithPrincipal(context.Background(), opennimble.Principal{ID: who, AccessKeyID: who, Admin: who == "root"})
}

// input builds the request of op with the given string fields set; every
// other field stays empty.
func input(t *testing.T, op string, fields map[string]string) any {
	t.Helper()
	m, ok := reflect.TypeFor[api.Handler]().MethodByName(op)
	if !ok {
		t.Fatalf("api.Handler has no method %s", op)
	}
	in := reflect.New(m.Type.In(1).Elem())
	for name, v := range fields {
		if f := in.Elem().FieldByName(name); f.IsValid() && f.Kind() == reflect.String {
			f.SetString(v)
		}
	}
	return in.Interface()
}

func operation(name string) *api.Operation {
	for _, op := range api.Operations {
		if op.Name == name {
			return op
		}
	}
	return nil
}

func TestPolicyCoversEveryOperation(t *testing.T) {
	names := map[string]bool{}
	for _, op := range api.Operations {
		names[op.Name] = true
		r, ok := Policy[op.Name]
		if !ok {
			t.Errorf("no rule for %s", op.Name)
			continue
		}
		if r.Resource != resAccount && r.Resource != resARN && !taggable[r.Resource] {
			t.Errorf("%s: unknown resource type %q", op.Name, r.Resource)
		}
		if !strings.Contains(op.URI, "{studioId}") && r.Resource != resAccount && r.Resource != resARN {
			t.Errorf("%s is not studio-scoped but its rule is decided on %q", op.Name, r.Resource)
		}
	}
	for name := range Policy {
		if !names[name] {
			t.Errorf("rule for %s, which is no operation of the model", name)
		}
	}
	if len(api.Operations) != 49 || len(Policy) != 49 {
		t.Errorf("%d operations, %d rules; want 49 of each", len(api.Operations), len(Policy))
	}
	md := Markdown()
	if n := strings.Count(md, "\n"); n != 51 {
		t.Errorf("markdown table has %d lines, want 51:\n%s", n, md)
	}
}

// defaults are the request fields of every case: alice's resources in stu-a.
var defaults = map[string]string{
	"StudioId": "stu-a", "LaunchProfileId": "lp-a1", "SessionId": "ses-alice", "BackupId": "bak-alice",
	"StreamingImageId": "si-a1", "StudioComponentId": "sc-a1", "PrincipalId": "alice", "EulaId": "eula-nimble-studio",
	"StreamId": "str-1", "ResourceArn": arnPrefix + "streaming-session/ses-alice",
}

var (
	admins      = []string{"root", "sam"}
	profileA1   = []string{"root", "sam", "alice"}
	usersA      = []string{"root", "sam", "alice", "bob"}
	everyone    = principals
	rootOnly    = []string{"root"}
	nobody      = []string(nil)
	ownedByBob  = []string{"root", "sam", "bob"}
	otherStudio = []string{"root", "sara"}
)

type decision struct {
	op      string
	fields  map[string]string // over defaults
	allowed []string          // principals that reach the service
}

// decisions is who may call what, on alice's resources of stu-a unless a
// case says otherwise; every operation has at least one case.
var decisions = []decision{
	{"AcceptEulas", nil, usersA},
	{"CreateLaunchProfile", nil, admins},
	{"CreateStreamingImage", nil, admins},
	{"CreateStreamingSession", nil, profileA1},
	{"CreateStreamingSession", map[string]string{"LaunchProfileId": "lp-a2"}, ownedByBob},
	{"CreateStreamingSession", map[string]string{"OwnedBy": "bob"}, admins},
	{"CreateStreamingSession", map[string]string{"OwnedBy": "alice"}, profileA1},
	{"CreateStreamingSession", map[string]string{"LaunchProfileId": "lp-a3"}, admins},
	{"CreateStreamingSession", map[string]string{"StudioId": "stu-b", "LaunchProfileId": "lp-a1"}, otherStudio},
	{"CreateStreamingSessionStream", nil, profileA1},
	{"CreateStreamingSessionStream", map[string]string{"SessionId": "ses-bob"}, ownedByBob},
	{"CreateStudio", nil, rootOnly},
	{"CreateStudioComponent", nil, admins},
	{"DeleteLaunchProfile", nil, admins},
	{"DeleteLaunchProfileMember", nil, admins},
	{"DeleteStreamingImage", nil, admins},
	{"DeleteStreamingSession", nil, profileA1},
	{"DeleteStreamingSession", map[string]string{"SessionId": "ses-bob"}, ownedByBob},
	{"DeleteStudio", nil, admins},
	{"DeleteStudio", map[string]string{"StudioId": "stu-b"}, otherStudio},
	{"DeleteStudioComponent", nil, admins},
	{"DeleteStudioMember", nil, admins},
	{"GetEula", nil, everyone},
	{"GetLaunchProfile", nil, profileA1},
	{"GetLaunchProfile", map[string]string{"LaunchProfileId": "lp-a2"}, ownedByBob},
	{"GetLaunchProfile", map[string]string{"LaunchProfileId": "lp-a3"}, admins},
	{"GetLaunchProfile", map[string]string{"LaunchProfileId": "lp-missing"}, admins},
	{"GetLaunchProfileDetails", nil, profileA1},
	{"GetLaunchProfileInitialization", nil, profileA1},
	{"GetLaunchProfileMember", nil, admins},
	{"GetStreamingImage", nil, usersA},
	{"GetStreamingImage", map[string]string{"StreamingImageId": "si-amazonlinux2"}, usersA},
	{"GetStreamingSession", nil, profileA1},
	{"GetStreamingSession", map[string]string{"SessionId": "ses-bob"}, ownedByBob},
	{"GetStreamingSession", map[string]string{"SessionId": "ses-missing"}, admins},
	{"GetStreamingSession", map[string]string{"StudioId": "stu-b"}, otherStudio},
	{"GetStreamingSessionBackup", nil, profileA1},
	{"GetStreamingSessionBackup", map[string]string{"BackupId": "bak-bob"}, ownedByBob},
	{"GetStreamingSessionBackup", map[string]string{"BackupId": "ses-alice"}, admins},
	{"GetStreamingSessionStream", nil, profileA1},
	{"GetStreamingSessionStream", map[string]string{"SessionId": "ses-bob"}, ownedByBob},
	{"GetStudio", nil, usersA},
	{"GetStudio", map[string]string{"StudioId": "stu-b"}, []string{"root", "sara", "alice"}},
	{"GetStudio", map[string]string{"StudioId": "stu-missing"}, rootOnly},
	{"GetStudioComponent", nil, admins},
	{"GetStudioMember", nil, admins},
	{"ListEulaAcceptances", nil, usersA},
	{"ListEulas", nil, everyone},
	{"ListLaunchProfileMembers", nil, admins},
	{"ListLaunchProfiles", map[string]string{"PrincipalId": ""}, usersA},
	{"ListLaunchProfiles", map[string]string{"PrincipalId": "bob"}, ownedByBob},
	{"ListStreamingImages", nil, usersA},
	{"ListStreamingSessionBackups", nil, usersA},
	{"ListStreamingSessionBackups", map[string]string{"OwnedBy": "alice"}, profileA1},
	{"ListStreamingSessions", nil, usersA},
	{"ListStreamingSessions", map[string]string{"OwnedBy": "bob"}, ownedByBob},
	{"ListStreamingSessions", map[string]string{"StudioId": "stu-b"}, []string{"root", "sara", "alice"}},
	{"ListStudioComponents", nil, admins},
	{"ListStudioMembers", nil, admins},
	{"ListStudios", nil, everyone},
	{"ListTagsForResource", nil, profileA1},
	{"ListTagsForResource", map[string]string{"ResourceArn": arnPrefix + "streaming-session/ses-bob"}, ownedByBob},
	{"ListTagsForResource", map[string]string{"ResourceArn": arnPrefix + "streaming-session-backup/bak-alice"}, profileA1},
	{"ListTagsForResource", map[string]string{"ResourceArn": arnPrefix + "studio/stu-a"}, usersA},
	{"ListTagsForResource", map[string]string{"ResourceArn": arnPrefix + "streaming-image/si-a1"}, usersA},
	{"ListTagsForResource", map[string]string{"ResourceArn": arnPrefix + "launch-profile/lp-a1"}, profileA1},
	{"ListTagsForResource", map[string]string{"ResourceArn": arnPrefix + "studio-component/sc-a1"}, admins},
	{"ListTagsForResource", map[string]string{"ResourceArn": arnPrefix + "studio/stu-b"}, []string{"root", "sara", "alice"}},
	{"ListTagsForResource", map[string]string{"ResourceArn": arnPrefix + "streaming-image/si-amazonlinux2"}, rootOnly},
	{"ListTagsForResource", map[string]string{"ResourceArn": "arn:aws:nimble:eu-west-1:000000000000:studio/stu-a"}, nobody},
	{"ListTagsForResource", map[string]string{"ResourceArn": "arn:aws:nimble:us-west-2:111111111111:studio/stu-a"}, nobody},
	{"ListTagsForResource", map[string]string{"ResourceArn": "not-an-arn"}, rootOnly},
	{"PutLaunchProfileMembers", nil, admins},
	{"PutStudioMembers", nil, admins},
	{"StartStreamingSession", nil, profileA1},
	{"StartStreamingSession", map[string]string{"SessionId": "ses-bob"}, ownedByBob},
	{"StartStudioSSOConfigurationRepair", nil, admins},
	{"StopStreamingSession", nil, profileA1},
	{"StopStreamingSession", map[string]string{"SessionId": "ses-bob"}, ownedByBob},
	{"TagResource", nil, profileA1},
	{"TagResource", map[string]string{"ResourceArn": arnPrefix + "streaming-session-backup/bak-alice"}, admins},
	{"TagResource", map[string]string{"ResourceArn": arnPrefix + "studio/stu-a"}, admins},
	{"TagResource", map[string]string{"ResourceArn": arnPrefix + "launch-profile/lp-a1"}, admins},
	{"TagResource", map[string]string{"ResourceArn": "arn:aws:nimble:eu-west-1:000000000000:studio/stu-a"}, nobody},
	{"UntagResource", nil, profileA1},
	{"UntagResource", map[string]string{"ResourceArn": arnPrefix + "streaming-session/ses-bob"}, ownedByBob},
	{"UpdateLaunchProfile", nil, admins},
	{"UpdateLaunchProfileMember", nil, admins},
	{"UpdateStreamingImage", nil, admins},
	{"UpdateStudio", nil, admins},
	{"UpdateStudioComponent", nil, admins},
}

func TestDecisions(t *testing.T) {
	next := &fake{}
	h := New(next, seed(t), Config{})
	covered := map[string]bool{}
	for _, d := range decisions {
		covered[d.op] = true
		op := operation(d.op)
		if op == nil {
			t.Fatalf("no operation %s", d.op)
		}
		fields := map[string]string{}
		for k, v := range defaults {
			fields[k] = v
		}
		for k, v := range d.fields {
			fields[k] = v
		}
		for _, who := range principals {
			next.reset()
			_, err := op.Call(as(who), h, input(t, d.op, fields))
			got, reached := next.last()
			want := slices.Contains(d.allowed, who)
			switch {
			case want && (err != nil || !reached || got.op != d.op):
				t.Errorf("%s %v as %s: refused (%v), want allowed", d.op, d.fields, who, err)
			case !want && (reached || !opennimble.IsCode(err, opennimble.ErrAccessDenied)):
				t.Errorf("%s %v as %s: %v (reached service: %v), want AccessDeniedException", d.op, d.fields, who, err, reached)
			case !want && !strings.HasPrefix(err.Error(), "AccessDeniedException: User: "+who+" is not authorized to perform: nimble:"+d.op+" on resource: "):
				t.Errorf("%s as %s: message %q", d.op, who, err)
			}
		}
	}
	for _, op := range api.Operations {
		if !covered[op.Name] {
			t.Errorf("no decision case for %s", op.Name)
		}
	}
}

func TestDenialNamesTheResource(t *testing.T) {
	h := New(&fake{}, seed(t), Config{Region: "eu-central-1", AccountID: "123456789012"})
	cases := []struct {
		who, op string
		in      any
		want    string
	}{
		{"bob", "DeleteLaunchProfile", &api.DeleteLaunchProfileRequest{StudioId: "stu-a", LaunchProfileId: "lp-a1"},
			"User: bob is not authorized to perform: nimble:DeleteLaunchProfile on resource: arn:aws:nimble:eu-central-1:123456789012:launch-profile/lp-a1"},
		{"bob", "GetStreamingSession", &api.GetStreamingSessionRequest{StudioId: "stu-a", SessionId: "ses-alice"},
			"User: bob is not authorized to perform: nimble:GetStreamingSession on resource: arn:aws:nimble:eu-central-1:123456789012:streaming-session/ses-alice"},
		{"mallory", "ListStreamingSessions", &api.ListStreamingSessionsRequest{StudioId: "stu-a"},
			"User: mallory is not authorized to perform: nimble:ListStreamingSessions on resource: arn:aws:nimble:eu-central-1:123456789012:studio/stu-a"},
		{"sam", "CreateStudio", &api.CreateStudioRequest{},
			"User: sam is not authorized to perform: nimble:CreateStudio on resource: *"},
		{"alice", "CreateStreamingSession", &api.CreateStreamingSessionRequest{StudioId: "stu-a", LaunchProfileId: "lp-a1", OwnedBy: "bob"},
			"User: alice is not authorized to perform: nimble:CreateStreamingSession on resource: arn:aws:nimble:eu-central-1:123456789012:launch-profile/lp-a1"},
	}
	for _, c := range cases {
		_, err := operation(c.op).Call(as(c.who), h, c.in)
		var e *opennimble.Error
		if !errors.As(err, &e) || e.Code != opennimble.ErrAccessDenied || e.Message != c.want {
			t.Errorf("%s as %s: %v\nwant message %q", c.op, c.who, err, c.want)
		}
		if opennimble.HTTPStatus(opennimble.ErrorCode(err)) != 403 {
			t.Errorf("%s: status %d", c.op, opennimble.HTTPStatus(opennimble.ErrorCode(err)))
		}
	}
}

func TestWithoutPrincipalEverythingIsDenied(t *testing.T) {
	next := &fake{}
	h := New(next, seed(t), Config{})
	for _, op := range api.Operations {
		_, err := op.Call(context.Background(), h, input(t, op.Name, defaults))
		if !opennimble.IsCode(err, opennimble.ErrAccessDenied) {
			t.Errorf("%s without a principal: %v", op.Name, err)
		}
	}
	if _, reached := next.last(); reached {
		t.Error("a request without a principal reached the service")
	}
}

// Users' lists are narrowed to their own, and a session a user creates is
// its own; administrators' requests pass unchanged.
func TestUserFiltersAreForced(t *testing.T) {
	next := &fake{}
	h := New(next, seed(t), Config{})
	check := func(who, op string, in any, field, want string) {
		t.Helper()
		if _, err := operation(op).Call(as(who), h, in); err != nil {
			t.Fatalf("%s as %s: %v", op, who, err)
		}
		got, _ := next.last()
		if v := reflect.ValueOf(got.in).Elem().FieldByName(field).String(); v != want {
			t.Errorf("%s as %s: service got %s %q, want %q", op, who, field, v, want)
		}
	}
	check("alice", "ListStreamingSessions", &api.ListStreamingSessionsRequest{StudioId: "stu-a"}, "OwnedBy", "alice")
	check("sam", "ListStreamingSessions", &api.ListStreamingSessionsRequest{StudioId: "stu-a"}, "OwnedBy", "")
	check("root", "ListStreamingSessions", &api.ListStreamingSessionsRequest{StudioId: "stu-a", OwnedBy: "bob"}, "OwnedBy", "bob")
	check("bob", "ListStreamingSessionBackups", &api.ListStreamingSessionBackupsRequest{StudioId: "stu-a"}, "OwnedBy", "bob")
	check("sam", "ListStreamingSessionBackups", &api.ListStreamingSessionBackupsRequest{StudioId: "stu-a"}, "OwnedBy", "")
	check("bob", "ListLaunchProfiles", &api.ListLaunchProfilesRequest{StudioId: "stu-a"}, "PrincipalId", "bob")
	check("sam", "ListLaunchProfiles", &api.ListLaunchProfilesRequest{StudioId: "stu-a"}, "PrincipalId", "")
	check("alice", "CreateStreamingSession", &api.CreateStreamingSessionRequest{StudioId: "stu-a", LaunchProfileId: "lp-a1"}, "OwnedBy", "alice")
	check("sam", "CreateStreamingSession", &api.CreateStreamingSessionRequest{StudioId: "stu-a", LaunchProfileId: "lp-a1", OwnedBy: "bob"}, "OwnedBy", "bob")
	check("sam", "CreateStreamingSession", &api.CreateStreamingSessionRequest{StudioId: "stu-a", LaunchProfileId: "lp-a1"}, "OwnedBy", "")

	// The caller's request is not changed in place.
	in := &api.ListStreamingSessionsRequest{StudioId: "stu-a"}
	if _, err := h.ListStreamingSessions(as("alice"), in); err != nil || in.OwnedBy != "" {
		t.Errorf("input changed: %+v, %v", in, err)
	}
}

func TestListStudiosShowsOnlyOwnStudios(t *testing.T) {
	next := &fake{out: map[string]any{"ListStudios": &api.ListStudiosResponse{
		Studios:   []*api.Studio{{StudioId: "stu-a"}, {StudioId: "stu-b"}, {StudioId: "stu-c"}},
		NextToken: "tok",
	}}}
	h := New(next, seed(t), Config{})
	want := map[string][]string{
		"root": {"stu-a", "stu-b", "stu-c"}, "sam": {"stu-a"}, "sara": {"stu-b"}, "alice": {"stu-a", "stu-b"},
		"bob": {"stu-a"}, "carol": {}, "mallory": {},
	}
	for _, who := range principals {
		out, err := h.ListStudios(as(who), &api.ListStudiosRequest{})
		if err != nil {
			t.Fatalf("%s: %v", who, err)
		}
		got := []string{}
		for _, s := range out.Studios {
			got = append(got, s.StudioId)
		}
		sort.Strings(got)
		if !slices.Equal(got, want[who]) || out.NextToken != "tok" {
			t.Errorf("%s sees %v (token %q), want %v (token tok)", who, got, out.NextToken, want[who])
		}
	}
}

// Memberships are read on every request: a removed member loses access at
// once, a new one gains it at once.
func TestMembershipChangesTakeEffectAtOnce(t *testing.T) {
	st := seed(t)
	h := New(&fake{}, st, Config{})
	ctx := context.Background()
	get := func(who string) error {
		_, err := h.GetLaunchProfile(as(who), &api.GetLaunchProfileRequest{StudioId: "stu-a", LaunchProfileId: "lp-a1"})
		return err
	}
	if err := get("alice"); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx opennimble.Tx) error {
		return tx.Delete(ctx, opennimble.KindLaunchProfileMember, "lp-a1/alice")
	}); err != nil {
		t.Fatal(err)
	}
	if err := get("alice"); !opennimble.IsCode(err, opennimble.ErrAccessDenied) {
		t.Fatalf("removed member: %v", err)
	}
	// alice is no member of stu-a's live profiles any more: no user of it.
	if _, err := h.GetStudio(as("alice"), &api.GetStudioRequest{StudioId: "stu-a"}); !opennimble.IsCode(err, opennimble.ErrAccessDenied) {
		t.Fatalf("former user reads the studio: %v", err)
	}
	if _, err := h.GetStreamingSession(as("alice"), &api.GetStreamingSessionRequest{StudioId: "stu-a", SessionId: "ses-alice"}); !opennimble.IsCode(err, opennimble.ErrAccessDenied) {
		t.Fatalf("former user reads its session: %v", err)
	}
	// Made a studio administrator, mallory may do everything in stu-a.
	if err := st.Update(ctx, func(tx opennimble.Tx) error {
		return tx.Put(ctx, &opennimble.Record{Kind: opennimble.KindStudioMember, ID: "stu-a/mallory", StudioID: "stu-a", OwnedBy: "mallory", Data: []byte("{}")})
	}); err != nil {
		t.Fatal(err)
	}
	if err := get("mallory"); err != nil {
		t.Fatalf("new studio admin: %v", err)
	}
	if _, err := h.DeleteStudio(as("mallory"), &api.DeleteStudioRequest{StudioId: "stu-a"}); err != nil {
		t.Fatalf("new studio admin: %v", err)
	}
	if _, err := h.DeleteStudio(as("mallory"), &api.DeleteStudioRequest{StudioId: "stu-b"}); !opennimble.IsCode(err, opennimble.ErrAccessDenied) {
		t.Fatalf("admin of stu-a deletes stu-b: %v", err)
	}
}

// A store failure is reported as such, never as a decision.
func TestStoreFailure(t *testing.T) {
	st := seed(t)
	h := New(&fake{}, st, Config{})
	_ = st.Close()
	_, err := h.GetStudio(as("alice"), &api.GetStudioRequest{StudioId: "stu-a"})
	if err == nil || opennimble.IsCode(err, opennimble.ErrAccessDenied) {
		t.Fatalf("closed store: %v", err)
	}
	if _, err := h.GetStudio(as("root"), &api.GetStudioRequest{StudioId: "stu-a"}); err != nil {
		t.Fatalf("account admins need no store: %v", err)
	}
}
