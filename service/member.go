package service

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

const (
	studioMemberNoun        = "studio member"
	launchProfileMemberNoun = "launch profile member"
)

// memberSid makes the Active Directory security identifier of a user: a
// domain SID (S-1-5-21 and three sub-authorities) plus a relative id, all
// derived from the identity store and the principal. The same user therefore
// has the same SID in every studio and launch profile of an identity store,
// as a directory user would.
func memberSid(identityStoreID, principalID string) string {
	sum := sha256.Sum256([]byte(identityStoreID + "\x00" + principalID))
	u := func(i int) uint32 { return binary.BigEndian.Uint32(sum[4*i:]) }
	return fmt.Sprintf("S-1-5-21-%d-%d-%d-%d", u(0), u(1), u(2), 1000+u(3)%1000000)
}

// studioMember loads the membership of principalID in a studio; its id is
// studioId/principalId, so it cannot be found from another studio.
func studioMember(ctx context.Context, tx opennimble.Tx, studioID, principalID string) (*studioMemberDoc, *opennimble.Record, error) {
	d, rec, err := get[studioMemberDoc](ctx, tx, opennimble.KindStudioMember, studioID+"/"+principalID)
	if err != nil {
		return nil, nil, err
	}
	if d == nil || principalID == "" {
		return nil, nil, opennimble.NotFound(studioMemberNoun, principalID).With("studioId", studioID)
	}
	return d, rec, nil
}

func (s *Service) PutStudioMembers(ctx context.Context, in *api.PutStudioMembersRequest) (*api.PutStudioMembersResponse, error) {
	return idempotent(ctx, s, "PutStudioMembers", in.ClientToken, in, func(t *txn) (*api.PutStudioMembersResponse, error) {
		if _, err := s.liveStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		for i, m := range in.Members {
			if m == nil || m.PrincipalId == "" {
				return nil, invalidField(fmt.Sprintf("members.%d.member.principalId", i+1), "members.%d.member.principalId is required", i+1)
			}
			// Putting an existing member replaces it: get only finds the
			// record to update.
			_, rec, err := get[studioMemberDoc](ctx, t, opennimble.KindStudioMember, in.StudioId+"/"+m.PrincipalId)
			if err != nil {
				return nil, err
			}
			d := &studioMemberDoc{StudioId: in.StudioId, StudioMembership: api.StudioMembership{
				IdentityStoreId: in.IdentityStoreId,
				Persona:         m.Persona,
				PrincipalId:     m.PrincipalId,
				Sid:             memberSid(in.IdentityStoreId, m.PrincipalId),
			}}
			if _, err := put(ctx, t, rec, d); err != nil {
				return nil, err
			}
		}
		return &api.PutStudioMembersResponse{}, nil
	})
}

func (s *Service) GetStudioMember(ctx context.Context, in *api.GetStudioMemberRequest) (*api.GetStudioMemberResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.GetStudioMemberResponse, error) {
		if _, _, err := s.loadStudio(ctx, tx, in.StudioId); err != nil {
			return nil, err
		}
		d, _, err := studioMember(ctx, tx, in.StudioId, in.PrincipalId)
		if err != nil {
			return nil, err
		}
		return &api.GetStudioMemberResponse{Member: &d.StudioMembership}, nil
	})
}

func (s *Service) ListStudioMembers(ctx context.Context, in *api.ListStudioMembersRequest) (*api.ListStudioMembersResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.ListStudioMembersResponse, error) {
		if _, _, err := s.loadStudio(ctx, tx, in.StudioId); err != nil {
			return nil, err
		}
		q := opennimble.ListQuery{Kind: opennimble.KindStudioMember, StudioID: in.StudioId}
		docs, next, err := page[studioMemberDoc](ctx, s, tx, scope("ListStudioMembers", in.StudioId), in.NextToken, limit(in.MaxResults), q, nil)
		if err != nil {
			return nil, err
		}
		out := &api.ListStudioMembersResponse{Members: make([]*api.StudioMembership, 0, len(docs)), NextToken: next}
		for _, d := range docs {
			out.Members = append(out.Members, &d.StudioMembership)
		}
		return out, nil
	})
}

func (s *Service) DeleteStudioMember(ctx context.Context, in *api.DeleteStudioMemberRequest) (*api.DeleteStudioMemberResponse, error) {
	return idempotent(ctx, s, "DeleteStudioMember", in.ClientToken, in, func(t *txn) (*api.DeleteStudioMemberResponse, error) {
		if _, _, err := s.loadStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		d, _, err := studioMember(ctx, t, in.StudioId, in.PrincipalId)
		if err != nil {
			return nil, err
		}
		return &api.DeleteStudioMemberResponse{}, t.Delete(ctx, opennimble.KindStudioMember, d.id())
	})
}

