package service

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
	"github.com/opennimble/opennimble/driver/sim"
	"github.com/opennimble/opennimble/lifecycle"
	"github.com/opennimble/opennimble/sqlite"
)

// sessRig is a service with the simulated driver, a store (in memory, or
// SQLite for the crash tests) and a fake clock, stepped by a lifecycle
// worker's RunDue: the session tests never sleep.
type sessRig struct {
	t     *testing.T
	store opennimble.Store
	// reopen, when set, closes and reopens the store, as a restarted
	// server does; in-memory stores survive a "restart" as they are.
	reopen func()
	clock  *opennimble.FakeClock
	sim    *sim.Driver
	driver opennimble.Driver // what the service calls; sim unless a test wraps it
	svc    *Service
	worker *lifecycle.Worker
	boots  uint64

	studioID, lpID, imageID string
	alice, bob              context.Context
}

const (
	rigStudio   = "stu-rig"
	rigProfile  = "lp-rig"
	rigImage    = "img-rig"
	rigImage2   = "img-rig2"
	rigMaxLen   = 120 // minutes
	rigMaxStop  = 60  // minutes
	rigRetained = 2
)

// rigStream is the launch profile's stream configuration of the rig: backups
// on, persistence on, stopping allowed, automatic termination on.
func rigStream() *api.StreamConfiguration {
	return &api.StreamConfiguration{
		Ec2InstanceTypes:                 []api.StreamingInstanceType{"g4dn.xlarge", "g4dn.2xlarge"},
		StreamingImageIds:                []string{rigImage, rigImage2},
		MaxSessionLengthInMinutes:        ptr(int32(rigMaxLen)),
		MaxStoppedSessionLengthInMinutes: ptr(int32(rigMaxStop)),
		SessionBackup:                    &api.StreamConfigurationSessionBackup{Mode: api.SessionBackupModeAutomatic, MaxBackupsToRetain: ptr(int32(rigRetained))},
		SessionPersistenceMode:           api.SessionPersistenceModeActivated,
		AutomaticTerminationMode:         api.AutomaticTerminationModeActivated,
		VolumeConfiguration:              &api.VolumeConfiguration{Size: ptr(int32(500)), Iops: ptr(int32(3000)), Throughput: ptr(int32(125))},
	}
}

// newSessRig seeds a READY studio, two READY images and a READY launch
// profile whose stream configuration mod may change.
func newSessRig(t *testing.T, mod ...func(*api.StreamConfiguration)) *sessRig {
	t.Helper()
	return newSessRigOn(t, newMemStore(), mod...)
}

// newSessRigSQLite is newSessRig on a SQLite database that each restart
// closes and reopens.
func newSessRigSQLite(t *testing.T, mod ...func(*api.StreamConfiguration)) *sessRig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "opennimble.db")
	open := func() opennimble.Store {
		st, err := sqlite.Open(t.Context(), path, sqlite.Options{Sync: "normal"})
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		return st
	}
	r := newSessRigOn(t, open(), mod...)
	r.reopen = func() {
		if err := r.store.Close(); err != nil {
			t.Fatal(err)
		}
		r.store = open()
	}
	t.Cleanup(func() { r.store.Close() })
	return r
}

func newSessRigOn(t *testing.T, store opennimble.Store, mod ...func(*api.StreamConfiguration)) *sessRig {
	t.Helper()
	r := &sessRig{t: t, store: store, clock: opennimble.NewFakeClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)),
		studioID: rigStudio, lpID: rigProfile, imageID: rigImage}
	r.sim = sim.MustNew(sim.Options{Clock: r.clock})
	r.driver = r.sim
	r.alice = opennimble.WithPrincipal(t.Context(), opennimble.Principal{ID: "alice"})
	r.bob = opennimble.WithPrincipal(t.Context(), opennimble.Principal{ID: "bob"})
	cfg := rigStream()
	for _, m := range mod {
		m(cfg)
	}
	r.seed(cfg)
	r.boot()
	return r
}

