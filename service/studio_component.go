package service

import (
	"context"
	"slices"
	"strings"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// deletedState is the one state every resource enum spells the same way; lists
// and references leave it out.
const deletedState = "DELETED"

// loadIn loads a document of a studio. A missing document, one of another
// studio (ids never leak across studios) or, when live, a DELETED one is
// ResourceNotFoundException naming noun.
func loadIn[T any, P docPtr[T]](ctx context.Context, tx opennimble.Tx, kind opennimble.Kind, noun, studioID, id string, live bool) (P, *opennimble.Record, error) {
	d, rec, err := get[T, P](ctx, tx, kind, id)
	if err != nil {
		return nil, nil, err
	}
	if d == nil {
		return nil, nil, opennimble.NotFound(noun, id)
	}
	c := d.columns()
	if c.StudioID != studioID || (live && c.State == deletedState) {
		return nil, nil, opennimble.NotFound(noun, id)
	}
	return d, rec, nil
}

// invalidField is a ValidationException about one member, named by its path.
func invalidField(field, format string, args ...any) error {
	return opennimble.Errorf(opennimble.ErrValidation, format, args...).With("fieldName", field)
}

// inUse refuses to delete a resource that another one still references,
// naming the referrer so that the client knows what to change first.
func inUse(noun, id, userNoun, userID string) error {
	return opennimble.Errorf(opennimble.ErrConflict,
		"The %s %s is used by %s %s; remove it from there or delete the %s first", noun, id, userNoun, userID, userNoun).
		With("resourceType", userNoun).With("resourceId", userID)
}

// limit turns an optional maxResults into page's limit (0: the default).
func limit(maxResults *int32) int {
	if maxResults == nil {
		return 0
	}
	return int(*maxResults)
}

// filterScope renders a list filter for a pagination scope, in a canonical
// order so that the same filter in another order continues the same query.
func filterScope[S ~string](values []S) string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// statesQuery applies a states filter; without one, DELETED records are left
// out, as every list does unless asked for them.
func statesQuery[S ~string](q opennimble.ListQuery, states []S) opennimble.ListQuery {
	for _, st := range states {
		q.States = append(q.States, string(st))
	}
	if len(q.States) == 0 {
		q.ExcludeStates = []string{deletedState}
	}
	return q
}

// componentConfigMember names the configuration member each component type
// takes ("The configuration of the studio component, based on component
// type"); CUSTOM takes none.
var componentConfigMember = map[api.StudioComponentType]string{
	api.StudioComponentTypeActiveDirectory:  "activeDirectoryConfiguration",
	api.StudioComponentTypeSharedFileSystem: "sharedFileSystemConfiguration",
	api.StudioComponentTypeComputeFarm:      "computeFarmConfiguration",
	api.StudioComponentTypeLicenseService:   "licenseServiceConfiguration",
	api.StudioComponentTypeCustom:           "",
}

// subtypeType is the type each specific subtype belongs to; CUSTOM fits all.
var subtypeType = map[api.StudioComponentSubtype]api.StudioComponentType{
	api.StudioComponentSubtypeAwsManagedMicrosoftAd: api.StudioComponentTypeActiveDirectory,
	api.StudioComponentSubtypeAmazonFsxForWindows:   api.StudioComponentTypeSharedFileSystem,
	api.StudioComponentSubtypeAmazonFsxForLustre:    api.StudioComponentTypeSharedFileSystem,
}

func configMembersSet(c *api.StudioComponentConfiguration) []string {
	if c == nil {
		return nil
	}
	var set []string
	if c.ActiveDirectoryConfiguration != nil {
		set = append(set, "activeDirectoryConfiguration")
	}
	if c.ComputeFarmConfiguration != nil {
		set = append(set, "computeFarmConfiguration")
	}
	if c.LicenseServiceConfiguration != nil {
		set = append(set, "licenseServiceConfiguration")
	}
	if c.SharedFileSystemConfiguration != nil {
		set = append(set, "sharedFileSystemConfiguration")
	}
	return set
}

// checkComponentShape checks that the configuration union and the subtype
// agree with the component type.
func checkComponentShape(typ api.StudioComponentType, sub api.StudioComponentSubtype, c *api.StudioComponentConfiguration) error {
	want, known := componentConfigMember[typ]
	if !known {
		return invalidField("type", "type %q is not a studio component type; use one of %s", typ, strings.Join(api.StudioComponentTypeValues, ", "))
	}
	if t, ok := subtypeType[sub]; ok && t != typ {
		return invalidField("subtype", "subtype %s belongs to studio components of type %s, not %s", sub, t, typ)
	}
	set := configMembersSet(c)
	switch {
	case len(set) > 1:
		return invalidField("configuration", "configuration must set exactly one member, not %s", strings.Join(set, " and "))
	case want == "" && len(set) == 1:
		return invalidField("configuration."+set[0], "configuration.%s is not allowed for a studio component of type %s", set[0], typ)
	case want != "" && len(set) == 0:
		return invalidField("configuration."+want, "configuration.%s is required for a studio component of type %s", want, typ)
	case want != "" && set[0] != want:
		return invalidField("configuration."+set[0], "configuration.%s does not fit type %s, which takes configuration.%s", set[0], typ, want)
	}
	return nil
}

func (s *Service) CreateStudioComponent(ctx context.Context, in *api.CreateStudioComponentRequest) (*api.CreateStudioComponentResponse, error) {
	return idempotent(ctx, s, "CreateStudioComponent", in.ClientToken, in, func(t *txn) (*api.CreateStudioComponentResponse, error) {
		if _, err := s.liveStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		if in.Name == "" {
			return nil, invalidField("name", "name is required")
		}
		if err := checkComponentShape(in.Type, in.Subtype, in.Configuration); err != nil {
			return nil, err
		}
		if err := validateTags("tags", in.Tags); err != nil {
			return nil, err
		}
		n, err := t.Count(ctx, opennimble.ListQuery{Kind: opennimble.KindStudioComponent, StudioID: in.StudioId, ExcludeStates: []string{deletedState}})
		if err != nil {
			return nil, err
		}
		if err := s.checkQuota("studio components per studio", n, s.cfg.Quotas.StudioComponentsPerStudio); err != nil {
			return nil, err
		}
		now, who, id := s.now(), caller(ctx), s.ids.New("sc")
		d := &studioComponentDoc{StudioId: in.StudioId, StudioComponent: api.StudioComponent{
			Arn:                         s.arn(opennimble.KindStudioComponent, id),
			Configuration:               in.Configuration,
			CreatedAt:                   &now,
			CreatedBy:                   who,
			Description:                 in.Description,
			Ec2SecurityGroupIds:         in.Ec2SecurityGroupIds,
			InitializationScripts:       compact(in.InitializationScripts),
			Name:                        in.Name,
			RuntimeRoleArn:              in.RuntimeRoleArn,
			ScriptParameters:            compact(in.ScriptParameters),
			SecureInitializationRoleArn: in.SecureInitializationRoleArn,
			State:                       api.StudioComponentStateCreateInProgress,
			StatusCode:                  api.StudioComponentStatusCodeStudioComponentCreateInProgress,
			StatusMessage:               "Studio component creation in progress",
			StudioComponentId:           id,
			Subtype:                     in.Subtype,
			Tags:                        in.Tags,
			Type:                        in.Type,
			UpdatedAt:                   &now,
			UpdatedBy:                   who,
		}}
		if err := s.saveAndSchedule(ctx, t, nil, d, now); err != nil {
			return nil, err
		}
		return &api.CreateStudioComponentResponse{StudioComponent: &d.StudioComponent}, nil
	})
}

// saveAndSchedule stores d and asks the lifecycle to complete its transition
// after the configured delay.
func (s *Service) saveAndSchedule(ctx context.Context, t *txn, rec *opennimble.Record, d doc, now time.Time) error {
	if _, err := put(ctx, t, rec, d); err != nil {
		return err
	}
	return t.schedule(ctx, d.kind(), d.id(), now.Add(s.cfg.TransitionDelay))
}

func (s *Service) GetStudioComponent(ctx context.Context, in *api.GetStudioComponentRequest) (*api.GetStudioComponentResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.GetStudioComponentResponse, error) {
		// DELETED components still answer until purged, for the
		// StudioComponentDeleted waiter.
		d, _, err := loadIn[studioComponentDoc](ctx, tx, opennimble.KindStudioComponent, "studio component", in.StudioId, in.StudioComponentId, false)
		if err != nil {
			return nil, err
		}
		return &api.GetStudioComponentResponse{StudioComponent: &d.StudioComponent}, nil
	})
}

