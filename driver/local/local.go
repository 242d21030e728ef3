// Package local is a workstation driver whose session volumes are
// directories on this host: <data-dir>/volumes/<sessionId>/. A volume is
// made from the streaming image's source (a directory or a tar archive on
// the server) or restored from a backup; whatever is written there is the
// session's data. Backups go to a deduplicating backup.Repo in
// <data-dir>/backups. With Options.Desktop, every running session is a
// desktop in a bubblewrap sandbox on its volume (desktop.go, sandbox.go);
// without, stopping and starting a session only changes its recorded
// instance state.
package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/backup"
)

// Options configure a local driver.
type Options struct {
	// DataDir holds volumes/, backups/ and the driver's state in local/.
	DataDir string
	// ImageRoots are the directories an image source may lie in (after
	// symlinks are resolved); a relative source is taken from the first.
	// Default: <DataDir>/images.
	ImageRoots []string
	// Backend keeps the backups; an FSStore in <DataDir>/backups when nil.
	Backend backup.Backend
	// Key encrypts the backups (see backup.OperatorKey); nil: unencrypted.
	Key backup.OperatorKey
	// Wait is how long a call waits for its operation before it reports
	// progress instead (default 10s, well inside the lifecycle's lease).
	Wait time.Duration
	// IODelay slows every chunk write, read, copy and free of the backup
	// store (crash tests use it to kill the server half-way).
	IODelay time.Duration
	// Desktop, when set, makes every running session a desktop.
	Desktop *DesktopOptions
	Logger  *slog.Logger
	// Metrics, when set, is told about every snapshot and restore.
	Metrics BackupObserver
}

// BackupObserver learns what snapshots and restores did (for metrics).
type BackupObserver interface {
	// ObserveSnapshot: how long it took, the size of the files it
	// represents and what it added to the store.
	ObserveSnapshot(d time.Duration, bytes, stored int64)
	ObserveRestore(d time.Duration, bytes int64)
}

// Driver is the local driver. It is safe for concurrent use. Close stops
// its background work.
type Driver struct {
	volumes, staging, trash, state string
	roots                          []string
	repo                           *backup.Repo
	wait                           time.Duration
	log                            *slog.Logger
	metrics                        BackupObserver

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	gcKick chan struct{}

	// Desktops (nil desk: none). runDir holds the sessions' runtime folders,
	// script the start script the sandboxes run, bwrap bubblewrap's path.
	desk           *DesktopOptions
	cg             *cgroups // nil: desktops get rlimits
	runDir, script string
	bwrap          string

	mu       sync.Mutex
	ops      map[opKey]*op
	sessions map[string]*sync.Mutex
	desktops map[string]*desktop
	watchers []func(sessionID, studioID string)
	nextUID  int
}

var _ opennimble.Driver = (*Driver)(nil)

// opKey identifies one operation: repeated calls with the same key are the
// same operation.
type opKey struct {
	step       opennimble.Step
	key, token string
}

// op is an operation running, or run, in the background.
type op struct {
	done  chan struct{}
	err   error
	ended time.Time
}

// New opens the driver's folders, removes what a crashed process left half
// made, and starts collecting the garbage of deleted backups.
func New(o Options) (*Driver, error) {
	if o.DataDir == "" {
		return nil, errors.New("local driver: no data folder")
	}
	dir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
	if len(o.ImageRoots) == 0 {
		o.ImageRoots = []string{filepath.Join(dir, "images")}
	}
	d := &Driver{
		volumes: filepath.Join(dir, "volumes"),
		staging: filepath.Join(dir, "volumes", ".staging"),
		trash:   filepath.Join(dir, "volumes", ".trash"),
		state:   filepath.Join(dir, "local", "sessions"),
		wait:    o.Wait, log: o.Logger, metrics: o.Metrics,
		gcKick: make(chan struct{}, 1),
		ops:    map[opKey]*op{}, sessions: map[string]*sync.Mutex{}, desktops: map[string]*desktop{},
	}
	for _, r := range o.ImageRoots {
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, err
		}
		d.roots = append(d.roots, abs)
	}
	for _, p := range []string{d.volumes, d.staging, d.trash, d.state} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, fmt.Errorf("local driver: %w", err)
		}
	}
	// No operation runs yet: whatever is being made or removed was left by
	// a process that died, and its operation will run again.
	for _, p := range []string{d.staging, d.trash} {
		if err := clearDir(p); err != nil {
			return nil, fmt.Errorf("local driver: clean %s: %w", p, err)
		}
	}
	if o.Desktop != nil {
		if err := d.setupDesktops(dir, *o.Desktop); err != nil {
			return nil, err
		}
	}
	store := o.Backend
	if store == nil {
		if store, err = backup.OpenFS(filepath.Join(dir, "backups")); err != nil {
			return nil, err
		}
	}
	if d.repo, err = backup.Open(context.Background(), store, backup.Options{Create: true, Delay: o.IODelay, Logger: o.Logger, Key: o.Key}); err != nil {
		return nil, fmt.Errorf("local driver: backup store: %w", err)
	}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	d.wg.Add(1)
	go d.collect()
	d.collectSoon() // finishes a collection a crash interrupted
	return d, nil
}

