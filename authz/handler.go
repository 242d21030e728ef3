package authz

import (
	"context"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// The api.Handler methods: each names what its request acts on and lets the
// policy decide. The few that narrow what a studio user sees (lists of
// sessions, backups, launch profiles and studios) and the creation of a
// session, which always belongs to the user who creates it, come last.

// guard authorises op on t, then calls next.
func guard[I, O any](ctx context.Context, h *Handler, op string, t target, in *I, next func(context.Context, *I) (*O, error)) (*O, error) {
	if _, _, err := h.authorize(ctx, op, t); err != nil {
		return nil, err
	}
	return next(ctx, in)
}

// narrowed authorises op on t and, for a studio user, calls next with a copy
// of the request whose filter (set) names the user: users see and create
// only what is theirs, whatever they asked for.
func narrowed[I, O any](ctx context.Context, h *Handler, op string, t target, in *I, set func(*I, string), next func(context.Context, *I) (*O, error)) (*O, error) {
	p, role, err := h.authorize(ctx, op, t)
	if err != nil {
		return nil, err
	}
	if role == roleUser {
		c := *in
		set(&c, p.ID)
		in = &c
	}
	return next(ctx, in)
}

func inStudio(studioID string) target        { return target{studio: studioID} }
func in(studioID, id string) target          { return target{studio: studioID, id: id} }
func onARN(arn string) target                { return target{arn: arn} }
func account() target                        { return target{} }
func listing(studioID, filter string) target { return target{studio: studioID, ownedBy: filter} }

func (h *Handler) AcceptEulas(ctx context.Context, r *api.AcceptEulasRequest) (*api.AcceptEulasResponse, error) {
	return guard(ctx, h, "AcceptEulas", inStudio(r.StudioId), r, h.next.AcceptEulas)
}

func (h *Handler) CreateLaunchProfile(ctx context.Context, r *api.CreateLaunchProfileRequest) (*api.CreateLaunchProfileResponse, error) {
	return guard(ctx, h, "CreateLaunchProfile", inStudio(r.StudioId), r, h.next.CreateLaunchProfile)
}

func (h *Handler) CreateStreamingImage(ctx context.Context, r *api.CreateStreamingImageRequest) (*api.CreateStreamingImageResponse, error) {
	return guard(ctx, h, "CreateStreamingImage", inStudio(r.StudioId), r, h.next.CreateStreamingImage)
}

func (h *Handler) CreateStreamingSessionStream(ctx context.Context, r *api.CreateStreamingSessionStreamRequest) (*api.CreateStreamingSessionStreamResponse, error) {
	return guard(ctx, h, "CreateStreamingSessionStream", in(r.StudioId, r.SessionId), r, h.next.CreateStreamingSessionStream)
}

func (h *Handler) CreateStudio(ctx context.Context, r *api.CreateStudioRequest) (*api.CreateStudioResponse, error) {
	return guard(ctx, h, "CreateStudio", account(), r, h.next.CreateStudio)
}

func (h *Handler) CreateStudioComponent(ctx context.Context, r *api.CreateStudioComponentRequest) (*api.CreateStudioComponentResponse, error) {
	return guard(ctx, h, "CreateStudioComponent", inStudio(r.StudioId), r, h.next.CreateStudioComponent)
}

func (h *Handler) DeleteLaunchProfile(ctx context.Context, r *api.DeleteLaunchProfileRequest) (*api.DeleteLaunchProfileResponse, error) {
	return guard(ctx, h, "DeleteLaunchProfile", in(r.StudioId, r.LaunchProfileId), r, h.next.DeleteLaunchProfile)
}

func (h *Handler) DeleteLaunchProfileMember(ctx context.Context, r *api.DeleteLaunchProfileMemberRequest) (*api.DeleteLaunchProfileMemberResponse, error) {
	return guard(ctx, h, "DeleteLaunchProfileMember", in(r.StudioId, r.LaunchProfileId), r, h.next.DeleteLaunchProfileMember)
}

func (h *Handler) DeleteStreamingImage(ctx context.Context, r *api.DeleteStreamingImageRequest) (*api.DeleteStreamingImageResponse, error) {
	return guard(ctx, h, "DeleteStreamingImage", in(r.StudioId, r.StreamingImageId), r, h.next.DeleteStreamingImage)
}

func (h *Handler) DeleteStreamingSession(ctx context.Context, r *api.DeleteStreamingSessionRequest) (*api.DeleteStreamingSessionResponse, error) {
	return guard(ctx, h, "DeleteStreamingSession", in(r.StudioId, r.SessionId), r, h.next.DeleteStreamingSession)
}

func (h *Handler) DeleteStudio(ctx context.Context, r *api.DeleteStudioRequest) (*api.DeleteStudioResponse, error) {
	return guard(ctx, h, "DeleteStudio", inStudio(r.StudioId), r, h.next.DeleteStudio)
}

func (h *Handler) DeleteStudioComponent(ctx context.Context, r *api.DeleteStudioComponentRequest) (*api.DeleteStudioComponentResponse, error) {
	return guard(ctx, h, "DeleteStudioComponent", in(r.StudioId, r.StudioComponentId), r, h.next.DeleteStudioComponent)
}

func (h *Handler) DeleteStudioMember(ctx context.Context, r *api.DeleteStudioMemberRequest) (*api.DeleteStudioMemberResponse, error) {
	return guard(ctx, h, "DeleteStudioMember", inStudio(r.StudioId), r, h.next.DeleteStudioMember)
}

func (h *Handler) GetEula(ctx context.Context, r *api.GetEulaRequest) (*api.GetEulaResponse, error) {
	return guard(ctx, h, "GetEula", account(), r, h.next.GetEula)
}

func (h *Handler) GetLaunchProfile(ctx context.Context, r *api.GetLaunchProfileRequest) (*api.GetLaunchProfileResponse, error) {
	return guard(ctx, h, "GetLaunchProfile", in(r.StudioId, r.LaunchProfileId), r, h.next.GetLaunchProfile)
}

func (h *Handler) GetLaunchProfileDetails(ctx context.Context, r *api.GetLaunchProfileDetailsRequest) (*api.GetLaunchProfileDetailsResponse, error) {
	return guard(ctx, h, "GetLaunchProfileDetails", in(r.StudioId, r.LaunchProfileId), r, h.next.GetLaunchProfileDetails)
}

func (h *Handler) GetLaunchProfileInitialization(ctx context.Context, r *api.GetLaunchProfileInitializationRequest) (*api.GetLaunchProfileInitializationResponse, error) {
	return guard(ctx, h, "GetLaunchProfileInitialization", in(r.StudioId, r.LaunchProfileId), r, h.next.GetLaunchProfileInitialization)
}

func (h *Handler) GetLaunchProfileMember(ctx context.Context, r *api.GetLaunchProfileMemberRequest) (*api.GetLaunchProfileMemberResponse, error) {
	return guard(ctx, h, "GetLaunchProfileMember", in(r.StudioId, r.LaunchProfileId), r, h.next.GetLaunchProfileMember)
}

func (h *Handler) GetStreamingImage(ctx context.Context, r *api.GetStreamingImageRequest) (*api.GetStreamingImageResponse, error) {
	return guard(ctx, h, "GetStreamingImage", in(r.StudioId, r.StreamingImageId), r, h.next.GetStreamingImage)
}

func (h *Handler) GetStreamingSession(ctx context.Context, r *api.GetStreamingSessionRequest) (*api.GetStreamingSessionResponse, error) {
	return guard(ctx, h, "GetStreamingSession", in(r.StudioId, r.SessionId), r, h.next.GetStreamingSession)
}

func (h *Handler) GetStreamingSessionBackup(ctx context.Context, r *api.GetStreamingSessionBackupRequest) (*api.GetStreamingSessionBackupResponse, error) {
	return guard(ctx, h, "GetStreamingSessionBackup", in(r.StudioId, r.BackupId), r, h.next.GetStreamingSessionBackup)
}

func (h *Handler) GetStreamingSessionStream(ctx context.Context, r *api.GetStreamingSessionStreamRequest) (*api.GetStreamingSessionStreamResponse, error) {
	return guard(ctx, h, "GetStreamingSessionStream", in(r.StudioId, r.SessionId), r, h.next.GetStreamingSessionStream)
}

func (h *Handler) GetStudio(ctx context.Context, r *api.GetStudioRequest) (*api.GetStudioResponse, error) {
	return guard(ctx, h, "GetStudio", inStudio(r.StudioId), r, h.next.GetStudio)
}

func (h *Handler) GetStudioComponent(ctx context.Context, r *api.GetStudioComponentRequest) (*api.GetStudioComponentResponse, error) {
	return guard(ctx, h, "GetStudioComponent", in(r.StudioId, r.StudioComponentId), r, h.next.GetStudioComponent)
}

func (h *Handler) GetStudioMember(ctx context.Context, r *api.GetStudioMemberRequest) (*api.GetStudioMemberResponse, error) {
	return guard(ctx, h, "GetStudioMember", inStudio(r.StudioId), r, h.next.GetStudioMember)
}

func (h *Handler) ListEulaAcceptances(ctx context.Context, r *api.ListEulaAcceptancesRequest) (*api.ListEulaAcceptancesResponse, error) {
	return guard(ctx, h, "ListEulaAcceptances", inStudio(r.StudioId), r, h.next.ListEulaAcceptances)
}

func (h *Handler) ListEulas(ctx context.Context, r *api.ListEulasRequest) (*api.ListEulasResponse, error) {
	return guard(ctx, h, "ListEulas", account(), r, h.next.ListEulas)
}

func (h *Handler) ListLaunchProfileMembers(ctx context.Context, r *api.ListLaunchProfileMembersRequest) (*api.ListLaunchProfileMembersResponse, error) {
	return guard(ctx, h, "ListLaunchProfileMembers", in(r.StudioId, r.LaunchProfileId), r, h.next.ListLaunchProfileMembers)
}

func (h *Handler) ListStreamingImages(ctx context.Context, r *api.ListStreamingImagesRequest) (*api.ListStreamingImagesResponse, error) {
	return guard(ctx, h, "ListStreamingImages", inStudio(r.StudioId), r, h.next.ListStreamingImages)
}

func (h *Handler) ListStudioComponents(ctx context.Context, r *api.ListStudioComponentsRequest) (*api.ListStudioComponentsResponse, error) {
	return guard(ctx, h, "ListStudioComponents", inStudio(r.StudioId), r, h.next.ListStudioComponents)
}

func (h *Handler) ListStudioMembers(ctx context.Context, r *api.ListStudioMembersRequest) (*api.ListStudioMembersResponse, error) {
	return guard(ctx, h, "ListStudioMembers", inStudio(r.StudioId), r, h.next.ListStudioMembers)
}

func (h *Handler) ListTagsForResource(ctx context.Context, r *api.ListTagsForResourceRequest) (*api.ListTagsForResourceResponse, error) {
	return guard(ctx, h, "ListTagsForResource", onARN(r.ResourceArn), r, h.next.ListTagsForResource)
}

func (h *Handler) PutLaunchProfileMembers(ctx context.Context, r *api.PutLaunchProfileMembersRequest) (*api.PutLaunchProfileMembersResponse, error) {
	return guard(ctx, h, "PutLaunchProfileMembers", in(r.StudioId, r.LaunchProfileId), r, h.next.PutLaunchProfileMembers)
}

func (h *Handler) PutStudioMembers(ctx context.Context, r *api.PutStudioMembersRequest) (*api.PutStudioMembersResponse, error) {
	return guard(ctx, h, "PutStudioMembers", inStudio(r.StudioId), r, h.next.PutStudioMembers)
}

func (h *Handler) StartStreamingSession(ctx context.Context, r *api.StartStreamingSessionRequest) (*api.StartStreamingSessionResponse, error) {
	return guard(ctx, h, "StartStreamingSession", in(r.StudioId, r.SessionId), r, h.next.StartStreamingSession)
}

func (h *Handler) StartStudioSSOConfigurationRepair(ctx context.Context, r *api.StartStudioSSOConfigurationRepairRequest) (*api.StartStudioSSOConfigurationRepairResponse, error) {
	return guard(ctx, h, "StartStudioSSOConfigurationRepair", inStudio(r.StudioId), r, h.next.StartStudioSSOConfigurationRepair)
}

func (h *Handler) StopStreamingSession(ctx context.Context, r *api.StopStreamingSessionRequest) (*api.StopStreamingSessionResponse, error) {
	return guard(ctx, h, "StopStreamingSession", in(r.StudioId, r.SessionId), r, h.next.StopStreamingSession)
}

func (h *Handler) TagResource(ctx context.Context, r *api.TagResourceRequest) (*api.TagResourceResponse, error) {
	return guard(ctx, h, "TagResource", onARN(r.ResourceArn), r, h.next.TagResource)
}

func (h *Handler) UntagResource(ctx context.Context, r *api.UntagResourceRequest) (*api.UntagResourceResponse, error) {
	return guard(ctx, h, "UntagResource", onARN(r.ResourceArn), r, h.next.UntagResource)
}

func (h *Handler) UpdateLaunchProfile(ctx context.Context, r *api.UpdateLaunchProfileRequest) (*api.UpdateLaunchProfileResponse, error) {
	return guard(ctx, h, "UpdateLaunchProfile", in(r.StudioId, r.LaunchProfileId), r, h.next.UpdateLaunchProfile)
}

func (h *Handler) UpdateLaunchProfileMember(ctx context.Context, r *api.UpdateLaunchProfileMemberRequest) (*api.UpdateLaunchProfileMemberResponse, error) {
	return guard(ctx, h, "UpdateLaunchProfileMember", in(r.StudioId, r.LaunchProfileId), r, h.next.UpdateLaunchProfileMember)
}

func (h *Handler) UpdateStreamingImage(ctx context.Context, r *api.UpdateStreamingImageRequest) (*api.UpdateStreamingImageResponse, error) {
	return guard(ctx, h, "UpdateStreamingImage", in(r.StudioId, r.StreamingImageId), r, h.next.UpdateStreamingImage)
}

func (h *Handler) UpdateStudio(ctx context.Context, r *api.UpdateStudioRequest) (*api.UpdateStudioResponse, error) {
	return guard(ctx, h, "UpdateStudio", inStudio(r.StudioId), r, h.next.UpdateStudio)
}

func (h *Handler) UpdateStudioComponent(ctx context.Context, r *api.UpdateStudioComponentRequest) (*api.UpdateStudioComponentResponse, error) {
	return guard(ctx, h, "UpdateStudioComponent", in(r.StudioId, r.StudioComponentId), r, h.next.UpdateStudioComponent)
}

// CreateStreamingSession: a studio user creates sessions owned by itself.
func (h *Handler) CreateStreamingSession(ctx context.Context, r *api.CreateStreamingSessionRequest) (*api.CreateStreamingSessionResponse, error) {
	return narrowed(ctx, h, "CreateStreamingSession", target{studio: r.StudioId, id: r.LaunchProfileId, ownedBy: r.OwnedBy}, r, func(c *api.CreateStreamingSessionRequest, id string) { c.OwnedBy = id }, h.next.CreateStreamingSession)
}

// ListStreamingSessions: a studio user lists its own sessions only.
func (h *Handler) ListStreamingSessions(ctx context.Context, r *api.ListStreamingSessionsRequest) (*api.ListStreamingSessionsResponse, error) {
	return narrowed(ctx, h, "ListStreamingSessions", listing(r.StudioId, r.OwnedBy), r, func(c *api.ListStreamingSessionsRequest, id string) { c.OwnedBy = id }, h.next.ListStreamingSessions)
}

// ListStreamingSessionBackups: a studio user lists its own backups only.
func (h *Handler) ListStreamingSessionBackups(ctx context.Context, r *api.ListStreamingSessionBackupsRequest) (*api.ListStreamingSessionBackupsResponse, error) {
	return narrowed(ctx, h, "ListStreamingSessionBackups", listing(r.StudioId, r.OwnedBy), r, func(c *api.ListStreamingSessionBackupsRequest, id string) { c.OwnedBy = id }, h.next.ListStreamingSessionBackups)
}

// ListLaunchProfiles: a studio user lists the launch profiles it is a
// member of only.
func (h *Handler) ListLaunchProfiles(ctx context.Context, r *api.ListLaunchProfilesRequest) (*api.ListLaunchProfilesResponse, error) {
	return narrowed(ctx, h, "ListLaunchProfiles", listing(r.StudioId, r.PrincipalId), r, func(c *api.ListLaunchProfilesRequest, id string) { c.PrincipalId = id }, h.next.ListLaunchProfiles)
}

// ListStudios: an account administrator sees every studio, anyone else the
// studios it administers or uses. The page is filtered and keeps the
// service's nextToken, so a page may be shorter than the others, or empty,
// before the last.
func (h *Handler) ListStudios(ctx context.Context, r *api.ListStudiosRequest) (*api.ListStudiosResponse, error) {
	p, _, err := h.authorize(ctx, "ListStudios", account())
	if err != nil {
		return nil, err
	}
	out, err := h.next.ListStudios(ctx, r)
	if err != nil || p.Admin || out == nil {
		return out, err
	}
	var visible map[string]bool
	err = h.store.View(ctx, func(tx opennimble.Tx) error {
		var err error
		visible, err = facts{ctx: ctx, tx: tx, who: p.ID}.visibleStudios()
		return err
	})
	if err != nil {
		return nil, err
	}
	kept := make([]*api.Studio, 0, len(out.Studios))
	for _, s := range out.Studios {
		if s != nil && visible[s.StudioId] {
			kept = append(kept, s)
		}
	}
	return &api.ListStudiosResponse{Studios: kept, NextToken: out.NextToken}, nil
}
