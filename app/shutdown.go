package app

import (
	"context"
	"errors"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// Shutdown stops the server in order, within ctx's deadline: it stops
// accepting connections and lets requests in flight finish; stops claiming
// lifecycle jobs and lets running steps reach the end of their step,
// handing back (and logging) those still running at the deadline; asks a
// driver that runs desktops (opennimble.Shutdowner) to close them; then
// closes the driver and the store. Requests still running at the deadline
// are cut off and logged. It returns only errors of closing the driver or
// the store: a drain cut short is logged, not an error.
func (a *App) Shutdown(ctx context.Context) error {
	start := time.Now()
	a.logger.Info("shutdown: no longer accepting connections; finishing requests in flight")
	if err := a.srv.Shutdown(ctx); err != nil {
		a.logger.Warn("shutdown: requests still running at the deadline were cut off", "err", err)
		_ = a.srv.Close()
	}
	// Hijacked connections (the desktops' WebSockets) outlive
	// http.Server.Shutdown: close them with their close frame.
	a.bridges.closeAll()
	if a.metricsSrv != nil {
		_ = a.metricsSrv.Close()
	}
	if a.pprofSrv != nil {
		_ = a.pprofSrv.Close()
	}
	a.cancel()
	<-a.done
	select {
	case <-a.workerDone:
	case <-ctx.Done():
		a.logger.Warn("shutdown: lifecycle steps still running at the deadline are handed back")
		a.worker.Abort()
		<-a.workerDone
	}
	var err error
	if sd, ok := a.driver.(opennimble.Shutdowner); ok {
		// The deadline may be spent: desktops still get a moment to close.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if derr := sd.Shutdown(dctx); derr != nil {
			a.logger.Warn("shutdown: closing the driver's desktops failed", "err", derr)
			err = derr
		} else {
			a.logger.Info("shutdown: the driver's desktops are closed")
		}
		cancel()
	}
	if a.closeDriver != nil {
		err = errors.Join(err, a.closeDriver())
	}
	err = errors.Join(err, a.Store.Close())
	_ = a.lock.Close()
	a.logger.Info("shutdown: done", "took", time.Since(start).Round(time.Millisecond))
	return err
}
