package service

// Temporary: methods not written yet. Each is deleted from this file when it is implemented.

import (
	"context"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

func (s *Service) AcceptEulas(ctx context.Context, in *api.AcceptEulasRequest) (*api.AcceptEulasResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "AcceptEulas is not implemented yet")
}

func (s *Service) CreateLaunchProfile(ctx context.Context, in *api.CreateLaunchProfileRequest) (*api.CreateLaunchProfileResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "CreateLaunchProfile is not implemented yet")
}

func (s *Service) CreateStreamingImage(ctx context.Context, in *api.CreateStreamingImageRequest) (*api.CreateStreamingImageResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "CreateStreamingImage is not implemented yet")
}

func (s *Service) CreateStudioComponent(ctx context.Context, in *api.CreateStudioComponentRequest) (*api.CreateStudioComponentResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "CreateStudioComponent is not implemented yet")
}

func (s *Service) DeleteLaunchProfile(ctx context.Context, in *api.DeleteLaunchProfileRequest) (*api.DeleteLaunchProfileResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "DeleteLaunchProfile is not implemented yet")
}

func (s *Service) DeleteLaunchProfileMember(ctx context.Context, in *api.DeleteLaunchProfileMemberRequest) (*api.DeleteLaunchProfileMemberResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "DeleteLaunchProfileMember is not implemented yet")
}

func (s *Service) DeleteStreamingImage(ctx context.Context, in *api.DeleteStreamingImageRequest) (*api.DeleteStreamingImageResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "DeleteStreamingImage is not implemented yet")
}

func (s *Service) DeleteStudioComponent(ctx context.Context, in *api.DeleteStudioComponentRequest) (*api.DeleteStudioComponentResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "DeleteStudioComponent is not implemented yet")
}

func (s *Service) DeleteStudioMember(ctx context.Context, in *api.DeleteStudioMemberRequest) (*api.DeleteStudioMemberResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "DeleteStudioMember is not implemented yet")
}

func (s *Service) GetEula(ctx context.Context, in *api.GetEulaRequest) (*api.GetEulaResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "GetEula is not implemented yet")
}

func (s *Service) GetLaunchProfile(ctx context.Context, in *api.GetLaunchProfileRequest) (*api.GetLaunchProfileResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "GetLaunchProfile is not implemented yet")
}

func (s *Service) GetLaunchProfileDetails(ctx context.Context, in *api.GetLaunchProfileDetailsRequest) (*api.GetLaunchProfileDetailsResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "GetLaunchProfileDetails is not implemented yet")
}

func (s *Service) GetLaunchProfileInitialization(ctx context.Context, in *api.GetLaunchProfileInitializationRequest) (*api.GetLaunchProfileInitializationResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "GetLaunchProfileInitialization is not implemented yet")
}

func (s *Service) GetLaunchProfileMember(ctx context.Context, in *api.GetLaunchProfileMemberRequest) (*api.GetLaunchProfileMemberResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "GetLaunchProfileMember is not implemented yet")
}

func (s *Service) GetStreamingImage(ctx context.Context, in *api.GetStreamingImageRequest) (*api.GetStreamingImageResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "GetStreamingImage is not implemented yet")
}

func (s *Service) GetStudioComponent(ctx context.Context, in *api.GetStudioComponentRequest) (*api.GetStudioComponentResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "GetStudioComponent is not implemented yet")
}

func (s *Service) GetStudioMember(ctx context.Context, in *api.GetStudioMemberRequest) (*api.GetStudioMemberResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "GetStudioMember is not implemented yet")
}

func (s *Service) ListEulaAcceptances(ctx context.Context, in *api.ListEulaAcceptancesRequest) (*api.ListEulaAcceptancesResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "ListEulaAcceptances is not implemented yet")
}

func (s *Service) ListEulas(ctx context.Context, in *api.ListEulasRequest) (*api.ListEulasResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "ListEulas is not implemented yet")
}

func (s *Service) ListLaunchProfileMembers(ctx context.Context, in *api.ListLaunchProfileMembersRequest) (*api.ListLaunchProfileMembersResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "ListLaunchProfileMembers is not implemented yet")
}

func (s *Service) ListLaunchProfiles(ctx context.Context, in *api.ListLaunchProfilesRequest) (*api.ListLaunchProfilesResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "ListLaunchProfiles is not implemented yet")
}

func (s *Service) ListStreamingImages(ctx context.Context, in *api.ListStreamingImagesRequest) (*api.ListStreamingImagesResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "ListStreamingImages is not implemented yet")
}

func (s *Service) ListStudioComponents(ctx context.Context, in *api.ListStudioComponentsRequest) (*api.ListStudioComponentsResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "ListStudioComponents is not implemented yet")
}

func (s *Service) ListStudioMembers(ctx context.Context, in *api.ListStudioMembersRequest) (*api.ListStudioMembersResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "ListStudioMembers is not implemented yet")
}

func (s *Service) ListTagsForResource(ctx context.Context, in *api.ListTagsForResourceRequest) (*api.ListTagsForResourceResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "ListTagsForResource is not implemented yet")
}

func (s *Service) PutLaunchProfileMembers(ctx context.Context, in *api.PutLaunchProfileMembersRequest) (*api.PutLaunchProfileMembersResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "PutLaunchProfileMembers is not implemented yet")
}

func (s *Service) PutStudioMembers(ctx context.Context, in *api.PutStudioMembersRequest) (*api.PutStudioMembersResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "PutStudioMembers is not implemented yet")
}

func (s *Service) TagResource(ctx context.Context, in *api.TagResourceRequest) (*api.TagResourceResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "TagResource is not implemented yet")
}

func (s *Service) UntagResource(ctx context.Context, in *api.UntagResourceRequest) (*api.UntagResourceResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "UntagResource is not implemented yet")
}

func (s *Service) UpdateLaunchProfile(ctx context.Context, in *api.UpdateLaunchProfileRequest) (*api.UpdateLaunchProfileResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "UpdateLaunchProfile is not implemented yet")
}

func (s *Service) UpdateLaunchProfileMember(ctx context.Context, in *api.UpdateLaunchProfileMemberRequest) (*api.UpdateLaunchProfileMemberResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "UpdateLaunchProfileMember is not implemented yet")
}

func (s *Service) UpdateStreamingImage(ctx context.Context, in *api.UpdateStreamingImageRequest) (*api.UpdateStreamingImageResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "UpdateStreamingImage is not implemented yet")
}

func (s *Service) UpdateStudioComponent(ctx context.Context, in *api.UpdateStudioComponentRequest) (*api.UpdateStudioComponentResponse, error) {
	return nil, opennimble.Errorf(opennimble.ErrInternal, "UpdateStudioComponent is not implemented yet")
}

func (s *Service) reconcileStudioComponent(ctx context.Context, id string) error { return nil }

func (s *Service) reconcileLaunchProfile(ctx context.Context, id string) error { return nil }

func (s *Service) reconcileStreamingImage(ctx context.Context, id string) error { return nil }
// streamingImage returns the streaming image imageID as studioID sees it: one
// of the studio's own images or one of the service-owned images every studio
// sees. A missing or DELETED image is ResourceNotFoundException.
func (s *Service) streamingImage(ctx context.Context, tx opennimble.Tx, studioID, imageID string) (*streamingImageDoc, error) {
	d, _, err := get[streamingImageDoc](ctx, tx, opennimble.KindStreamingImage, imageID)
	if err != nil {
		return nil, err
	}
	if d == nil || d.StudioId != studioID || d.State == api.StreamingImageStateDeleted {
		return nil, opennimble.NotFound("streaming image", imageID)
	}
	return d, nil
}
