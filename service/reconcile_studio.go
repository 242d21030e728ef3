package service

import (
	"context"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

func (s *Service) reconcileStudio(ctx context.Context, id string) error {
	return s.lastUpdate(ctx, opennimble.KindStudio, id, func(t *txn) error {
		d, rec, err := get[studioDoc](ctx, t, opennimble.KindStudio, id)
		if err != nil || d == nil {
			return err
		}
		switch d.State {
		case api.StudioStateCreateInProgress, api.StudioStateUpdateInProgress, api.StudioStateDeleteInProgress:
			ok, err := s.due(ctx, t, opennimble.KindStudio, id, d.UpdatedAt)
			if err != nil || !ok {
				return err
			}
		case api.StudioStateDeleted:
			ok, err := s.purgeDue(ctx, t, opennimble.KindStudio, id, d.UpdatedAt)
			if err != nil || !ok {
				return err
			}
			return s.purgeStudio(ctx, t, id)
		default:
			return nil
		}
		now := s.now()
		d.UpdatedAt = &now
		switch d.State {
		case api.StudioStateCreateInProgress:
			d.State, d.StatusCode, d.StatusMessage = api.StudioStateReady, api.StudioStatusCodeStudioCreated, "Studio created"
		case api.StudioStateUpdateInProgress:
			if d.StatusCode == api.StudioStatusCodeAwsSsoConfigurationRepairInProgress {
				d.State, d.StatusCode, d.StatusMessage = api.StudioStateReady, api.StudioStatusCodeAwsSsoConfigurationRepaired, "SSO configuration repaired"
			} else {
				d.State, d.StatusCode, d.StatusMessage = api.StudioStateReady, api.StudioStatusCodeStudioUpdated, "Studio updated"
			}
		case api.StudioStateDeleteInProgress:
			code, msg, err := s.studioDependents(ctx, t, id)
			if err != nil {
				return err
			}
			if code != "" {
				d.State, d.StatusCode, d.StatusMessage = api.StudioStateDeleteFailed, code, msg
				break
			}
			d.State, d.StatusCode, d.StatusMessage = api.StudioStateDeleted, api.StudioStatusCodeStudioDeleted, "Studio deleted"
			if err := t.schedule(ctx, opennimble.KindStudio, id, now.Add(s.cfg.DeletedRetention)); err != nil {
				return err
			}
		}
		_, err = put(ctx, t, rec, d)
		return err
	})
}

// studioDependents names what keeps a studio from being deleted, as AWS's
// status codes do: launch profiles, studio components or streaming images
// that are not deleted.
func (s *Service) studioDependents(ctx context.Context, t *txn, id string) (api.StudioStatusCode, string, error) {
	checks := []struct {
		kind opennimble.Kind
		code api.StudioStatusCode
		noun string
	}{
		{opennimble.KindLaunchProfile, api.StudioStatusCodeStudioWithLaunchProfilesNotDeleted, "launch profiles"},
		{opennimble.KindStudioComponent, api.StudioStatusCodeStudioWithStudioComponentsNotDeleted, "studio components"},
		{opennimble.KindStreamingImage, api.StudioStatusCodeStudioWithStreamingImagesNotDeleted, "streaming images"},
	}
	for _, c := range checks {
		n, err := t.Count(ctx, opennimble.ListQuery{Kind: c.kind, StudioID: id, ExcludeStates: []string{"DELETED"}})
		if err != nil {
			return "", "", err
		}
		if n > 0 {
			return c.code, "The studio still has " + c.noun + " that are not deleted; delete them first", nil
		}
	}
	return "", "", nil
}

// purgeStudio removes a deleted studio and what only lives inside it
// (memberships, EULA acceptances, deleted children).
func (s *Service) purgeStudio(ctx context.Context, t *txn, id string) error {
	for _, k := range []opennimble.Kind{opennimble.KindStudioMember, opennimble.KindLaunchProfileMember, opennimble.KindEulaAcceptance,
		opennimble.KindLaunchProfile, opennimble.KindStudioComponent, opennimble.KindStreamingImage} {
		recs, err := t.List(ctx, opennimble.ListQuery{Kind: k, StudioID: id})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := t.Delete(ctx, k, r.ID); err != nil {
				return err
			}
		}
	}
	return t.Delete(ctx, opennimble.KindStudio, id)
}
