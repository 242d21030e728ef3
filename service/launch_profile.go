package service

import (
	"context"
	"slices"
	"strings"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// Stream configuration defaults, from the model's documentation of
// StreamConfigurationCreate.
const (
	// "The default length of time is 690 minutes."
	profileMaxSessionMinutes = 690
	// "The default value is 0."
	profileMaxStoppedMinutes = 0
	// The model is silent; the CloudFormation/CDK documentation gives 0.
	profileMaxBackupsToRetain = 0
)

const launchProfileNoun = "launch profile"

func (s *Service) loadLaunchProfile(ctx context.Context, tx opennimble.Tx, studioID, id string, live bool) (*launchProfileDoc, *opennimble.Record, error) {
	return loadIn[launchProfileDoc](ctx, tx, opennimble.KindLaunchProfile, launchProfileNoun, studioID, id, live)
}

// launchProfileUsing returns the id of a launch profile of the studio that is
// not deleted and for which uses is true, or "" if there is none.
func (s *Service) launchProfileUsing(ctx context.Context, tx opennimble.Tx, studioID string, uses func(*launchProfileDoc) bool) (string, error) {
	lps, _, err := list[launchProfileDoc](ctx, tx, opennimble.ListQuery{Kind: opennimble.KindLaunchProfile, StudioID: studioID, ExcludeStates: []string{deletedState}})
	if err != nil {
		return "", err
	}
	for _, lp := range lps {
		if uses(lp) {
			return lp.LaunchProfileId, nil
		}
	}
	return "", nil
}

// validationResults reports every validation type in one state; the
// emulator has no network to validate, so a profile that reaches READY has
// passed them all.
func validationResults(state api.LaunchProfileValidationState) []*api.ValidationResult {
	code, msg := api.LaunchProfileValidationStatusCodeValidationInProgress, "Validation in progress"
	if state == api.LaunchProfileValidationStateValidationSuccess {
		code, msg = api.LaunchProfileValidationStatusCodeValidationSuccess, "Validation succeeded"
	}
	out := make([]*api.ValidationResult, 0, len(api.LaunchProfileValidationTypeValues))
	for _, typ := range api.LaunchProfileValidationTypeValues {
		out = append(out, &api.ValidationResult{Type: api.LaunchProfileValidationType(typ), State: state, StatusCode: code, StatusMessage: msg})
	}
	return out
}

// checkComponents resolves a launch profile's studioComponentIds: each must be
// a component of the studio that is not deleted or being deleted. Duplicates
// are dropped, keeping the first.
func (s *Service) checkComponents(ctx context.Context, tx opennimble.Tx, studioID string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, invalidField("studioComponentIds", "studioComponentIds must list at least one studio component")
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if slices.Contains(out, id) {
			continue
		}
		c, _, err := loadIn[studioComponentDoc](ctx, tx, opennimble.KindStudioComponent, "studio component", studioID, id, true)
		if err != nil {
			return nil, err
		}
		if c.State == api.StudioComponentStateDeleteInProgress {
			return nil, requireState("studio component", id, string(c.State), "any state but DELETE_IN_PROGRESS")
		}
		out = append(out, id)
	}
	return out, nil
}

// checkImages resolves streamConfiguration.streamingImageIds: each must be an
// image the studio sees that is not being deleted. Duplicates are dropped.
func (s *Service) checkImages(ctx context.Context, tx opennimble.Tx, studioID string, ids []string) ([]string, error) {
	const field = "streamConfiguration.streamingImageIds"
	if len(ids) == 0 {
		return nil, invalidField(field, "%s must list at least one streaming image", field)
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if slices.Contains(out, id) {
			continue
		}
		img, err := s.streamingImage(ctx, tx, studioID, id)
		if err != nil {
			return nil, err
		}
		if img.State == api.StreamingImageStateDeleteInProgress {
			return nil, requireState("streaming image", id, string(img.State), "any state but DELETE_IN_PROGRESS")
		}
		out = append(out, id)
	}
	return out, nil
}

