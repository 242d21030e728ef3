package service

import (
	"fmt"
	"slices"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

func (r *rt) image(studioID string) *api.StreamingImage {
	r.t.Helper()
	out := must(r.s.CreateStreamingImage(r.ctx, &api.CreateStreamingImageRequest{StudioId: studioID, Name: "img", Ec2ImageId: "ami-0123456789"}))(r.t)
	r.settle(opennimble.KindStreamingImage, out.StreamingImage.StreamingImageId)
	return out.StreamingImage
}

func stream(images ...string) *api.StreamConfigurationCreate {
	return &api.StreamConfigurationCreate{
		ClipboardMode:     api.StreamingClipboardModeEnabled,
		Ec2InstanceTypes:  []api.StreamingInstanceType{api.StreamingInstanceTypeG4dnXlarge},
		StreamingImageIds: images,
	}
}

// launchProfile creates a READY launch profile; a nil req gets a component
// and an image of its own.
func (r *rt) launchProfile(studioID string, req *api.CreateLaunchProfileRequest) *api.LaunchProfile {
	r.t.Helper()
	if req == nil {
		req = &api.CreateLaunchProfileRequest{
			StudioComponentIds:  []string{r.component(studioID, nil).StudioComponentId},
			StreamConfiguration: stream(r.image(studioID).StreamingImageId),
		}
	}
	req.StudioId = studioID
	if req.Name == "" {
		req.Name = "lp"
	}
	req.Ec2SubnetIds = []string{"subnet-1"}
	req.LaunchProfileProtocolVersions = []string{"2021-03-31"}
	out := must(r.s.CreateLaunchProfile(r.ctx, req))(r.t)
	r.settle(opennimble.KindLaunchProfile, out.LaunchProfile.LaunchProfileId)
	return must(r.s.GetLaunchProfile(r.ctx, &api.GetLaunchProfileRequest{StudioId: studioID, LaunchProfileId: out.LaunchProfile.LaunchProfileId}))(r.t).LaunchProfile
}

func TestLaunchProfileDefaults(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	lp := r.launchProfile(stu, nil)
	sc := lp.StreamConfiguration
	if lp.State != api.LaunchProfileStateReady || lp.StatusCode != api.LaunchProfileStatusCodeLaunchProfileCreated || lp.CreatedBy != "admin-1" {
		t.Fatalf("launch profile = %+v", lp)
	}
	if *sc.MaxSessionLengthInMinutes != 690 || *sc.MaxStoppedSessionLengthInMinutes != 0 ||
		sc.SessionPersistenceMode != api.SessionPersistenceModeDeactivated || sc.AutomaticTerminationMode != api.AutomaticTerminationModeDeactivated ||
		sc.SessionBackup.Mode != api.SessionBackupModeDeactivated || sc.SessionBackup.MaxBackupsToRetain != nil || sc.VolumeConfiguration != nil {
		t.Fatalf("stream configuration = %+v, backup %+v", sc, sc.SessionBackup)
	}
	if len(lp.ValidationResults) != len(api.LaunchProfileValidationTypeValues) {
		t.Fatalf("validation results = %d", len(lp.ValidationResults))
	}
	for _, v := range lp.ValidationResults {
		if v.State != api.LaunchProfileValidationStateValidationSuccess || v.StatusCode != api.LaunchProfileValidationStatusCodeValidationSuccess {
			t.Errorf("validation %s = %s", v.Type, v.State)
		}
	}
}

func TestLaunchProfileStreamRules(t *testing.T) {
	r := newRT(t)
	stu, other := r.studio("alpha"), r.studio("beta")
	comp := r.component(stu, nil).StudioComponentId
	img := r.image(stu).StreamingImageId
	otherImg := r.image(other).StreamingImageId
	otherComp := r.component(other, nil).StudioComponentId
	with := func(f func(*api.StreamConfigurationCreate)) *api.StreamConfigurationCreate {
		sc := stream(img)
		f(sc)
		return sc
	}
	cases := []struct {
		name  string
		sc    *api.StreamConfigurationCreate
		comps []string
		code  string
		field string
	}{
		{"termination without persistence", with(func(sc *api.StreamConfigurationCreate) {
			sc.AutomaticTerminationMode = api.AutomaticTerminationModeActivated
		}), nil, opennimble.ErrValidation, "streamConfiguration.automaticTerminationMode"},
		{"stopped length without persistence", with(func(sc *api.StreamConfigurationCreate) { sc.MaxStoppedSessionLengthInMinutes = ptr(int32(60)) }),
			nil, opennimble.ErrValidation, "streamConfiguration.maxStoppedSessionLengthInMinutes"},
		{"stopped length without termination", with(func(sc *api.StreamConfigurationCreate) {
			sc.SessionPersistenceMode = api.SessionPersistenceModeActivated
			sc.MaxStoppedSessionLengthInMinutes = ptr(int32(60))
		}), nil, opennimble.ErrValidation, "streamConfiguration.maxStoppedSessionLengthInMinutes"},
		{"volume without persistence", with(func(sc *api.StreamConfigurationCreate) {
			sc.VolumeConfiguration = &api.VolumeConfiguration{Size: ptr(int32(500))}
		}), nil, opennimble.ErrValidation, "streamConfiguration.volumeConfiguration"},
		{"no stream configuration", nil, nil, opennimble.ErrValidation, "streamConfiguration"},
		{"no images", stream(), nil, opennimble.ErrValidation, "streamConfiguration.streamingImageIds"},
		{"no clipboard mode", with(func(sc *api.StreamConfigurationCreate) { sc.ClipboardMode = "" }), nil, opennimble.ErrValidation, "streamConfiguration.clipboardMode"},
		{"no instance types", with(func(sc *api.StreamConfigurationCreate) { sc.Ec2InstanceTypes = nil }), nil, opennimble.ErrValidation, "streamConfiguration.ec2InstanceTypes"},
		{"missing image", stream("si-missing"), nil, opennimble.ErrNotFound, "si-missing"},
		{"image of another studio", stream(otherImg), nil, opennimble.ErrNotFound, otherImg},
		{"component of another studio", stream(img), []string{otherComp}, opennimble.ErrNotFound, otherComp},
		{"no components", stream(img), []string{}, opennimble.ErrValidation, "studioComponentIds"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			comps := c.comps
			if comps == nil {
				comps = []string{comp}
			}
			_, err := r.s.CreateLaunchProfile(r.ctx, &api.CreateLaunchProfileRequest{StudioId: stu, Name: "lp", Ec2SubnetIds: []string{"subnet-1"},
				LaunchProfileProtocolVersions: []string{"2021-03-31"}, StudioComponentIds: comps, StreamConfiguration: c.sc})
			wantErr(t, err, c.code, c.field)
		})
	}

	// Persistence with termination allows stopped sessions and volumes; the
	// defaults' own values are accepted without persistence.
	persistent := r.launchProfile(stu, &api.CreateLaunchProfileRequest{StudioComponentIds: []string{comp, comp}, StreamConfiguration: with(func(sc *api.StreamConfigurationCreate) {
		sc.StreamingImageIds = []string{img, "si-amazonlinux2", img}
		sc.SessionPersistenceMode = api.SessionPersistenceModeActivated
		sc.AutomaticTerminationMode = api.AutomaticTerminationModeActivated
		sc.MaxStoppedSessionLengthInMinutes = ptr(int32(120))
		sc.MaxSessionLengthInMinutes = ptr(int32(60))
		sc.VolumeConfiguration = &api.VolumeConfiguration{Size: ptr(int32(300)), Iops: ptr(int32(3000)), Throughput: ptr(int32(125))}
		sc.SessionBackup = &api.StreamConfigurationSessionBackup{Mode: api.SessionBackupModeAutomatic, MaxBackupsToRetain: ptr(int32(3))}
	})})
	got := persistent.StreamConfiguration
	if *got.MaxStoppedSessionLengthInMinutes != 120 || *got.MaxSessionLengthInMinutes != 60 || *got.VolumeConfiguration.Size != 300 ||
		got.SessionBackup.Mode != api.SessionBackupModeAutomatic || *got.SessionBackup.MaxBackupsToRetain != 3 ||
		got.AutomaticTerminationMode != api.AutomaticTerminationModeActivated {
		t.Fatalf("persistent stream configuration = %+v", got)
	}
	if fmt.Sprint(got.StreamingImageIds) != fmt.Sprint([]string{img, "si-amazonlinux2"}) || len(persistent.StudioComponentIds) != 1 {
		t.Fatalf("duplicates kept: %v %v", got.StreamingImageIds, persistent.StudioComponentIds)
	}
	r.launchProfile(stu, &api.CreateLaunchProfileRequest{StudioComponentIds: []string{comp}, StreamConfiguration: with(func(sc *api.StreamConfigurationCreate) {
		sc.AutomaticTerminationMode = api.AutomaticTerminationModeDeactivated
		sc.MaxStoppedSessionLengthInMinutes = ptr(int32(0))
	})})

	// A component being deleted cannot be added.
	c2 := r.component(stu, nil).StudioComponentId
	must(r.s.DeleteStudioComponent(r.ctx, &api.DeleteStudioComponentRequest{StudioId: stu, StudioComponentId: c2}))(t)
	_, err := r.s.CreateLaunchProfile(r.ctx, &api.CreateLaunchProfileRequest{StudioId: stu, Name: "lp", LaunchProfileProtocolVersions: []string{"2021-03-31"}, StudioComponentIds: []string{c2}, StreamConfiguration: stream(img)})
	wantErr(t, err, opennimble.ErrConflict, "DELETE_IN_PROGRESS")
	r.settle(opennimble.KindStudioComponent, c2)
	_, err = r.s.CreateLaunchProfile(r.ctx, &api.CreateLaunchProfileRequest{StudioId: stu, Name: "lp", LaunchProfileProtocolVersions: []string{"2021-03-31"}, StudioComponentIds: []string{c2}, StreamConfiguration: stream(img)})
	wantErr(t, err, opennimble.ErrNotFound, c2)
}

