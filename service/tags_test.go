package service

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

func TestTags(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	lp := r.launchProfile(stu, nil)
	// Sessions and backups are written by their own code; tags treat every
	// record as JSON, so raw records stand in for them here.
	raw := func(kind opennimble.Kind, id, data string) {
		rec := &opennimble.Record{Kind: kind, ID: id, StudioID: stu, ParentID: lp.LaunchProfileId, State: "READY", Data: []byte(data)}
		noErr(t, r.s.store.Update(r.ctx, func(tx opennimble.Tx) error { return tx.Put(r.ctx, rec) }))
	}
	raw(opennimble.KindStreamingSession, "session-1", `{"sessionId":"session-1","state":"READY","ownedBy":"artist","tags":{"from":"create"}}`)
	raw(opennimble.KindStreamingBackup, "backup-1", `{"backupId":"backup-1","state":"READY","internal":{"chunks":3}}`)
	arns := map[string]string{
		"studio":           r.s.arn(opennimble.KindStudio, stu),
		"studio component": r.s.arn(opennimble.KindStudioComponent, lp.StudioComponentIds[0]),
		"launch profile":   lp.Arn,
		"streaming image":  r.s.arn(opennimble.KindStreamingImage, lp.StreamConfiguration.StreamingImageIds[0]),
		"session":          r.s.arn(opennimble.KindStreamingSession, "session-1"),
		"backup":           r.s.arn(opennimble.KindStreamingBackup, "backup-1"),
	}
	for name, arn := range arns {
		t.Run(name, func(t *testing.T) {
			list := func() map[string]string {
				return must(r.s.ListTagsForResource(r.ctx, &api.ListTagsForResourceRequest{ResourceArn: arn}))(t).Tags
			}
			before := list()
			must(r.s.TagResource(r.ctx, &api.TagResourceRequest{ResourceArn: arn, Tags: map[string]string{"team": "fx", "show": "one"}}))(t)
			must(r.s.TagResource(r.ctx, &api.TagResourceRequest{ResourceArn: arn, Tags: map[string]string{"show": "two"}}))(t)
			got := list()
			if got["team"] != "fx" || got["show"] != "two" || len(got) != len(before)+2 {
				t.Fatalf("tags = %v (before %v)", got, before)
			}
			must(r.s.UntagResource(r.ctx, &api.UntagResourceRequest{ResourceArn: arn, TagKeys: []string{"team", "show", "absent"}}))(t)
			if got := list(); !reflect.DeepEqual(got, before) {
				t.Fatalf("after untag = %v, want %v", got, before)
			}
		})
	}
	// The records keep their other members and columns.
	noErr(t, r.s.view(r.ctx, func(tx opennimble.Tx) error {
		rec, err := tx.Get(r.ctx, opennimble.KindStreamingBackup, "backup-1")
		if err == nil && (!strings.Contains(string(rec.Data), `"internal":{"chunks":3}`) || rec.ParentID != lp.LaunchProfileId || rec.State != "READY") {
			t.Errorf("backup record = %+v %s", rec, rec.Data)
		}
		return err
	}))
	got := must(r.s.GetLaunchProfile(r.ctx, &api.GetLaunchProfileRequest{StudioId: stu, LaunchProfileId: lp.LaunchProfileId}))(t).LaunchProfile
	if got.Name != lp.Name || len(got.Tags) != 0 {
		t.Fatalf("launch profile after tagging = %+v", got)
	}
}