// resolveStream checks a requested stream configuration against the rules
// the model documents for StreamConfigurationCreate and fills in its
// defaults, so that GetLaunchProfile shows what sessions will get.
func (s *Service) resolveStream(ctx context.Context, tx opennimble.Tx, studioID string, in *api.StreamConfigurationCreate) (*api.StreamConfiguration, error) {
	const p = "streamConfiguration."
	if in == nil {
		return nil, invalidField("streamConfiguration", "streamConfiguration is required")
	}
	if in.ClipboardMode == "" {
		return nil, invalidField(p+"clipboardMode", "%sclipboardMode is required", p)
	}
	if len(in.Ec2InstanceTypes) == 0 {
		return nil, invalidField(p+"ec2InstanceTypes", "%sec2InstanceTypes must list at least one instance type", p)
	}
	images, err := s.checkImages(ctx, tx, studioID, in.StreamingImageIds)
	if err != nil {
		return nil, err
	}
	out := &api.StreamConfiguration{
		AutomaticTerminationMode:         api.AutomaticTerminationModeDeactivated,
		ClipboardMode:                    in.ClipboardMode,
		Ec2InstanceTypes:                 in.Ec2InstanceTypes,
		MaxSessionLengthInMinutes:        ptr(int32(profileMaxSessionMinutes)),
		MaxStoppedSessionLengthInMinutes: ptr(int32(profileMaxStoppedMinutes)),
		SessionBackup:                    &api.StreamConfigurationSessionBackup{Mode: api.SessionBackupModeDeactivated, MaxBackupsToRetain: ptr(int32(profileMaxBackupsToRetain))},
		SessionPersistenceMode:           api.SessionPersistenceModeDeactivated,
		SessionStorage:                   in.SessionStorage,
		StreamingImageIds:                images,
	}
	if in.MaxSessionLengthInMinutes != nil {
		out.MaxSessionLengthInMinutes = ptr(*in.MaxSessionLengthInMinutes)
	}
	if b := in.SessionBackup; b != nil {
		if b.Mode != "" {
			out.SessionBackup.Mode = b.Mode
		}
		if b.MaxBackupsToRetain != nil {
			out.SessionBackup.MaxBackupsToRetain = ptr(*b.MaxBackupsToRetain)
		}
	}
	if in.SessionPersistenceMode != "" {
		out.SessionPersistenceMode = in.SessionPersistenceMode
	}
	if err := resolvePersistence(in, out); err != nil {
		return nil, err
	}
	return out, nil
}

// resolvePersistence applies the members that only make sense for sessions
// that persist:
//   - automaticTerminationMode "is only allowed when sessionPersistenceMode is
//     ACTIVATED. When allowed, the default value for this parameter is
//     DEACTIVATED."
//   - maxStoppedSessionLengthInMinutes "is allowed only when
//     sessionPersistenceMode is ACTIVATED and automaticTerminationMode is
//     ACTIVATED."
//   - volumeConfiguration "is only allowed when sessionPersistenceMode is
//     ACTIVATED."
//
// A member sent with the value it would take anyway (DEACTIVATED, 0) is
// accepted: it changes nothing.
func resolvePersistence(in *api.StreamConfigurationCreate, out *api.StreamConfiguration) error {
	const p = "streamConfiguration."
	persistent := out.SessionPersistenceMode == api.SessionPersistenceModeActivated
	if in.AutomaticTerminationMode != "" {
		if !persistent && in.AutomaticTerminationMode != api.AutomaticTerminationModeDeactivated {
			return invalidField(p+"automaticTerminationMode", "%sautomaticTerminationMode %s is only allowed when sessionPersistenceMode is ACTIVATED", p, in.AutomaticTerminationMode)
		}
		out.AutomaticTerminationMode = in.AutomaticTerminationMode
	}
	if in.MaxStoppedSessionLengthInMinutes != nil {
		if n := *in.MaxStoppedSessionLengthInMinutes; n != 0 && (!persistent || out.AutomaticTerminationMode != api.AutomaticTerminationModeActivated) {
			return invalidField(p+"maxStoppedSessionLengthInMinutes",
				"%smaxStoppedSessionLengthInMinutes %d is only allowed when sessionPersistenceMode is ACTIVATED and automaticTerminationMode is ACTIVATED", p, n)
		}
		out.MaxStoppedSessionLengthInMinutes = ptr(*in.MaxStoppedSessionLengthInMinutes)
	}
	if in.VolumeConfiguration != nil {
		if !persistent {
			return invalidField(p+"volumeConfiguration", "%svolumeConfiguration is only allowed when sessionPersistenceMode is ACTIVATED", p)
		}
		v := *in.VolumeConfiguration
		out.VolumeConfiguration = &v
	}
	return nil
}

