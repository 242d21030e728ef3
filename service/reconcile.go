package service

import (
	"context"
	"fmt"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// Reconcile looks at one resource and moves it at most one step towards
// where its state says it is going: an *_IN_PROGRESS state completes once
// its transition delay has passed, a DELETED resource is purged after the
// retention period, a session reaches its stopAt. It is level-based: it reads
// the current state, so running it twice, or after a crash, is harmless. Any
// later look it needs is scheduled in the same transaction as its change.
// The lifecycle workers call it for every due job.
func (s *Service) Reconcile(ctx context.Context, kind opennimble.Kind, id string) error {
	fn, ok := s.reconcilers()[kind]
	if !ok {
		return fmt.Errorf("reconcile: no reconciler for kind %q", kind)
	}
	return fn(ctx, id)
}

func (s *Service) reconcilers() map[opennimble.Kind]func(context.Context, string) error {
	return map[opennimble.Kind]func(context.Context, string) error{
		opennimble.KindStudio:           s.reconcileStudio,
		opennimble.KindStudioComponent:  s.reconcileStudioComponent,
		opennimble.KindLaunchProfile:    s.reconcileLaunchProfile,
		opennimble.KindStreamingImage:   s.reconcileStreamingImage,
		opennimble.KindStreamingSession: s.reconcileStreamingSession,
		opennimble.KindStreamingBackup:  s.reconcileStreamingBackup,
		opennimble.KindStreamingStream:  s.reconcileStreamingStream,
	}
}

// due reports whether a transition that began at since has lasted its
// delay; when it has not, it schedules a look for when it will have.
func (s *Service) due(ctx context.Context, t *txn, kind opennimble.Kind, id string, since *time.Time) (bool, error) {
	if since == nil {
		return true, nil
	}
	if s.transitions != nil {
		return s.policyDue(ctx, t, kind, id, *since)
	}
	at := since.Add(s.cfg.TransitionDelay)
	if !s.clock.Now().Before(at) {
		return true, nil
	}
	return false, t.schedule(ctx, kind, id, at)
}

// policyDue asks the transition policy about the resource's current state;
// a transition it holds gets no look until Wake.
func (s *Service) policyDue(ctx context.Context, t *txn, kind opennimble.Kind, id string, since time.Time) (bool, error) {
	rec, err := t.Get(ctx, kind, id)
	if err != nil {
		return false, err
	}
	ok, at := s.transitions.Due(kind, id, rec.State, since, s.clock.Now())
	if ok || at.IsZero() {
		return ok, nil
	}
	return false, t.schedule(ctx, kind, id, at)
}

// Wake asks the lifecycle to look at a resource now, for example after its
// held transition was released.
func (s *Service) Wake(ctx context.Context, kind opennimble.Kind, id string) error {
	return s.update(ctx, func(t *txn) error { return t.schedule(ctx, kind, id, s.clock.Now()) })
}

// purgeDue reports whether a DELETED resource, deleted at since, may be
// removed; when not yet, it schedules the purge.
func (s *Service) purgeDue(ctx context.Context, t *txn, kind opennimble.Kind, id string, since *time.Time) (bool, error) {
	if since == nil {
		return true, nil
	}
	at := since.Add(s.cfg.DeletedRetention)
	if !s.clock.Now().Before(at) {
		return true, nil
	}
	return false, t.schedule(ctx, kind, id, at)
}
