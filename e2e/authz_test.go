package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/internal/testwait"
)

// The principals of the access-control suite. In emulator mode the access
// key id is the principal id, and "test" is an account administrator.
const (
	azRoot    = "test"    // account administrator
	azAdmin   = "sadmin"  // studio administrator (PutStudioMembers, ADMINISTRATOR) of the studio
	azAlice   = "alice"   // studio user: member of lp1
	azBob     = "bob"     // studio user: member of lp1 and lp2
	azMallory = "mallory" // authenticated, member of nothing
)

var azPrincipals = []string{azRoot, azAdmin, azAlice, azBob, azMallory}

// Who may call an operation, as sets of principals.
var (
	azAccount  = []string{azRoot}
	azAdmins   = []string{azRoot, azAdmin}
	azUsers    = []string{azRoot, azAdmin, azAlice, azBob}
	azAlices   = []string{azRoot, azAdmin, azAlice}
	azBobs     = []string{azRoot, azAdmin, azBob}
	azEveryone = azPrincipals
	azNobody   = []string(nil)
)

// azWorld is a studio with everything in it, made by the account
// administrator: a studio administrator, a component, an image, two launch
// profiles, and for each user a READY session with a READY backup.
type azWorld struct {
	t     *testing.T
	e     *env
	ctx   context.Context
	as    map[string]*nimblestudio.NimbleStudio
	admin *nimblestudio.NimbleStudio

	studio, other           string // studio ids: ours, and one only the account admin knows
	comp, image, lp1, lp2   string
	sesAlice, sesBob        string
	bakAlice, bakBob        string
	streamAlice             string
	n                       int    // makes names unique
	caller                  string // the principal of the call being made
	studioARN, sesAliceARN  string
	sesBobARN, compARN      string
	lp1ARN, bakAliceARN     string
	otherRegionARN, missing string
}

func (w *azWorld) unique(prefix string) string {
	w.n++
	return fmt.Sprintf("%s%d", prefix, w.n)
}

func (w *azWorld) fatal(what string, err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
}

func newAzWorld(t *testing.T) *azWorld {
	e := start(t)
	c := testwait.Context(t)
	w := &azWorld{t: t, e: e, ctx: c, admin: e.Admin, as: map[string]*nimblestudio.NimbleStudio{}}
	for _, p := range azPrincipals {
		w.as[p] = e.client(p, "secret-of-"+p)
	}
	w.studio = e.studio("authz")
	w.other = e.studio("elsewhere")
	w.putStudioAdmin(w.studio, azAdmin)
	w.comp = w.newComponent()
	w.image = w.newImage()
	w.lp1, w.lp2 = w.newProfile(), w.newProfile()
	w.putProfileMember(w.lp1, azAlice)
	w.putProfileMember(w.lp1, azBob)
	w.putProfileMember(w.lp2, azBob)
	w.sesAlice, w.bakAlice = w.sessionWithBackup(azAlice)
	w.sesBob, w.bakBob = w.sessionWithBackup(azBob)
	st, err := w.admin.CreateStreamingSessionStreamWithContext(w.ctx, &nimblestudio.CreateStreamingSessionStreamInput{StudioId: &w.studio, SessionId: &w.sesAlice})
	w.fatal("stream", err)
	w.streamAlice = aws.StringValue(st.Stream.StreamId)
	w.fatal("stream ready", w.admin.WaitUntilStreamingSessionStreamReadyWithContext(w.ctx,
		&nimblestudio.GetStreamingSessionStreamInput{StudioId: &w.studio, SessionId: &w.sesAlice, StreamId: &w.streamAlice}, fast()))

	arn := func(typ, id string) string { return "arn:aws:nimble:us-west-2:000000000000:" + typ + "/" + id }
	w.studioARN, w.compARN, w.lp1ARN = arn("studio", w.studio), arn("studio-component", w.comp), arn("launch-profile", w.lp1)
	w.sesAliceARN, w.sesBobARN, w.bakAliceARN = arn("streaming-session", w.sesAlice), arn("streaming-session", w.sesBob), arn("streaming-session-backup", w.bakAlice)
	w.otherRegionARN = "arn:aws:nimble:eu-west-1:000000000000:studio/" + w.studio
	w.missing = "ses-doesnotexist"
	return w
}

func (w *azWorld) putStudioAdmin(studio, who string) {
	_, err := w.admin.PutStudioMembersWithContext(w.ctx, &nimblestudio.PutStudioMembersInput{
		StudioId: &studio, IdentityStoreId: aws.String("d-1234567890"),
		Members: []*nimblestudio.NewStudioMember{{PrincipalId: aws.String(who), Persona: aws.String("ADMINISTRATOR")}},
	})
	w.fatal("put studio member", err)
}

func (w *azWorld) putProfileMember(lp, who string) {
	_, err := w.admin.PutLaunchProfileMembersWithContext(w.ctx, &nimblestudio.PutLaunchProfileMembersInput{
		StudioId: &w.studio, LaunchProfileId: &lp, IdentityStoreId: aws.String("d-1234567890"),
		Members: []*nimblestudio.NewLaunchProfileMember{{PrincipalId: aws.String(who), Persona: aws.String("USER")}},
	})
	w.fatal("put launch profile member", err)
}

func (w *azWorld) newComponent() string {
	out, err := w.admin.CreateStudioComponentWithContext(w.ctx, &nimblestudio.CreateStudioComponentInput{
		StudioId: &w.studio, Name: aws.String(w.unique("component-")), Type: aws.String("CUSTOM"),
	})
	w.fatal("create component", err)
	id := aws.StringValue(out.StudioComponent.StudioComponentId)
	w.fatal("component ready", w.admin.WaitUntilStudioComponentReadyWithContext(w.ctx,
		&nimblestudio.GetStudioComponentInput{StudioId: &w.studio, StudioComponentId: &id}, fast()))
	return id
}