func TestLaunchProfileUpdate(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	lp := r.launchProfile(stu, nil)
	id := lp.LaunchProfileId
	up := must(r.s.UpdateLaunchProfile(r.as("editor"), &api.UpdateLaunchProfileRequest{StudioId: stu, LaunchProfileId: id, Description: "d"}))(t).LaunchProfile
	if up.State != api.LaunchProfileStateUpdateInProgress || up.Name != "lp" || up.Description != "d" || up.UpdatedBy != "editor" ||
		up.ValidationResults[0].State != api.LaunchProfileValidationStateValidationInProgress {
		t.Fatalf("update = %+v", up)
	}
	_, err := r.s.UpdateLaunchProfile(r.ctx, &api.UpdateLaunchProfileRequest{StudioId: stu, LaunchProfileId: id, Name: "n"})
	wantErr(t, err, opennimble.ErrConflict, "UPDATE_IN_PROGRESS")
	r.settle(opennimble.KindLaunchProfile, id)

	_, err = r.s.UpdateLaunchProfile(r.ctx, &api.UpdateLaunchProfileRequest{StudioId: stu, LaunchProfileId: id, StudioComponentIds: []string{"sc-missing"}})
	wantErr(t, err, opennimble.ErrNotFound, "sc-missing")
	sc := stream("si-windows2019")
	sc.SessionPersistenceMode = api.SessionPersistenceModeActivated
	up = must(r.s.UpdateLaunchProfile(r.ctx, &api.UpdateLaunchProfileRequest{StudioId: stu, LaunchProfileId: id, StreamConfiguration: sc}))(t).LaunchProfile
	if up.StreamConfiguration.SessionPersistenceMode != api.SessionPersistenceModeActivated || up.StreamConfiguration.StreamingImageIds[0] != "si-windows2019" ||
		*up.StreamConfiguration.MaxSessionLengthInMinutes != 690 || up.Description != "d" || len(up.StudioComponentIds) != 1 {
		t.Fatalf("stream update = %+v", up)
	}
	r.settle(opennimble.KindLaunchProfile, id)
	got := must(r.s.GetLaunchProfile(r.ctx, &api.GetLaunchProfileRequest{StudioId: stu, LaunchProfileId: id}))(t).LaunchProfile
	if got.State != api.LaunchProfileStateReady || got.StatusCode != api.LaunchProfileStatusCodeLaunchProfileUpdated {
		t.Fatalf("after update = %s %s", got.State, got.StatusCode)
	}
}

