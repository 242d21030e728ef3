package service

import (
	"context"
	"slices"
	"strings"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// Defaults of the launch profile's stream configuration, from the model's
// documentation.
const (
	sessionMaxLengthDefault = 690
	streamExpirationDefault = 120
)

// loadSession returns a session of the studio, DELETED ones included (Get
// shows them until they are purged, for the StreamingSessionDeleted waiter).
func (s *Service) loadSession(ctx context.Context, tx opennimble.Tx, studioID, id string) (*sessionDoc, *opennimble.Record, error) {
	d, rec, err := get[sessionDoc](ctx, tx, opennimble.KindStreamingSession, id)
	if err != nil {
		return nil, nil, err
	}
	if d == nil || d.StudioId != studioID {
		return nil, nil, opennimble.NotFound("streaming session", id)
	}
	return d, rec, nil
}

func (s *Service) CreateStreamingSession(ctx context.Context, in *api.CreateStreamingSessionRequest) (*api.CreateStreamingSessionResponse, error) {
	return idempotent(ctx, s, "CreateStreamingSession", in.ClientToken, in, func(t *txn) (*api.CreateStreamingSessionResponse, error) {
		if _, err := s.liveStudio(ctx, t, in.StudioId); err != nil {
			return nil, err
		}
		cfg, err := s.sessionStreamConfiguration(ctx, t, in.StudioId, in.LaunchProfileId)
		if err != nil {
			return nil, err
		}
		itype, err := pickInstanceType(cfg, in.Ec2InstanceType)
		if err != nil {
			return nil, err
		}
		img, err := s.pickImage(ctx, t, in.StudioId, cfg, in.StreamingImageId)
		if err != nil {
			return nil, err
		}
		n, err := t.Count(ctx, opennimble.ListQuery{Kind: opennimble.KindStreamingSession, StudioID: in.StudioId,
			ExcludeStates: []string{string(api.StreamingSessionStateDeleted)}})
		if err != nil {
			return nil, err
		}
		if err := s.checkQuota("streaming sessions", n, s.cfg.Quotas.SessionsPerStudio); err != nil {
			return nil, err
		}
		d := s.newSession(ctx, in, cfg, itype, img)
		if _, err := put(ctx, t, nil, d); err != nil {
			return nil, err
		}
		if err := t.schedule(ctx, opennimble.KindStreamingSession, d.SessionId, d.CreatedAt.Add(s.cfg.TransitionDelay)); err != nil {
			return nil, err
		}
		return &api.CreateStreamingSessionResponse{Session: &d.StreamingSession}, nil
	})
}

// sessionStreamConfiguration returns the stream configuration of a READY
// launch profile of the studio.
func (s *Service) sessionStreamConfiguration(ctx context.Context, tx opennimble.Tx, studioID, id string) (*api.StreamConfiguration, error) {
	lp, _, err := get[launchProfileDoc](ctx, tx, opennimble.KindLaunchProfile, id)
	if err != nil {
		return nil, err
	}
	if lp == nil || lp.StudioId != studioID || lp.State == api.LaunchProfileStateDeleted {
		return nil, opennimble.NotFound("launch profile", id)
	}
	if err := requireState("launch profile", id, string(lp.State), string(api.LaunchProfileStateReady)); err != nil {
		return nil, err
	}
	if lp.StreamConfiguration == nil {
		return nil, opennimble.Errorf(opennimble.ErrValidation, "Launch profile %s has no stream configuration", id).With("fieldName", "launchProfileId")
	}
	return lp.StreamConfiguration, nil
}

// pickInstanceType returns the requested instance type if the launch profile
// offers it, or the profile's first one.
func pickInstanceType(cfg *api.StreamConfiguration, want api.StreamingInstanceType) (api.StreamingInstanceType, error) {
	if len(cfg.Ec2InstanceTypes) == 0 {
		return "", opennimble.Errorf(opennimble.ErrValidation, "The launch profile offers no EC2 instance types").With("fieldName", "ec2InstanceType")
	}
	if want == "" {
		return cfg.Ec2InstanceTypes[0], nil
	}
	if !slices.Contains(cfg.Ec2InstanceTypes, want) {
		return "", opennimble.Errorf(opennimble.ErrValidation, "ec2InstanceType %s is not one the launch profile offers (%s)",
			want, joinEnums(cfg.Ec2InstanceTypes)).With("fieldName", "ec2InstanceType")
	}
	return want, nil
}

// pickImage returns the requested streaming image if the launch profile
// offers it, or the profile's first one; the image must be READY.
func (s *Service) pickImage(ctx context.Context, tx opennimble.Tx, studioID string, cfg *api.StreamConfiguration, want string) (*streamingImageDoc, error) {
	if len(cfg.StreamingImageIds) == 0 {
		return nil, opennimble.Errorf(opennimble.ErrValidation, "The launch profile offers no streaming images").With("fieldName", "streamingImageId")
	}
	if want == "" {
		want = cfg.StreamingImageIds[0]
	} else if !slices.Contains(cfg.StreamingImageIds, want) {
		return nil, opennimble.Errorf(opennimble.ErrValidation, "streamingImageId %s is not one the launch profile offers (%s)",
			want, strings.Join(cfg.StreamingImageIds, ", ")).With("fieldName", "streamingImageId")
	}
	img, err := s.streamingImage(ctx, tx, studioID, want)
	if err != nil {
		return nil, err
	}
	if err := requireState("streaming image", want, string(img.State), string(api.StreamingImageStateReady)); err != nil {
		return nil, err
	}
	return img, nil
}

func joinEnums[E ~string](vs []E) string {
	ss := make([]string, len(vs))
	for i, v := range vs {
		ss[i] = string(v)
	}
	return strings.Join(ss, ", ")
}

// newSession builds a session in CREATE_IN_PROGRESS that copies the launch
// profile's stream configuration, so that later edits of the profile do not
// change sessions that already exist.
func (s *Service) newSession(ctx context.Context, in *api.CreateStreamingSessionRequest, cfg *api.StreamConfiguration, itype api.StreamingInstanceType, img *streamingImageDoc) *sessionDoc {
	now := s.now()
	id := s.ids.New("ses")
	owner := in.OwnedBy
	if owner == "" {
		owner = caller(ctx)
	}
	d := &sessionDoc{StudioId: in.StudioId, ImageSource: img.Source, Ec2ImageId: img.Ec2ImageId, StreamingSession: api.StreamingSession{
		Arn:              s.arn(opennimble.KindStreamingSession, id),
		CreatedAt:        &now,
		CreatedBy:        caller(ctx),
		Ec2InstanceType:  string(itype),
		LaunchProfileId:  in.LaunchProfileId,
		OwnedBy:          owner,
		SessionId:        id,
		StartedAt:        &now,
		StartedBy:        caller(ctx),
		State:            api.StreamingSessionStateCreateInProgress,
		StatusCode:       api.StreamingSessionStatusCodeStreamingSessionCreateInProgress,
		StatusMessage:    "Session creation in progress",
		StreamingImageId: img.StreamingImageId,
		Tags:             in.Tags,
		UpdatedAt:        &now,
		UpdatedBy:        caller(ctx),
	}}
	copyStreamConfiguration(d, cfg)
	d.setLimits(now)
	d.Volume = sessionVolume{Generation: 1, LastGeneration: 1}
	d.Op = &sessionOp{Token: s.ids.Token(20), Kind: opCreate, Steps: []opennimble.Step{opennimble.StepProvision}, Generation: 1}
	return d
}

// copyStreamConfiguration copies onto the session what the launch profile
// says about backups, persistence, volumes and time limits, with the
// model's documented defaults.
func copyStreamConfiguration(d *sessionDoc, cfg *api.StreamConfiguration) {
	d.BackupMode = api.SessionBackupModeDeactivated
	if b := cfg.SessionBackup; b != nil {
		if b.Mode != "" {
			d.BackupMode = b.Mode
		}
		if b.MaxBackupsToRetain != nil {
			d.MaxBackupsToRetain = ptr(*b.MaxBackupsToRetain)
		}
	}
	d.SessionPersistenceMode = orDefault(cfg.SessionPersistenceMode, api.SessionPersistenceModeDeactivated)
	d.AutomaticTerminationMode = orDefault(cfg.AutomaticTerminationMode, api.AutomaticTerminationModeDeactivated)
	if v := cfg.VolumeConfiguration; v != nil {
		c := *v
		d.VolumeConfiguration = &c
	}
	d.MaxSessionLengthInMinutes = sessionMaxLengthDefault
	if cfg.MaxSessionLengthInMinutes != nil {
		d.MaxSessionLengthInMinutes = *cfg.MaxSessionLengthInMinutes
	}
	if cfg.MaxStoppedSessionLengthInMinutes != nil {
		d.MaxStoppedSessionLengthInMinutes = *cfg.MaxStoppedSessionLengthInMinutes
	}
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// canStop reports whether the session may be STOPPED at all: the model says
// a maxStoppedSessionLengthInMinutes of 0 means it can only be terminated.
func (d *sessionDoc) canStop() bool { return d.MaxStoppedSessionLengthInMinutes > 0 }

// setLimits computes stopAt and terminateAt for a session that runs from
// from: it stops (or, when it cannot stop, terminates) after
// maxSessionLengthInMinutes; a session that can stop and has automatic
// termination is expected to be terminated maxStoppedSessionLengthInMinutes
// after that (recomputed when it actually stops).
func (d *sessionDoc) setLimits(from time.Time) {
	stop := from.Add(minutes(d.MaxSessionLengthInMinutes))
	d.StopAt = &stop
	switch {
	case !d.canStop():
		d.TerminateAt = ptr(stop)
	case d.AutomaticTerminationMode == api.AutomaticTerminationModeActivated:
		d.TerminateAt = ptr(stop.Add(minutes(d.MaxStoppedSessionLengthInMinutes)))
	default:
		d.TerminateAt = nil
	}
}

func minutes(n int32) time.Duration { return time.Duration(n) * time.Minute }

func (s *Service) GetStreamingSession(ctx context.Context, in *api.GetStreamingSessionRequest) (*api.GetStreamingSessionResponse, error) {
	// Clients poll this while a session changes state: one committed read.
	d, err := getCommitted[sessionDoc](ctx, s, opennimble.KindStreamingSession, in.SessionId)
	if err != nil {
		return nil, err
	}
	if d == nil || d.StudioId != in.StudioId {
		return nil, opennimble.NotFound("streaming session", in.SessionId)
	}
	return &api.GetStreamingSessionResponse{Session: &d.StreamingSession}, nil
}

func (s *Service) ListStreamingSessions(ctx context.Context, in *api.ListStreamingSessionsRequest) (*api.ListStreamingSessionsResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.ListStreamingSessionsResponse, error) {
		if _, _, err := s.loadStudio(ctx, tx, in.StudioId); err != nil {
			return nil, err
		}
		ids := splitIDs(in.SessionIds)
		keep := func(d *sessionDoc) bool {
			return (in.CreatedBy == "" || d.CreatedBy == in.CreatedBy) && (ids == nil || ids[d.SessionId])
		}
		q := opennimble.ListQuery{Kind: opennimble.KindStreamingSession, StudioID: in.StudioId, OwnedBy: in.OwnedBy,
			ExcludeStates: []string{string(api.StreamingSessionStateDeleted)}}
		sc := scope("ListStreamingSessions", in.StudioId, in.CreatedBy, in.OwnedBy, in.SessionIds)
		docs, next, err := page[sessionDoc](ctx, s, tx, sc, in.NextToken, 0, q, keep)
		if err != nil {
			return nil, err
		}
		out := &api.ListStreamingSessionsResponse{Sessions: make([]*api.StreamingSession, 0, len(docs)), NextToken: next}
		for _, d := range docs {
			out.Sessions = append(out.Sessions, &d.StreamingSession)
		}
		return out, nil
	})
}

