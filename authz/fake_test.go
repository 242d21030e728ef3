package authz

import (
	"context"
	"sync"

	"github.com/opennimble/opennimble/api"
)

// fake is the next handler of the tests: it records what reached it and
// answers with a configured output, or an empty one.
type fake struct {
	mu    sync.Mutex
	calls []call
	out   map[string]any // by operation
}

type call struct {
	op string
	in any
}

var _ api.Handler = (*fake)(nil)

func (f *fake) last() (call, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return call{}, false
	}
	return f.calls[len(f.calls)-1], true
}

func (f *fake) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

func answer[O any](f *fake, op string, in any) (*O, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{op: op, in: in})
	if o, ok := f.out[op].(*O); ok {
		return o, nil
	}
	return new(O), nil
}

func (f *fake) AcceptEulas(ctx context.Context, in *api.AcceptEulasRequest) (*api.AcceptEulasResponse, error) {
	return answer[api.AcceptEulasResponse](f, "AcceptEulas", in)
}

func (f *fake) CreateLaunchProfile(ctx context.Context, in *api.CreateLaunchProfileRequest) (*api.CreateLaunchProfileResponse, error) {
	return answer[api.CreateLaunchProfileResponse](f, "CreateLaunchProfile", in)
}

func (f *fake) CreateStreamingImage(ctx context.Context, in *api.CreateStreamingImageRequest) (*api.CreateStreamingImageResponse, error) {
	return answer[api.CreateStreamingImageResponse](f, "CreateStreamingImage", in)
}

func (f *fake) CreateStreamingSession(ctx context.Context, in *api.CreateStreamingSessionRequest) (*api.CreateStreamingSessionResponse, error) {
	return answer[api.CreateStreamingSessionResponse](f, "CreateStreamingSession", in)
}

func (f *fake) CreateStreamingSessionStream(ctx context.Context, in *api.CreateStreamingSessionStreamRequest) (*api.CreateStreamingSessionStreamResponse, error) {
	return answer[api.CreateStreamingSessionStreamResponse](f, "CreateStreamingSessionStream", in)
}

func (f *fake) CreateStudio(ctx context.Context, in *api.CreateStudioRequest) (*api.CreateStudioResponse, error) {
	return answer[api.CreateStudioResponse](f, "CreateStudio", in)
}

func (f *fake) CreateStudioComponent(ctx context.Context, in *api.CreateStudioComponentRequest) (*api.CreateStudioComponentResponse, error) {
	return answer[api.CreateStudioComponentResponse](f, "CreateStudioComponent", in)
}

func (f *fake) DeleteLaunchProfile(ctx context.Context, in *api.DeleteLaunchProfileRequest) (*api.DeleteLaunchProfileResponse, error) {
	return answer[api.DeleteLaunchProfileResponse](f, "DeleteLaunchProfile", in)
}

func (f *fake) DeleteLaunchProfileMember(ctx context.Context, in *api.DeleteLaunchProfileMemberRequest) (*api.DeleteLaunchProfileMemberResponse, error) {
	return answer[api.DeleteLaunchProfileMemberResponse](f, "DeleteLaunchProfileMember", in)
}

func (f *fake) DeleteStreamingImage(ctx context.Context, in *api.DeleteStreamingImageRequest) (*api.DeleteStreamingImageResponse, error) {
	return answer[api.DeleteStreamingImageResponse](f, "DeleteStreamingImage", in)
}

func (f *fake) DeleteStreamingSession(ctx context.Context, in *api.DeleteStreamingSessionRequest) (*api.DeleteStreamingSessionResponse, error) {
	return answer[api.DeleteStreamingSessionResponse](f, "DeleteStreamingSession", in)
}

func (f *fake) DeleteStudio(ctx context.Context, in *api.DeleteStudioRequest) (*api.DeleteStudioResponse, error) {
	return answer[api.DeleteStudioResponse](f, "DeleteStudio", in)
}

func (f *fake) DeleteStudioComponent(ctx context.Context, in *api.DeleteStudioComponentRequest) (*api.DeleteStudioComponentResponse, error) {
	return answer[api.DeleteStudioComponentResponse](f, "DeleteStudioComponent", in)
}

func (f *fake) DeleteStudioMember(ctx context.Context, in *api.DeleteStudioMemberRequest) (*api.DeleteStudioMemberResponse, error) {
	return answer[api.DeleteStudioMemberResponse](f, "DeleteStudioMember", in)
}

