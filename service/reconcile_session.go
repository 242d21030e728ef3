package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// A session transition is a list of steps (see sessionOp). Each step is: a
// transaction reads the session and picks the step, the driver does it
// (outside any transaction; drivers are idempotent), and a second
// transaction records the outcome and schedules the next look — or, when
// the next step is due at once, the same reconcile goes on with it
// (inlineSteps), under the job it holds. A crash at any point therefore
// repeats at most one driver call (two for a stop and the snapshot taken
// right after it, which are recorded together: snapshotAfterStop), which the
// driver recognises, and never loses or repeats a recorded step.
//
//	create: provision                              → READY
//	stop:   stop, [snapshot], [delete-volume]      → STOPPED   (or refuse-stop → STOP_FAILED)
//	start:  [restore], start                       → READY
//	delete: terminate                              → DELETED   (and its backups deleted)
//
// Resting states are watched for their time limits: a READY session stops at
// stopAt (or is terminated there when it cannot stop) and any session is
// terminated at terminateAt.

// sessionWork is a driver step to run between two transactions.
type sessionWork struct {
	doc  *sessionDoc // the session as the step was picked
	step opennimble.Step
}

// defaultRetry is how soon to ask a driver again when it did not say.
const defaultRetry = time.Second

// inlineSteps is how many driver steps of one transition a reconcile runs
// back to back when each completes at once (stop, snapshot; restore,
// start). The job the lifecycle claimed for the session stays claimed
// meanwhile, so a crash between two of them repeats the job, as a crash
// anywhere does; not going back to the job queue between steps saves a
// claim and a completion (two store writes) per step, and the transaction
// that records a step picks the next one.
const inlineSteps = 8

// reconcileStreamingSession plans the session's next driver step, in a read
// when that changes nothing, and runs it and the steps due after it. The
// transaction that records the last one also completes the session's job.
func (s *Service) reconcileStreamingSession(ctx context.Context, id string) error {
	w, ready, err := s.planStep(ctx, id)
	if err != nil {
		return err
	}
	if w == nil {
		if ready != nil {
			return s.checkWorkstation(ctx, ready)
		}
		return nil
	}
	for i := 1; w != nil; i++ {
		if w, err = s.step(ctx, w, i < inlineSteps); err != nil {
			return err
		}
	}
	return nil
}

// planStep plans a reconcile of a session: what needs no driver is done
// in a write transaction, and the driver step to run next, if any, is
// returned. A resting READY session is returned as ready, for a Watcher to
// check its workstation; when there is neither, the session's job is
// completed in the same transaction.
func (s *Service) planStep(ctx context.Context, id string) (w *sessionWork, ready *sessionDoc, err error) {
	kind := opennimble.KindStreamingSession
	err = s.readFirst(ctx, func(t *txn) error {
		w, ready = nil, nil
		d, rec, err := get[sessionDoc](ctx, t, kind, id)
		if err != nil {
			return err
		}
		if d != nil {
			w, err = s.planSession(ctx, t, d, rec)
			if err != nil || w != nil {
				return err
			}
			if d.Op == nil && d.State == api.StreamingSessionStateReady {
				ready = d
				return nil
			}
		}
		return t.completeJob(ctx, kind, id)
	})
	return w, ready, err
}

// step runs a driver step and records its outcome. With inline, when the
// next step is due at once, the recording transaction picks it and step
// returns it; otherwise the recording transaction completes the session's
// job (after scheduling the next look, if any).
//
// A stop that completed at once is followed by its snapshot before either
// is recorded (see snapshotAfterStop): one transaction records both.
func (s *Service) step(ctx context.Context, w *sessionWork, inline bool) (next *sessionWork, err error) {
	first, err := s.callStep(ctx, w)
	if err != nil {
		return nil, err
	}
	var snap *stepRun // the snapshot run before the stop is recorded
	var snapErr error // its error that may pass
	if sw := snapshotAfterStop(w); inline && sw != nil && first.de == nil && first.p.Done {
		r, err := s.callStep(ctx, sw)
		snap, snapErr = &r, err
	}
	err = s.update(ctx, func(t *txn) (err error) {
		if next, err = s.recordStep(ctx, t, first, inline); err != nil {
			return err
		}
		if snap != nil && snapErr == nil && next.is(snap.w) {
			// The recording of the stop picked the snapshot, which has
			// run: record it too, as its own transaction would have.
			if next, err = s.recordStep(ctx, t, *snap, inline); err != nil {
				return err
			}
		}
		if next != nil {
			return nil
		}
		return t.completeJob(ctx, opennimble.KindStreamingSession, w.doc.SessionId)
	})
	if err != nil {
		return nil, err
	}
	if snapErr != nil && next.is(snap.w) {
		// The stop is recorded; the snapshot failed for a reason that may
		// pass: the worker retries the job, which plans the snapshot again.
		return nil, snapErr
	}
	return next, nil
}