// splitIDs parses the comma-separated sessionIds filter; nil means no filter.
func splitIDs(list string) map[string]bool {
	if strings.TrimSpace(list) == "" {
		return nil
	}
	ids := map[string]bool{}
	for _, id := range strings.Split(list, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids[id] = true
		}
	}
	return ids
}

func (s *Service) DeleteStreamingSession(ctx context.Context, in *api.DeleteStreamingSessionRequest) (*api.DeleteStreamingSessionResponse, error) {
	return idempotent(ctx, s, "DeleteStreamingSession", in.ClientToken, in, func(t *txn) (*api.DeleteStreamingSessionResponse, error) {
		d, rec, err := s.loadSession(ctx, t, in.StudioId, in.SessionId)
		if err != nil {
			return nil, err
		}
		if err := requireSessionState(d, sessionDeletableStates...); err != nil {
			return nil, err
		}
		if err := s.beginDelete(ctx, t, d, rec, caller(ctx)); err != nil {
			return nil, err
		}
		return &api.DeleteStreamingSessionResponse{Session: &d.StreamingSession}, nil
	})
}

// sessionDeletableStates are the resting states: a transition in progress finishes
// (or fails) before the session can be deleted.
var sessionDeletableStates = []api.StreamingSessionState{
	api.StreamingSessionStateReady, api.StreamingSessionStateStopped, api.StreamingSessionStateCreateFailed,
	api.StreamingSessionStateStopFailed, api.StreamingSessionStateStartFailed, api.StreamingSessionStateDeleteFailed,
}

