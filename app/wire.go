package app

import (
	"context"
	"path/filepath"
	"time"
	"sync/atomic"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/driver/sim"
	"github.com/opennimble/opennimble/lifecycle"
	"github.com/opennimble/opennimble/service"
)

// wire builds the service and its lifecycle worker. The worker is the
// service's reconciler and the service wakes the worker when it schedules
// work that is due at once.
func (a *App) wire(ctx context.Context, cfg Config, o Options, publicURL string) (*lifecycle.Worker, *service.Service, error) {
	var worker atomic.Pointer[lifecycle.Worker]
	kick := func() {
		if w := worker.Load(); w != nil {
			w.Kick()
		}
	}
	drv, err := newDriver(cfg, o)
	if err != nil {
		return nil, nil, err
	}
	svc, err := service.New(ctx, service.Config{
		Region:           cfg.Region,
		AccountID:        cfg.AccountID,
		TransitionDelay:  cfg.TransitionDelay,
		DeletedRetention: cfg.DeletedRetention,
		StreamBaseURL:    publicURL,
		Quotas:           cfg.Quotas,
		PageSize:         cfg.PageSize,
	}, service.Options{Store: a.Store, Clock: o.Clock, IDs: o.IDs, Kick: kick, Driver: drv})
	if err != nil {
		return nil, nil, err
	}
	w := lifecycle.New(a.Store, svc, o.Clock, lifecycle.Options{Logger: o.Logger})
	worker.Store(w)
	return w, svc, nil
}

func newDriver(cfg Config, o Options) (opennimble.Driver, error) {
	durations := map[sim.Step]time.Duration{}
	for _, step := range sim.Steps {
		durations[step] = cfg.SimStepDuration
	}
	return sim.New(sim.Options{Clock: o.Clock, Dir: filepath.Join(cfg.DataDir, "sim"), Durations: durations})
}