func (s *Service) CreateLaunchProfile(ctx context.Context, in *api.CreateLaunchProfileRequest) (*api.CreateLaunchProfileResponse, error) {
	return idempotent(ctx, s, "CreateLaunchProfile", in.ClientToken, in, func(t *txn) (*api.CreateLaunchProfileResponse, error) {
		if _, err := s.liveStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		// name is required by the model (Bind); an empty list of protocol
		// versions passes Bind, so it is refused here.
		if len(in.LaunchProfileProtocolVersions) == 0 {
			return nil, invalidField("launchProfileProtocolVersions", "launchProfileProtocolVersions must list at least one version")
		}
		if err := validateTags("tags", in.Tags); err != nil {
			return nil, err
		}
		n, err := t.Count(ctx, opennimble.ListQuery{Kind: opennimble.KindLaunchProfile, StudioID: in.StudioId, ExcludeStates: []string{deletedState}})
		if err != nil {
			return nil, err
		}
		if err := s.checkQuota("launch profiles per studio", n, s.cfg.Quotas.LaunchProfilesPerStudio); err != nil {
			return nil, err
		}
		components, err := s.checkComponents(ctx, t, in.StudioId, in.StudioComponentIds)
		if err != nil {
			return nil, err
		}
		stream, err := s.resolveStream(ctx, t, in.StudioId, in.StreamConfiguration)
		if err != nil {
			return nil, err
		}
		now, who, id := s.now(), caller(ctx), s.ids.New("lp")
		d := &launchProfileDoc{StudioId: in.StudioId, LaunchProfile: api.LaunchProfile{
			Arn:                           s.arn(opennimble.KindLaunchProfile, id),
			CreatedAt:                     &now,
			CreatedBy:                     who,
			Description:                   in.Description,
			Ec2SubnetIds:                  in.Ec2SubnetIds,
			LaunchProfileId:               id,
			LaunchProfileProtocolVersions: in.LaunchProfileProtocolVersions,
			Name:                          in.Name,
			State:                         api.LaunchProfileStateCreateInProgress,
			StatusCode:                    api.LaunchProfileStatusCodeLaunchProfileCreateInProgress,
			StatusMessage:                 "Launch profile creation in progress",
			StreamConfiguration:           stream,
			StudioComponentIds:            components,
			Tags:                          in.Tags,
			UpdatedAt:                     &now,
			UpdatedBy:                     who,
			ValidationResults:             validationResults(api.LaunchProfileValidationStateValidationInProgress),
		}}
		if err := s.saveAndSchedule(ctx, t, nil, d, now); err != nil {
			return nil, err
		}
		return &api.CreateLaunchProfileResponse{LaunchProfile: &d.LaunchProfile}, nil
	})
}

func (s *Service) GetLaunchProfile(ctx context.Context, in *api.GetLaunchProfileRequest) (*api.GetLaunchProfileResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.GetLaunchProfileResponse, error) {
		// DELETED profiles answer until purged, for the LaunchProfileDeleted waiter.
		d, _, err := s.loadLaunchProfile(ctx, tx, in.StudioId, in.LaunchProfileId, false)
		if err != nil {
			return nil, err
		}
		return &api.GetLaunchProfileResponse{LaunchProfile: &d.LaunchProfile}, nil
	})
}

func (s *Service) ListLaunchProfiles(ctx context.Context, in *api.ListLaunchProfilesRequest) (*api.ListLaunchProfilesResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.ListLaunchProfilesResponse, error) {
		if _, _, err := s.loadStudio(ctx, tx, in.StudioId); err != nil {
			return nil, err
		}
		keep, err := s.memberOf(ctx, tx, in.StudioId, in.PrincipalId)
		if err != nil {
			return nil, err
		}
		q := statesQuery(opennimble.ListQuery{Kind: opennimble.KindLaunchProfile, StudioID: in.StudioId}, in.States)
		sc := scope("ListLaunchProfiles", in.StudioId, in.PrincipalId, filterScope(in.States))
		docs, next, err := page[launchProfileDoc](ctx, s, tx, sc, in.NextToken, limit(in.MaxResults), q, keep)
		if err != nil {
			return nil, err
		}
		out := &api.ListLaunchProfilesResponse{LaunchProfiles: make([]*api.LaunchProfile, 0, len(docs)), NextToken: next}
		for _, d := range docs {
			out.LaunchProfiles = append(out.LaunchProfiles, &d.LaunchProfile)
		}
		return out, nil
	})
}