// stepRun is a driver step that ran: its progress, or the driver's refusal.
type stepRun struct {
	w  *sessionWork
	p  opennimble.Progress
	de *opennimble.DriverError
}

// is reports whether w is the step o of the same transition (nil is none).
func (w *sessionWork) is(o *sessionWork) bool {
	return w != nil && w.step == o.step && w.doc.Op.Token == o.doc.Op.Token
}

// callStep runs a driver step and reports it to the step observer; err is
// an error that may pass (nothing is recorded and the worker retries with
// backoff), not a refusal of the driver.
func (s *Service) callStep(ctx context.Context, w *sessionWork) (stepRun, error) {
	began := time.Now()
	r := stepRun{w: w}
	p, err := s.runStep(ctx, w)
	r.p = p
	s.steps.called(w.doc.Op.Token+w.doc.Op.BackupID, string(w.step), began, p, err, errors.As(err, &r.de))
	if err != nil && r.de == nil {
		return r, fmt.Errorf("%s step %s of session %s: %w", w.doc.Op.Kind, w.step, w.doc.SessionId, err)
	}
	return r, nil
}

// snapshotAfterStop returns the snapshot that follows w when w is a stop:
// the snapshot then runs before the stop is recorded, and both are recorded
// in one transaction (one write fewer per stop with a backup). A crash
// before that transaction repeats the stop and the snapshot, which drivers
// recognise (by token, and by backup id: drivertest's SnapshotOnce) as they
// recognise any repeated step. Only this pair is taken together: a step
// that follows a snapshot (deleting the volume) would make a repeated
// snapshot fail.
func snapshotAfterStop(w *sessionWork) *sessionWork {
	op := w.doc.Op
	if w.step != opennimble.StepStop || op.Done+1 >= len(op.Steps) || op.Steps[op.Done+1] != opennimble.StepSnapshot {
		return nil
	}
	d := *w.doc
	after := *op
	after.Done++
	d.Op = &after
	return &sessionWork{doc: &d, step: opennimble.StepSnapshot}
}

// planSession does what needs no driver (purge, time limits, finishing,
// refusing) and returns the driver step to run next, if any.
func (s *Service) planSession(ctx context.Context, t *txn, d *sessionDoc, rec *opennimble.Record) (*sessionWork, error) {
	kind, id := opennimble.KindStreamingSession, d.SessionId
	switch {
	case d.State == api.StreamingSessionStateDeleted:
		ok, err := s.purgeDue(ctx, t, kind, id, d.UpdatedAt)
		if err != nil || !ok {
			return nil, err
		}
		return nil, s.purgeSession(ctx, t, id)
	case d.Op == nil:
		return nil, s.enforceLimits(ctx, t, d, rec)
	case d.Op.Done == 0:
		ok, err := s.due(ctx, t, kind, id, d.UpdatedAt)
		if err != nil || !ok {
			return nil, err
		}
	}
	switch step := d.Op.next(); step {
	case "":
		return nil, s.finishOp(ctx, t, d, rec)
	case stepRefuseStop:
		return nil, s.failOp(ctx, t, d, rec, step, &opennimble.DriverError{
			StatusCode: string(api.StreamingSessionStatusCodeInternalError),
			Message:    "This session cannot be stopped: its launch profile's maxStoppedSessionLengthInMinutes is 0, so it can only be deleted",
		})
	default:
		return &sessionWork{doc: d, step: step}, nil
	}
}