func TestLaunchProfileDelete(t *testing.T) {
	r := newRT(t)
	stu, other := r.studio("alpha"), r.studio("beta")
	lp := r.launchProfile(stu, nil)
	id := lp.LaunchProfileId
	// The component and the image are in use.
	_, err := r.s.DeleteStudioComponent(r.ctx, &api.DeleteStudioComponentRequest{StudioId: stu, StudioComponentId: lp.StudioComponentIds[0]})
	wantErr(t, err, opennimble.ErrConflict, id)
	_, err = r.s.DeleteStreamingImage(r.ctx, &api.DeleteStreamingImageRequest{StudioId: stu, StreamingImageId: lp.StreamConfiguration.StreamingImageIds[0]})
	wantErr(t, err, opennimble.ErrConflict, id)
	_, err = r.s.DeleteLaunchProfile(r.ctx, &api.DeleteLaunchProfileRequest{StudioId: other, LaunchProfileId: id})
	wantErr(t, err, opennimble.ErrNotFound, id)

	// A live streaming session launched from the profile keeps it.
	session := &opennimble.Record{Kind: opennimble.KindStreamingSession, ID: "session-1", StudioID: stu, ParentID: id, State: "READY", Data: []byte(`{"sessionId":"session-1","state":"READY"}`)}
	noErr(t, r.s.store.Update(r.ctx, func(tx opennimble.Tx) error { return tx.Put(r.ctx, session) }))
	must(r.s.DeleteLaunchProfile(r.ctx, &api.DeleteLaunchProfileRequest{StudioId: stu, LaunchProfileId: id}))(t)
	r.settle(opennimble.KindLaunchProfile, id)
	got := must(r.s.GetLaunchProfile(r.ctx, &api.GetLaunchProfileRequest{StudioId: stu, LaunchProfileId: id}))(t).LaunchProfile
	if got.State != api.LaunchProfileStateDeleteFailed || got.StatusCode != api.LaunchProfileStatusCodeLaunchProfileWithStreamSessionsNotDeleted {
		t.Fatalf("delete with a session = %s %s", got.State, got.StatusCode)
	}
	session.State = "DELETED"
	noErr(t, r.s.store.Update(r.ctx, func(tx opennimble.Tx) error { return tx.Put(r.ctx, session) }))
	must(r.s.PutLaunchProfileMembers(r.ctx, &api.PutLaunchProfileMembersRequest{StudioId: stu, LaunchProfileId: id, IdentityStoreId: "d-1",
		Members: []*api.NewLaunchProfileMember{{PrincipalId: "u1", Persona: api.LaunchProfilePersonaUser}}}))(t)
	must(r.s.DeleteLaunchProfile(r.ctx, &api.DeleteLaunchProfileRequest{StudioId: stu, LaunchProfileId: id}))(t)
	r.settle(opennimble.KindLaunchProfile, id)
	got = must(r.s.GetLaunchProfile(r.ctx, &api.GetLaunchProfileRequest{StudioId: stu, LaunchProfileId: id}))(t).LaunchProfile
	if got.State != api.LaunchProfileStateDeleted || got.StatusCode != api.LaunchProfileStatusCodeLaunchProfileDeleted {
		t.Fatalf("delete = %s %s", got.State, got.StatusCode)
	}
	// Now the component can go; the purge takes the profile and its members.
	must(r.s.DeleteStudioComponent(r.ctx, &api.DeleteStudioComponentRequest{StudioId: stu, StudioComponentId: lp.StudioComponentIds[0]}))(t)
	r.clock.Advance(rtRetention)
	noErr(t, r.s.Reconcile(r.ctx, opennimble.KindLaunchProfile, id))
	_, err = r.s.GetLaunchProfile(r.ctx, &api.GetLaunchProfileRequest{StudioId: stu, LaunchProfileId: id})
	wantErr(t, err, opennimble.ErrNotFound, id)
	noErr(t, r.s.view(r.ctx, func(tx opennimble.Tx) error {
		if n, _ := tx.Count(r.ctx, opennimble.ListQuery{Kind: opennimble.KindLaunchProfileMember, ParentID: id}); n != 0 {
			t.Errorf("%d members left after the purge", n)
		}
		return nil
	}))
}