func (s *Service) StopStreamingSession(ctx context.Context, in *api.StopStreamingSessionRequest) (*api.StopStreamingSessionResponse, error) {
	return idempotent(ctx, s, "StopStreamingSession", in.ClientToken, in, func(t *txn) (*api.StopStreamingSessionResponse, error) {
		d, rec, err := s.loadSession(ctx, t, in.StudioId, in.SessionId)
		if err != nil {
			return nil, err
		}
		if err := requireSessionState(d, api.StreamingSessionStateReady, api.StreamingSessionStateStopFailed); err != nil {
			return nil, err
		}
		if err := s.beginStop(ctx, t, d, rec, caller(ctx), in.VolumeRetentionMode, nil); err != nil {
			return nil, err
		}
		return &api.StopStreamingSessionResponse{Session: &d.StreamingSession}, nil
	})
}

func (s *Service) StartStreamingSession(ctx context.Context, in *api.StartStreamingSessionRequest) (*api.StartStreamingSessionResponse, error) {
	return idempotent(ctx, s, "StartStreamingSession", in.ClientToken, in, func(t *txn) (*api.StartStreamingSessionResponse, error) {
		d, rec, err := s.loadSession(ctx, t, in.StudioId, in.SessionId)
		if err != nil {
			return nil, err
		}
		if err := requireSessionState(d, api.StreamingSessionStateStopped, api.StreamingSessionStateStartFailed); err != nil {
			return nil, err
		}
		if in.BackupId != "" {
			if err := s.checkRestorable(ctx, t, d, in.BackupId); err != nil {
				return nil, err
			}
		}
		if err := s.beginStart(ctx, t, d, rec, caller(ctx), in.BackupId); err != nil {
			return nil, err
		}
		return &api.StartStreamingSessionResponse{Session: &d.StreamingSession}, nil
	})
}