func (f *fake) GetEula(ctx context.Context, in *api.GetEulaRequest) (*api.GetEulaResponse, error) {
	return answer[api.GetEulaResponse](f, "GetEula", in)
}

func (f *fake) GetLaunchProfile(ctx context.Context, in *api.GetLaunchProfileRequest) (*api.GetLaunchProfileResponse, error) {
	return answer[api.GetLaunchProfileResponse](f, "GetLaunchProfile", in)
}

func (f *fake) GetLaunchProfileDetails(ctx context.Context, in *api.GetLaunchProfileDetailsRequest) (*api.GetLaunchProfileDetailsResponse, error) {
	return answer[api.GetLaunchProfileDetailsResponse](f, "GetLaunchProfileDetails", in)
}

func (f *fake) GetLaunchProfileInitialization(ctx context.Context, in *api.GetLaunchProfileInitializationRequest) (*api.GetLaunchProfileInitializationResponse, error) {
	return answer[api.GetLaunchProfileInitializationResponse](f, "GetLaunchProfileInitialization", in)
}

func (f *fake) GetLaunchProfileMember(ctx context.Context, in *api.GetLaunchProfileMemberRequest) (*api.GetLaunchProfileMemberResponse, error) {
	return answer[api.GetLaunchProfileMemberResponse](f, "GetLaunchProfileMember", in)
}

func (f *fake) GetStreamingImage(ctx context.Context, in *api.GetStreamingImageRequest) (*api.GetStreamingImageResponse, error) {
	return answer[api.GetStreamingImageResponse](f, "GetStreamingImage", in)
}

func (f *fake) GetStreamingSession(ctx context.Context, in *api.GetStreamingSessionRequest) (*api.GetStreamingSessionResponse, error) {
	return answer[api.GetStreamingSessionResponse](f, "GetStreamingSession", in)
}

func (f *fake) GetStreamingSessionBackup(ctx context.Context, in *api.GetStreamingSessionBackupRequest) (*api.GetStreamingSessionBackupResponse, error) {
	return answer[api.GetStreamingSessionBackupResponse](f, "GetStreamingSessionBackup", in)
}

func (f *fake) GetStreamingSessionStream(ctx context.Context, in *api.GetStreamingSessionStreamRequest) (*api.GetStreamingSessionStreamResponse, error) {
	return answer[api.GetStreamingSessionStreamResponse](f, "GetStreamingSessionStream", in)
}

func (f *fake) GetStudio(ctx context.Context, in *api.GetStudioRequest) (*api.GetStudioResponse, error) {
	return answer[api.GetStudioResponse](f, "GetStudio", in)
}

func (f *fake) GetStudioComponent(ctx context.Context, in *api.GetStudioComponentRequest) (*api.GetStudioComponentResponse, error) {
	return answer[api.GetStudioComponentResponse](f, "GetStudioComponent", in)
}

func (f *fake) GetStudioMember(ctx context.Context, in *api.GetStudioMemberRequest) (*api.GetStudioMemberResponse, error) {
	return answer[api.GetStudioMemberResponse](f, "GetStudioMember", in)
}

func (f *fake) ListEulaAcceptances(ctx context.Context, in *api.ListEulaAcceptancesRequest) (*api.ListEulaAcceptancesResponse, error) {
	return answer[api.ListEulaAcceptancesResponse](f, "ListEulaAcceptances", in)
}

func (f *fake) ListEulas(ctx context.Context, in *api.ListEulasRequest) (*api.ListEulasResponse, error) {
	return answer[api.ListEulasResponse](f, "ListEulas", in)
}

func (f *fake) ListLaunchProfileMembers(ctx context.Context, in *api.ListLaunchProfileMembersRequest) (*api.ListLaunchProfileMembersResponse, error) {
	return answer[api.ListLaunchProfileMembersResponse](f, "ListLaunchProfileMembers", in)
}

func (f *fake) ListLaunchProfiles(ctx context.Context, in *api.ListLaunchProfilesRequest) (*api.ListLaunchProfilesResponse, error) {
	return answer[api.ListLaunchProfilesResponse](f, "ListLaunchProfiles", in)
}

func (f *fake) ListStreamingImages(ctx context.Context, in *api.ListStreamingImagesRequest) (*api.ListStreamingImagesResponse, error) {
	return answer[api.ListStreamingImagesResponse](f, "ListStreamingImages", in)
}

func (f *fake) ListStreamingSessionBackups(ctx context.Context, in *api.ListStreamingSessionBackupsRequest) (*api.ListStreamingSessionBackupsResponse, error) {
	return answer[api.ListStreamingSessionBackupsResponse](f, "ListStreamingSessionBackups", in)
}