func TestTagErrors(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	c := r.component(stu, nil)
	must(r.s.DeleteStudioComponent(r.ctx, &api.DeleteStudioComponentRequest{StudioId: stu, StudioComponentId: c.StudioComponentId}))(t)
	r.settle(opennimble.KindStudioComponent, c.StudioComponentId)
	studioARN := r.s.arn(opennimble.KindStudio, stu)
	untagged := r.s.arn(opennimble.KindStudio, r.studio("beta"))
	fifty := map[string]string{}
	for i := range 50 {
		fifty[fmt.Sprint("k", i)] = "v"
	}
	must(r.s.TagResource(r.ctx, &api.TagResourceRequest{ResourceArn: studioARN, Tags: fifty}))(t)
	missing := r.s.arn(opennimble.KindLaunchProfile, "lp-missing")
	for _, tc := range []struct {
		name string
		call func(context.Context) error
		code string
		what string
	}{
		{"missing resource", func(ctx context.Context) error {
			return second(r.s.TagResource(ctx, &api.TagResourceRequest{ResourceArn: missing, Tags: map[string]string{"a": "b"}}))
		}, opennimble.ErrNotFound, missing},
		{"deleted resource", func(ctx context.Context) error {
			return second(r.s.ListTagsForResource(ctx, &api.ListTagsForResourceRequest{ResourceArn: c.Arn}))
		}, opennimble.ErrNotFound, c.Arn},
		{"untag missing", func(ctx context.Context) error {
			return second(r.s.UntagResource(ctx, &api.UntagResourceRequest{ResourceArn: missing, TagKeys: []string{"a"}}))
		}, opennimble.ErrNotFound, missing},
		{"malformed arn", func(ctx context.Context) error {
			return second(r.s.ListTagsForResource(ctx, &api.ListTagsForResourceRequest{ResourceArn: "not-an-arn"}))
		}, opennimble.ErrValidation, "resourceArn"},
		{"51st tag", func(ctx context.Context) error {
			return second(r.s.TagResource(ctx, &api.TagResourceRequest{ResourceArn: studioARN, Tags: map[string]string{"one-more": "v"}}))
		}, opennimble.ErrValidation, "tags"},
		{"reserved prefix", func(ctx context.Context) error {
			return second(r.s.TagResource(ctx, &api.TagResourceRequest{ResourceArn: untagged, Tags: map[string]string{"aws:cloudformation": "v"}}))
		}, opennimble.ErrValidation, "aws:"},
		{"long value", func(ctx context.Context) error {
			return second(r.s.TagResource(ctx, &api.TagResourceRequest{ResourceArn: studioARN, Tags: map[string]string{"k0": strings.Repeat("v", 257)}}))
		}, opennimble.ErrValidation, "tags"},
	} {
		t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.call(r.ctx), tc.code, tc.what) })
	}
	// Replacing an existing key stays within the limit.
	must(r.s.TagResource(r.ctx, &api.TagResourceRequest{ResourceArn: studioARN, Tags: map[string]string{"k0": "w"}}))(t)
}

