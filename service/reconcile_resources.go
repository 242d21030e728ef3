package service

import (
	"context"
	"strings"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// stepDue reports whether a resource in state may take its next step now: an
// *_IN_PROGRESS state once its transition delay has passed, DELETED once the
// retention period has. It schedules the look when the step is not due yet;
// other states have no next step.
func (s *Service) stepDue(ctx context.Context, t *txn, kind opennimble.Kind, id, state string, since *time.Time) (bool, error) {
	switch {
	case strings.HasSuffix(state, "_IN_PROGRESS"):
		return s.due(ctx, t, kind, id, since)
	case state == deletedState:
		return s.purgeDue(ctx, t, kind, id, since)
	}
	return false, nil
}

// schedulePurge asks for a look when a resource deleted at now may be purged.
func (s *Service) schedulePurge(ctx context.Context, t *txn, kind opennimble.Kind, id string, now time.Time) error {
	return t.schedule(ctx, kind, id, now.Add(s.cfg.DeletedRetention))
}

func (s *Service) reconcileStudioComponent(ctx context.Context, id string) error {
	const kind = opennimble.KindStudioComponent
	return s.lastUpdate(ctx, kind, id, func(t *txn) error {
		d, rec, err := get[studioComponentDoc](ctx, t, kind, id)
		if err != nil || d == nil {
			return err
		}
		if ok, err := s.stepDue(ctx, t, kind, id, string(d.State), d.UpdatedAt); err != nil || !ok {
			return err
		}
		if d.State == api.StudioComponentStateDeleted {
			return t.Delete(ctx, kind, id)
		}
		now := s.now()
		d.UpdatedAt = &now
		switch d.State {
		case api.StudioComponentStateCreateInProgress:
			d.State, d.StatusCode, d.StatusMessage = api.StudioComponentStateReady, api.StudioComponentStatusCodeStudioComponentCreated, "Studio component created"
		case api.StudioComponentStateUpdateInProgress:
			d.State, d.StatusCode, d.StatusMessage = api.StudioComponentStateReady, api.StudioComponentStatusCodeStudioComponentUpdated, "Studio component updated"
		case api.StudioComponentStateDeleteInProgress:
			d.State, d.StatusCode, d.StatusMessage = api.StudioComponentStateDeleted, api.StudioComponentStatusCodeStudioComponentDeleted, "Studio component deleted"
			if err := s.schedulePurge(ctx, t, kind, id, now); err != nil {
				return err
			}
		}
		_, err = put(ctx, t, rec, d)
		return err
	})
}

func (s *Service) reconcileLaunchProfile(ctx context.Context, id string) error {
	const kind = opennimble.KindLaunchProfile
	return s.lastUpdate(ctx, kind, id, func(t *txn) error {
		d, rec, err := get[launchProfileDoc](ctx, t, kind, id)
		if err != nil || d == nil {
			return err
		}
		if ok, err := s.stepDue(ctx, t, kind, id, string(d.State), d.UpdatedAt); err != nil || !ok {
			return err
		}
		if d.State == api.LaunchProfileStateDeleted {
			return s.purgeLaunchProfile(ctx, t, id)
		}
		now := s.now()
		d.UpdatedAt = &now
		switch d.State {
		case api.LaunchProfileStateCreateInProgress:
			d.State, d.StatusCode, d.StatusMessage = api.LaunchProfileStateReady, api.LaunchProfileStatusCodeLaunchProfileCreated, "Launch profile created"
			d.ValidationResults = validationResults(api.LaunchProfileValidationStateValidationSuccess)
		case api.LaunchProfileStateUpdateInProgress:
			d.State, d.StatusCode, d.StatusMessage = api.LaunchProfileStateReady, api.LaunchProfileStatusCodeLaunchProfileUpdated, "Launch profile updated"
			d.ValidationResults = validationResults(api.LaunchProfileValidationStateValidationSuccess)
		case api.LaunchProfileStateDeleteInProgress:
			if err := s.finishLaunchProfileDelete(ctx, t, d, now); err != nil {
				return err
			}
		}
		_, err = put(ctx, t, rec, d)
		return err
	})
}

// finishLaunchProfileDelete ends a launch profile's deletion: it fails while
// streaming sessions launched from the profile are not deleted, as AWS's
// LAUNCH_PROFILE_WITH_STREAM_SESSIONS_NOT_DELETED says.
func (s *Service) finishLaunchProfileDelete(ctx context.Context, t *txn, d *launchProfileDoc, now time.Time) error {
	n, err := t.Count(ctx, opennimble.ListQuery{Kind: opennimble.KindStreamingSession, ParentID: d.LaunchProfileId, ExcludeStates: []string{deletedState}})
	if err != nil {
		return err
	}
	if n > 0 {
		d.State, d.StatusCode = api.LaunchProfileStateDeleteFailed, api.LaunchProfileStatusCodeLaunchProfileWithStreamSessionsNotDeleted
		d.StatusMessage = "The launch profile still has streaming sessions that are not deleted; delete them first"
		return nil
	}
	d.State, d.StatusCode, d.StatusMessage = api.LaunchProfileStateDeleted, api.LaunchProfileStatusCodeLaunchProfileDeleted, "Launch profile deleted"
	return s.schedulePurge(ctx, t, opennimble.KindLaunchProfile, d.LaunchProfileId, now)
}

// purgeLaunchProfile removes a deleted launch profile and its memberships.
func (s *Service) purgeLaunchProfile(ctx context.Context, t *txn, id string) error {
	recs, err := t.List(ctx, opennimble.ListQuery{Kind: opennimble.KindLaunchProfileMember, ParentID: id})
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := t.Delete(ctx, r.Kind, r.ID); err != nil {
			return err
		}
	}
	return t.Delete(ctx, opennimble.KindLaunchProfile, id)
}

func (s *Service) reconcileStreamingImage(ctx context.Context, id string) error {
	const kind = opennimble.KindStreamingImage
	return s.lastUpdate(ctx, kind, id, func(t *txn) error {
		d, rec, err := get[streamingImageDoc](ctx, t, kind, id)
		if err != nil || d == nil {
			return err
		}
		if ok, err := s.stepDue(ctx, t, kind, id, string(d.State), d.ChangedAt); err != nil || !ok {
			return err
		}
		if d.State == api.StreamingImageStateDeleted {
			return t.Delete(ctx, kind, id)
		}
		now := s.now()
		d.ChangedAt = &now
		switch d.State {
		case api.StreamingImageStateCreateInProgress, api.StreamingImageStateUpdateInProgress:
			d.State, d.StatusCode, d.StatusMessage = api.StreamingImageStateReady, api.StreamingImageStatusCodeStreamingImageReady, "Streaming image ready"
		case api.StreamingImageStateDeleteInProgress:
			d.State, d.StatusCode, d.StatusMessage = api.StreamingImageStateDeleted, api.StreamingImageStatusCodeStreamingImageDeleted, "Streaming image deleted"
			if err := s.schedulePurge(ctx, t, kind, id, now); err != nil {
				return err
			}
		}
		_, err = put(ctx, t, rec, d)
		return err
	})
}