// memberOf returns a filter that keeps the launch profiles principalID is a
// member of, or nil (keep all) when principalID is empty.
func (s *Service) memberOf(ctx context.Context, tx opennimble.Tx, studioID, principalID string) (func(*launchProfileDoc) bool, error) {
	if principalID == "" {
		return nil, nil
	}
	recs, err := tx.List(ctx, opennimble.ListQuery{Kind: opennimble.KindLaunchProfileMember, StudioID: studioID, OwnedBy: principalID})
	if err != nil {
		return nil, err
	}
	ids := make(map[string]bool, len(recs))
	for _, r := range recs {
		ids[r.ParentID] = true
	}
	return func(d *launchProfileDoc) bool { return ids[d.LaunchProfileId] }, nil
}

func (s *Service) UpdateLaunchProfile(ctx context.Context, in *api.UpdateLaunchProfileRequest) (*api.UpdateLaunchProfileResponse, error) {
	return idempotent(ctx, s, "UpdateLaunchProfile", in.ClientToken, in, func(t *txn) (*api.UpdateLaunchProfileResponse, error) {
		if _, err := s.liveStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		d, rec, err := s.loadLaunchProfile(ctx, t, in.StudioId, in.LaunchProfileId, true)
		if err != nil {
			return nil, err
		}
		if err := requireState(launchProfileNoun, d.LaunchProfileId, string(d.State),
			string(api.LaunchProfileStateReady), string(api.LaunchProfileStateUpdateFailed)); err != nil {
			return nil, err
		}
		if err := s.applyLaunchProfileUpdate(ctx, t, d, in); err != nil {
			return nil, err
		}
		now := s.now()
		d.UpdatedAt, d.UpdatedBy = &now, caller(ctx)
		d.State, d.StatusCode, d.StatusMessage = api.LaunchProfileStateUpdateInProgress,
			api.LaunchProfileStatusCodeLaunchProfileUpdateInProgress, "Launch profile update in progress"
		d.ValidationResults = validationResults(api.LaunchProfileValidationStateValidationInProgress)
		if err := s.saveAndSchedule(ctx, t, rec, d, now); err != nil {
			return nil, err
		}
		return &api.UpdateLaunchProfileResponse{LaunchProfile: &d.LaunchProfile}, nil
	})
}

// applyLaunchProfileUpdate merges the members the request sets. A
// streamConfiguration replaces the whole configuration, resolved with the
// same defaults as on create: its shape is StreamConfigurationCreate, whose
// required members make every update a complete configuration.
func (s *Service) applyLaunchProfileUpdate(ctx context.Context, t *txn, d *launchProfileDoc, in *api.UpdateLaunchProfileRequest) error {
	if in.StudioComponentIds != nil {
		ids, err := s.checkComponents(ctx, t, d.StudioId, in.StudioComponentIds)
		if err != nil {
			return err
		}
		d.StudioComponentIds = ids
	}
	if in.StreamConfiguration != nil {
		stream, err := s.resolveStream(ctx, t, d.StudioId, in.StreamConfiguration)
		if err != nil {
			return err
		}
		d.StreamConfiguration = stream
	}
	if in.LaunchProfileProtocolVersions != nil {
		if len(in.LaunchProfileProtocolVersions) == 0 {
			return invalidField("launchProfileProtocolVersions", "launchProfileProtocolVersions must list at least one version")
		}
		d.LaunchProfileProtocolVersions = in.LaunchProfileProtocolVersions
	}
	setString(&d.Name, in.Name)
	setString(&d.Description, in.Description)
	return nil
}

