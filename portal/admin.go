package portal

import (
	"net/http"
	"slices"
	"strings"

	"github.com/opennimble/opennimble/api"
)

// count is one line of the at-a-glance tables.
type count struct {
	State string
	N     int
}

type profileMembers struct {
	Profile *api.LaunchProfile
	Members []*api.LaunchProfileMembership
}

type adminData struct {
	SessionsByState []count
	BackupsByState  []count
	Members         []*api.StudioMembership
	Profiles        []profileMembers
	Sessions        []sessionRow
	Users           int // distinct principals among studio and launch profile members
}

// adminData reads everything the administration page shows, every piece
// through the API, so that a caller who is not the studio's administrator
// gets the API's refusal (and the page a 404).
func (p *Portal) adminData(q *req) (*adminData, error) {
	studio := q.studio.StudioId
	d := &adminData{}
	var err error
	if d.Members, err = p.studioMembers(q, studio); err != nil {
		return nil, err
	}
	lps, err := p.profiles(q.ctx, studio, "")
	if err != nil {
		return nil, err
	}
	users := map[string]bool{}
	for _, m := range d.Members {
		users[m.PrincipalId] = true
	}
	for _, lp := range lps {
		ms, err := p.profileMembers(q, studio, lp.LaunchProfileId)
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			users[m.PrincipalId] = true
		}
		d.Profiles = append(d.Profiles, profileMembers{Profile: lp, Members: ms})
	}
	d.Users = len(users)
	imgs, err := p.images(q.ctx, studio)
	if err != nil {
		return nil, err
	}
	if d.Sessions, err = p.rows(q, "", lps, imgs); err != nil {
		return nil, err
	}
	d.SessionsByState = tally(d.Sessions, func(r sessionRow) string { return string(r.S.State) })
	backups, err := p.backupsOf(q.ctx, studio, "", "")
	if err != nil {
		return nil, err
	}
	d.BackupsByState = tally(backups, func(b *api.StreamingSessionBackup) string { return string(b.State) })
	return d, nil
}

func tally[T any](xs []T, key func(T) string) []count {
	var out []count
	for _, x := range xs {
		k := key(x)
		if i := slices.IndexFunc(out, func(c count) bool { return c.State == k }); i >= 0 {
			out[i].N++
		} else {
			out = append(out, count{State: k, N: 1})
		}
	}
	slices.SortFunc(out, func(a, b count) int { return strings.Compare(a.State, b.State) })
	return out
}

func (p *Portal) studioMembers(q *req, studio string) ([]*api.StudioMembership, error) {
	var all []*api.StudioMembership
	in := &api.ListStudioMembersRequest{StudioId: studio}
	for {
		out, err := call(q.ctx, in, p.api.ListStudioMembers)
		if err != nil {
			return nil, err
		}
		all = append(all, out.Members...)
		if in.NextToken = out.NextToken; in.NextToken == "" {
			return all, nil
		}
	}
}

func (p *Portal) profileMembers(q *req, studio, lp string) ([]*api.LaunchProfileMembership, error) {
	var all []*api.LaunchProfileMembership
	in := &api.ListLaunchProfileMembersRequest{StudioId: studio, LaunchProfileId: lp}
	for {
		out, err := call(q.ctx, in, p.api.ListLaunchProfileMembers)
		if err != nil {
			return nil, err
		}
		all = append(all, out.Members...)
		if in.NextToken = out.NextToken; in.NextToken == "" {
			return all, nil
		}
	}
}

func (p *Portal) adminPage(q *req) {
	d, err := p.adminData(q)
	if err != nil {
		p.fail(q, err)
		return
	}
	p.render(q, http.StatusOK, "admin", "Administration", d)
}

func (p *Portal) liveAdmin(q *req) {
	d, err := p.adminData(q)
	if err != nil {
		p.liveFail(q, err)
		return
	}
	p.fragment(q, "admin-sessions", d)
}

// identityStore is the identity store of the studio's existing members, so
// that members added here sit beside them; opennimble's own principals
// (its credential store) otherwise.
func identityStore(d []*api.StudioMembership, lp []*api.LaunchProfileMembership) string {
	for _, m := range lp {
		if m.IdentityStoreId != "" {
			return m.IdentityStoreId
		}
	}
	for _, m := range d {
		if m.IdentityStoreId != "" {
			return m.IdentityStoreId
		}
	}
	return "opennimble"
}

// addMember adds a user to a launch profile, as PutLaunchProfileMembers does.
func (p *Portal) addMember(q *req) {
	studio, lp := q.studio.StudioId, q.r.PathValue("lp")
	principal := strings.TrimSpace(q.r.PostFormValue("principalId"))
	ms, err := p.profileMembers(q, studio, lp)
	if err != nil {
		p.fail(q, err)
		return
	}
	_, err = call(q.ctx, &api.PutLaunchProfileMembersRequest{
		StudioId: studio, LaunchProfileId: lp, IdentityStoreId: identityStore(nil, ms),
		Members: []*api.NewLaunchProfileMember{{PrincipalId: principal, Persona: api.LaunchProfilePersonaUser}},
	}, p.api.PutLaunchProfileMembers)
	if err != nil {
		p.fail(q, err)
		return
	}
	p.back(q, flash{Text: principal + " is now a member of the launch profile."})
}

func (p *Portal) removeMember(q *req) {
	principal := q.r.PathValue("principal")
	_, err := call(q.ctx, &api.DeleteLaunchProfileMemberRequest{StudioId: q.studio.StudioId, LaunchProfileId: q.r.PathValue("lp"), PrincipalId: principal}, p.api.DeleteLaunchProfileMember)
	if err != nil {
		p.fail(q, err)
		return
	}
	p.back(q, flash{Text: principal + " is no longer a member of the launch profile."})
}

// adminStop stops anybody's session (the API lets administrators).
func (p *Portal) adminStop(q *req) {
	id := q.r.PathValue("id")
	_, err := call(q.ctx, &api.StopStreamingSessionRequest{StudioId: q.studio.StudioId, SessionId: id}, p.api.StopStreamingSession)
	if err != nil {
		p.fail(q, err)
		return
	}
	p.back(q, flash{Text: "Stopping session " + id + "."})
}