// profileMember loads the member principalID of a launch profile that is
// not deleted; its id is launchProfileId/principalId.
func (s *Service) profileMember(ctx context.Context, tx opennimble.Tx, studioID, lpID, principalID string) (*launchProfileMemberDoc, *opennimble.Record, error) {
	if _, _, err := s.loadLaunchProfile(ctx, tx, studioID, lpID, true); err != nil {
		return nil, nil, err
	}
	d, rec, err := get[launchProfileMemberDoc](ctx, tx, opennimble.KindLaunchProfileMember, lpID+"/"+principalID)
	if err != nil {
		return nil, nil, err
	}
	if d == nil || principalID == "" || d.StudioId != studioID {
		return nil, nil, opennimble.NotFound(launchProfileMemberNoun, principalID).With("launchProfileId", lpID)
	}
	return d, rec, nil
}

func (s *Service) PutLaunchProfileMembers(ctx context.Context, in *api.PutLaunchProfileMembersRequest) (*api.PutLaunchProfileMembersResponse, error) {
	return idempotent(ctx, s, "PutLaunchProfileMembers", in.ClientToken, in, func(t *txn) (*api.PutLaunchProfileMembersResponse, error) {
		if _, err := s.liveStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		if _, _, err := s.loadLaunchProfile(ctx, t, in.StudioId, in.LaunchProfileId, true); err != nil {
			return nil, err
		}
		for i, m := range in.Members {
			if m == nil || m.PrincipalId == "" {
				return nil, invalidField(fmt.Sprintf("members.%d.member.principalId", i+1), "members.%d.member.principalId is required", i+1)
			}
			_, rec, err := get[launchProfileMemberDoc](ctx, t, opennimble.KindLaunchProfileMember, in.LaunchProfileId+"/"+m.PrincipalId)
			if err != nil {
				return nil, err
			}
			d := &launchProfileMemberDoc{StudioId: in.StudioId, LaunchProfileId: in.LaunchProfileId, LaunchProfileMembership: api.LaunchProfileMembership{
				IdentityStoreId: in.IdentityStoreId,
				Persona:         m.Persona,
				PrincipalId:     m.PrincipalId,
				Sid:             memberSid(in.IdentityStoreId, m.PrincipalId),
			}}
			if _, err := put(ctx, t, rec, d); err != nil {
				return nil, err
			}
		}
		return &api.PutLaunchProfileMembersResponse{}, nil
	})
}

func (s *Service) GetLaunchProfileMember(ctx context.Context, in *api.GetLaunchProfileMemberRequest) (*api.GetLaunchProfileMemberResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.GetLaunchProfileMemberResponse, error) {
		d, _, err := s.profileMember(ctx, tx, in.StudioId, in.LaunchProfileId, in.PrincipalId)
		if err != nil {
			return nil, err
		}
		return &api.GetLaunchProfileMemberResponse{Member: &d.LaunchProfileMembership}, nil
	})
}

func (s *Service) ListLaunchProfileMembers(ctx context.Context, in *api.ListLaunchProfileMembersRequest) (*api.ListLaunchProfileMembersResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.ListLaunchProfileMembersResponse, error) {
		if _, _, err := s.loadLaunchProfile(ctx, tx, in.StudioId, in.LaunchProfileId, true); err != nil {
			return nil, err
		}
		q := opennimble.ListQuery{Kind: opennimble.KindLaunchProfileMember, StudioID: in.StudioId, ParentID: in.LaunchProfileId}
		sc := scope("ListLaunchProfileMembers", in.StudioId, in.LaunchProfileId)
		docs, next, err := page[launchProfileMemberDoc](ctx, s, tx, sc, in.NextToken, limit(in.MaxResults), q, nil)
		if err != nil {
			return nil, err
		}
		out := &api.ListLaunchProfileMembersResponse{Members: make([]*api.LaunchProfileMembership, 0, len(docs)), NextToken: next}
		for _, d := range docs {
			out.Members = append(out.Members, &d.LaunchProfileMembership)
		}
		return out, nil
	})
}

func (s *Service) UpdateLaunchProfileMember(ctx context.Context, in *api.UpdateLaunchProfileMemberRequest) (*api.UpdateLaunchProfileMemberResponse, error) {
	return idempotent(ctx, s, "UpdateLaunchProfileMember", in.ClientToken, in, func(t *txn) (*api.UpdateLaunchProfileMemberResponse, error) {
		if _, err := s.liveStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		d, rec, err := s.profileMember(ctx, t, in.StudioId, in.LaunchProfileId, in.PrincipalId)
		if err != nil {
			return nil, err
		}
		if in.Persona != "" {
			d.Persona = in.Persona
		}
		if _, err := put(ctx, t, rec, d); err != nil {
			return nil, err
		}
		return &api.UpdateLaunchProfileMemberResponse{Member: &d.LaunchProfileMembership}, nil
	})
}

func (s *Service) DeleteLaunchProfileMember(ctx context.Context, in *api.DeleteLaunchProfileMemberRequest) (*api.DeleteLaunchProfileMemberResponse, error) {
	return idempotent(ctx, s, "DeleteLaunchProfileMember", in.ClientToken, in, func(t *txn) (*api.DeleteLaunchProfileMemberResponse, error) {
		if _, _, err := s.loadStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		d, _, err := s.profileMember(ctx, t, in.StudioId, in.LaunchProfileId, in.PrincipalId)
		if err != nil {
			return nil, err
		}
		return &api.DeleteLaunchProfileMemberResponse{}, t.Delete(ctx, opennimble.KindLaunchProfileMember, d.id())
	})
}