func requireSessionState(d *sessionDoc, allowed ...api.StreamingSessionState) error {
	ss := make([]string, len(allowed))
	for i, a := range allowed {
		ss[i] = string(a)
	}
	return requireState("streaming session", d.SessionId, string(d.State), ss...)
}

// beginDelete moves a session to DELETE_IN_PROGRESS; by is "" when a time
// limit terminates it.
func (s *Service) beginDelete(ctx context.Context, t *txn, d *sessionDoc, rec *opennimble.Record, by string) error {
	s.transition(d, by, api.StreamingSessionStateDeleteInProgress, api.StreamingSessionStatusCodeStreamingSessionDeleteInProgress, "Session deletion in progress")
	d.Op = &sessionOp{Token: s.ids.Token(20), Kind: opDelete, Steps: []opennimble.Step{opennimble.StepTerminate}, Auto: by == ""}
	if by == "" {
		d.StatusMessage = "Session is being terminated: it reached its terminateAt"
	}
	return s.putAndRun(ctx, t, d, rec)
}

// beginStop moves a session to STOP_IN_PROGRESS and, when its backup mode is
// AUTOMATIC, creates the backup the stop fills, in the same transaction, so
// that however often the lifecycle resumes the stop there is exactly one.
// by is "" when the session reached its stopAt.
//
// lost, when set, is the driver's report that the workstation is gone: the
// stop then saves what is left of it (the backup, the volume) and reports
// the loss.
func (s *Service) beginStop(ctx context.Context, t *txn, d *sessionDoc, rec *opennimble.Record, by string, mode api.VolumeRetentionMode, lost *opennimble.DriverError) error {
	s.transition(d, by, api.StreamingSessionStateStopInProgress, api.StreamingSessionStatusCodeStreamingSessionStopInProgress, "Session stop in progress")
	switch {
	case lost != nil:
		d.StatusMessage = "Session is stopping: " + lostMessage(lost)
	case by == "":
		d.StatusMessage = "Session is stopping: it reached its stopAt"
	}
	d.StoppedAt, d.StoppedBy = ptr(*d.UpdatedAt), by
	d.VolumeRetentionMode = effectiveRetention(d, mode)
	op := &sessionOp{Token: s.ids.Token(20), Kind: opStop, Generation: d.Volume.Generation, Auto: by == "", Lost: lost}
	d.Op = op
	if !d.canStop() {
		// The model: with maxStoppedSessionLengthInMinutes 0 "your sessions
		// can't be STOPPED. If you then call StopStreamingSession, the
		// session fails."
		op.Steps = []opennimble.Step{stepRefuseStop}
		return s.putAndRun(ctx, t, d, rec)
	}
	op.Steps = []opennimble.Step{opennimble.StepStop}
	if d.BackupMode == api.SessionBackupModeAutomatic {
		b, err := s.createBackup(ctx, t, d)
		if err != nil {
			return err
		}
		op.BackupID = b.BackupId
		op.Steps = append(op.Steps, opennimble.StepSnapshot)
	}
	if d.VolumeRetentionMode != api.VolumeRetentionModeRetain {
		op.Steps = append(op.Steps, opennimble.StepDeleteVolume)
	}
	return s.putAndRun(ctx, t, d, rec)
}

