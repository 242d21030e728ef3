package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/driver/kubernetes"
	"github.com/opennimble/opennimble/driver/local"
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
	drv, desktops, err := newDriver(cfg, o, a.metrics)
	if err != nil {
		return nil, nil, err
	}
	drv = a.ctl.wrapDriver(drv)
	a.desktops, a.bridges = desktops, newBridges()
	a.ctl.setDriver(drv)
	a.driver, a.logger = drv, o.Logger
	if c, ok := drv.(io.Closer); ok {
		a.closeDriver = c.Close
	}
	if o.WrapDriver != nil {
		drv = o.WrapDriver(drv) // for the service only: controls and streams keep the driver
	}
	svc, err := service.New(ctx, service.Config{
		Region:               cfg.Region,
		AccountID:            cfg.AccountID,
		TransitionDelay:      cfg.TransitionDelay,
		DeletedRetention:     cfg.DeletedRetention,
		ClientTokenRetention: cfg.ClientTokenRetention,
		StreamBaseURL:        publicURL,
		Quotas:               cfg.Quotas,
		PageSize:             cfg.PageSize,
	}, service.Options{Store: a.Store, Clock: o.Clock, IDs: o.IDs, Kick: kick, Driver: drv, Logger: o.Logger,
		Transitions: a.ctl.transitionPolicy(), PageKey: a.ctl.paginationKey(), Steps: stepMetrics{m: a.metrics, driver: cfg.Driver}})
	if err != nil {
		return nil, nil, err
	}
	// A job is completed by its reconcile's last transaction: on SQLite
	// inside it (one write instead of two), on PostgreSQL in the same round
	// trip as its COMMIT, right after it (see postgres tx.CompleteJob).
	w := lifecycle.New(a.Store, svc, o.Clock, lifecycle.Options{Logger: o.Logger, Lease: jobLease(cfg), Observer: a.metrics,
		CompleteInTx: true, Parallel: cfg.LifecycleParallel})
	worker.Store(w)
	if a.jobTaker != nil {
		a.jobTaker.SetJobTaker(w)
	}
	return w, svc, nil
}

// newDriver makes the configured driver; desktops reports whether its
// sessions are desktops that the stream URL reaches over VNC.
func newDriver(cfg Config, o Options, m local.BackupObserver) (_ opennimble.Driver, desktops bool, _ error) {
	switch cfg.Driver {
	case "local":
		key, err := cfg.Backup.OperatorKey()
		if err != nil {
			return nil, false, err
		}
		backend, err := cfg.Backup.OpenBackend(context.Background(), cfg.DataDir, false, o.Logger)
		if err != nil {
			return nil, false, err
		}
		desk := localDesktop(cfg, o.Logger)
		d, err := local.New(local.Options{DataDir: cfg.DataDir, ImageRoots: cfg.LocalImageRoots, IODelay: cfg.LocalIODelay, Logger: o.Logger,
			Backend: backend, Key: key, Metrics: m, Desktop: desk})
		return d, desk != nil, err
	case "kubernetes":
		kc, err := kubernetes.LoadConfig(cfg.KubernetesConfig)
		if err != nil {
			return nil, false, err
		}
		d, err := kubernetes.New(kubernetes.Options{Config: kc, REST: o.KubeREST, Kubeconfig: cfg.Kubeconfig, Logger: o.Logger})
		return d, false, err
	}
	durations := map[opennimble.Step]time.Duration{}
	for _, step := range opennimble.Steps {
		durations[step] = cfg.SimStepDuration
	}
	dir := cfg.SimDir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "sim")
	}
	// Replicas on a shared store share one simulated fleet: any of them
	// may continue what another began.
	d, err := sim.New(sim.Options{Clock: o.Clock, Dir: dir, Shared: cfg.SharedStore(), Durations: durations})
	return d, false, err
}

// localDesktop is the local driver's desktop configuration, nil when
// sessions are not desktops. "auto" turns them on when the server runs as
// root (it gives every sandbox a uid of its own) and the programs are
// installed; "on" leaves a missing program to fail the driver's start.
func localDesktop(cfg Config, log *slog.Logger) *local.DesktopOptions {
	switch cfg.LocalDesktop {
	case "off":
		return nil
	case "auto", "":
		if os.Geteuid() != 0 {
			log.Info("local driver: sessions are not desktops: the server does not run as root (--local-desktop)")
			return nil
		}
		if err := local.DesktopsAvailable(); err != nil {
			log.Info("local driver: sessions are not desktops", "reason", err)
			return nil
		}
	}
	return &local.DesktopOptions{UIDBase: cfg.LocalDesktopUIDBase, SharedRoots: cfg.LocalSharedRoots,
		Cgroup: cfg.LocalDesktopCgroup, Geometry: cfg.LocalDesktopGeometry}
}

// jobLease is how long a claimed job stays the worker's. With a shared
// store it bounds how long a killed replica's work waits for another: a
// reconcile is a few transactions and one driver call that never waits for
// the work to finish (drivers report progress), so 15s is ample and a
// reconcile that outlives it is merely repeated, which reconcilers and
// drivers tolerate.
func jobLease(cfg Config) time.Duration {
	switch {
	case cfg.JobLease > 0:
		return cfg.JobLease
	case cfg.SharedStore():
		return 15 * time.Second
	}
	return 0 // the lifecycle's default
}
