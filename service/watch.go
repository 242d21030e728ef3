package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// Workstations that change outside opennimble (drivers that implement
// opennimble.Watcher: a Kubernetes Pod deleted by an operator, a node lost)
// are noticed here. The driver names sessions whose workstation may have
// changed; each gets a reconcile, which asks the driver about a READY
// session's workstation (checkWorkstation). A workstation the driver reports
// gone stops its session as if it had reached its stopAt — its volume is
// backed up (AUTOMATIC) and kept or deleted as the session says — and the
// STOPPED session's status code and message report the loss. A session that
// cannot stop (maxStoppedSessionLengthInMinutes 0) goes to START_FAILED with
// that message: it can be started again or deleted. Either way no session
// stays READY without a workstation.

// WatchDriver follows the driver's reports until ctx ends; it returns at
// once when the driver is not a Watcher.
func (s *Service) WatchDriver(ctx context.Context) {
	w, ok := opennimble.DriverAs[opennimble.Watcher](s.driver)
	if !ok {
		return
	}
	w.Watch(ctx, func(sessionID, _ string) {
		if err := s.Wake(ctx, opennimble.KindStreamingSession, sessionID); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot schedule a look at a session whose workstation changed", "session", sessionID, "err", err)
		}
	})
}

// checkWorkstation asks a Watcher driver whether the workstation of READY
// session d still runs, and records its loss.
func (s *Service) checkWorkstation(ctx context.Context, d *sessionDoc) error {
	w, ok := opennimble.DriverAs[opennimble.Watcher](s.driver)
	if !ok {
		return nil
	}
	err := w.Check(ctx, d.SessionId, d.StudioId)
	var de *opennimble.DriverError
	if err == nil {
		return nil
	} else if !errors.As(err, &de) {
		return fmt.Errorf("check the workstation of session %s: %w", d.SessionId, err)
	}
	return s.update(ctx, func(t *txn) error {
		cur, rec, err := get[sessionDoc](ctx, t, opennimble.KindStreamingSession, d.SessionId)
		if err != nil || cur == nil || cur.Op != nil || cur.State != api.StreamingSessionStateReady || !sameTime(cur.UpdatedAt, d.UpdatedAt) {
			return err // moved on since it was checked: the next look decides
		}
		s.log.Warn("workstation lost", "session", cur.SessionId, "status", de.StatusCode, "message", de.Message)
		if cur.canStop() {
			return s.beginStop(ctx, t, cur, rec, "", "", de)
		}
		now := s.now()
		cur.State, cur.StatusCode, cur.StatusMessage, cur.UpdatedAt = api.StreamingSessionStateStartFailed, sessionStatusCode(de.StatusCode), lostMessage(de), &now
		if _, err := put(ctx, t, rec, cur); err != nil {
			return err
		}
		return s.scheduleLimits(ctx, t, cur)
	})
}

// lostMessage is the status message of a session whose workstation is gone.
func lostMessage(de *opennimble.DriverError) string {
	return "the workstation stopped outside opennimble: " + de.Message
}

func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}