// runStep calls the driver for one step of the session's transition.
func (s *Service) runStep(ctx context.Context, w *sessionWork) (opennimble.Progress, error) {
	if s.driver == nil {
		return opennimble.Progress{}, errors.New("no workstation driver is configured")
	}
	d, op := w.doc, w.doc.Op
	vol := opennimble.Volume{Generation: op.Generation}
	if c := d.VolumeConfiguration; c != nil {
		vol.SizeGiB, vol.Iops, vol.ThroughputMiBs = deref(c.Size), deref(c.Iops), deref(c.Throughput)
	}
	sid, studio := d.SessionId, d.StudioId
	var ws opennimble.Workstation
	if w.step == opennimble.StepProvision || w.step == opennimble.StepStart {
		var err error
		if ws, err = s.workstation(ctx, d); err != nil {
			return opennimble.Progress{}, err
		}
	}
	switch w.step {
	case opennimble.StepProvision:
		return s.driver.Provision(ctx, opennimble.ProvisionParams{SessionID: sid, StudioID: studio, OwnedBy: d.OwnedBy,
			LaunchProfileID: d.LaunchProfileId, Token: op.Token, InstanceType: d.Ec2InstanceType, ImageID: d.StreamingImageId,
			Ec2ImageID: d.Ec2ImageId, ImageSource: d.ImageSource, Volume: vol, Workstation: ws})
	case opennimble.StepStop:
		return s.driver.Stop(ctx, opennimble.StopParams{SessionID: sid, StudioID: studio, Token: op.Token})
	case opennimble.StepSnapshot:
		return s.driver.Snapshot(ctx, opennimble.SnapshotParams{SessionID: sid, StudioID: studio, BackupID: op.BackupID, VolumeGeneration: op.Generation})
	case opennimble.StepDeleteVolume:
		return s.driver.DeleteVolume(ctx, opennimble.DeleteVolumeParams{SessionID: sid, StudioID: studio, Token: op.Token, VolumeGeneration: op.Generation})
	case opennimble.StepRestore:
		return s.driver.Restore(ctx, opennimble.RestoreParams{SessionID: sid, StudioID: studio, BackupID: op.BackupID, Token: op.Token, Volume: vol})
	case opennimble.StepStart:
		return s.driver.Start(ctx, opennimble.StartParams{SessionID: sid, StudioID: studio, OwnedBy: d.OwnedBy,
			LaunchProfileID: d.LaunchProfileId, Token: op.Token, InstanceType: d.Ec2InstanceType, ImageID: d.StreamingImageId,
			Ec2ImageID: d.Ec2ImageId, ImageSource: d.ImageSource, Volume: vol, Workstation: ws})
	case opennimble.StepTerminate:
		return s.driver.Terminate(ctx, opennimble.TerminateParams{SessionID: sid, StudioID: studio, Token: op.Token})
	}
	return opennimble.Progress{}, fmt.Errorf("unknown step %q", w.step)
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

// recordStep records a step's outcome, unless the session has moved on
// since the step was picked (another worker recorded it first).
//
// When the next step is due at once, inline plans it in the same
// transaction and returns it, for the caller (which holds the session's
// job) to run, rather than scheduling it.
func (s *Service) recordStep(ctx context.Context, t *txn, r stepRun, inline bool) (*sessionWork, error) {
	w, p, de := r.w, r.p, r.de
	d, rec, err := get[sessionDoc](ctx, t, opennimble.KindStreamingSession, w.doc.SessionId)
	if err != nil || d == nil {
		return nil, err
	}
	if d.Op == nil || d.Op.Token != w.doc.Op.Token || d.Op.Done != w.doc.Op.Done {
		return nil, nil
	}
	switch {
	case de != nil:
		return nil, s.failOp(ctx, t, d, rec, w.step, de)
	case !p.Done:
		return nil, t.schedule(ctx, opennimble.KindStreamingSession, d.SessionId, s.clock.Now().Add(retryAfter(p)))
	}
	if err := s.applyStep(ctx, t, d, w.step); err != nil {
		return nil, err
	}
	d.Op.Done++
	if d.Op.next() == "" {
		return nil, s.finishOp(ctx, t, d, rec)
	}
	if _, err := put(ctx, t, rec, d); err != nil {
		return nil, err
	}
	if inline {
		return s.planSession(ctx, t, d, rec)
	}
	return nil, t.schedule(ctx, opennimble.KindStreamingSession, d.SessionId, s.now())
}

func retryAfter(p opennimble.Progress) time.Duration {
	if p.RetryAfter > 0 {
		return p.RetryAfter
	}
	return defaultRetry
}

// applyStep records what a completed step did, in the session's volume
// bookkeeping and, for a snapshot, in its backup.
func (s *Service) applyStep(ctx context.Context, t *txn, d *sessionDoc, step opennimble.Step) error {
	op, v := d.Op, &d.Volume
	switch step {
	case opennimble.StepProvision, opennimble.StepStart:
		if !v.Exists || v.Generation != op.Generation {
			*v = sessionVolume{Generation: op.Generation, Exists: true, Source: "image:" + d.StreamingImageId, LastGeneration: v.LastGeneration}
		}
	case opennimble.StepRestore:
		*v = sessionVolume{Generation: op.Generation, Exists: true, Source: "backup:" + op.BackupID, LastGeneration: v.LastGeneration}
	case opennimble.StepDeleteVolume, opennimble.StepTerminate:
		v.Exists = false
	case opennimble.StepSnapshot:
		return s.finishBackup(ctx, t, d, nil)
	}
	return nil
}

// finishOp ends a transition whose steps are all done.
func (s *Service) finishOp(ctx context.Context, t *txn, d *sessionDoc, rec *opennimble.Record) error {
	op := d.Op
	d.Op = nil
	now := s.now()
	d.UpdatedAt = &now
	switch op.Kind {
	case opCreate:
		d.State, d.StatusCode, d.StatusMessage = api.StreamingSessionStateReady, api.StreamingSessionStatusCodeStreamingSessionReady, "Session is ready"
	case opStart:
		d.State, d.StatusCode, d.StatusMessage = api.StreamingSessionStateReady, api.StreamingSessionStatusCodeStreamingSessionStarted, "Session started"
		if op.BackupID != "" {
			d.StatusMessage = "Session started from backup " + op.BackupID
		}
	case opStop:
		d.State, d.StatusCode, d.StatusMessage = api.StreamingSessionStateStopped, api.StreamingSessionStatusCodeStreamingSessionStopped, "Session stopped"
		if op.Lost != nil {
			d.StatusCode, d.StatusMessage = sessionStatusCode(op.Lost.StatusCode), lostMessage(op.Lost)
		}
		d.TerminateAt = nil
		if d.AutomaticTerminationMode == api.AutomaticTerminationModeActivated {
			d.TerminateAt = ptr(now.Add(minutes(d.MaxStoppedSessionLengthInMinutes)))
		}
	case opDelete:
		d.State, d.StatusCode, d.StatusMessage = api.StreamingSessionStateDeleted, api.StreamingSessionStatusCodeStreamingSessionDeleted, "Session deleted"
		if err := s.deleteSessionBackups(ctx, t, d.SessionId); err != nil {
			return err
		}
		if _, err := put(ctx, t, rec, d); err != nil {
			return err
		}
		return t.schedule(ctx, opennimble.KindStreamingSession, d.SessionId, now.Add(s.cfg.DeletedRetention))
	}
	if _, err := put(ctx, t, rec, d); err != nil {
		return err
	}
	return s.scheduleLimits(ctx, t, d)
}

// failedStates maps a transition to the state its failure leaves.
var failedStates = map[opKind]api.StreamingSessionState{
	opCreate: api.StreamingSessionStateCreateFailed,
	opStop:   api.StreamingSessionStateStopFailed,
	opStart:  api.StreamingSessionStateStartFailed,
	opDelete: api.StreamingSessionStateDeleteFailed,
}

// failOp ends a transition whose step failed for good. A failed stop fails
// its backup too: without a complete snapshot it must never become READY.
func (s *Service) failOp(ctx context.Context, t *txn, d *sessionDoc, rec *opennimble.Record, step opennimble.Step, de *opennimble.DriverError) error {
	code := sessionStatusCode(de.StatusCode)
	if d.Op.Kind == opStop && d.Op.BackupID != "" {
		cause := de
		if step != opennimble.StepSnapshot {
			cause = &opennimble.DriverError{StatusCode: string(code), Message: "The session did not stop: " + de.Message}
		}
		if err := s.finishBackup(ctx, t, d, cause); err != nil {
			return err
		}
	}
	msg := de.Message
	if step == opennimble.StepSnapshot {
		msg = "The backup of the session failed: " + msg
	}
	now := s.now()
	d.State, d.StatusCode, d.StatusMessage, d.UpdatedAt = failedStates[d.Op.Kind], code, msg, &now
	d.Op = nil
	if _, err := put(ctx, t, rec, d); err != nil {
		return err
	}
	return s.scheduleLimits(ctx, t, d)
}

// sessionStatusCode keeps a driver's status code when the model knows it.
func sessionStatusCode(code string) api.StreamingSessionStatusCode {
	if slices.Contains(api.StreamingSessionStatusCodeValues, code) {
		return api.StreamingSessionStatusCode(code)
	}
	return api.StreamingSessionStatusCodeInternalError
}

// enforceLimits begins the stop or termination a resting session's time
// limits call for, or schedules a look for when they will.
func (s *Service) enforceLimits(ctx context.Context, t *txn, d *sessionDoc, rec *opennimble.Record) error {
	now := s.clock.Now()
	switch {
	case d.State == api.StreamingSessionStateReady && d.canStop() && d.StopAt != nil && !now.Before(*d.StopAt):
		return s.beginStop(ctx, t, d, rec, "", "", nil)
	case d.State != api.StreamingSessionStateDeleteFailed && d.TerminateAt != nil && !now.Before(*d.TerminateAt):
		return s.beginDelete(ctx, t, d, rec, "")
	}
	return s.scheduleLimits(ctx, t, d)
}

// scheduleLimits asks for a look at the session's next time limit.
func (s *Service) scheduleLimits(ctx context.Context, t *txn, d *sessionDoc) error {
	var at *time.Time
	if d.State == api.StreamingSessionStateReady && d.canStop() {
		at = d.StopAt
	}
	if d.State != api.StreamingSessionStateDeleteFailed && d.TerminateAt != nil && (at == nil || d.TerminateAt.Before(*at)) {
		at = d.TerminateAt
	}
	if at == nil {
		return nil
	}
	return t.schedule(ctx, opennimble.KindStreamingSession, d.SessionId, *at)
}

// purgeSession removes a deleted session and its streams; its backups,
// deleted with it, purge themselves.
func (s *Service) purgeSession(ctx context.Context, t *txn, id string) error {
	recs, err := t.List(ctx, opennimble.ListQuery{Kind: opennimble.KindStreamingStream, ParentID: id})
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := t.Delete(ctx, opennimble.KindStreamingStream, r.ID); err != nil {
			return err
		}
	}
	return t.Delete(ctx, opennimble.KindStreamingSession, id)
}