func TestListLaunchProfiles(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	comp := r.component(stu, nil).StudioComponentId
	var ids []string
	for i := range 5 {
		lp := r.launchProfile(stu, &api.CreateLaunchProfileRequest{Name: fmt.Sprint("lp", i), StudioComponentIds: []string{comp}, StreamConfiguration: stream("si-amazonlinux2")})
		ids = append(ids, lp.LaunchProfileId)
	}
	for _, id := range []string{ids[1], ids[3], ids[4]} {
		must(r.s.PutLaunchProfileMembers(r.ctx, &api.PutLaunchProfileMembersRequest{StudioId: stu, LaunchProfileId: id, IdentityStoreId: "d-1",
			Members: []*api.NewLaunchProfileMember{{PrincipalId: "artist", Persona: api.LaunchProfilePersonaUser}}}))(t)
	}
	var got []string
	req := &api.ListLaunchProfilesRequest{StudioId: stu, PrincipalId: "artist", MaxResults: ptr(int32(2))}
	for pages := 1; ; pages++ {
		out := must(r.s.ListLaunchProfiles(r.ctx, req))(t)
		for _, lp := range out.LaunchProfiles {
			got = append(got, lp.LaunchProfileId)
		}
		if out.NextToken == "" {
			if pages != 2 {
				t.Errorf("pages = %d, want 2", pages)
			}
			break
		}
		req.NextToken = out.NextToken
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{ids[1], ids[3], ids[4]}) {
		t.Fatalf("member's profiles = %v", got)
	}
	if out := must(r.s.ListLaunchProfiles(r.ctx, &api.ListLaunchProfilesRequest{StudioId: stu, PrincipalId: "nobody"}))(t); len(out.LaunchProfiles) != 0 {
		t.Fatalf("non-member sees %d", len(out.LaunchProfiles))
	}
	must(r.s.DeleteLaunchProfile(r.ctx, &api.DeleteLaunchProfileRequest{StudioId: stu, LaunchProfileId: ids[0]}))(t)
	r.settle(opennimble.KindLaunchProfile, ids[0])
	all := must(r.s.ListLaunchProfiles(r.ctx, &api.ListLaunchProfilesRequest{StudioId: stu}))(t)
	deleted := must(r.s.ListLaunchProfiles(r.ctx, &api.ListLaunchProfilesRequest{StudioId: stu, States: []api.LaunchProfileState{api.LaunchProfileStateDeleted}}))(t)
	if len(all.LaunchProfiles) != 4 || len(deleted.LaunchProfiles) != 1 || deleted.LaunchProfiles[0].LaunchProfileId != ids[0] {
		t.Fatalf("list = %d, DELETED = %d", len(all.LaunchProfiles), len(deleted.LaunchProfiles))
	}
}

