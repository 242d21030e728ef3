package portal

import (
	"context"
	"slices"
	"time"

	"github.com/opennimble/opennimble/api"
)

// The loaders read through the API, page by page, as a client would.

func (p *Portal) profiles(ctx context.Context, studio, principal string) ([]*api.LaunchProfile, error) {
	var all []*api.LaunchProfile
	in := &api.ListLaunchProfilesRequest{StudioId: studio, PrincipalId: principal}
	for {
		out, err := call(ctx, in, p.api.ListLaunchProfiles)
		if err != nil {
			return nil, err
		}
		for _, lp := range out.LaunchProfiles {
			if lp.State == api.LaunchProfileStateReady || lp.State == api.LaunchProfileStateUpdateInProgress {
				all = append(all, lp)
			}
		}
		if in.NextToken = out.NextToken; in.NextToken == "" {
			return all, nil
		}
	}
}

func (p *Portal) images(ctx context.Context, studio string) (map[string]*api.StreamingImage, error) {
	all := map[string]*api.StreamingImage{}
	in := &api.ListStreamingImagesRequest{StudioId: studio}
	for {
		out, err := call(ctx, in, p.api.ListStreamingImages)
		if err != nil {
			return nil, err
		}
		for _, im := range out.StreamingImages {
			all[im.StreamingImageId] = im
		}
		if in.NextToken = out.NextToken; in.NextToken == "" {
			return all, nil
		}
	}
}

// sessionsOf lists the studio's sessions owned by owner ("" for all the
// caller may see), newest first, without deleted ones.
func (p *Portal) sessionsOf(ctx context.Context, studio, owner string) ([]*api.StreamingSession, error) {
	var all []*api.StreamingSession
	in := &api.ListStreamingSessionsRequest{StudioId: studio, OwnedBy: owner}
	for {
		out, err := call(ctx, in, p.api.ListStreamingSessions)
		if err != nil {
			return nil, err
		}
		for _, s := range out.Sessions {
			if s.State != api.StreamingSessionStateDeleted {
				all = append(all, s)
			}
		}
		if in.NextToken = out.NextToken; in.NextToken == "" {
			break
		}
	}
	slices.SortStableFunc(all, func(a, b *api.StreamingSession) int { return newestFirst(a.CreatedAt, b.CreatedAt) })
	return all, nil
}

// backupsOf lists backups owned by owner ("" for all the caller may see) of
// session ("" for all), newest first.
func (p *Portal) backupsOf(ctx context.Context, studio, owner, session string) ([]*api.StreamingSessionBackup, error) {
	var all []*api.StreamingSessionBackup
	in := &api.ListStreamingSessionBackupsRequest{StudioId: studio, OwnedBy: owner}
	for {
		out, err := call(ctx, in, p.api.ListStreamingSessionBackups)
		if err != nil {
			return nil, err
		}
		for _, b := range out.StreamingSessionBackups {
			if (session == "" || b.SessionId == session) && b.State != api.StreamingSessionStateDeleted {
				all = append(all, b)
			}
		}
		if in.NextToken = out.NextToken; in.NextToken == "" {
			break
		}
	}
	slices.SortStableFunc(all, func(a, b *api.StreamingSessionBackup) int { return newestFirst(a.CreatedAt, b.CreatedAt) })
	return all, nil
}

func newestFirst(a, b *time.Time) int {
	switch {
	case a == nil || b == nil:
		return 0
	case a.After(*b):
		return -1
	case b.After(*a):
		return 1
	}
	return 0
}

// unacceptedEulas returns the EULAs that the given images need and the
// studio has not accepted yet.
func (p *Portal) unacceptedEulas(ctx context.Context, studio string, imgs []*api.StreamingImage) ([]*api.Eula, error) {
	var need []string
	for _, im := range imgs {
		for _, id := range im.EulaIds {
			if !slices.Contains(need, id) {
				need = append(need, id)
			}
		}
	}
	if len(need) == 0 {
		return nil, nil
	}
	accepted := map[string]bool{}
	in := &api.ListEulaAcceptancesRequest{StudioId: studio}
	for {
		out, err := call(ctx, in, p.api.ListEulaAcceptances)
		if err != nil {
			return nil, err
		}
		for _, a := range out.EulaAcceptances {
			accepted[a.EulaId] = true
		}
		if in.NextToken = out.NextToken; in.NextToken == "" {
			break
		}
	}
	var out []*api.Eula
	for _, id := range need {
		if accepted[id] {
			continue
		}
		e, err := call(ctx, &api.GetEulaRequest{EulaId: id}, p.api.GetEula)
		if err != nil {
			return nil, err
		}
		out = append(out, e.Eula)
	}
	return out, nil
}