// setupDesktops checks the programs desktops need, writes the start script
// and clears the runtime folders a previous process left: its desktops
// ended with it.
func (d *Driver) setupDesktops(dir string, o DesktopOptions) error {
	if err := DesktopsAvailable(); err != nil {
		return fmt.Errorf("local driver: desktops: %w", err)
	}
	d.bwrap, _ = exec.LookPath("bwrap")
	if o.UIDBase <= 0 {
		o.UIDBase = 200000
	}
	if o.Grace <= 0 {
		o.Grace = 5 * time.Second
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.Geometry == "" {
		o.Geometry = DefaultGeometry
	}
	if err := CheckGeometry(o.Geometry); err != nil {
		return fmt.Errorf("local driver: desktops: %w", err)
	}
	var roots []string
	for _, r := range o.SharedRoots {
		real, err := filepath.EvalSymlinks(r)
		if err != nil {
			return fmt.Errorf("local driver: shared file system root: %w", err)
		}
		if real, err = filepath.Abs(real); err != nil {
			return err
		}
		roots = append(roots, real)
	}
	o.SharedRoots = roots
	d.desk = &o
	if err := d.setupLimits(o.Cgroup); err != nil {
		return err
	}
	d.runDir, d.script = filepath.Join(dir, "local", "run"), filepath.Join(dir, "local", "session-start.sh")
	if err := os.MkdirAll(d.runDir, 0o755); err != nil {
		return fmt.Errorf("local driver: %w", err)
	}
	if err := clearDir(d.runDir); err != nil {
		return fmt.Errorf("local driver: clean %s: %w", d.runDir, err)
	}
	if err := writeScript(d.script); err != nil {
		return fmt.Errorf("local driver: write the start script: %w", err)
	}
	// uids are never reused: the next is above every session's.
	entries, _ := os.ReadDir(d.state)
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".json"); ok && validID(id) == nil {
			if st, err := d.load(id); err == nil && st.UID >= d.nextUID {
				d.nextUID = st.UID + 1
			}
		}
	}
	return nil
}

// setupLimits chooses cgroups or rlimits for the desktops' limits, says
// which, and removes the cgroups of desktops a killed server left.
func (d *Driver) setupLimits(setting string) error {
	cg, reason, err := openCgroups(setting)
	if err != nil {
		return fmt.Errorf("local driver: %w", err)
	}
	if cg == nil {
		d.log.Info("local driver: desktop limits are rlimits (RLIMIT_AS, RLIMIT_NPROC)", "why not cgroup v2", reason)
		return nil
	}
	d.cg = cg
	d.log.Info("local driver: desktop limits are cgroup v2 (memory.max, pids.max), a cgroup per desktop", "under", cg.dir)
	if err := cg.sweep(); err != nil {
		return fmt.Errorf("local driver: the cgroups of a previous server's desktops: %w", err)
	}
	return nil
}

// Close ends the desktops, stops the background work and waits for it.
func (d *Driver) Close() error {
	d.stopAllDesktops()
	d.cancel()
	d.wg.Wait()
	return d.repo.Close()
}

// VolumePath is the directory of a session's volume (which may not exist).
func (d *Driver) VolumePath(sessionID string) string { return filepath.Join(d.volumes, sessionID) }

// Repo is the repository the driver keeps backups in.
func (d *Driver) Repo() *backup.Repo { return d.repo }

// run runs an operation once: the first call starts fn in the background
// (it outlives the call's context), every call waits up to d.wait for it
// and reports. A definitive failure (*DriverError) is kept, so a repeated
// call returns it again; any other failure is forgotten, so the next call
// tries again.
func (d *Driver) run(ctx context.Context, key opKey, fn func(ctx context.Context) error) (opennimble.Progress, error) {
	if err := ctx.Err(); err != nil {
		return opennimble.Progress{}, err
	}
	d.mu.Lock()
	o := d.ops[key]
	if o == nil {
		if err := d.ctx.Err(); err != nil {
			d.mu.Unlock()
			return opennimble.Progress{}, errors.New("local driver: closed")
		}
		o = &op{done: make(chan struct{})}
		d.ops[key] = o
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			err := fn(d.ctx)
			d.mu.Lock()
			o.err, o.ended = err, time.Now()
			close(o.done)
			d.pruneOps()
			d.mu.Unlock()
		}()
	}
	d.mu.Unlock()
	timer := time.NewTimer(d.wait)
	defer timer.Stop()
	select {
	case <-o.done:
	case <-ctx.Done():
		return opennimble.Progress{}, ctx.Err()
	case <-timer.C:
		return opennimble.Progress{RetryAfter: time.Second}, nil
	}
	var de *opennimble.DriverError
	switch {
	case o.err == nil:
		return opennimble.Progress{Done: true}, nil
	case errors.As(o.err, &de):
		c := *de
		return opennimble.Progress{}, &c
	default:
		d.mu.Lock()
		if d.ops[key] == o {
			delete(d.ops, key)
		}
		d.mu.Unlock()
		return opennimble.Progress{}, o.err
	}
}