func TestLaunchProfileDetails(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	img := r.image(stu).StreamingImageId
	comp := r.component(stu, nil)
	lp := r.launchProfile(stu, &api.CreateLaunchProfileRequest{StudioComponentIds: []string{comp.StudioComponentId}, StreamConfiguration: stream(img, "si-amazonlinux2")})
	out := must(r.s.GetLaunchProfileDetails(r.ctx, &api.GetLaunchProfileDetailsRequest{StudioId: stu, LaunchProfileId: lp.LaunchProfileId}))(t)
	if out.LaunchProfile.LaunchProfileId != lp.LaunchProfileId || len(out.StreamingImages) != 2 || out.StreamingImages[1].Owner != "amazon" ||
		len(out.StudioComponentSummaries) != 1 || out.StudioComponentSummaries[0].Name != comp.Name || out.StudioComponentSummaries[0].Type != comp.Type {
		t.Fatalf("details = %+v", out)
	}
}

func TestLaunchProfileInitialization(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	ad := r.component(stu, &api.CreateStudioComponentRequest{Name: "corp", Type: api.StudioComponentTypeActiveDirectory,
		Configuration: &api.StudioComponentConfiguration{ActiveDirectoryConfiguration: &api.ActiveDirectoryConfiguration{
			DirectoryId: "d-123", OrganizationalUnitDistinguishedName: "OU=ws,DC=corp", ComputerAttributes: []*api.ActiveDirectoryComputerAttribute{{Name: "location", Value: "x"}}}},
		Ec2SecurityGroupIds: []string{"sg-ad", "sg-shared"}})
	share := r.component(stu, &api.CreateStudioComponentRequest{Name: "share", Type: api.StudioComponentTypeSharedFileSystem, Configuration: sfsConfig(),
		Ec2SecurityGroupIds: []string{"sg-shared", "sg-fs"}, RuntimeRoleArn: "arn:run", SecureInitializationRoleArn: "arn:secure",
		InitializationScripts: []*api.StudioComponentInitializationScript{
			{Platform: api.LaunchProfilePlatformLinux, RunContext: api.StudioComponentInitializationScriptRunContextSystemInitialization, Script: "mount", LaunchProfileProtocolVersion: "2021-03-31"},
			{Platform: api.LaunchProfilePlatformLinux, RunContext: api.StudioComponentInitializationScriptRunContextUserInitialization, Script: "link"},
			{Platform: api.LaunchProfilePlatformWindows, RunContext: api.StudioComponentInitializationScriptRunContextSystemInitialization, Script: "net use"},
			nil,
		}})
	lp := r.launchProfile(stu, &api.CreateLaunchProfileRequest{Name: "artists", StudioComponentIds: []string{ad.StudioComponentId, share.StudioComponentId}, StreamConfiguration: stream("si-amazonlinux2")})
	req := &api.GetLaunchProfileInitializationRequest{StudioId: stu, LaunchProfileId: lp.LaunchProfileId, Platform: "linux", LaunchPurpose: "WORKSTATION",
		LaunchProfileProtocolVersions: []string{"2020-01-01", "2021-03-31"}}
	init := must(r.s.GetLaunchProfileInitialization(r.ctx, req))(t).LaunchProfileInitialization
	if init.Platform != api.LaunchProfilePlatformLinux || init.LaunchProfileProtocolVersion != "2021-03-31" || init.LaunchPurpose != "WORKSTATION" || init.Name != "artists" {
		t.Fatalf("initialization = %+v", init)
	}
	if !slices.Equal(init.Ec2SecurityGroupIds, []string{"sg-ad", "sg-shared", "sg-fs"}) {
		t.Errorf("security groups = %v", init.Ec2SecurityGroupIds)
	}
	if a := init.ActiveDirectory; a == nil || a.DirectoryId != "d-123" || a.OrganizationalUnitDistinguishedName != "OU=ws,DC=corp" || a.StudioComponentName != "corp" || len(a.ComputerAttributes) != 1 {
		t.Errorf("active directory = %+v", a)
	}
	if len(init.SystemInitializationScripts) != 1 || len(init.UserInitializationScripts) != 1 {
		t.Fatalf("scripts = %d system, %d user", len(init.SystemInitializationScripts), len(init.UserInitializationScripts))
	}
	sys, usr := init.SystemInitializationScripts[0], init.UserInitializationScripts[0]
	if sys.Script != "mount" || sys.SecureInitializationRoleArn != "arn:secure" || sys.RuntimeRoleArn != "arn:run" || sys.StudioComponentId != share.StudioComponentId || sys.StudioComponentName != "share" {
		t.Errorf("system script = %+v", sys)
	}
	if usr.Script != "link" || usr.SecureInitializationRoleArn != "" || usr.RuntimeRoleArn != "arn:run" {
		t.Errorf("user script = %+v", usr)
	}
	win := *req
	win.Platform = "WINDOWS"
	if got := must(r.s.GetLaunchProfileInitialization(r.ctx, &win))(t).LaunchProfileInitialization; len(got.SystemInitializationScripts) != 1 || got.SystemInitializationScripts[0].Script != "net use" || len(got.UserInitializationScripts) != 0 {
		t.Errorf("windows scripts = %+v", got)
	}

	bad := *req
	bad.Platform = "MACOS"
	_, err := r.s.GetLaunchProfileInitialization(r.ctx, &bad)
	wantErr(t, err, opennimble.ErrValidation, "platform")
	bad = *req
	bad.LaunchProfileProtocolVersions = []string{"2020-01-01"}
	_, err = r.s.GetLaunchProfileInitialization(r.ctx, &bad)
	wantErr(t, err, opennimble.ErrValidation, "launchProfileProtocolVersions")
	must(r.s.UpdateLaunchProfile(r.ctx, &api.UpdateLaunchProfileRequest{StudioId: stu, LaunchProfileId: lp.LaunchProfileId, Name: "x"}))(t)
	_, err = r.s.GetLaunchProfileInitialization(r.ctx, req)
	wantErr(t, err, opennimble.ErrConflict, "UPDATE_IN_PROGRESS")
}

