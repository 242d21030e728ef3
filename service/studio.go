package service

import (
	"context"
	"strings"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// studioDoc is a stored studio.
type studioDoc struct {
	api.Studio
}

func (d *studioDoc) kind() opennimble.Kind { return opennimble.KindStudio }
func (d *studioDoc) id() string            { return d.StudioId }
func (d *studioDoc) columns() columns {
	return columns{StudioID: d.StudioId, State: string(d.State)}
}

// loadStudio returns a studio that exists and is not DELETED.
func (s *Service) loadStudio(ctx context.Context, tx opennimble.Tx, id string) (*studioDoc, *opennimble.Record, error) {
	d, rec, err := get[studioDoc](ctx, tx, opennimble.KindStudio, id)
	if err != nil {
		return nil, nil, err
	}
	if d == nil || d.State == api.StudioStateDeleted {
		return nil, nil, opennimble.NotFound("studio", id)
	}
	return d, rec, nil
}

// liveStudio returns a studio that resources can be created in or changed
// under: it exists and is not being deleted.
func (s *Service) liveStudio(ctx context.Context, tx opennimble.Tx, id string) (*studioDoc, error) {
	d, _, err := s.loadStudio(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if d.State == api.StudioStateDeleteInProgress {
		return nil, opennimble.Errorf(opennimble.ErrConflict, "Studio %s is %s", id, d.State).
			With("resourceType", "studio").With("resourceId", id).With("state", string(d.State))
	}
	return d, nil
}

func (s *Service) CreateStudio(ctx context.Context, in *api.CreateStudioRequest) (*api.CreateStudioResponse, error) {
	return idempotent(ctx, s, "CreateStudio", in.ClientToken, in, func(t *txn) (*api.CreateStudioResponse, error) {
		existing, _, err := list[studioDoc](ctx, t, opennimble.ListQuery{Kind: opennimble.KindStudio, ExcludeStates: []string{string(api.StudioStateDeleted)}})
		if err != nil {
			return nil, err
		}
		for _, e := range existing {
			if e.StudioName == in.StudioName {
				return nil, opennimble.Errorf(opennimble.ErrConflict, "A studio named %q already exists: %s", in.StudioName, e.StudioId).
					With("resourceType", "studio").With("resourceId", e.StudioId)
			}
		}
		if err := s.checkQuota("studios", len(existing), s.cfg.Quotas.Studios); err != nil {
			return nil, err
		}
		now := s.now()
		id := s.ids.New("stu")
		enc := in.StudioEncryptionConfiguration
		if enc == nil {
			enc = &api.StudioEncryptionConfiguration{KeyType: api.StudioEncryptionConfigurationKeyTypeAwsOwnedKey}
		}
		if enc.KeyType == api.StudioEncryptionConfigurationKeyTypeCustomerManagedKey && enc.KeyArn == "" {
			return nil, opennimble.Errorf(opennimble.ErrValidation, "studioEncryptionConfiguration.keyArn is required when keyType is CUSTOMER_MANAGED_KEY").
				With("fieldName", "studioEncryptionConfiguration.keyArn")
		}
		d := &studioDoc{Studio: api.Studio{
			AdminRoleArn:                  in.AdminRoleArn,
			Arn:                           s.arn(opennimble.KindStudio, id),
			CreatedAt:                     &now,
			DisplayName:                   in.DisplayName,
			HomeRegion:                    s.cfg.Region,
			SsoClientId:                   s.ids.Token(26),
			State:                         api.StudioStateCreateInProgress,
			StatusCode:                    api.StudioStatusCodeStudioCreateInProgress,
			StatusMessage:                 "Studio creation in progress",
			StudioEncryptionConfiguration: enc,
			StudioId:                      id,
			StudioName:                    in.StudioName,
			StudioUrl:                     strings.TrimSuffix(s.cfg.StreamBaseURL, "/") + "/portal/" + in.StudioName,
			Tags:                          in.Tags,
			UpdatedAt:                     &now,
			UserRoleArn:                   in.UserRoleArn,
		}}
		if _, err := put(ctx, t, nil, d); err != nil {
			return nil, err
		}
		if err := t.schedule(ctx, opennimble.KindStudio, id, now.Add(s.cfg.TransitionDelay)); err != nil {
			return nil, err
		}
		return &api.CreateStudioResponse{Studio: &d.Studio}, nil
	})
}

func (s *Service) GetStudio(ctx context.Context, in *api.GetStudioRequest) (*api.GetStudioResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.GetStudioResponse, error) {
		// A deleted studio still answers, with state DELETED, until it is
		// purged, so that the StudioDeleted waiter can see it.
		d, _, err := get[studioDoc](ctx, tx, opennimble.KindStudio, in.StudioId)
		if err != nil {
			return nil, err
		}
		if d == nil {
			return nil, opennimble.NotFound("studio", in.StudioId)
		}
		return &api.GetStudioResponse{Studio: &d.Studio}, nil
	})
}