func (w *azWorld) newImage() string {
	out, err := w.admin.CreateStreamingImageWithContext(w.ctx, &nimblestudio.CreateStreamingImageInput{
		StudioId: &w.studio, Name: aws.String(w.unique("image-")), Ec2ImageId: aws.String("ami-0123456789abcdef0"),
	})
	w.fatal("create image", err)
	id := aws.StringValue(out.StreamingImage.StreamingImageId)
	w.fatal("image ready", w.admin.WaitUntilStreamingImageReadyWithContext(w.ctx,
		&nimblestudio.GetStreamingImageInput{StudioId: &w.studio, StreamingImageId: &id}, fast()))
	return id
}

func (w *azWorld) profileInput() *nimblestudio.CreateLaunchProfileInput {
	return &nimblestudio.CreateLaunchProfileInput{
		StudioId: &w.studio, Name: aws.String(w.unique("profile-")),
		Ec2SubnetIds:                  aws.StringSlice([]string{"subnet-0123456789abcdef0"}),
		LaunchProfileProtocolVersions: aws.StringSlice([]string{"2021-03-31"}),
		StudioComponentIds:            aws.StringSlice([]string{w.comp}),
		StreamConfiguration: &nimblestudio.StreamConfigurationCreate{
			ClipboardMode:                    aws.String("ENABLED"),
			Ec2InstanceTypes:                 aws.StringSlice([]string{"g4dn.xlarge"}),
			StreamingImageIds:                aws.StringSlice([]string{w.image}),
			SessionPersistenceMode:           aws.String("ACTIVATED"),
			AutomaticTerminationMode:         aws.String("ACTIVATED"),
			MaxStoppedSessionLengthInMinutes: aws.Int64(60),
			SessionBackup:                    &nimblestudio.StreamConfigurationSessionBackup{Mode: aws.String("AUTOMATIC"), MaxBackupsToRetain: aws.Int64(3)},
		},
	}
}

func (w *azWorld) newProfile() string {
	out, err := w.admin.CreateLaunchProfileWithContext(w.ctx, w.profileInput())
	w.fatal("create launch profile", err)
	id := aws.StringValue(out.LaunchProfile.LaunchProfileId)
	w.fatal("launch profile ready", w.admin.WaitUntilLaunchProfileReadyWithContext(w.ctx,
		&nimblestudio.GetLaunchProfileInput{StudioId: &w.studio, LaunchProfileId: &id}, fast()))
	return id
}

// newSession makes a READY session of lp1 owned by owner.
func (w *azWorld) newSession(owner string) string {
	w.t.Helper()
	out, err := w.admin.CreateStreamingSessionWithContext(w.ctx, &nimblestudio.CreateStreamingSessionInput{
		StudioId: &w.studio, LaunchProfileId: &w.lp1, OwnedBy: aws.String(owner),
	})
	w.fatal("create session", err)
	id := aws.StringValue(out.Session.SessionId)
	w.fatal("session ready", w.admin.WaitUntilStreamingSessionReadyWithContext(w.ctx,
		&nimblestudio.GetStreamingSessionInput{StudioId: &w.studio, SessionId: &id}, fast()))
	return id
}

// stopSession stops a session and waits until it is STOPPED.
func (w *azWorld) stopSession(id string) {
	w.t.Helper()
	_, err := w.admin.StopStreamingSessionWithContext(w.ctx, &nimblestudio.StopStreamingSessionInput{StudioId: &w.studio, SessionId: &id})
	w.fatal("stop session", err)
	w.fatal("session stopped", w.admin.WaitUntilStreamingSessionStoppedWithContext(w.ctx,
		&nimblestudio.GetStreamingSessionInput{StudioId: &w.studio, SessionId: &id}, fast()))
}

// sessionWithBackup makes a READY session owned by owner that was stopped
// once, so that it has a READY backup.
func (w *azWorld) sessionWithBackup(owner string) (string, string) {
	w.t.Helper()
	id := w.newSession(owner)
	w.stopSession(id)
	_, err := w.admin.StartStreamingSessionWithContext(w.ctx, &nimblestudio.StartStreamingSessionInput{StudioId: &w.studio, SessionId: &id})
	w.fatal("start session", err)
	w.fatal("session ready again", w.admin.WaitUntilStreamingSessionReadyWithContext(w.ctx,
		&nimblestudio.GetStreamingSessionInput{StudioId: &w.studio, SessionId: &id}, fast()))
	out, err := w.admin.ListStreamingSessionBackupsWithContext(w.ctx, &nimblestudio.ListStreamingSessionBackupsInput{StudioId: &w.studio, OwnedBy: aws.String(owner)})
	w.fatal("list backups", err)
	for _, b := range out.StreamingSessionBackups {
		if aws.StringValue(b.SessionId) == id && aws.StringValue(b.State) == "READY" {
			return id, aws.StringValue(b.BackupId)
		}
	}
	w.t.Fatalf("no READY backup of session %s: %s", id, out)
	return "", ""
}