func TestLaunchProfileQuotaAndIdempotency(t *testing.T) {
	r := newRT(t, func(c *Config) { c.Quotas.LaunchProfilesPerStudio = 1 })
	stu := r.studio("alpha")
	comp := r.component(stu, nil).StudioComponentId
	req := &api.CreateLaunchProfileRequest{ClientToken: "tok", StudioId: stu, Name: "lp", LaunchProfileProtocolVersions: []string{"2021-03-31"},
		StudioComponentIds: []string{comp}, StreamConfiguration: stream("si-amazonlinux2")}
	a := must(r.s.CreateLaunchProfile(r.ctx, req))(t).LaunchProfile
	// The replay answers the first result, even though the quota is now full.
	b := must(r.s.CreateLaunchProfile(r.ctx, req))(t).LaunchProfile
	if a.LaunchProfileId != b.LaunchProfileId || *b.StreamConfiguration.MaxSessionLengthInMinutes != 690 {
		t.Fatalf("replay = %+v, first %+v", b, a)
	}
	other := *req
	other.Name = "other"
	_, err := r.s.CreateLaunchProfile(r.ctx, &other)
	wantErr(t, err, opennimble.ErrConflict, "tok")
	other.ClientToken = ""
	_, err = r.s.CreateLaunchProfile(r.ctx, &other)
	wantErr(t, err, opennimble.ErrServiceQuotaExceeded, "")
}