func (s *Service) ListStudios(ctx context.Context, in *api.ListStudiosRequest) (*api.ListStudiosResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.ListStudiosResponse, error) {
		q := opennimble.ListQuery{Kind: opennimble.KindStudio, ExcludeStates: []string{string(api.StudioStateDeleted)}}
		docs, next, err := page[studioDoc](ctx, s, tx, scope("ListStudios"), in.NextToken, 0, q, nil)
		if err != nil {
			return nil, err
		}
		out := &api.ListStudiosResponse{Studios: make([]*api.Studio, 0, len(docs)), NextToken: next}
		for _, d := range docs {
			out.Studios = append(out.Studios, &d.Studio)
		}
		return out, nil
	})
}

func (s *Service) UpdateStudio(ctx context.Context, in *api.UpdateStudioRequest) (*api.UpdateStudioResponse, error) {
	return idempotent(ctx, s, "UpdateStudio", in.ClientToken, in, func(t *txn) (*api.UpdateStudioResponse, error) {
		d, rec, err := s.loadStudio(ctx, t, in.StudioId)
		if err != nil {
			return nil, err
		}
		if err := requireState("studio", d.StudioId, string(d.State), string(api.StudioStateReady)); err != nil {
			return nil, err
		}
		if in.AdminRoleArn != "" {
			d.AdminRoleArn = in.AdminRoleArn
		}
		if in.DisplayName != "" {
			d.DisplayName = in.DisplayName
		}
		if in.UserRoleArn != "" {
			d.UserRoleArn = in.UserRoleArn
		}
		now := s.now()
		d.UpdatedAt = &now
		d.State, d.StatusCode, d.StatusMessage = api.StudioStateUpdateInProgress, api.StudioStatusCodeStudioUpdateInProgress, "Studio update in progress"
		if _, err := put(ctx, t, rec, d); err != nil {
			return nil, err
		}
		if err := t.schedule(ctx, opennimble.KindStudio, d.StudioId, now.Add(s.cfg.TransitionDelay)); err != nil {
			return nil, err
		}
		return &api.UpdateStudioResponse{Studio: &d.Studio}, nil
	})
}

func (s *Service) DeleteStudio(ctx context.Context, in *api.DeleteStudioRequest) (*api.DeleteStudioResponse, error) {
	return idempotent(ctx, s, "DeleteStudio", in.ClientToken, in, func(t *txn) (*api.DeleteStudioResponse, error) {
		d, rec, err := s.loadStudio(ctx, t, in.StudioId)
		if err != nil {
			return nil, err
		}
		if err := requireState("studio", d.StudioId, string(d.State), string(api.StudioStateReady), string(api.StudioStateDeleteFailed)); err != nil {
			return nil, err
		}
		now := s.now()
		d.UpdatedAt = &now
		d.State, d.StatusCode, d.StatusMessage = api.StudioStateDeleteInProgress, api.StudioStatusCodeStudioDeleteInProgress, "Studio deletion in progress"
		if _, err := put(ctx, t, rec, d); err != nil {
			return nil, err
		}
		if err := t.schedule(ctx, opennimble.KindStudio, d.StudioId, now.Add(s.cfg.TransitionDelay)); err != nil {
			return nil, err
		}
		return &api.DeleteStudioResponse{Studio: &d.Studio}, nil
	})
}

func (s *Service) StartStudioSSOConfigurationRepair(ctx context.Context, in *api.StartStudioSSOConfigurationRepairRequest) (*api.StartStudioSSOConfigurationRepairResponse, error) {
	return idempotent(ctx, s, "StartStudioSSOConfigurationRepair", in.ClientToken, in, func(t *txn) (*api.StartStudioSSOConfigurationRepairResponse, error) {
		d, rec, err := s.loadStudio(ctx, t, in.StudioId)
		if err != nil {
			return nil, err
		}
		if err := requireState("studio", d.StudioId, string(d.State), string(api.StudioStateReady), string(api.StudioStateUpdateFailed)); err != nil {
			return nil, err
		}
		now := s.now()
		d.UpdatedAt = &now
		// The repair gives the studio a fresh SSO application client.
		d.SsoClientId = s.ids.Token(26)
		d.State, d.StatusCode, d.StatusMessage = api.StudioStateUpdateInProgress, api.StudioStatusCodeAwsSsoConfigurationRepairInProgress, "SSO configuration repair in progress"
		if _, err := put(ctx, t, rec, d); err != nil {
			return nil, err
		}
		if err := t.schedule(ctx, opennimble.KindStudio, d.StudioId, now.Add(s.cfg.TransitionDelay)); err != nil {
			return nil, err
		}
		return &api.StartStudioSSOConfigurationRepairResponse{Studio: &d.Studio}, nil
	})
}

// requireState refuses an operation unless the resource is in one of allowed.
func requireState(resourceType, id, state string, allowed ...string) error {
	for _, a := range allowed {
		if state == a {
			return nil
		}
	}
	return opennimble.Errorf(opennimble.ErrConflict, "The %s %s is in state %s; this operation needs %s",
		resourceType, id, state, strings.Join(allowed, " or ")).
		With("resourceType", resourceType).With("resourceId", id).With("state", state)
}