func (s *Service) DeleteLaunchProfile(ctx context.Context, in *api.DeleteLaunchProfileRequest) (*api.DeleteLaunchProfileResponse, error) {
	return idempotent(ctx, s, "DeleteLaunchProfile", in.ClientToken, in, func(t *txn) (*api.DeleteLaunchProfileResponse, error) {
		if _, _, err := s.loadStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		d, rec, err := s.loadLaunchProfile(ctx, t, in.StudioId, in.LaunchProfileId, true)
		if err != nil {
			return nil, err
		}
		if err := requireState(launchProfileNoun, d.LaunchProfileId, string(d.State), resourceDeletableStates...); err != nil {
			return nil, err
		}
		now := s.now()
		d.UpdatedAt, d.UpdatedBy = &now, caller(ctx)
		d.State, d.StatusCode, d.StatusMessage = api.LaunchProfileStateDeleteInProgress,
			api.LaunchProfileStatusCodeLaunchProfileDeleteInProgress, "Launch profile deletion in progress"
		if err := s.saveAndSchedule(ctx, t, rec, d, now); err != nil {
			return nil, err
		}
		return &api.DeleteLaunchProfileResponse{LaunchProfile: &d.LaunchProfile}, nil
	})
}

func (s *Service) GetLaunchProfileDetails(ctx context.Context, in *api.GetLaunchProfileDetailsRequest) (*api.GetLaunchProfileDetailsResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.GetLaunchProfileDetailsResponse, error) {
		d, _, err := s.loadLaunchProfile(ctx, tx, in.StudioId, in.LaunchProfileId, false)
		if err != nil {
			return nil, err
		}
		out := &api.GetLaunchProfileDetailsResponse{
			LaunchProfile:            &d.LaunchProfile,
			StreamingImages:          []*api.StreamingImage{},
			StudioComponentSummaries: []*api.StudioComponentSummary{},
		}
		if d.StreamConfiguration != nil {
			for _, id := range d.StreamConfiguration.StreamingImageIds {
				img, err := s.streamingImage(ctx, tx, d.StudioId, id)
				if opennimble.IsCode(err, opennimble.ErrNotFound) {
					continue // deleted since: nothing to show
				} else if err != nil {
					return nil, err
				}
				out.StreamingImages = append(out.StreamingImages, &img.StreamingImage)
			}
		}
		comps, err := s.profileComponents(ctx, tx, d)
		if err != nil {
			return nil, err
		}
		for _, c := range comps {
			out.StudioComponentSummaries = append(out.StudioComponentSummaries, componentSummary(c))
		}
		return out, nil
	})
}

func componentSummary(c *studioComponentDoc) *api.StudioComponentSummary {
	return &api.StudioComponentSummary{
		CreatedAt: c.CreatedAt, CreatedBy: c.CreatedBy, Description: c.Description, Name: c.Name,
		StudioComponentId: c.StudioComponentId, Subtype: c.Subtype, Type: c.Type,
		UpdatedAt: c.UpdatedAt, UpdatedBy: c.UpdatedBy,
	}
}

// profileComponents loads a launch profile's studio components in its order,
// skipping any that no longer exist.
func (s *Service) profileComponents(ctx context.Context, tx opennimble.Tx, d *launchProfileDoc) ([]*studioComponentDoc, error) {
	var out []*studioComponentDoc
	for _, id := range d.StudioComponentIds {
		c, _, err := loadIn[studioComponentDoc](ctx, tx, opennimble.KindStudioComponent, "studio component", d.StudioId, id, true)
		if opennimble.IsCode(err, opennimble.ErrNotFound) {
			continue
		} else if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (s *Service) GetLaunchProfileInitialization(ctx context.Context, in *api.GetLaunchProfileInitializationRequest) (*api.GetLaunchProfileInitializationResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.GetLaunchProfileInitializationResponse, error) {
		d, _, err := s.loadLaunchProfile(ctx, tx, in.StudioId, in.LaunchProfileId, true)
		if err != nil {
			return nil, err
		}
		if err := requireState(launchProfileNoun, d.LaunchProfileId, string(d.State), string(api.LaunchProfileStateReady)); err != nil {
			return nil, err
		}
		platform, err := initPlatform(in.Platform)
		if err != nil {
			return nil, err
		}
		version, err := initVersion(d, in.LaunchProfileProtocolVersions)
		if err != nil {
			return nil, err
		}
		comps, err := s.profileComponents(ctx, tx, d)
		if err != nil {
			return nil, err
		}
		init := &api.LaunchProfileInitialization{
			Ec2SecurityGroupIds:          []string{},
			LaunchProfileId:              d.LaunchProfileId,
			LaunchProfileProtocolVersion: version,
			LaunchPurpose:                in.LaunchPurpose,
			Name:                         d.Name,
			Platform:                     platform,
			SystemInitializationScripts:  []*api.LaunchProfileInitializationScript{},
			UserInitializationScripts:    []*api.LaunchProfileInitializationScript{},
		}
		for _, c := range comps {
			addComponent(init, c)
		}
		return &api.GetLaunchProfileInitializationResponse{LaunchProfileInitialization: init}, nil
	})
}