func (s *Service) ListStudioComponents(ctx context.Context, in *api.ListStudioComponentsRequest) (*api.ListStudioComponentsResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.ListStudioComponentsResponse, error) {
		if _, _, err := s.loadStudio(ctx, tx, in.StudioId); err != nil {
			return nil, err
		}
		q := statesQuery(opennimble.ListQuery{Kind: opennimble.KindStudioComponent, StudioID: in.StudioId}, in.States)
		keep := func(d *studioComponentDoc) bool { return len(in.Types) == 0 || slices.Contains(in.Types, d.Type) }
		sc := scope("ListStudioComponents", in.StudioId, filterScope(in.States), filterScope(in.Types))
		docs, next, err := page[studioComponentDoc](ctx, s, tx, sc, in.NextToken, limit(in.MaxResults), q, keep)
		if err != nil {
			return nil, err
		}
		out := &api.ListStudioComponentsResponse{StudioComponents: make([]*api.StudioComponent, 0, len(docs)), NextToken: next}
		for _, d := range docs {
			out.StudioComponents = append(out.StudioComponents, &d.StudioComponent)
		}
		return out, nil
	})
}

func (s *Service) UpdateStudioComponent(ctx context.Context, in *api.UpdateStudioComponentRequest) (*api.UpdateStudioComponentResponse, error) {
	return idempotent(ctx, s, "UpdateStudioComponent", in.ClientToken, in, func(t *txn) (*api.UpdateStudioComponentResponse, error) {
		if _, err := s.liveStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		d, rec, err := loadIn[studioComponentDoc](ctx, t, opennimble.KindStudioComponent, "studio component", in.StudioId, in.StudioComponentId, true)
		if err != nil {
			return nil, err
		}
		if err := requireState("studio component", d.StudioComponentId, string(d.State),
			string(api.StudioComponentStateReady), string(api.StudioComponentStateUpdateFailed)); err != nil {
			return nil, err
		}
		if err := applyComponentUpdate(&d.StudioComponent, in); err != nil {
			return nil, err
		}
		now := s.now()
		d.UpdatedAt, d.UpdatedBy = &now, caller(ctx)
		d.State, d.StatusCode, d.StatusMessage = api.StudioComponentStateUpdateInProgress,
			api.StudioComponentStatusCodeStudioComponentUpdateInProgress, "Studio component update in progress"
		if err := s.saveAndSchedule(ctx, t, rec, d, now); err != nil {
			return nil, err
		}
		return &api.UpdateStudioComponentResponse{StudioComponent: &d.StudioComponent}, nil
	})
}