// reconcileStreamingBackup deletes the data of a backup in
// DELETE_IN_PROGRESS and purges DELETED ones; a backup's creation is driven
// by its session's stop.
func (s *Service) reconcileStreamingBackup(ctx context.Context, id string) error {
	kind := opennimble.KindStreamingBackup
	var deleting bool
	var studio string
	err := s.readFirst(ctx, func(t *txn) error {
		deleting = false
		b, _, err := get[backupDoc](ctx, t, kind, id)
		if err != nil {
			return err
		}
		if b != nil && b.State == api.StreamingSessionStateDeleteInProgress {
			deleting, studio = true, b.StudioId
			return nil
		}
		if b != nil && b.State == api.StreamingSessionStateDeleted {
			ok, err := s.purgeDue(ctx, t, kind, id, b.UpdatedAt)
			if err != nil {
				return err
			}
			if ok {
				if err := t.Delete(ctx, kind, id); err != nil {
					return err
				}
			}
		}
		return t.completeJob(ctx, kind, id)
	})
	if err != nil || !deleting {
		return err
	}
	if s.driver == nil {
		return errors.New("no workstation driver is configured")
	}
	p, err := s.driver.DeleteBackup(ctx, opennimble.DeleteBackupParams{BackupID: id, StudioID: studio})
	var de *opennimble.DriverError
	if err != nil && !errors.As(err, &de) {
		return fmt.Errorf("delete backup %s: %w", id, err)
	}
	return s.lastUpdate(ctx, kind, id, func(t *txn) error {
		b, rec, err := get[backupDoc](ctx, t, kind, id)
		if err != nil || b == nil || b.State != api.StreamingSessionStateDeleteInProgress {
			return err
		}
		switch {
		case de != nil:
			return s.setBackupState(ctx, t, b, rec, api.StreamingSessionStateDeleteFailed, sessionStatusCode(de.StatusCode), de.Message)
		case !p.Done:
			return t.schedule(ctx, kind, id, s.clock.Now().Add(retryAfter(p)))
		}
		if err := s.setBackupState(ctx, t, b, rec, api.StreamingSessionStateDeleted, api.StreamingSessionStatusCodeStreamingSessionDeleted, "Backup deleted"); err != nil {
			return err
		}
		return t.schedule(ctx, kind, id, b.UpdatedAt.Add(s.cfg.DeletedRetention))
	})
}