// snapshot is the state as the account administrator reads it back through
// the API, plus every stored record's kind, id, version and state, so that
// a refused request that changed anything at all is caught.
func (w *azWorld) snapshot() string {
	w.t.Helper()
	var b strings.Builder
	add := func(what string, out any, err error) {
		j, _ := json.Marshal(out)
		fmt.Fprintf(&b, "%s: %s %v\n", what, j, err)
	}
	a, s := w.admin, &w.studio
	o1, err := a.ListStudiosWithContext(w.ctx, &nimblestudio.ListStudiosInput{})
	add("studios", o1, err)
	o2, err := a.GetStudioWithContext(w.ctx, &nimblestudio.GetStudioInput{StudioId: s})
	add("studio", o2, err)
	o3, err := a.ListStudioMembersWithContext(w.ctx, &nimblestudio.ListStudioMembersInput{StudioId: s})
	add("studio members", o3, err)
	o4, err := a.ListStudioComponentsWithContext(w.ctx, &nimblestudio.ListStudioComponentsInput{StudioId: s})
	add("components", o4, err)
	o5, err := a.ListStreamingImagesWithContext(w.ctx, &nimblestudio.ListStreamingImagesInput{StudioId: s})
	add("images", o5, err)
	o6, err := a.ListLaunchProfilesWithContext(w.ctx, &nimblestudio.ListLaunchProfilesInput{StudioId: s})
	add("launch profiles", o6, err)
	for _, lp := range []string{w.lp1, w.lp2} {
		o, err := a.ListLaunchProfileMembersWithContext(w.ctx, &nimblestudio.ListLaunchProfileMembersInput{StudioId: s, LaunchProfileId: aws.String(lp)})
		add("members of "+lp, o, err)
	}
	o7, err := a.ListStreamingSessionsWithContext(w.ctx, &nimblestudio.ListStreamingSessionsInput{StudioId: s})
	add("sessions", o7, err)
	o8, err := a.ListStreamingSessionBackupsWithContext(w.ctx, &nimblestudio.ListStreamingSessionBackupsInput{StudioId: s})
	add("backups", o8, err)
	o9, err := a.ListEulaAcceptancesWithContext(w.ctx, &nimblestudio.ListEulaAcceptancesInput{StudioId: s})
	add("eula acceptances", o9, err)
	o10, err := a.GetStreamingSessionStreamWithContext(w.ctx, &nimblestudio.GetStreamingSessionStreamInput{StudioId: s, SessionId: &w.sesAlice, StreamId: &w.streamAlice})
	add("stream", o10, err)
	for _, arn := range []string{w.studioARN, w.compARN, w.lp1ARN, w.sesAliceARN, w.sesBobARN, w.bakAliceARN} {
		o, err := a.ListTagsForResourceWithContext(w.ctx, &nimblestudio.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
		add("tags of "+arn, o, err)
	}
	o11, err := a.GetStudioWithContext(w.ctx, &nimblestudio.GetStudioInput{StudioId: &w.other})
	add("other studio", o11, err)
	err = w.e.App.Store.View(w.ctx, func(tx opennimble.Tx) error {
		for _, k := range []opennimble.Kind{opennimble.KindStudio, opennimble.KindStudioComponent, opennimble.KindLaunchProfile,
			opennimble.KindStreamingImage, opennimble.KindStreamingSession, opennimble.KindStreamingBackup, opennimble.KindStreamingStream,
			opennimble.KindStudioMember, opennimble.KindLaunchProfileMember, opennimble.KindEulaAcceptance} {
			recs, err := tx.List(w.ctx, opennimble.ListQuery{Kind: k})
			if err != nil {
				return err
			}
			for _, r := range recs {
				fmt.Fprintf(&b, "record %s %s v%d %s\n", r.Kind, r.ID, r.Version, r.State)
			}
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return b.String()
}

// settle waits until nothing is in a transition, so that snapshots taken
// around a call differ only by what the call did.
func (w *azWorld) settle() string {
	w.t.Helper()
	deadline := testwait.Deadline(w.t)
	for {
		s := w.snapshot()
		if !strings.Contains(s, "_IN_PROGRESS") {
			return s
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("state does not settle:\n%s", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sweep deletes the sessions the cases made, keeping the world's own.
func (w *azWorld) sweep() {
	w.t.Helper()
	w.settle()
	out, err := w.admin.ListStreamingSessionsWithContext(w.ctx, &nimblestudio.ListStreamingSessionsInput{StudioId: &w.studio})
	w.fatal("list sessions", err)
	for _, s := range out.Sessions {
		id := aws.StringValue(s.SessionId)
		if id == w.sesAlice || id == w.sesBob {
			continue
		}
		_, err := w.admin.DeleteStreamingSessionWithContext(w.ctx, &nimblestudio.DeleteStreamingSessionInput{StudioId: &w.studio, SessionId: &id})
		w.fatal("delete session "+id, err)
	}
	w.settle()
}

// azCase is one row of the access table: an operation on someone's
// resource, and who may call it.
type azCase struct {
	op      string   // the operation
	on      string   // whose resource, for the report
	allowed []string // the principals that may call it
	// code is the error an allowed caller gets ("" for success): for a
	// resource that does not exist, administrators learn so.
	code string
	// prep, when set, makes a fresh resource for each call (as the account
	// administrator) and returns its id.
	prep func(w *azWorld) string
	call func(w *azWorld, c *nimblestudio.NimbleStudio, id string) error
}

func TestAccessControl(t *testing.T) {
	w := newAzWorld(t)
	parent := t

	t.Run("each principal sees its own", func(t *testing.T) { w.t = t; w.checkVisibility(t); w.t = parent })

	covered := map[string]bool{}
	for _, c := range azCases() {
		covered[c.op] = true
		t.Run(c.op+" on "+c.on, func(t *testing.T) {
			w.t = t
			defer func() { w.t = parent }()
			for _, who := range azPrincipals {
				id := ""
				if c.prep != nil {
					id = c.prep(w)
				}
				before := w.settle()
				w.caller = who
				err := c.call(w, w.as[who], id)
				if slices.Contains(c.allowed, who) {
					if errCode(err) != c.code {
						t.Errorf("%s: %s on %s as %s: %v; want %s", c.op, c.op, c.on, who, err, orSuccess(c.code))
					}
				} else {
					w.checkDenied(t, c.op, who, err, before)
				}
				w.sweep()
			}
		})
	}
	for _, op := range api.Operations {
		if !covered[op.Name] {
			t.Errorf("the access table has no row for %s", op.Name)
		}
	}

	t.Run("membership changes take effect at once", func(t *testing.T) { w.t = t; w.checkRevocation(t); w.t = parent })
}

func orSuccess(code string) string {
	if code == "" {
		return "success"
	}
	return code
}

// checkDenied wants AccessDeniedException in AWS's words, and the state
// unchanged as the account administrator reads it back.
func (w *azWorld) checkDenied(t *testing.T, op, who string, err error, before string) {
	t.Helper()
	var ae awserr.Error
	switch {
	case errCode(err) != "AccessDeniedException":
		t.Errorf("%s as %s: %v; want AccessDeniedException", op, who, err)
	case !errors.As(err, &ae) || !strings.HasPrefix(ae.Message(), "User: "+who+" is not authorized to perform: nimble:"+op+" on resource: "):
		t.Errorf("%s as %s: message %q", op, who, ae.Message())
	}
	if after := w.settle(); after != before {
		t.Errorf("%s as %s, which must be refused, changed the state:\n%s", op, who, diffLines(before, after))
	}
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	add := func(sign, l string) {
		if len(l) > 300 {
			l = l[:300] + "…"
		}
		out = append(out, sign+l)
	}
	for _, l := range al {
		if !slices.Contains(bl, l) {
			add("- ", l)
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			add("+ ", l)
		}
	}
	return strings.Join(out, "\n")
}

func azCases() []azCase {
	sess := func(owner string) func(w *azWorld) string {
		return func(w *azWorld) string { return w.newSession(owner) }
	}
	stopped := func(owner string) func(w *azWorld) string {
		return func(w *azWorld) string { id := w.newSession(owner); w.stopSession(id); return id }
	}
	return []azCase{
		// The account.
		{op: "CreateStudio", on: "the account", allowed: azAccount, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.CreateStudioWithContext(w.ctx, &nimblestudio.CreateStudioInput{StudioName: aws.String(w.unique("new")), DisplayName: aws.String("new"),
				AdminRoleArn: aws.String("arn:aws:iam::000000000000:role/admin"), UserRoleArn: aws.String("arn:aws:iam::000000000000:role/user")})
			return err
		}},
		{op: "ListStudios", on: "the account", allowed: azEveryone, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListStudiosWithContext(w.ctx, &nimblestudio.ListStudiosInput{})
			return err
		}},
		{op: "GetEula", on: "the EULA catalogue", allowed: azEveryone, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetEulaWithContext(w.ctx, &nimblestudio.GetEulaInput{EulaId: aws.String("eula-nimble-studio")})
			return err
		}},
		{op: "ListEulas", on: "the EULA catalogue", allowed: azEveryone, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListEulasWithContext(w.ctx, &nimblestudio.ListEulasInput{})
			return err
		}},

		// The studio.
		{op: "GetStudio", on: "the studio", allowed: azUsers, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetStudioWithContext(w.ctx, &nimblestudio.GetStudioInput{StudioId: &w.studio})
			return err
		}},
		{op: "GetStudio", on: "another studio", allowed: azAccount, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetStudioWithContext(w.ctx, &nimblestudio.GetStudioInput{StudioId: &w.other})
			return err
		}},
		{op: "UpdateStudio", on: "the studio", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.UpdateStudioWithContext(w.ctx, &nimblestudio.UpdateStudioInput{StudioId: &w.studio, DisplayName: aws.String(w.unique("renamed "))})
			return err
		}},
		{op: "StartStudioSSOConfigurationRepair", on: "the studio", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.StartStudioSSOConfigurationRepairWithContext(w.ctx, &nimblestudio.StartStudioSSOConfigurationRepairInput{StudioId: &w.studio})
			return err
		}},
		{op: "DeleteStudio", on: "a studio the studio admin administers", allowed: azAdmins,
			prep: func(w *azWorld) string {
				id := w.e.studio(w.unique("doomed"))
				w.putStudioAdmin(id, azAdmin)
				return id
			},
			call: func(w *azWorld, c *nimblestudio.NimbleStudio, id string) error {
				_, err := c.DeleteStudioWithContext(w.ctx, &nimblestudio.DeleteStudioInput{StudioId: &id})
				return err
			}},
		{op: "DeleteStudio", on: "a studio the studio admin does not administer", allowed: azAccount,
			prep: func(w *azWorld) string { return w.e.studio(w.unique("unrelated")) },
			call: func(w *azWorld, c *nimblestudio.NimbleStudio, id string) error {
				_, err := c.DeleteStudioWithContext(w.ctx, &nimblestudio.DeleteStudioInput{StudioId: &id})
				return err
			}},

		// Studio membership.
		{op: "PutStudioMembers", on: "the studio", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.PutStudioMembersWithContext(w.ctx, &nimblestudio.PutStudioMembersInput{StudioId: &w.studio, IdentityStoreId: aws.String("d-1234567890"),
				Members: []*nimblestudio.NewStudioMember{{PrincipalId: aws.String(w.unique("admin-")), Persona: aws.String("ADMINISTRATOR")}}})
			return err
		}},
		{op: "PutStudioMembers", on: "the studio, naming the caller administrator", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.PutStudioMembersWithContext(w.ctx, &nimblestudio.PutStudioMembersInput{StudioId: &w.studio, IdentityStoreId: aws.String("d-1234567890"),
				Members: []*nimblestudio.NewStudioMember{{PrincipalId: aws.String(w.caller), Persona: aws.String("ADMINISTRATOR")}}})
			return err
		}},
		{op: "GetStudioMember", on: "the studio admin's membership", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetStudioMemberWithContext(w.ctx, &nimblestudio.GetStudioMemberInput{StudioId: &w.studio, PrincipalId: aws.String(azAdmin)})
			return err
		}},
		{op: "ListStudioMembers", on: "the studio", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListStudioMembersWithContext(w.ctx, &nimblestudio.ListStudioMembersInput{StudioId: &w.studio})
			return err
		}},
		{op: "DeleteStudioMember", on: "a studio member", allowed: azAdmins,
			prep: func(w *azWorld) string { id := w.unique("temp-admin-"); w.putStudioAdmin(w.studio, id); return id },
			call: func(w *azWorld, c *nimblestudio.NimbleStudio, id string) error {
				_, err := c.DeleteStudioMemberWithContext(w.ctx, &nimblestudio.DeleteStudioMemberInput{StudioId: &w.studio, PrincipalId: &id})
				return err
			}},

		// Studio components.
		{op: "CreateStudioComponent", on: "the studio", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.CreateStudioComponentWithContext(w.ctx, &nimblestudio.CreateStudioComponentInput{StudioId: &w.studio, Name: aws.String(w.unique("c-")), Type: aws.String("CUSTOM")})
			return err
		}},
		{op: "GetStudioComponent", on: "the studio's component", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetStudioComponentWithContext(w.ctx, &nimblestudio.GetStudioComponentInput{StudioId: &w.studio, StudioComponentId: &w.comp})
			return err
		}},
		{op: "ListStudioComponents", on: "the studio", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListStudioComponentsWithContext(w.ctx, &nimblestudio.ListStudioComponentsInput{StudioId: &w.studio})
			return err
		}},
		{op: "UpdateStudioComponent", on: "the studio's component", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.UpdateStudioComponentWithContext(w.ctx, &nimblestudio.UpdateStudioComponentInput{StudioId: &w.studio, StudioComponentId: &w.comp, Description: aws.String(w.unique("d"))})
			return err
		}},
		{op: "DeleteStudioComponent", on: "a studio component", allowed: azAdmins, prep: (*azWorld).newComponent,
			call: func(w *azWorld, c *nimblestudio.NimbleStudio, id string) error {
				_, err := c.DeleteStudioComponentWithContext(w.ctx, &nimblestudio.DeleteStudioComponentInput{StudioId: &w.studio, StudioComponentId: &id})
				return err
			}},

		// Streaming images.
		{op: "CreateStreamingImage", on: "the studio", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.CreateStreamingImageWithContext(w.ctx, &nimblestudio.CreateStreamingImageInput{StudioId: &w.studio, Name: aws.String(w.unique("i-")), Ec2ImageId: aws.String("ami-0123456789abcdef0")})
			return err
		}},
		{op: "GetStreamingImage", on: "the studio's image", allowed: azUsers, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetStreamingImageWithContext(w.ctx, &nimblestudio.GetStreamingImageInput{StudioId: &w.studio, StreamingImageId: &w.image})
			return err
		}},
		{op: "ListStreamingImages", on: "the studio", allowed: azUsers, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListStreamingImagesWithContext(w.ctx, &nimblestudio.ListStreamingImagesInput{StudioId: &w.studio})
			return err
		}},
		{op: "UpdateStreamingImage", on: "the studio's image", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.UpdateStreamingImageWithContext(w.ctx, &nimblestudio.UpdateStreamingImageInput{StudioId: &w.studio, StreamingImageId: &w.image, Description: aws.String(w.unique("d"))})
			return err
		}},
		{op: "DeleteStreamingImage", on: "a streaming image", allowed: azAdmins, prep: (*azWorld).newImage,
			call: func(w *azWorld, c *nimblestudio.NimbleStudio, id string) error {
				_, err := c.DeleteStreamingImageWithContext(w.ctx, &nimblestudio.DeleteStreamingImageInput{StudioId: &w.studio, StreamingImageId: &id})
				return err
			}},

		// Launch profiles.
		{op: "CreateLaunchProfile", on: "the studio", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.CreateLaunchProfileWithContext(w.ctx, w.profileInput())
			return err
		}},
		{op: "GetLaunchProfile", on: "lp1 (alice, bob)", allowed: azUsers, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetLaunchProfileWithContext(w.ctx, &nimblestudio.GetLaunchProfileInput{StudioId: &w.studio, LaunchProfileId: &w.lp1})
			return err
		}},
		{op: "GetLaunchProfile", on: "lp2 (bob)", allowed: azBobs, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetLaunchProfileWithContext(w.ctx, &nimblestudio.GetLaunchProfileInput{StudioId: &w.studio, LaunchProfileId: &w.lp2})
			return err
		}},
		{op: "GetLaunchProfileDetails", on: "lp2 (bob)", allowed: azBobs, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetLaunchProfileDetailsWithContext(w.ctx, &nimblestudio.GetLaunchProfileDetailsInput{StudioId: &w.studio, LaunchProfileId: &w.lp2})
			return err
		}},
		{op: "GetLaunchProfileInitialization", on: "lp2 (bob)", allowed: azBobs, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetLaunchProfileInitializationWithContext(w.ctx, &nimblestudio.GetLaunchProfileInitializationInput{StudioId: &w.studio, LaunchProfileId: &w.lp2,
				LaunchProfileProtocolVersions: aws.StringSlice([]string{"2021-03-31"}), LaunchPurpose: aws.String("WORKSTATION"), Platform: aws.String("LINUX")})
			return err
		}},
		{op: "ListLaunchProfiles", on: "the studio", allowed: azUsers, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListLaunchProfilesWithContext(w.ctx, &nimblestudio.ListLaunchProfilesInput{StudioId: &w.studio})
			return err
		}},
		{op: "ListLaunchProfiles", on: "bob's memberships", allowed: azBobs, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListLaunchProfilesWithContext(w.ctx, &nimblestudio.ListLaunchProfilesInput{StudioId: &w.studio, PrincipalId: aws.String(azBob)})
			return err
		}},
		{op: "UpdateLaunchProfile", on: "lp1", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.UpdateLaunchProfileWithContext(w.ctx, &nimblestudio.UpdateLaunchProfileInput{StudioId: &w.studio, LaunchProfileId: &w.lp1, Description: aws.String(w.unique("d"))})
			return err
		}},
		{op: "DeleteLaunchProfile", on: "a launch profile", allowed: azAdmins, prep: (*azWorld).newProfile,
			call: func(w *azWorld, c *nimblestudio.NimbleStudio, id string) error {
				_, err := c.DeleteLaunchProfileWithContext(w.ctx, &nimblestudio.DeleteLaunchProfileInput{StudioId: &w.studio, LaunchProfileId: &id})
				return err
			}},

		// Launch profile membership.
		{op: "PutLaunchProfileMembers", on: "lp2", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.PutLaunchProfileMembersWithContext(w.ctx, &nimblestudio.PutLaunchProfileMembersInput{StudioId: &w.studio, LaunchProfileId: &w.lp2,
				IdentityStoreId: aws.String("d-1234567890"), Members: []*nimblestudio.NewLaunchProfileMember{{PrincipalId: aws.String(w.unique("user-")), Persona: aws.String("USER")}}})
			return err
		}},
		{op: "GetLaunchProfileMember", on: "alice's membership of lp1", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetLaunchProfileMemberWithContext(w.ctx, &nimblestudio.GetLaunchProfileMemberInput{StudioId: &w.studio, LaunchProfileId: &w.lp1, PrincipalId: aws.String(azAlice)})
			return err
		}},
		{op: "ListLaunchProfileMembers", on: "lp1 (alice, bob)", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListLaunchProfileMembersWithContext(w.ctx, &nimblestudio.ListLaunchProfileMembersInput{StudioId: &w.studio, LaunchProfileId: &w.lp1})
			return err
		}},
		{op: "UpdateLaunchProfileMember", on: "alice's membership of lp1", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.UpdateLaunchProfileMemberWithContext(w.ctx, &nimblestudio.UpdateLaunchProfileMemberInput{StudioId: &w.studio, LaunchProfileId: &w.lp1,
				PrincipalId: aws.String(azAlice), Persona: aws.String("USER")})
			return err
		}},
		{op: "DeleteLaunchProfileMember", on: "a member of lp2", allowed: azAdmins,
			prep: func(w *azWorld) string { id := w.unique("temp-user-"); w.putProfileMember(w.lp2, id); return id },
			call: func(w *azWorld, c *nimblestudio.NimbleStudio, id string) error {
				_, err := c.DeleteLaunchProfileMemberWithContext(w.ctx, &nimblestudio.DeleteLaunchProfileMemberInput{StudioId: &w.studio, LaunchProfileId: &w.lp2, PrincipalId: &id})
				return err
			}},

		// EULAs of the studio.
		{op: "AcceptEulas", on: "the studio", allowed: azUsers, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.AcceptEulasWithContext(w.ctx, &nimblestudio.AcceptEulasInput{StudioId: &w.studio, EulaIds: aws.StringSlice([]string{"eula-nimble-studio"})})
			return err
		}},
		{op: "ListEulaAcceptances", on: "the studio", allowed: azUsers, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListEulaAcceptancesWithContext(w.ctx, &nimblestudio.ListEulaAcceptancesInput{StudioId: &w.studio})
			return err
		}},

		// Streaming sessions.
		{op: "CreateStreamingSession", on: "lp1, owned by the caller", allowed: azUsers, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.CreateStreamingSessionWithContext(w.ctx, &nimblestudio.CreateStreamingSessionInput{StudioId: &w.studio, LaunchProfileId: &w.lp1})
			return err
		}},
		{op: "CreateStreamingSession", on: "lp2 (bob), owned by the caller", allowed: azBobs, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.CreateStreamingSessionWithContext(w.ctx, &nimblestudio.CreateStreamingSessionInput{StudioId: &w.studio, LaunchProfileId: &w.lp2})
			return err
		}},
		{op: "CreateStreamingSession", on: "lp1, owned by alice", allowed: azAlices, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.CreateStreamingSessionWithContext(w.ctx, &nimblestudio.CreateStreamingSessionInput{StudioId: &w.studio, LaunchProfileId: &w.lp1, OwnedBy: aws.String(azAlice)})
			return err
		}},
		{op: "GetStreamingSession", on: "alice's session", allowed: azAlices, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetStreamingSessionWithContext(w.ctx, &nimblestudio.GetStreamingSessionInput{StudioId: &w.studio, SessionId: &w.sesAlice})
			return err
		}},
		{op: "GetStreamingSession", on: "bob's session", allowed: azBobs, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetStreamingSessionWithContext(w.ctx, &nimblestudio.GetStreamingSessionInput{StudioId: &w.studio, SessionId: &w.sesBob})
			return err
		}},
		{op: "GetStreamingSession", on: "a session that does not exist", allowed: azAdmins, code: "ResourceNotFoundException", call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetStreamingSessionWithContext(w.ctx, &nimblestudio.GetStreamingSessionInput{StudioId: &w.studio, SessionId: &w.missing})
			return err
		}},
		{op: "GetStreamingSession", on: "alice's session, through another studio", allowed: azAccount, code: "ResourceNotFoundException", call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetStreamingSessionWithContext(w.ctx, &nimblestudio.GetStreamingSessionInput{StudioId: &w.other, SessionId: &w.sesAlice})
			return err
		}},
		{op: "ListStreamingSessions", on: "the studio", allowed: azUsers, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListStreamingSessionsWithContext(w.ctx, &nimblestudio.ListStreamingSessionsInput{StudioId: &w.studio})
			return err
		}},
		{op: "ListStreamingSessions", on: "bob's sessions", allowed: azBobs, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListStreamingSessionsWithContext(w.ctx, &nimblestudio.ListStreamingSessionsInput{StudioId: &w.studio, OwnedBy: aws.String(azBob)})
			return err
		}},
		{op: "StopStreamingSession", on: "alice's session", allowed: azAlices, prep: sess(azAlice), call: func(w *azWorld, c *nimblestudio.NimbleStudio, id string) error {
			_, err := c.StopStreamingSessionWithContext(w.ctx, &nimblestudio.StopStreamingSessionInput{StudioId: &w.studio, SessionId: &id})
			return err
		}},
		{op: "StartStreamingSession", on: "bob's session", allowed: azBobs, prep: stopped(azBob), call: func(w *azWorld, c *nimblestudio.NimbleStudio, id string) error {
			_, err := c.StartStreamingSessionWithContext(w.ctx, &nimblestudio.StartStreamingSessionInput{StudioId: &w.studio, SessionId: &id})
			return err
		}},
		{op: "DeleteStreamingSession", on: "alice's session", allowed: azAlices, prep: sess(azAlice), call: func(w *azWorld, c *nimblestudio.NimbleStudio, id string) error {
			_, err := c.DeleteStreamingSessionWithContext(w.ctx, &nimblestudio.DeleteStreamingSessionInput{StudioId: &w.studio, SessionId: &id})
			return err
		}},
		{op: "CreateStreamingSessionStream", on: "alice's session", allowed: azAlices, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.CreateStreamingSessionStreamWithContext(w.ctx, &nimblestudio.CreateStreamingSessionStreamInput{StudioId: &w.studio, SessionId: &w.sesAlice})
			return err
		}},
		{op: "GetStreamingSessionStream", on: "alice's session", allowed: azAlices, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetStreamingSessionStreamWithContext(w.ctx, &nimblestudio.GetStreamingSessionStreamInput{StudioId: &w.studio, SessionId: &w.sesAlice, StreamId: &w.streamAlice})
			return err
		}},

		// Backups.
		{op: "GetStreamingSessionBackup", on: "alice's backup", allowed: azAlices, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetStreamingSessionBackupWithContext(w.ctx, &nimblestudio.GetStreamingSessionBackupInput{StudioId: &w.studio, BackupId: &w.bakAlice})
			return err
		}},
		{op: "GetStreamingSessionBackup", on: "bob's backup", allowed: azBobs, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.GetStreamingSessionBackupWithContext(w.ctx, &nimblestudio.GetStreamingSessionBackupInput{StudioId: &w.studio, BackupId: &w.bakBob})
			return err
		}},
		{op: "ListStreamingSessionBackups", on: "the studio", allowed: azUsers, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListStreamingSessionBackupsWithContext(w.ctx, &nimblestudio.ListStreamingSessionBackupsInput{StudioId: &w.studio})
			return err
		}},
		{op: "ListStreamingSessionBackups", on: "alice's backups", allowed: azAlices, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListStreamingSessionBackupsWithContext(w.ctx, &nimblestudio.ListStreamingSessionBackupsInput{StudioId: &w.studio, OwnedBy: aws.String(azAlice)})
			return err
		}},

		// Tags, decided on the resource the ARN names.
		{op: "TagResource", on: "alice's session", allowed: azAlices, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.TagResourceWithContext(w.ctx, &nimblestudio.TagResourceInput{ResourceArn: &w.sesAliceARN, Tags: map[string]*string{"k": aws.String(w.unique("v"))}})
			return err
		}},
		{op: "TagResource", on: "the studio", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.TagResourceWithContext(w.ctx, &nimblestudio.TagResourceInput{ResourceArn: &w.studioARN, Tags: map[string]*string{"k": aws.String(w.unique("v"))}})
			return err
		}},
		{op: "TagResource", on: "alice's backup", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.TagResourceWithContext(w.ctx, &nimblestudio.TagResourceInput{ResourceArn: &w.bakAliceARN, Tags: map[string]*string{"k": aws.String(w.unique("v"))}})
			return err
		}},
		{op: "TagResource", on: "an ARN of another region", allowed: azNobody, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.TagResourceWithContext(w.ctx, &nimblestudio.TagResourceInput{ResourceArn: &w.otherRegionARN, Tags: map[string]*string{"k": aws.String("v")}})
			return err
		}},
		{op: "UntagResource", on: "bob's session", allowed: azBobs,
			prep: func(w *azWorld) string {
				_, err := w.admin.TagResourceWithContext(w.ctx, &nimblestudio.TagResourceInput{ResourceArn: &w.sesBobARN, Tags: map[string]*string{"gone": aws.String("soon")}})
				w.fatal("tag", err)
				return ""
			},
			call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
				_, err := c.UntagResourceWithContext(w.ctx, &nimblestudio.UntagResourceInput{ResourceArn: &w.sesBobARN, TagKeys: aws.StringSlice([]string{"gone"})})
				return err
			}},
		{op: "ListTagsForResource", on: "alice's session", allowed: azAlices, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListTagsForResourceWithContext(w.ctx, &nimblestudio.ListTagsForResourceInput{ResourceArn: &w.sesAliceARN})
			return err
		}},
		{op: "ListTagsForResource", on: "the studio", allowed: azUsers, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListTagsForResourceWithContext(w.ctx, &nimblestudio.ListTagsForResourceInput{ResourceArn: &w.studioARN})
			return err
		}},
		{op: "ListTagsForResource", on: "the studio's component", allowed: azAdmins, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListTagsForResourceWithContext(w.ctx, &nimblestudio.ListTagsForResourceInput{ResourceArn: &w.compARN})
			return err
		}},
		{op: "ListTagsForResource", on: "alice's backup", allowed: azAlices, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListTagsForResourceWithContext(w.ctx, &nimblestudio.ListTagsForResourceInput{ResourceArn: &w.bakAliceARN})
			return err
		}},
		{op: "ListTagsForResource", on: "an ARN of another region", allowed: azNobody, call: func(w *azWorld, c *nimblestudio.NimbleStudio, _ string) error {
			_, err := c.ListTagsForResourceWithContext(w.ctx, &nimblestudio.ListTagsForResourceInput{ResourceArn: &w.otherRegionARN})
			return err
		}},
	}
}

