package service

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// crashDriver stands for a server killed around its n-th driver call:
// before the call reaches the driver, or after the driver did the work but
// before the server recorded it.
type crashDriver struct {
	inner   opennimble.Driver
	n       int  // 1-based index of the call to crash at
	after   bool // crash once the inner call returned
	calls   int
	crashed bool
}

var errCrashed = errors.New("server killed")

func (c *crashDriver) call(fn func() (opennimble.Progress, error)) (opennimble.Progress, error) {
	if c.crashed {
		return opennimble.Progress{}, errCrashed
	}
	c.calls++
	if c.calls == c.n && !c.after {
		c.crashed = true
		return opennimble.Progress{}, errCrashed
	}
	p, err := fn()
	if c.calls == c.n {
		c.crashed = true
		return opennimble.Progress{}, errCrashed
	}
	return p, err
}

func (c *crashDriver) Provision(ctx context.Context, p opennimble.ProvisionParams) (opennimble.Progress, error) {
	return c.call(func() (opennimble.Progress, error) { return c.inner.Provision(ctx, p) })
}
func (c *crashDriver) Stop(ctx context.Context, p opennimble.StopParams) (opennimble.Progress, error) {
	return c.call(func() (opennimble.Progress, error) { return c.inner.Stop(ctx, p) })
}
func (c *crashDriver) Start(ctx context.Context, p opennimble.StartParams) (opennimble.Progress, error) {
	return c.call(func() (opennimble.Progress, error) { return c.inner.Start(ctx, p) })
}
func (c *crashDriver) Terminate(ctx context.Context, p opennimble.TerminateParams) (opennimble.Progress, error) {
	return c.call(func() (opennimble.Progress, error) { return c.inner.Terminate(ctx, p) })
}
func (c *crashDriver) Snapshot(ctx context.Context, p opennimble.SnapshotParams) (opennimble.Progress, error) {
	return c.call(func() (opennimble.Progress, error) { return c.inner.Snapshot(ctx, p) })
}
func (c *crashDriver) Restore(ctx context.Context, p opennimble.RestoreParams) (opennimble.Progress, error) {
	return c.call(func() (opennimble.Progress, error) { return c.inner.Restore(ctx, p) })
}
func (c *crashDriver) DeleteVolume(ctx context.Context, p opennimble.DeleteVolumeParams) (opennimble.Progress, error) {
	return c.call(func() (opennimble.Progress, error) { return c.inner.DeleteVolume(ctx, p) })
}
func (c *crashDriver) DeleteBackup(ctx context.Context, p opennimble.DeleteBackupParams) (opennimble.Progress, error) {
	return c.call(func() (opennimble.Progress, error) { return c.inner.DeleteBackup(ctx, p) })
}

// runUntilCrash runs the lifecycle by hand, as a worker would, until the
// crash driver crashes or the work is done; a crashed job is left claimed,
// as a killed server leaves it. It reports whether the crash happened.
func (r *sessRig) runUntilCrash(cd *crashDriver, done func() bool) bool {
	r.t.Helper()
	ctx := r.t.Context()
	for range 1000 {
		jobs, err := r.store.ClaimJobs(ctx, "doomed", r.clock.Now(), time.Minute, 8)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, j := range jobs {
			err := r.svc.Reconcile(ctx, j.Kind, j.ResourceID)
			if cd.crashed {
				return true
			}
			if err != nil {
				r.t.Fatalf("reconcile %s %s: %v", j.Kind, j.ResourceID, err)
			}
			if err := r.store.CompleteJob(ctx, j); err != nil {
				r.t.Fatal(err)
			}
		}
		if len(jobs) > 0 {
			continue
		}
		if done() {
			return false
		}
		at, ok, _ := r.store.NextJobAt(ctx)
		if !ok {
			r.t.Fatal("no more jobs, and not done")
		}
		if at.After(r.clock.Now()) {
			r.clock.Set(at)
		}
	}
	r.t.Fatal("the lifecycle does not finish")
	return false
}

// crashScenario is a transition to kill the server in the middle of.
type crashScenario struct {
	name  string
	setup func(r *sessRig) string          // returns the session id, resting
	act   func(r *sessRig, id string)      // the request that begins the transition
	done  func(r *sessRig, id string) bool // the transition is over
	check func(r *sessRig, id string)      // what must hold once it converged
}

// TestCrashAtEveryStepBoundary kills the server before and after every
// driver call of a transition (after a call, the driver did the work but the
// store does not know), restarts a new service and worker on the same store,
// and checks that the transition converges exactly once.
func TestCrashAtEveryStepBoundary(t *testing.T) {
	stores := map[string]func(*testing.T) *sessRig{
		"memory": func(t *testing.T) *sessRig { return newSessRig(t) },
		"sqlite": func(t *testing.T) *sessRig { return newSessRigSQLite(t) },
	}
	for storeName, newRig := range stores {
		for _, sc := range crashScenarios() {
			if storeName == "sqlite" && sc.name != "stop-with-backup" {
				continue // the store's part is the same in every scenario
			}
			for _, slow := range []bool{false, true} {
				for n := 1; ; n++ {
					name := fmt.Sprintf("%s/%s/slow=%v/call%d", storeName, sc.name, slow, n)
					before := runCrash(t, name+"/before", newRig, sc, slow, n, false)
					after := runCrash(t, name+"/after", newRig, sc, slow, n, true)
					if !before && !after {
						break // the transition needs fewer calls: every boundary was tried
					}
				}
			}
		}
	}
}