// reconcileStreamingStream makes a new stream READY (if its session still
// is), expires it at expiresAt and purges it later.
func (s *Service) reconcileStreamingStream(ctx context.Context, id string) error {
	kind := opennimble.KindStreamingStream
	return s.lastUpdate(ctx, kind, id, func(t *txn) error {
		st, rec, err := get[streamDoc](ctx, t, kind, id)
		if err != nil || st == nil {
			return err
		}
		switch st.State {
		case api.StreamingSessionStreamStateCreateInProgress:
			ok, err := s.due(ctx, t, kind, id, st.CreatedAt)
			if err != nil || !ok {
				return err
			}
			return s.readyStream(ctx, t, st, rec)
		case api.StreamingSessionStreamStateReady:
			if s.clock.Now().Before(*st.ExpiresAt) {
				return t.schedule(ctx, kind, id, *st.ExpiresAt)
			}
			if err := s.setStreamState(ctx, t, st, rec, api.StreamingSessionStreamStateDeleted, api.StreamingSessionStreamStatusCodeStreamDeleted); err != nil {
				return err
			}
			return t.schedule(ctx, kind, id, st.UpdatedAt.Add(s.cfg.DeletedRetention))
		case api.StreamingSessionStreamStateDeleted:
			ok, err := s.purgeDue(ctx, t, kind, id, st.UpdatedAt)
			if err != nil || !ok {
				return err
			}
			return t.Delete(ctx, kind, id)
		}
		return nil
	})
}

// readyStream completes a stream's creation, or fails it when its session
// stopped meanwhile.
func (s *Service) readyStream(ctx context.Context, t *txn, st *streamDoc, rec *opennimble.Record) error {
	sess, _, err := get[sessionDoc](ctx, t, opennimble.KindStreamingSession, st.SessionId)
	if err != nil {
		return err
	}
	if sess == nil || sess.State != api.StreamingSessionStateReady {
		return s.setStreamState(ctx, t, st, rec, api.StreamingSessionStreamStateCreateFailed, api.StreamingSessionStreamStatusCodeInternalError)
	}
	if err := s.setStreamState(ctx, t, st, rec, api.StreamingSessionStreamStateReady, api.StreamingSessionStreamStatusCodeStreamReady); err != nil {
		return err
	}
	return t.schedule(ctx, opennimble.KindStreamingStream, st.StreamId, *st.ExpiresAt)
}

func (s *Service) setStreamState(ctx context.Context, t *txn, st *streamDoc, rec *opennimble.Record, state api.StreamingSessionStreamState, code api.StreamingSessionStreamStatusCode) error {
	now := s.now()
	st.State, st.StatusCode, st.UpdatedAt = state, code, &now
	_, err := put(ctx, t, rec, st)
	return err
}