// TestNoPanicOnEmptyInputs calls every operation of this part of the service
// with a zero input, as a client that sends nothing would: each must answer
// with an error or a result, never panic.
func TestNoPanicOnEmptyInputs(t *testing.T) {
	r := newRT(t)
	stu := r.studio("alpha")
	lp := r.launchProfile(stu, nil)
	s, ctx := r.s, r.ctx
	calls := map[string]func() error{
		"CreateStudioComponent": func() error {
			return second(s.CreateStudioComponent(ctx, &api.CreateStudioComponentRequest{StudioId: stu}))
		},
		"CreateStudioComponentConfig": func() error {
			return second(s.CreateStudioComponent(ctx, &api.CreateStudioComponentRequest{StudioId: stu, Name: "n", Type: api.StudioComponentTypeActiveDirectory,
				Configuration: &api.StudioComponentConfiguration{ActiveDirectoryConfiguration: &api.ActiveDirectoryConfiguration{}}, InitializationScripts: []*api.StudioComponentInitializationScript{nil}}))
		},
		"GetStudioComponent":   func() error { return second(s.GetStudioComponent(ctx, &api.GetStudioComponentRequest{})) },
		"ListStudioComponents": func() error { return second(s.ListStudioComponents(ctx, &api.ListStudioComponentsRequest{})) },
		"UpdateStudioComponent": func() error {
			return second(s.UpdateStudioComponent(ctx, &api.UpdateStudioComponentRequest{StudioId: stu, StudioComponentId: lp.StudioComponentIds[0]}))
		},
		"DeleteStudioComponent": func() error { return second(s.DeleteStudioComponent(ctx, &api.DeleteStudioComponentRequest{})) },
		"CreateLaunchProfile": func() error {
			return second(s.CreateLaunchProfile(ctx, &api.CreateLaunchProfileRequest{StudioId: stu}))
		},
		"CreateLaunchProfileStream": func() error {
			return second(s.CreateLaunchProfile(ctx, &api.CreateLaunchProfileRequest{StudioId: stu, Name: "n", LaunchProfileProtocolVersions: []string{"2021-03-31"},
				StudioComponentIds: lp.StudioComponentIds, StreamConfiguration: &api.StreamConfigurationCreate{SessionBackup: &api.StreamConfigurationSessionBackup{}}}))
		},
		"GetLaunchProfile":        func() error { return second(s.GetLaunchProfile(ctx, &api.GetLaunchProfileRequest{})) },
		"GetLaunchProfileDetails": func() error { return second(s.GetLaunchProfileDetails(ctx, &api.GetLaunchProfileDetailsRequest{})) },
		"GetLaunchProfileInitialization": func() error {
			return second(s.GetLaunchProfileInitialization(ctx, &api.GetLaunchProfileInitializationRequest{StudioId: stu, LaunchProfileId: lp.LaunchProfileId}))
		},
		"ListLaunchProfiles": func() error { return second(s.ListLaunchProfiles(ctx, &api.ListLaunchProfilesRequest{})) },
		"UpdateLaunchProfile": func() error {
			return second(s.UpdateLaunchProfile(ctx, &api.UpdateLaunchProfileRequest{StudioId: stu, LaunchProfileId: lp.LaunchProfileId, StreamConfiguration: &api.StreamConfigurationCreate{}}))
		},
		"DeleteLaunchProfile": func() error { return second(s.DeleteLaunchProfile(ctx, &api.DeleteLaunchProfileRequest{})) },
		"CreateStreamingImage": func() error {
			return second(s.CreateStreamingImage(ctx, &api.CreateStreamingImageRequest{StudioId: stu}))
		},
		"GetStreamingImage":    func() error { return second(s.GetStreamingImage(ctx, &api.GetStreamingImageRequest{})) },
		"ListStreamingImages":  func() error { return second(s.ListStreamingImages(ctx, &api.ListStreamingImagesRequest{})) },
		"UpdateStreamingImage": func() error { return second(s.UpdateStreamingImage(ctx, &api.UpdateStreamingImageRequest{})) },
		"DeleteStreamingImage": func() error { return second(s.DeleteStreamingImage(ctx, &api.DeleteStreamingImageRequest{})) },
		"GetEula":              func() error { return second(s.GetEula(ctx, &api.GetEulaRequest{})) },
		"ListEulas":            func() error { return second(s.ListEulas(ctx, &api.ListEulasRequest{})) },
		"AcceptEulas":          func() error { return second(s.AcceptEulas(ctx, &api.AcceptEulasRequest{StudioId: stu})) },
		"ListEulaAcceptances":  func() error { return second(s.ListEulaAcceptances(ctx, &api.ListEulaAcceptancesRequest{})) },
		"PutStudioMembers":     func() error { return second(s.PutStudioMembers(ctx, &api.PutStudioMembersRequest{StudioId: stu})) },
		"GetStudioMember":      func() error { return second(s.GetStudioMember(ctx, &api.GetStudioMemberRequest{StudioId: stu})) },
		"ListStudioMembers":    func() error { return second(s.ListStudioMembers(ctx, &api.ListStudioMembersRequest{})) },
		"DeleteStudioMember":   func() error { return second(s.DeleteStudioMember(ctx, &api.DeleteStudioMemberRequest{StudioId: stu})) },
		"PutLaunchProfileMembers": func() error {
			return second(s.PutLaunchProfileMembers(ctx, &api.PutLaunchProfileMembersRequest{StudioId: stu, LaunchProfileId: lp.LaunchProfileId}))
		},
		"GetLaunchProfileMember": func() error {
			return second(s.GetLaunchProfileMember(ctx, &api.GetLaunchProfileMemberRequest{StudioId: stu, LaunchProfileId: lp.LaunchProfileId}))
		},
		"ListLaunchProfileMembers":        func() error { return second(s.ListLaunchProfileMembers(ctx, &api.ListLaunchProfileMembersRequest{})) },
		"UpdateLaunchProfileMember":       func() error { return second(s.UpdateLaunchProfileMember(ctx, &api.UpdateLaunchProfileMemberRequest{})) },
		"DeleteLaunchProfileMember":       func() error { return second(s.DeleteLaunchProfileMember(ctx, &api.DeleteLaunchProfileMemberRequest{})) },
		"TagResource":                     func() error { return second(s.TagResource(ctx, &api.TagResourceRequest{})) },
		"UntagResource":                   func() error { return second(s.UntagResource(ctx, &api.UntagResourceRequest{})) },
		"ListTagsForResource":             func() error { return second(s.ListTagsForResource(ctx, &api.ListTagsForResourceRequest{})) },
		"ReconcileMissingStudioComponent": func() error { return r.s.Reconcile(ctx, opennimble.KindStudioComponent, "sc-missing") },
		"ReconcileMissingLaunchProfile":   func() error { return r.s.Reconcile(ctx, opennimble.KindLaunchProfile, "lp-missing") },
		"ReconcileMissingStreamingImage":  func() error { return r.s.Reconcile(ctx, opennimble.KindStreamingImage, "si-missing") },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("panic: %v", p)
				}
			}()
			_ = call()
		})
	}
}
