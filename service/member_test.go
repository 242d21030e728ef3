package service

import (
	"fmt"
	"regexp"
	"testing"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

func TestStudioMembers(t *testing.T) {
	r := newRT(t)
	stu, other := r.studio("alpha"), r.studio("beta")
	var members []*api.NewStudioMember
	for i := range 5 {
		members = append(members, &api.NewStudioMember{PrincipalId: fmt.Sprint("u", i), Persona: api.StudioPersonaAdministrator})
	}
	must(r.s.PutStudioMembers(r.ctx, &api.PutStudioMembersRequest{StudioId: stu, IdentityStoreId: "d-1", Members: members}))(t)
	m := must(r.s.GetStudioMember(r.ctx, &api.GetStudioMemberRequest{StudioId: stu, PrincipalId: "u0"}))(t).Member
	if m.IdentityStoreId != "d-1" || m.Persona != api.StudioPersonaAdministrator || !regexp.MustCompile(`^S-1-5-21-\d+-\d+-\d+-\d+$`).MatchString(m.Sid) {
		t.Fatalf("member = %+v", m)
	}
	// Putting again updates.
	must(r.s.PutStudioMembers(r.ctx, &api.PutStudioMembersRequest{StudioId: stu, IdentityStoreId: "d-2", Members: members[:1]}))(t)
	if m := must(r.s.GetStudioMember(r.ctx, &api.GetStudioMemberRequest{StudioId: stu, PrincipalId: "u0"}))(t).Member; m.IdentityStoreId != "d-2" {
		t.Fatalf("updated member = %+v", m)
	}
	var got []string
	req := &api.ListStudioMembersRequest{StudioId: stu, MaxResults: ptr(int32(2))}
	for pages := 1; ; pages++ {
		out := must(r.s.ListStudioMembers(r.ctx, req))(t)
		for _, m := range out.Members {
			got = append(got, m.PrincipalId)
		}
		if out.NextToken == "" {
			if pages != 3 {
				t.Errorf("pages = %d", pages)
			}
			break
		}
		req.NextToken = out.NextToken
	}
	if len(got) != 5 {
		t.Fatalf("listed %v", got)
	}
	_, err := r.s.GetStudioMember(r.ctx, &api.GetStudioMemberRequest{StudioId: other, PrincipalId: "u0"})
	wantErr(t, err, opennimble.ErrNotFound, "u0")
	must(r.s.DeleteStudioMember(r.ctx, &api.DeleteStudioMemberRequest{StudioId: stu, PrincipalId: "u0"}))(t)
	_, err = r.s.DeleteStudioMember(r.ctx, &api.DeleteStudioMemberRequest{StudioId: stu, PrincipalId: "u0"})
	wantErr(t, err, opennimble.ErrNotFound, "u0")
	_, err = r.s.PutStudioMembers(r.ctx, &api.PutStudioMembersRequest{StudioId: stu, IdentityStoreId: "d-1", Members: []*api.NewStudioMember{nil}})
	wantErr(t, err, opennimble.ErrValidation, "members.1.member.principalId")
	_, err = r.s.PutStudioMembers(r.ctx, &api.PutStudioMembersRequest{StudioId: "stu-missing", IdentityStoreId: "d-1", Members: members})
	wantErr(t, err, opennimble.ErrNotFound, "stu-missing")
}

func TestLaunchProfileMembers(t *testing.T) {
	r := newRT(t)
	stu, other := r.studio("alpha"), r.studio("beta")
	lp := r.launchProfile(stu, nil).LaunchProfileId
	put := &api.PutLaunchProfileMembersRequest{StudioId: stu, LaunchProfileId: lp, IdentityStoreId: "d-1", Members: []*api.NewLaunchProfileMember{
		{PrincipalId: "a", Persona: api.LaunchProfilePersonaUser}, {PrincipalId: "b", Persona: api.LaunchProfilePersonaUser}, {PrincipalId: "c", Persona: api.LaunchProfilePersonaUser}}}
	must(r.s.PutLaunchProfileMembers(r.ctx, put))(t)
	m := must(r.s.GetLaunchProfileMember(r.ctx, &api.GetLaunchProfileMemberRequest{StudioId: stu, LaunchProfileId: lp, PrincipalId: "b"}))(t).Member
	if m.PrincipalId != "b" || m.Persona != api.LaunchProfilePersonaUser || m.IdentityStoreId != "d-1" || m.Sid == "" {
		t.Fatalf("member = %+v", m)
	}
	up := must(r.s.UpdateLaunchProfileMember(r.ctx, &api.UpdateLaunchProfileMemberRequest{StudioId: stu, LaunchProfileId: lp, PrincipalId: "b", Persona: api.LaunchProfilePersonaUser}))(t).Member
	if up.PrincipalId != "b" || up.Sid != m.Sid {
		t.Fatalf("updated = %+v", up)
	}
	first := must(r.s.ListLaunchProfileMembers(r.ctx, &api.ListLaunchProfileMembersRequest{StudioId: stu, LaunchProfileId: lp, MaxResults: ptr(int32(2))}))(t)
	rest := must(r.s.ListLaunchProfileMembers(r.ctx, &api.ListLaunchProfileMembersRequest{StudioId: stu, LaunchProfileId: lp, MaxResults: ptr(int32(2)), NextToken: first.NextToken}))(t)
	if len(first.Members) != 2 || len(rest.Members) != 1 || rest.NextToken != "" {
		t.Fatalf("pages = %d, %d", len(first.Members), len(rest.Members))
	}
	for _, c := range []struct {
		name string
		err  error
		code string
		what string
	}{
		{"get from another studio", second(r.s.GetLaunchProfileMember(r.ctx, &api.GetLaunchProfileMemberRequest{StudioId: other, LaunchProfileId: lp, PrincipalId: "a"})), opennimble.ErrNotFound, lp},
		{"get unknown member", second(r.s.GetLaunchProfileMember(r.ctx, &api.GetLaunchProfileMemberRequest{StudioId: stu, LaunchProfileId: lp, PrincipalId: "z"})), opennimble.ErrNotFound, "z"},
		{"update unknown member", second(r.s.UpdateLaunchProfileMember(r.ctx, &api.UpdateLaunchProfileMemberRequest{StudioId: stu, LaunchProfileId: lp, PrincipalId: "z", Persona: api.LaunchProfilePersonaUser})), opennimble.ErrNotFound, "z"},
		{"put on unknown profile", second(r.s.PutLaunchProfileMembers(r.ctx, &api.PutLaunchProfileMembersRequest{StudioId: stu, LaunchProfileId: "lp-missing", IdentityStoreId: "d", Members: put.Members})), opennimble.ErrNotFound, "lp-missing"},
		{"list on another studio", second(r.s.ListLaunchProfileMembers(r.ctx, &api.ListLaunchProfileMembersRequest{StudioId: other, LaunchProfileId: lp})), opennimble.ErrNotFound, lp},
	} {
		t.Run(c.name, func(t *testing.T) { wantErr(t, c.err, c.code, c.what) })
	}
	must(r.s.DeleteLaunchProfileMember(r.ctx, &api.DeleteLaunchProfileMemberRequest{StudioId: stu, LaunchProfileId: lp, PrincipalId: "a"}))(t)
	_, err := r.s.DeleteLaunchProfileMember(r.ctx, &api.DeleteLaunchProfileMemberRequest{StudioId: stu, LaunchProfileId: lp, PrincipalId: "a"})
	wantErr(t, err, opennimble.ErrNotFound, "a")
}

// second returns the error of a two-value call.
func second[T any](_ T, err error) error { return err }