// runCrash runs one crash of a scenario and reports whether it crashed.
func runCrash(t *testing.T, name string, newRig func(*testing.T) *sessRig, sc crashScenario, slow bool, n int, after bool) bool {
	crashed := false
	t.Run(name, func(t *testing.T) {
		r := newRig(t)
		id := sc.setup(r)
		if slow {
			for i, s := range opennimble.Steps {
				r.sim.SetDuration(s, time.Duration(i+1)*7*time.Second)
			}
		}
		cd := &crashDriver{inner: r.sim, n: n, after: after}
		r.driver = cd
		r.boot()
		sc.act(r, id)
		crashed = r.runUntilCrash(cd, func() bool { return sc.done(r, id) })
		if !crashed {
			return
		}
		r.checkNoUnbackedReady()
		// Restart: a new service and worker on the same store (reopened when
		// it is a database); the world (the simulated workstations) lives on.
		if r.reopen != nil {
			r.reopen()
		}
		r.driver = r.sim
		r.boot()
		r.until("convergence after the restart", func() bool { return sc.done(r, id) })
		r.checkNoUnbackedReady()
		sc.check(r, id)
	})
	return crashed
}

// checkNoUnbackedReady fails when a READY backup has no complete snapshot.
func (r *sessRig) checkNoUnbackedReady() {
	r.t.Helper()
	out, err := r.svc.ListStreamingSessionBackups(r.alice, &api.ListStreamingSessionBackupsRequest{StudioId: rigStudio})
	if err != nil {
		r.t.Fatal(err)
	}
	for _, b := range out.StreamingSessionBackups {
		if _, ok := r.sim.Backup(b.BackupId); b.State == api.StreamingSessionStateReady && !ok {
			r.t.Fatalf("backup %s is READY without a snapshot", b.BackupId)
		}
	}
}

func crashScenarios() []crashScenario {
	isState := func(want api.StreamingSessionState) func(r *sessRig, id string) bool {
		return func(r *sessRig, id string) bool { return r.get(id).State == want }
	}
	return []crashScenario{{
		name: "stop-with-backup",
		setup: func(r *sessRig) string {
			s := r.ready()
			r.sim.Write(s.SessionId, "precious")
			return s.SessionId
		},
		act: func(r *sessRig, id string) {
			if _, err := r.stop(id, api.VolumeRetentionModeDelete); err != nil {
				r.t.Fatal(err)
			}
		},
		done:  isState(api.StreamingSessionStateStopped),
		check: checkStoppedOnce,
	}, {
		name: "start-from-backup",
		setup: func(r *sessRig) string {
			s := r.ready()
			r.sim.Write(s.SessionId, "precious")
			r.stopped(s.SessionId, api.VolumeRetentionModeDelete)
			return s.SessionId
		},
		act: func(r *sessRig, id string) {
			if _, err := r.start(id, r.backups(id)[0].BackupId); err != nil {
				r.t.Fatal(err)
			}
		},
		done: isState(api.StreamingSessionStateReady),
		check: func(r *sessRig, id string) {
			if v := r.volume(id); v.Data != "precious" || v.Generation != 2 || r.sim.Started(opennimble.StepRestore) != 1 {
				r.t.Fatalf("restored volume %+v after %d restores", v, r.sim.Started(opennimble.StepRestore))
			}
		},
	}, {
		name:  "create",
		setup: func(r *sessRig) string { return "" },
		act:   func(r *sessRig, _ string) { r.create(r.alice, nil) },
		done: func(r *sessRig, _ string) bool {
			out, err := r.svc.ListStreamingSessions(r.alice, &api.ListStreamingSessionsRequest{StudioId: rigStudio})
			return err == nil && len(out.Sessions) == 1 && out.Sessions[0].State == api.StreamingSessionStateReady
		},
		check: func(r *sessRig, _ string) {
			if r.sim.Started(opennimble.StepProvision) != 1 {
				r.t.Fatalf("provisioned %d times", r.sim.Started(opennimble.StepProvision))
			}
		},
	}}
}

// checkStoppedOnce checks a converged stop-with-backup: one READY backup
// holding the data, every step begun exactly once, the volume gone.
func checkStoppedOnce(r *sessRig, id string) {
	r.t.Helper()
	bs := r.backups(id)
	if len(bs) != 1 || bs[0].State != api.StreamingSessionStateReady {
		r.t.Fatalf("backups %+v, want exactly one READY", bs)
	}
	if b, ok := r.sim.Backup(bs[0].BackupId); !ok || b.Data != "precious" {
		r.t.Fatalf("snapshot %+v, %v", b, ok)
	}
	for _, step := range []opennimble.Step{opennimble.StepStop, opennimble.StepSnapshot, opennimble.StepDeleteVolume} {
		if n := r.sim.Started(step); n != 1 {
			r.t.Fatalf("step %s began %d times", step, n)
		}
	}
	if _, ok := r.sim.Volume(id); ok || r.doc(id).Volume.Exists {
		r.t.Fatal("the volume survived a stop with DELETE")
	}
}