// checkVisibility checks what lists show each principal.
func (w *azWorld) checkVisibility(t *testing.T) {
	ids := func(n int, id func(int) *string) []string {
		out := make([]string, 0, n)
		for i := range n {
			out = append(out, aws.StringValue(id(i)))
		}
		sort.Strings(out)
		return out
	}
	sorted := func(s ...string) []string { s = slices.Clone(s); sort.Strings(s); return s }
	studios := map[string][]string{
		azRoot: sorted(w.studio, w.other), azAdmin: {w.studio}, azAlice: {w.studio}, azBob: {w.studio}, azMallory: {},
	}
	profiles := map[string][]string{azRoot: sorted(w.lp1, w.lp2), azAdmin: sorted(w.lp1, w.lp2), azAlice: {w.lp1}, azBob: sorted(w.lp1, w.lp2)}
	sessions := map[string][]string{azRoot: sorted(w.sesAlice, w.sesBob), azAdmin: sorted(w.sesAlice, w.sesBob), azAlice: {w.sesAlice}, azBob: {w.sesBob}}
	backups := map[string][]string{azRoot: sorted(w.bakAlice, w.bakBob), azAdmin: sorted(w.bakAlice, w.bakBob), azAlice: {w.bakAlice}, azBob: {w.bakBob}}
	for _, who := range azPrincipals {
		c := w.as[who]
		ls, err := c.ListStudiosWithContext(w.ctx, &nimblestudio.ListStudiosInput{})
		if err != nil {
			t.Errorf("ListStudios as %s: %v", who, err)
		} else if got := ids(len(ls.Studios), func(i int) *string { return ls.Studios[i].StudioId }); !slices.Equal(got, studios[who]) {
			t.Errorf("ListStudios as %s: %v, want %v", who, got, studios[who])
		}
		if who == azMallory {
			continue
		}
		lp, err := c.ListLaunchProfilesWithContext(w.ctx, &nimblestudio.ListLaunchProfilesInput{StudioId: &w.studio})
		if err != nil {
			t.Errorf("ListLaunchProfiles as %s: %v", who, err)
		} else if got := ids(len(lp.LaunchProfiles), func(i int) *string { return lp.LaunchProfiles[i].LaunchProfileId }); !slices.Equal(got, profiles[who]) {
			t.Errorf("ListLaunchProfiles as %s: %v, want %v", who, got, profiles[who])
		}
		ss, err := c.ListStreamingSessionsWithContext(w.ctx, &nimblestudio.ListStreamingSessionsInput{StudioId: &w.studio})
		if err != nil {
			t.Errorf("ListStreamingSessions as %s: %v", who, err)
		} else if got := ids(len(ss.Sessions), func(i int) *string { return ss.Sessions[i].SessionId }); !slices.Equal(got, sessions[who]) {
			t.Errorf("ListStreamingSessions as %s: %v, want %v", who, got, sessions[who])
		}
		bs, err := c.ListStreamingSessionBackupsWithContext(w.ctx, &nimblestudio.ListStreamingSessionBackupsInput{StudioId: &w.studio})
		if err != nil {
			t.Errorf("ListStreamingSessionBackups as %s: %v", who, err)
		} else if got := ids(len(bs.StreamingSessionBackups), func(i int) *string { return bs.StreamingSessionBackups[i].BackupId }); !slices.Equal(got, backups[who]) {
			t.Errorf("ListStreamingSessionBackups as %s: %v, want %v", who, got, backups[who])
		}
	}
	// A session a user creates is its own.
	out, err := w.as[azAlice].CreateStreamingSessionWithContext(w.ctx, &nimblestudio.CreateStreamingSessionInput{StudioId: &w.studio, LaunchProfileId: &w.lp1})
	if err != nil {
		t.Errorf("alice creates a session: %v", err)
	} else if o := aws.StringValue(out.Session.OwnedBy); o != azAlice {
		t.Errorf("alice's new session is owned by %q", o)
	}
	w.settle()
	w.sweep()
}

