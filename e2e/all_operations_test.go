package e2e

import (
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/request"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	"github.com/opennimble/opennimble/api"
)

// opRecorder records the operations a client completed without an error.
type opRecorder struct {
	mu  sync.Mutex
	ops map[string]bool
}

func record(c *nimblestudio.NimbleStudio) *opRecorder {
	r := &opRecorder{ops: map[string]bool{}}
	c.Handlers.Complete.PushBack(func(req *request.Request) {
		if req.Error == nil {
			r.mu.Lock()
			r.ops[req.Operation.Name] = true
			r.mu.Unlock()
		}
	})
	return r
}

func (r *opRecorder) missing() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, op := range api.Operations {
		if !r.ops[op.Name] {
			out = append(out, op.Name)
		}
	}
	sort.Strings(out)
	return out
}

// TestAllOperationsAndWaiters drives each of the 49 operations successfully
// and each of the 12 waiters of the model through the real Go client, in the
// order a studio would use them, and checks what comes back.
func TestAllOperationsAndWaiters(t *testing.T) {
	e := start(t)
	c := e.Admin
	rec := record(c)
	cx := ctx(t)

	// Studio.
	stu := must[*nimblestudio.CreateStudioOutput](t)(c.CreateStudioWithContext(cx, &nimblestudio.CreateStudioInput{
		AdminRoleArn: aws.String("arn:aws:iam::000000000000:role/admin"), UserRoleArn: aws.String("arn:aws:iam::000000000000:role/user"),
		DisplayName: aws.String("All ops"), StudioName: aws.String("allops"),
	})).Studio
	sid := stu.StudioId
	check(t, c.WaitUntilStudioReadyWithContext(cx, &nimblestudio.GetStudioInput{StudioId: sid}, fast()))
	must[*nimblestudio.UpdateStudioOutput](t)(c.UpdateStudioWithContext(cx, &nimblestudio.UpdateStudioInput{StudioId: sid, DisplayName: aws.String("All operations")}))
	check(t, c.WaitUntilStudioReadyWithContext(cx, &nimblestudio.GetStudioInput{StudioId: sid}, fast()))
	must[*nimblestudio.StartStudioSSOConfigurationRepairOutput](t)(c.StartStudioSSOConfigurationRepairWithContext(cx, &nimblestudio.StartStudioSSOConfigurationRepairInput{StudioId: sid}))
	check(t, c.WaitUntilStudioReadyWithContext(cx, &nimblestudio.GetStudioInput{StudioId: sid}, fast()))
	if got := must[*nimblestudio.ListStudiosOutput](t)(c.ListStudiosWithContext(cx, &nimblestudio.ListStudiosInput{})); len(got.Studios) != 1 {
		t.Fatalf("ListStudios: %s", got)
	}

	// Members.
	must[*nimblestudio.PutStudioMembersOutput](t)(c.PutStudioMembersWithContext(cx, &nimblestudio.PutStudioMembersInput{
		StudioId: sid, IdentityStoreId: aws.String("d-1234567890"),
		Members: []*nimblestudio.NewStudioMember{{PrincipalId: aws.String("boss"), Persona: aws.String("ADMINISTRATOR")}},
	}))
	if m := must[*nimblestudio.GetStudioMemberOutput](t)(c.GetStudioMemberWithContext(cx, &nimblestudio.GetStudioMemberInput{StudioId: sid, PrincipalId: aws.String("boss")})); aws.StringValue(m.Member.Persona) != "ADMINISTRATOR" {
		t.Fatalf("GetStudioMember: %s", m)
	}
	if l := must[*nimblestudio.ListStudioMembersOutput](t)(c.ListStudioMembersWithContext(cx, &nimblestudio.ListStudioMembersInput{StudioId: sid})); len(l.Members) != 1 {
		t.Fatalf("ListStudioMembers: %s", l)
	}

	// EULAs.
	eulas := must[*nimblestudio.ListEulasOutput](t)(c.ListEulasWithContext(cx, &nimblestudio.ListEulasInput{}))
	if len(eulas.Eulas) == 0 {
		t.Fatal("no EULAs")
	}
	eid := eulas.Eulas[0].EulaId
	if g := must[*nimblestudio.GetEulaOutput](t)(c.GetEulaWithContext(cx, &nimblestudio.GetEulaInput{EulaId: eid})); aws.StringValue(g.Eula.Content) == "" {
		t.Fatalf("GetEula: %s", g)
	}
	acc := must[*nimblestudio.AcceptEulasOutput](t)(c.AcceptEulasWithContext(cx, &nimblestudio.AcceptEulasInput{StudioId: sid, EulaIds: []*string{eid}}))
	if len(acc.EulaAcceptances) != 1 || aws.StringValue(acc.EulaAcceptances[0].AcceptedBy) != "test" {
		t.Fatalf("AcceptEulas: %s", acc)
	}
	if l := must[*nimblestudio.ListEulaAcceptancesOutput](t)(c.ListEulaAcceptancesWithContext(cx, &nimblestudio.ListEulaAcceptancesInput{StudioId: sid})); len(l.EulaAcceptances) != 1 {
		t.Fatalf("ListEulaAcceptances: %s", l)
	}

	// Streaming image.
	img := must[*nimblestudio.CreateStreamingImageOutput](t)(c.CreateStreamingImageWithContext(cx, &nimblestudio.CreateStreamingImageInput{
		StudioId: sid, Ec2ImageId: aws.String("ami-0123456789abcdef0"), Name: aws.String("artist image"),
	})).StreamingImage
	iid := img.StreamingImageId
	check(t, c.WaitUntilStreamingImageReadyWithContext(cx, &nimblestudio.GetStreamingImageInput{StudioId: sid, StreamingImageId: iid}, fast()))
	must[*nimblestudio.UpdateStreamingImageOutput](t)(c.UpdateStreamingImageWithContext(cx, &nimblestudio.UpdateStreamingImageInput{StudioId: sid, StreamingImageId: iid, Description: aws.String("updated")}))
	check(t, c.WaitUntilStreamingImageReadyWithContext(cx, &nimblestudio.GetStreamingImageInput{StudioId: sid, StreamingImageId: iid}, fast()))
	if l := must[*nimblestudio.ListStreamingImagesOutput](t)(c.ListStreamingImagesWithContext(cx, &nimblestudio.ListStreamingImagesInput{StudioId: sid})); !hasImage(l.StreamingImages, *iid) {
		t.Fatalf("ListStreamingImages lacks %s: %s", *iid, l)
	}

	// Studio component.
	comp := must[*nimblestudio.CreateStudioComponentOutput](t)(c.CreateStudioComponentWithContext(cx, &nimblestudio.CreateStudioComponentInput{
		StudioId: sid, Name: aws.String("shared"), Type: aws.String("SHARED_FILE_SYSTEM"),
		Configuration: &nimblestudio.StudioComponentConfiguration{SharedFileSystemConfiguration: &nimblestudio.SharedFileSystemConfiguration{
			FileSystemId: aws.String("fs-1"), LinuxMountPoint: aws.String("/mnt/shared"), ShareName: aws.String("share"), Endpoint: aws.String("fs.example"),
		}},
		InitializationScripts: []*nimblestudio.StudioComponentInitializationScript{{
			LaunchProfileProtocolVersion: aws.String("2021-03-31"), Platform: aws.String("LINUX"), RunContext: aws.String("SYSTEM_INITIALIZATION"), Script: aws.String("mount -a"),
		}},
	})).StudioComponent
	cid := comp.StudioComponentId
	check(t, c.WaitUntilStudioComponentReadyWithContext(cx, &nimblestudio.GetStudioComponentInput{StudioId: sid, StudioComponentId: cid}, fast()))
	must[*nimblestudio.UpdateStudioComponentOutput](t)(c.UpdateStudioComponentWithContext(cx, &nimblestudio.UpdateStudioComponentInput{StudioId: sid, StudioComponentId: cid, Description: aws.String("shared storage")}))
	check(t, c.WaitUntilStudioComponentReadyWithContext(cx, &nimblestudio.GetStudioComponentInput{StudioId: sid, StudioComponentId: cid}, fast()))
	if l := must[*nimblestudio.ListStudioComponentsOutput](t)(c.ListStudioComponentsWithContext(cx, &nimblestudio.ListStudioComponentsInput{StudioId: sid})); len(l.StudioComponents) != 1 {
		t.Fatalf("ListStudioComponents: %s", l)
	}

	// Launch profile with automatic backups.
	lp := must[*nimblestudio.CreateLaunchProfileOutput](t)(c.CreateLaunchProfileWithContext(cx, &nimblestudio.CreateLaunchProfileInput{
		StudioId: sid, Name: aws.String("artists"), Ec2SubnetIds: []*string{aws.String("subnet-1")},
		LaunchProfileProtocolVersions: []*string{aws.String("2021-03-31")}, StudioComponentIds: []*string{cid},
		StreamConfiguration: &nimblestudio.StreamConfigurationCreate{
			ClipboardMode: aws.String("ENABLED"), Ec2InstanceTypes: []*string{aws.String("g4dn.xlarge")},
			StreamingImageIds: []*string{iid}, SessionPersistenceMode: aws.String("ACTIVATED"),
			MaxStoppedSessionLengthInMinutes: aws.Int64(60), AutomaticTerminationMode: aws.String("ACTIVATED"),
			VolumeConfiguration: &nimblestudio.VolumeConfiguration{Size: aws.Int64(500)},
			SessionBackup:       &nimblestudio.StreamConfigurationSessionBackup{Mode: aws.String("AUTOMATIC"), MaxBackupsToRetain: aws.Int64(2)},
		},
	})).LaunchProfile
	lid := lp.LaunchProfileId
	check(t, c.WaitUntilLaunchProfileReadyWithContext(cx, &nimblestudio.GetLaunchProfileInput{StudioId: sid, LaunchProfileId: lid}, fast()))
	must[*nimblestudio.UpdateLaunchProfileOutput](t)(c.UpdateLaunchProfileWithContext(cx, &nimblestudio.UpdateLaunchProfileInput{StudioId: sid, LaunchProfileId: lid, Description: aws.String("for artists")}))
	check(t, c.WaitUntilLaunchProfileReadyWithContext(cx, &nimblestudio.GetLaunchProfileInput{StudioId: sid, LaunchProfileId: lid}, fast()))
	if l := must[*nimblestudio.ListLaunchProfilesOutput](t)(c.ListLaunchProfilesWithContext(cx, &nimblestudio.ListLaunchProfilesInput{StudioId: sid})); len(l.LaunchProfiles) != 1 {
		t.Fatalf("ListLaunchProfiles: %s", l)
	}
	det := must[*nimblestudio.GetLaunchProfileDetailsOutput](t)(c.GetLaunchProfileDetailsWithContext(cx, &nimblestudio.GetLaunchProfileDetailsInput{StudioId: sid, LaunchProfileId: lid}))
	if len(det.StreamingImages) != 1 || len(det.StudioComponentSummaries) != 1 {
		t.Fatalf("GetLaunchProfileDetails: %s", det)
	}
	ini := must[*nimblestudio.GetLaunchProfileInitializationOutput](t)(c.GetLaunchProfileInitializationWithContext(cx, &nimblestudio.GetLaunchProfileInitializationInput{
		StudioId: sid, LaunchProfileId: lid, LaunchProfileProtocolVersions: []*string{aws.String("2021-03-31")}, LaunchPurpose: aws.String("WORKSTATION"), Platform: aws.String("LINUX"),
	}))
	if s := ini.LaunchProfileInitialization.SystemInitializationScripts; len(s) != 1 || aws.StringValue(s[0].Script) != "mount -a" {
		t.Fatalf("GetLaunchProfileInitialization: %s", ini)
	}
	must[*nimblestudio.PutLaunchProfileMembersOutput](t)(c.PutLaunchProfileMembersWithContext(cx, &nimblestudio.PutLaunchProfileMembersInput{
		StudioId: sid, LaunchProfileId: lid, IdentityStoreId: aws.String("d-1234567890"),
		Members: []*nimblestudio.NewLaunchProfileMember{{PrincipalId: aws.String("alice"), Persona: aws.String("USER")}},
	}))
	must[*nimblestudio.UpdateLaunchProfileMemberOutput](t)(c.UpdateLaunchProfileMemberWithContext(cx, &nimblestudio.UpdateLaunchProfileMemberInput{StudioId: sid, LaunchProfileId: lid, PrincipalId: aws.String("alice"), Persona: aws.String("USER")}))
	if m := must[*nimblestudio.GetLaunchProfileMemberOutput](t)(c.GetLaunchProfileMemberWithContext(cx, &nimblestudio.GetLaunchProfileMemberInput{StudioId: sid, LaunchProfileId: lid, PrincipalId: aws.String("alice")})); aws.StringValue(m.Member.Persona) != "USER" {
		t.Fatalf("GetLaunchProfileMember: %s", m)
	}
	if l := must[*nimblestudio.ListLaunchProfileMembersOutput](t)(c.ListLaunchProfileMembersWithContext(cx, &nimblestudio.ListLaunchProfileMembersInput{StudioId: sid, LaunchProfileId: lid})); len(l.Members) != 1 {
		t.Fatalf("ListLaunchProfileMembers: %s", l)
	}

	// Session, stream, stop with backup, start from it.
	ses := must[*nimblestudio.CreateStreamingSessionOutput](t)(c.CreateStreamingSessionWithContext(cx, &nimblestudio.CreateStreamingSessionInput{StudioId: sid, LaunchProfileId: lid})).Session
	xid := ses.SessionId
	check(t, c.WaitUntilStreamingSessionReadyWithContext(cx, &nimblestudio.GetStreamingSessionInput{StudioId: sid, SessionId: xid}, fast()))
	if l := must[*nimblestudio.ListStreamingSessionsOutput](t)(c.ListStreamingSessionsWithContext(cx, &nimblestudio.ListStreamingSessionsInput{StudioId: sid})); len(l.Sessions) != 1 {
		t.Fatalf("ListStreamingSessions: %s", l)
	}
	st := must[*nimblestudio.CreateStreamingSessionStreamOutput](t)(c.CreateStreamingSessionStreamWithContext(cx, &nimblestudio.CreateStreamingSessionStreamInput{StudioId: sid, SessionId: xid})).Stream
	check(t, c.WaitUntilStreamingSessionStreamReadyWithContext(cx, &nimblestudio.GetStreamingSessionStreamInput{StudioId: sid, SessionId: xid, StreamId: st.StreamId}, fast()))
	must[*nimblestudio.StopStreamingSessionOutput](t)(c.StopStreamingSessionWithContext(cx, &nimblestudio.StopStreamingSessionInput{StudioId: sid, SessionId: xid}))
	check(t, c.WaitUntilStreamingSessionStoppedWithContext(cx, &nimblestudio.GetStreamingSessionInput{StudioId: sid, SessionId: xid}, fast()))
	baks := must[*nimblestudio.ListStreamingSessionBackupsOutput](t)(c.ListStreamingSessionBackupsWithContext(cx, &nimblestudio.ListStreamingSessionBackupsInput{StudioId: sid}))
	if len(baks.StreamingSessionBackups) != 1 {
		t.Fatalf("ListStreamingSessionBackups: %s", baks)
	}
	bid := baks.StreamingSessionBackups[0].BackupId
	if b := must[*nimblestudio.GetStreamingSessionBackupOutput](t)(c.GetStreamingSessionBackupWithContext(cx, &nimblestudio.GetStreamingSessionBackupInput{StudioId: sid, BackupId: bid})); aws.StringValue(b.StreamingSessionBackup.State) != "READY" {
		t.Fatalf("GetStreamingSessionBackup: %s", b)
	}
	must[*nimblestudio.StartStreamingSessionOutput](t)(c.StartStreamingSessionWithContext(cx, &nimblestudio.StartStreamingSessionInput{StudioId: sid, SessionId: xid, BackupId: bid}))
	check(t, c.WaitUntilStreamingSessionReadyWithContext(cx, &nimblestudio.GetStreamingSessionInput{StudioId: sid, SessionId: xid}, fast()))
	if g := must[*nimblestudio.GetStreamingSessionOutput](t)(c.GetStreamingSessionWithContext(cx, &nimblestudio.GetStreamingSessionInput{StudioId: sid, SessionId: xid})); aws.StringValue(g.Session.StartedFromBackupId) != *bid {
		t.Fatalf("startedFromBackupId: %s", g)
	}

	// Tags on every taggable kind.
	for _, arn := range []*string{stu.Arn, comp.Arn, lp.Arn, img.Arn, ses.Arn} {
		must[*nimblestudio.TagResourceOutput](t)(c.TagResourceWithContext(cx, &nimblestudio.TagResourceInput{ResourceArn: arn, Tags: map[string]*string{"k": aws.String("v"), "gone": aws.String("x")}}))
		must[*nimblestudio.UntagResourceOutput](t)(c.UntagResourceWithContext(cx, &nimblestudio.UntagResourceInput{ResourceArn: arn, TagKeys: []*string{aws.String("gone")}}))
		tags := must[*nimblestudio.ListTagsForResourceOutput](t)(c.ListTagsForResourceWithContext(cx, &nimblestudio.ListTagsForResourceInput{ResourceArn: arn}))
		if len(tags.Tags) != 1 || aws.StringValue(tags.Tags["k"]) != "v" {
			t.Fatalf("tags of %s: %s", *arn, tags)
		}
	}

	// Tear everything down, waiting for each deletion.
	must[*nimblestudio.DeleteStreamingSessionOutput](t)(c.DeleteStreamingSessionWithContext(cx, &nimblestudio.DeleteStreamingSessionInput{StudioId: sid, SessionId: xid}))
	check(t, c.WaitUntilStreamingSessionDeletedWithContext(cx, &nimblestudio.GetStreamingSessionInput{StudioId: sid, SessionId: xid}, fast()))
	must[*nimblestudio.DeleteLaunchProfileMemberOutput](t)(c.DeleteLaunchProfileMemberWithContext(cx, &nimblestudio.DeleteLaunchProfileMemberInput{StudioId: sid, LaunchProfileId: lid, PrincipalId: aws.String("alice")}))
	must[*nimblestudio.DeleteLaunchProfileOutput](t)(c.DeleteLaunchProfileWithContext(cx, &nimblestudio.DeleteLaunchProfileInput{StudioId: sid, LaunchProfileId: lid}))
	check(t, c.WaitUntilLaunchProfileDeletedWithContext(cx, &nimblestudio.GetLaunchProfileInput{StudioId: sid, LaunchProfileId: lid}, fast()))
	must[*nimblestudio.DeleteStudioComponentOutput](t)(c.DeleteStudioComponentWithContext(cx, &nimblestudio.DeleteStudioComponentInput{StudioId: sid, StudioComponentId: cid}))
	check(t, c.WaitUntilStudioComponentDeletedWithContext(cx, &nimblestudio.GetStudioComponentInput{StudioId: sid, StudioComponentId: cid}, fast()))
	must[*nimblestudio.DeleteStreamingImageOutput](t)(c.DeleteStreamingImageWithContext(cx, &nimblestudio.DeleteStreamingImageInput{StudioId: sid, StreamingImageId: iid}))
	check(t, c.WaitUntilStreamingImageDeletedWithContext(cx, &nimblestudio.GetStreamingImageInput{StudioId: sid, StreamingImageId: iid}, fast()))
	must[*nimblestudio.DeleteStudioMemberOutput](t)(c.DeleteStudioMemberWithContext(cx, &nimblestudio.DeleteStudioMemberInput{StudioId: sid, PrincipalId: aws.String("boss")}))
	must[*nimblestudio.DeleteStudioOutput](t)(c.DeleteStudioWithContext(cx, &nimblestudio.DeleteStudioInput{StudioId: sid}))
	check(t, c.WaitUntilStudioDeletedWithContext(cx, &nimblestudio.GetStudioInput{StudioId: sid}, fast()))

	if m := rec.missing(); len(m) > 0 {
		t.Fatalf("operations never called successfully: %s", strings.Join(m, ", "))
	}
}

func hasImage(imgs []*nimblestudio.StreamingImage, id string) bool {
	for _, i := range imgs {
		if aws.StringValue(i.StreamingImageId) == id {
			return true
		}
	}
	return false
}

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