// pruneOps forgets operations that ended long ago, once there are many. A
// repeated call of a forgotten operation runs it again, which every
// operation tolerates. It runs under d.mu.
func (d *Driver) pruneOps() {
	if len(d.ops) < 10000 {
		return
	}
	for k, o := range d.ops {
		if !o.ended.IsZero() && time.Since(o.ended) > time.Minute {
			delete(d.ops, k)
		}
	}
}

// lockSession serialises the operations on one session's volume.
func (d *Driver) lockSession(id string) func() {
	d.mu.Lock()
	m := d.sessions[id]
	if m == nil {
		m = &sync.Mutex{}
		d.sessions[id] = m
	}
	d.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// collectSoon asks for a garbage collection of the backup store.
func (d *Driver) collectSoon() {
	select {
	case d.gcKick <- struct{}{}:
	default:
	}
}

// collect runs the garbage collections asked for, one at a time, and
// retries a failed one a minute later.
func (d *Driver) collect() {
	defer d.wg.Done()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.gcKick:
		case <-retry.C:
		}
		st, err := d.repo.GC(d.ctx)
		switch {
		case d.ctx.Err() != nil:
			return
		case err != nil:
			d.log.Error("local driver: garbage collection of backups failed; retrying in a minute", "err", err)
			retry.Reset(time.Minute)
		case st.FreedChunks > 0 || st.DeletedPacks > 0 || st.TempRemoved > 0 || st.DamagedPacks > 0:
			d.log.Info("local driver: garbage collection of backups", "freedChunks", st.FreedChunks, "freedBytes", st.FreedBytes,
				"deletedPacks", st.DeletedPacks, "repackedPacks", st.RepackedPacks, "newPacks", st.NewPacks, "damagedPacks", st.DamagedPacks,
				"packs", st.Packs, "chunks", st.Chunks, "bytes", st.Bytes, "garbageBytes", st.GarbageBytes, "backups", st.Backups, "duration", st.Duration)
		}
	}
}

// sessionState is what the driver keeps of a session, in
// local/sessions/<id>.json.
type sessionState struct {
	Instance string       `json:"instance"` // running, stopped or terminated
	Volume   *volumeState `json:"volume,omitempty"`
	// LastBackup is the session's latest snapshot: the next one takes its
	// unchanged files over without reading them.
	LastBackup string `json:"lastBackup,omitempty"`
	// UID is the uid the session's desktop runs as, kept for its life.
	UID int `json:"uid,omitempty"`
}

type volumeState struct {
	Generation int64  `json:"generation"`
	Source     string `json:"source"` // "image:<id>[ <source>]" or "backup:<id>"
}

// The states of a workstation instance.
const (
	instanceRunning    = "running"
	instanceStopped    = "stopped"
	instanceTerminated = "terminated"
)

func (d *Driver) statePath(id string) string { return filepath.Join(d.state, id+".json") }

// load returns the session's state; a session the driver never saw has
// none.
func (d *Driver) load(id string) (*sessionState, error) {
	b, err := os.ReadFile(d.statePath(id))
	if errors.Is(err, fs.ErrNotExist) {
		return &sessionState{}, nil
	}
	if err != nil {
		return nil, err
	}
	var st sessionState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("local driver: state of session %s: %w", id, err)
	}
	return &st, nil
}

// save replaces the session's state durably: write, fsync, rename, fsync
// the directory.
func (d *Driver) save(id string, st *sessionState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return writeFileAtomic(d.statePath(id), b)
}

func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// validID refuses a session id that could name a path outside volumes/.
func validID(id string) error {
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, `/\`) || len(id) > 200 {
		return failf("invalid session id %q", id)
	}
	return nil
}

// failf is a definitive failure: the session shows it as INTERNAL_ERROR.
func failf(format string, args ...any) *opennimble.DriverError {
	return &opennimble.DriverError{StatusCode: "INTERNAL_ERROR", Message: fmt.Sprintf(format, args...)}
}

func clearDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := removeAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// removeAll is os.RemoveAll that also removes what read-only directories
// hold.
func removeAll(p string) error {
	err := os.RemoveAll(p)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	_ = filepath.WalkDir(p, func(q string, e fs.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			_ = os.Chmod(q, 0o700)
		}
		return nil
	})
	return os.RemoveAll(p)
}
