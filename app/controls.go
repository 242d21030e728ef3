package app

import (
	"context"
	"log/slog"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/controls"
	"github.com/opennimble/opennimble/driver/faulty"
	"github.com/opennimble/opennimble/server"
	"github.com/opennimble/opennimble/service"
	"github.com/opennimble/opennimble/transitions"
)

// ControlsEnabled reports whether the server serves the emulator controls
// under /_nimble/: always in emulator mode, and with Controls otherwise.
func (c *Config) ControlsEnabled() bool { return c.Emulator || c.Controls }

// controlState holds the parts of the emulator controls that the service
// and the driver are built with, before the controls themselves exist. A
// nil *controlState (controls off) answers nil everywhere.
type controlState struct {
	policy  *transitions.Policy
	faults  *controls.Faults
	ids     *opennimble.SeededIDs // nil unless seeded
	pageKey []byte                // nil unless seeded
	driver  opennimble.Driver
	ctl     *controls.Controls
}

// newControlState prepares the controls when they are enabled, and makes
// ids and tokens reproducible when the configuration has a seed (o.IDs,
// when a test sets it, wins).
func newControlState(cfg Config, o *Options) *controlState {
	if !cfg.ControlsEnabled() {
		return nil
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	c := &controlState{policy: transitions.New(cfg.TransitionDelay), faults: controls.NewFaults(cfg.Seed, log)}
	if cfg.Seed != 0 {
		c.pageKey = controls.PageKey(cfg.Seed)
		if o.IDs == nil {
			c.ids = opennimble.NewSeededIDs(cfg.Seed)
			o.IDs = c.ids
		}
	}
	return c
}

// transitionPolicy is the service's policy; a nil interface when off.
func (c *controlState) transitionPolicy() service.TransitionPolicy {
	if c == nil {
		return nil
	}
	return c.policy
}

func (c *controlState) paginationKey() []byte {
	if c == nil {
		return nil
	}
	return c.pageKey
}

// wrapDriver applies the lifecycle faults to every driver when the controls
// are on.
func (c *controlState) wrapDriver(d opennimble.Driver) opennimble.Driver {
	if c == nil {
		return d
	}
	return faulty.Wrap(d, c.faults.StepRule)
}

func (c *controlState) setDriver(d opennimble.Driver) {
	if c != nil {
		c.driver = d
	}
}

// hook is the server hook: faults and read counting. The controls it calls
// are made after the server options are, but before the server serves.
func (c *controlState) hook() func(ctx context.Context, op *api.Operation, in any) error {
	if c == nil {
		return nil
	}
	return func(ctx context.Context, op *api.Operation, in any) error { return c.ctl.Hook(ctx, op, in) }
}

// mountControls makes the controls and serves them under /_nimble/.
func (a *App) mountControls(srv *server.Server, svc *service.Service, clock opennimble.Clock, log *slog.Logger) {
	c := a.ctl
	if c == nil {
		return
	}
	_, stepFaults := c.driver.(*faulty.Driver)
	c.ctl = controls.New(controls.Options{
		Auth: srv, Store: a.Store, Lifecycle: svc, Policy: c.policy, Faults: c.faults,
		Driver: c.driver, StepFaults: stepFaults, IDs: c.ids, Clock: clock, Logger: log,
	})
	srv.Handle(controls.Prefix, c.ctl)
}