func (f *fake) ListStreamingSessions(ctx context.Context, in *api.ListStreamingSessionsRequest) (*api.ListStreamingSessionsResponse, error) {
	return answer[api.ListStreamingSessionsResponse](f, "ListStreamingSessions", in)
}

func (f *fake) ListStudioComponents(ctx context.Context, in *api.ListStudioComponentsRequest) (*api.ListStudioComponentsResponse, error) {
	return answer[api.ListStudioComponentsResponse](f, "ListStudioComponents", in)
}

func (f *fake) ListStudioMembers(ctx context.Context, in *api.ListStudioMembersRequest) (*api.ListStudioMembersResponse, error) {
	return answer[api.ListStudioMembersResponse](f, "ListStudioMembers", in)
}

func (f *fake) ListStudios(ctx context.Context, in *api.ListStudiosRequest) (*api.ListStudiosResponse, error) {
	return answer[api.ListStudiosResponse](f, "ListStudios", in)
}

func (f *fake) ListTagsForResource(ctx context.Context, in *api.ListTagsForResourceRequest) (*api.ListTagsForResourceResponse, error) {
	return answer[api.ListTagsForResourceResponse](f, "ListTagsForResource", in)
}

func (f *fake) PutLaunchProfileMembers(ctx context.Context, in *api.PutLaunchProfileMembersRequest) (*api.PutLaunchProfileMembersResponse, error) {
	return answer[api.PutLaunchProfileMembersResponse](f, "PutLaunchProfileMembers", in)
}

func (f *fake) PutStudioMembers(ctx context.Context, in *api.PutStudioMembersRequest) (*api.PutStudioMembersResponse, error) {
	return answer[api.PutStudioMembersResponse](f, "PutStudioMembers", in)
}

func (f *fake) StartStreamingSession(ctx context.Context, in *api.StartStreamingSessionRequest) (*api.StartStreamingSessionResponse, error) {
	return answer[api.StartStreamingSessionResponse](f, "StartStreamingSession", in)
}

func (f *fake) StartStudioSSOConfigurationRepair(ctx context.Context, in *api.StartStudioSSOConfigurationRepairRequest) (*api.StartStudioSSOConfigurationRepairResponse, error) {
	return answer[api.StartStudioSSOConfigurationRepairResponse](f, "StartStudioSSOConfigurationRepair", in)
}

func (f *fake) StopStreamingSession(ctx context.Context, in *api.StopStreamingSessionRequest) (*api.StopStreamingSessionResponse, error) {
	return answer[api.StopStreamingSessionResponse](f, "StopStreamingSession", in)
}

func (f *fake) TagResource(ctx context.Context, in *api.TagResourceRequest) (*api.TagResourceResponse, error) {
	return answer[api.TagResourceResponse](f, "TagResource", in)
}

func (f *fake) UntagResource(ctx context.Context, in *api.UntagResourceRequest) (*api.UntagResourceResponse, error) {
	return answer[api.UntagResourceResponse](f, "UntagResource", in)
}

func (f *fake) UpdateLaunchProfile(ctx context.Context, in *api.UpdateLaunchProfileRequest) (*api.UpdateLaunchProfileResponse, error) {
	return answer[api.UpdateLaunchProfileResponse](f, "UpdateLaunchProfile", in)
}

func (f *fake) UpdateLaunchProfileMember(ctx context.Context, in *api.UpdateLaunchProfileMemberRequest) (*api.UpdateLaunchProfileMemberResponse, error) {
	return answer[api.UpdateLaunchProfileMemberResponse](f, "UpdateLaunchProfileMember", in)
}

func (f *fake) UpdateStreamingImage(ctx context.Context, in *api.UpdateStreamingImageRequest) (*api.UpdateStreamingImageResponse, error) {
	return answer[api.UpdateStreamingImageResponse](f, "UpdateStreamingImage", in)
}

func (f *fake) UpdateStudio(ctx context.Context, in *api.UpdateStudioRequest) (*api.UpdateStudioResponse, error) {
	return answer[api.UpdateStudioResponse](f, "UpdateStudio", in)
}

func (f *fake) UpdateStudioComponent(ctx context.Context, in *api.UpdateStudioComponentRequest) (*api.UpdateStudioComponentResponse, error) {
	return answer[api.UpdateStudioComponentResponse](f, "UpdateStudioComponent", in)
}