// checkRevocation removes and restores memberships: each change holds from
// the next request on.
func (w *azWorld) checkRevocation(t *testing.T) {
	bob, alice := w.as[azBob], w.as[azAlice]
	getLP2 := func() error {
		_, err := bob.GetLaunchProfileWithContext(w.ctx, &nimblestudio.GetLaunchProfileInput{StudioId: &w.studio, LaunchProfileId: &w.lp2})
		return err
	}
	if err := getLP2(); err != nil {
		t.Fatalf("bob reads lp2: %v", err)
	}
	_, err := w.admin.DeleteLaunchProfileMemberWithContext(w.ctx, &nimblestudio.DeleteLaunchProfileMemberInput{StudioId: &w.studio, LaunchProfileId: &w.lp2, PrincipalId: aws.String(azBob)})
	w.fatal("remove bob from lp2", err)
	if err := getLP2(); errCode(err) != "AccessDeniedException" {
		t.Errorf("bob reads lp2 after his removal: %v", err)
	}
	_, err = bob.CreateStreamingSessionWithContext(w.ctx, &nimblestudio.CreateStreamingSessionInput{StudioId: &w.studio, LaunchProfileId: &w.lp2})
	if errCode(err) != "AccessDeniedException" {
		t.Errorf("bob launches lp2 after his removal: %v", err)
	}
	w.putProfileMember(w.lp2, azBob)
	if err := getLP2(); err != nil {
		t.Errorf("bob reads lp2 once back: %v", err)
	}

	// Without any launch profile, alice is no user of the studio: not even
	// her own session answers.
	_, err = w.admin.DeleteLaunchProfileMemberWithContext(w.ctx, &nimblestudio.DeleteLaunchProfileMemberInput{StudioId: &w.studio, LaunchProfileId: &w.lp1, PrincipalId: aws.String(azAlice)})
	w.fatal("remove alice from lp1", err)
	if _, err := alice.GetStudioWithContext(w.ctx, &nimblestudio.GetStudioInput{StudioId: &w.studio}); errCode(err) != "AccessDeniedException" {
		t.Errorf("alice reads the studio after her removal: %v", err)
	}
	if _, err := alice.GetStreamingSessionWithContext(w.ctx, &nimblestudio.GetStreamingSessionInput{StudioId: &w.studio, SessionId: &w.sesAlice}); errCode(err) != "AccessDeniedException" {
		t.Errorf("alice reads her session after her removal: %v", err)
	}
	ls, err := alice.ListStudiosWithContext(w.ctx, &nimblestudio.ListStudiosInput{})
	if err != nil || len(ls.Studios) != 0 {
		t.Errorf("alice lists studios after her removal: %v %v", ls, err)
	}
	w.putProfileMember(w.lp1, azAlice)
	if _, err := alice.GetStreamingSessionWithContext(w.ctx, &nimblestudio.GetStreamingSessionInput{StudioId: &w.studio, SessionId: &w.sesAlice}); err != nil {
		t.Errorf("alice reads her session once back: %v", err)
	}

	// A studio administrator removed is no administrator.
	_, err = w.admin.DeleteStudioMemberWithContext(w.ctx, &nimblestudio.DeleteStudioMemberInput{StudioId: &w.studio, PrincipalId: aws.String(azAdmin)})
	w.fatal("remove sadmin", err)
	if _, err := w.as[azAdmin].ListStudioMembersWithContext(w.ctx, &nimblestudio.ListStudioMembersInput{StudioId: &w.studio}); errCode(err) != "AccessDeniedException" {
		t.Errorf("former studio admin lists members: %v", err)
	}
	w.putStudioAdmin(w.studio, azAdmin)
}