// applyComponentUpdate merges the members the request sets into c. A new
// type without a new configuration drops the old configuration, which
// cannot fit another type: CUSTOM then needs none, every other type asks for
// its own.
func applyComponentUpdate(c *api.StudioComponent, in *api.UpdateStudioComponentRequest) error {
	typ, sub, cfg := c.Type, c.Subtype, c.Configuration
	if in.Type != "" && in.Type != typ {
		typ, cfg = in.Type, nil
	}
	if in.Subtype != "" {
		sub = in.Subtype
	}
	if in.Configuration != nil {
		cfg = in.Configuration
	}
	if err := checkComponentShape(typ, sub, cfg); err != nil {
		return err
	}
	c.Type, c.Subtype, c.Configuration = typ, sub, cfg
	setString(&c.Name, in.Name)
	setString(&c.Description, in.Description)
	setString(&c.RuntimeRoleArn, in.RuntimeRoleArn)
	setString(&c.SecureInitializationRoleArn, in.SecureInitializationRoleArn)
	// Lists are replaced when present; an empty list clears them.
	if in.Ec2SecurityGroupIds != nil {
		c.Ec2SecurityGroupIds = in.Ec2SecurityGroupIds
	}
	if in.InitializationScripts != nil {
		c.InitializationScripts = compact(in.InitializationScripts)
	}
	if in.ScriptParameters != nil {
		c.ScriptParameters = compact(in.ScriptParameters)
	}
	return nil
}

// compact drops the null entries a JSON list may hold, so that stored lists
// only hold values.
func compact[T any](list []*T) []*T {
	if list == nil {
		return nil
	}
	return slices.DeleteFunc(slices.Clone(list), func(v *T) bool { return v == nil })
}

// setString applies an optional string member of an update.
func setString(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func (s *Service) DeleteStudioComponent(ctx context.Context, in *api.DeleteStudioComponentRequest) (*api.DeleteStudioComponentResponse, error) {
	return idempotent(ctx, s, "DeleteStudioComponent", in.ClientToken, in, func(t *txn) (*api.DeleteStudioComponentResponse, error) {
		if _, _, err := s.loadStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		d, rec, err := loadIn[studioComponentDoc](ctx, t, opennimble.KindStudioComponent, "studio component", in.StudioId, in.StudioComponentId, true)
		if err != nil {
			return nil, err
		}
		if err := requireState("studio component", d.StudioComponentId, string(d.State), resourceDeletableStates...); err != nil {
			return nil, err
		}
		lp, err := s.launchProfileUsing(ctx, t, in.StudioId, func(lp *launchProfileDoc) bool {
			return slices.Contains(lp.StudioComponentIds, d.StudioComponentId)
		})
		if err != nil {
			return nil, err
		}
		if lp != "" {
			return nil, inUse("studio component", d.StudioComponentId, "launch profile", lp)
		}
		now := s.now()
		d.UpdatedAt, d.UpdatedBy = &now, caller(ctx)
		d.State, d.StatusCode, d.StatusMessage = api.StudioComponentStateDeleteInProgress,
			api.StudioComponentStatusCodeStudioComponentDeleteInProgress, "Studio component deletion in progress"
		if err := s.saveAndSchedule(ctx, t, rec, d, now); err != nil {
			return nil, err
		}
		return &api.DeleteStudioComponentResponse{StudioComponent: &d.StudioComponent}, nil
	})
}

// resourceDeletableStates are the states a studio component, launch profile or
// streaming image may be deleted from: at rest, or after a failed
// transition, so that failed resources can be cleaned up.
var resourceDeletableStates = []string{"READY", "CREATE_FAILED", "UPDATE_FAILED", "DELETE_FAILED"}