// initPlatform reads the platform a workstation asks for ("either Windows or
// Linux"), in any letter case.
func initPlatform(p string) (api.LaunchProfilePlatform, error) {
	for _, v := range api.LaunchProfilePlatformValues {
		if strings.EqualFold(p, v) {
			return api.LaunchProfilePlatform(v), nil
		}
	}
	return "", invalidField("platform", "platform %q is not supported; use one of %s", p, strings.Join(api.LaunchProfilePlatformValues, ", "))
}

// initVersion picks the first protocol version the client supports that the
// launch profile uses.
func initVersion(d *launchProfileDoc, client []string) (string, error) {
	for _, v := range client {
		if slices.Contains(d.LaunchProfileProtocolVersions, v) {
			return v, nil
		}
	}
	return "", invalidField("launchProfileProtocolVersions",
		"Launch profile %s supports protocol versions [%s], none of which the request lists [%s]",
		d.LaunchProfileId, strings.Join(d.LaunchProfileProtocolVersions, ", "), strings.Join(client, ", "))
}

// addComponent adds what one studio component contributes to a launch
// profile initialization: its security groups, its Active Directory (the
// first ACTIVE_DIRECTORY component wins, as the model has room for one) and
// its scripts for the requested platform and protocol version. System
// scripts carry both roles; user scripts run as the user, with the runtime
// role only.
func addComponent(init *api.LaunchProfileInitialization, c *studioComponentDoc) {
	for _, sg := range c.Ec2SecurityGroupIds {
		if !slices.Contains(init.Ec2SecurityGroupIds, sg) {
			init.Ec2SecurityGroupIds = append(init.Ec2SecurityGroupIds, sg)
		}
	}
	if ad := activeDirectory(c); ad != nil && init.ActiveDirectory == nil {
		init.ActiveDirectory = ad
	}
	for _, sc := range c.InitializationScripts {
		if sc == nil || sc.Platform != init.Platform ||
			(sc.LaunchProfileProtocolVersion != "" && sc.LaunchProfileProtocolVersion != init.LaunchProfileProtocolVersion) {
			continue
		}
		out := &api.LaunchProfileInitializationScript{
			RuntimeRoleArn: c.RuntimeRoleArn, Script: sc.Script,
			StudioComponentId: c.StudioComponentId, StudioComponentName: c.Name,
		}
		switch sc.RunContext {
		case api.StudioComponentInitializationScriptRunContextSystemInitialization:
			out.SecureInitializationRoleArn = c.SecureInitializationRoleArn
			init.SystemInitializationScripts = append(init.SystemInitializationScripts, out)
		case api.StudioComponentInitializationScriptRunContextUserInitialization:
			init.UserInitializationScripts = append(init.UserInitializationScripts, out)
		}
	}
}

// activeDirectory is the initialization view of an ACTIVE_DIRECTORY
// component. The directory's name and DNS addresses would come from the
// directory service, which the emulator does not have; they stay empty.
func activeDirectory(c *studioComponentDoc) *api.LaunchProfileInitializationActiveDirectory {
	if c.Type != api.StudioComponentTypeActiveDirectory || c.Configuration == nil || c.Configuration.ActiveDirectoryConfiguration == nil {
		return nil
	}
	ad := c.Configuration.ActiveDirectoryConfiguration
	return &api.LaunchProfileInitializationActiveDirectory{
		ComputerAttributes:                  ad.ComputerAttributes,
		DirectoryId:                         ad.DirectoryId,
		DnsIpAddresses:                      []string{},
		OrganizationalUnitDistinguishedName: ad.OrganizationalUnitDistinguishedName,
		StudioComponentId:                   c.StudioComponentId,
		StudioComponentName:                 c.Name,
	}
}