// effectiveRetention is what happens to the volume: only a persistent
// session keeps it, by default when it stops; RETAIN asked of a session
// without persistence is recorded as the DELETE that happens.
func effectiveRetention(d *sessionDoc, asked api.VolumeRetentionMode) api.VolumeRetentionMode {
	if d.SessionPersistenceMode != api.SessionPersistenceModeActivated {
		return api.VolumeRetentionModeDelete
	}
	return orDefault(asked, api.VolumeRetentionModeRetain)
}

// beginStart moves a session to START_IN_PROGRESS and decides which volume
// generation it will run on: a new one restored from backupID, the retained
// volume of a persistent session, or else a new one from the image.
func (s *Service) beginStart(ctx context.Context, t *txn, d *sessionDoc, rec *opennimble.Record, by, backupID string) error {
	s.transition(d, by, api.StreamingSessionStateStartInProgress, api.StreamingSessionStatusCodeStreamingSessionStartInProgress, "Session start in progress")
	d.StartedAt, d.StartedBy, d.StartedFromBackupId = ptr(*d.UpdatedAt), by, backupID
	d.setLimits(*d.UpdatedAt)
	op := &sessionOp{Token: s.ids.Token(20), Kind: opStart, Steps: []opennimble.Step{opennimble.StepStart}, BackupID: backupID}
	switch {
	case backupID != "":
		op.Steps = []opennimble.Step{opennimble.StepRestore, opennimble.StepStart}
		op.Generation = d.newGeneration()
	case d.Volume.Exists && d.SessionPersistenceMode == api.SessionPersistenceModeActivated:
		op.Generation = d.Volume.Generation
	default:
		op.Generation = d.newGeneration()
	}
	d.Op = op
	return s.putAndRun(ctx, t, d, rec)
}

// newGeneration hands out the session's next volume generation.
func (d *sessionDoc) newGeneration() int64 {
	d.Volume.LastGeneration++
	return d.Volume.LastGeneration
}

// transition sets the state of a session that begins a transition now.
func (s *Service) transition(d *sessionDoc, by string, state api.StreamingSessionState, code api.StreamingSessionStatusCode, msg string) {
	now := s.now()
	d.State, d.StatusCode, d.StatusMessage = state, code, msg
	d.UpdatedAt = &now
	if by != "" {
		d.UpdatedBy = by
	}
}

// putAndRun stores a session whose transition just began and asks the
// lifecycle to run its first step after the transition delay.
func (s *Service) putAndRun(ctx context.Context, t *txn, d *sessionDoc, rec *opennimble.Record) error {
	if _, err := put(ctx, t, rec, d); err != nil {
		return err
	}
	return t.schedule(ctx, opennimble.KindStreamingSession, d.SessionId, d.UpdatedAt.Add(s.cfg.TransitionDelay))
}