func (r *sessRig) seed(cfg *api.StreamConfiguration) {
	r.t.Helper()
	err := r.store.Update(r.t.Context(), func(tx opennimble.Tx) error {
		docs := []doc{
			&studioDoc{Studio: api.Studio{StudioId: rigStudio, State: api.StudioStateReady}},
			&streamingImageDoc{StudioId: rigStudio, Source: "/images/rig", StreamingImage: api.StreamingImage{StreamingImageId: rigImage, State: api.StreamingImageStateReady}},
			&streamingImageDoc{StudioId: rigStudio, StreamingImage: api.StreamingImage{StreamingImageId: rigImage2, State: api.StreamingImageStateReady}},
			&launchProfileDoc{StudioId: rigStudio, LaunchProfile: api.LaunchProfile{LaunchProfileId: rigProfile, State: api.LaunchProfileStateReady, StreamConfiguration: cfg}},
		}
		for _, d := range docs {
			if _, err := put(r.t.Context(), tx, nil, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		r.t.Fatal(err)
	}
}

// boot starts a service and a worker on the rig's store, as a (re)started
// server does; the ids differ per boot so a restart never repeats one.
func (r *sessRig) boot() {
	r.t.Helper()
	r.boots++
	var w *lifecycle.Worker
	svc, err := New(r.t.Context(), Config{StreamBaseURL: "http://127.0.0.1:8080/", DeletedRetention: time.Hour, PageSize: 100},
		Options{Store: r.store, Clock: r.clock, IDs: opennimble.NewSeededIDs(r.boots), Driver: r.driver, Kick: func() { w.Kick() }})
	if err != nil {
		r.t.Fatal(err)
	}
	r.svc = svc
	w = lifecycle.New(r.store, svc, r.clock, lifecycle.Options{Owner: "rig", CompleteInTx: true})
	r.worker = w
}

// settle runs due jobs until none is due, without moving the clock.
func (r *sessRig) settle() {
	r.t.Helper()
	for range 1000 {
		n, err := r.worker.RunDue(r.t.Context())
		if err != nil {
			r.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	r.t.Fatal("the lifecycle does not settle")
}

// advance moves the clock and runs what became due.
func (r *sessRig) advance(d time.Duration) {
	r.t.Helper()
	r.clock.Advance(d)
	r.settle()
}

// until runs the lifecycle, moving the clock to the next job each time
// nothing is due, until cond holds.
func (r *sessRig) until(what string, cond func() bool) {
	r.t.Helper()
	for range 1000 {
		r.settle()
		if cond() {
			return
		}
		at, ok, err := r.store.NextJobAt(r.t.Context())
		if err != nil || !ok {
			r.t.Fatalf("waiting for %s: no more jobs (%v)", what, err)
		}
		if at.After(r.clock.Now()) {
			r.clock.Set(at)
		}
	}
	r.t.Fatalf("waiting for %s: it never happened", what)
}

func (r *sessRig) create(ctx context.Context, in *api.CreateStreamingSessionRequest) *api.StreamingSession {
	r.t.Helper()
	if in == nil {
		in = &api.CreateStreamingSessionRequest{}
	}
	in.StudioId = orDefault(in.StudioId, r.studioID)
	in.LaunchProfileId = orDefault(in.LaunchProfileId, r.lpID)
	out, err := r.svc.CreateStreamingSession(ctx, in)
	if err != nil {
		r.t.Fatalf("CreateStreamingSession: %v", err)
	}
	return out.Session
}

// ready creates a session as alice and lets it become READY.
func (r *sessRig) ready() *api.StreamingSession {
	r.t.Helper()
	s := r.create(r.alice, nil)
	r.settle()
	return r.wantState(s.SessionId, api.StreamingSessionStateReady)
}

func (r *sessRig) get(id string) *api.StreamingSession {
	r.t.Helper()
	out, err := r.svc.GetStreamingSession(r.alice, &api.GetStreamingSessionRequest{StudioId: r.studioID, SessionId: id})
	if err != nil {
		r.t.Fatalf("GetStreamingSession: %v", err)
	}
	return out.Session
}

func (r *sessRig) wantState(id string, want api.StreamingSessionState) *api.StreamingSession {
	r.t.Helper()
	s := r.get(id)
	if s.State != want {
		r.t.Fatalf("session %s is %s (%s: %s), want %s", id, s.State, s.StatusCode, s.StatusMessage, want)
	}
	return s
}

func (r *sessRig) stop(id string, mode api.VolumeRetentionMode) (*api.StreamingSession, error) {
	out, err := r.svc.StopStreamingSession(r.alice, &api.StopStreamingSessionRequest{StudioId: r.studioID, SessionId: id, VolumeRetentionMode: mode})
	if err != nil {
		return nil, err
	}
	return out.Session, nil
}

func (r *sessRig) start(id, backupID string) (*api.StreamingSession, error) {
	out, err := r.svc.StartStreamingSession(r.alice, &api.StartStreamingSessionRequest{StudioId: r.studioID, SessionId: id, BackupId: backupID})
	if err != nil {
		return nil, err
	}
	return out.Session, nil
}

// stopped stops a session and lets the stop finish.
func (r *sessRig) stopped(id string, mode api.VolumeRetentionMode) *api.StreamingSession {
	r.t.Helper()
	if _, err := r.stop(id, mode); err != nil {
		r.t.Fatalf("StopStreamingSession: %v", err)
	}
	r.settle()
	return r.wantState(id, api.StreamingSessionStateStopped)
}

// started starts a session and lets the start finish.
func (r *sessRig) started(id, backupID string) *api.StreamingSession {
	r.t.Helper()
	if _, err := r.start(id, backupID); err != nil {
		r.t.Fatalf("StartStreamingSession: %v", err)
	}
	r.settle()
	return r.wantState(id, api.StreamingSessionStateReady)
}

// backups lists a session's backups, newest first, DELETED ones excluded.
func (r *sessRig) backups(sessionID string) []*api.StreamingSessionBackup {
	r.t.Helper()
	out, err := r.svc.ListStreamingSessionBackups(r.alice, &api.ListStreamingSessionBackupsRequest{StudioId: r.studioID})
	if err != nil {
		r.t.Fatalf("ListStreamingSessionBackups: %v", err)
	}
	var bs []*api.StreamingSessionBackup
	for _, b := range out.StreamingSessionBackups {
		if b.SessionId == sessionID {
			bs = append(bs, b)
		}
	}
	return bs
}

func (r *sessRig) backup(id string) *api.StreamingSessionBackup {
	r.t.Helper()
	out, err := r.svc.GetStreamingSessionBackup(r.alice, &api.GetStreamingSessionBackupRequest{StudioId: r.studioID, BackupId: id})
	if err != nil {
		r.t.Fatalf("GetStreamingSessionBackup: %v", err)
	}
	return out.StreamingSessionBackup
}

// doc returns the stored session document, internal fields included.
func (r *sessRig) doc(id string) *sessionDoc {
	r.t.Helper()
	var d *sessionDoc
	err := r.store.View(r.t.Context(), func(tx opennimble.Tx) error {
		var err error
		d, _, err = get[sessionDoc](r.t.Context(), tx, opennimble.KindStreamingSession, id)
		return err
	})
	if err != nil || d == nil {
		r.t.Fatalf("session document %s: %v", id, err)
	}
	return d
}

// volume returns the simulated volume of a session.
func (r *sessRig) volume(id string) sim.VolumeInfo {
	r.t.Helper()
	v, ok := r.sim.Volume(id)
	if !ok {
		r.t.Fatalf("session %s has no volume in the driver", id)
	}
	return v
}

// sessWantErr checks an error's code and that its message mentions each of words.
func sessWantErr(t *testing.T, err error, code string, words ...string) *opennimble.Error {
	t.Helper()
	var e *opennimble.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%s), want %s", e.Code, e.Message, code)
	}
	for _, w := range words {
		if !strings.Contains(strings.ToLower(e.Message), strings.ToLower(w)) {
			t.Fatalf("message %q does not mention %q", e.Message, w)
		}
	}
	return e
}
