// Package app wires a whole opennimble server: store, service, lifecycle
// workers and HTTP server. cmd/opennimble runs it from configuration; tests
// run it in-process on 127.0.0.1:0 with a temporary data folder and a fake
// clock.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/authz"
	"github.com/opennimble/opennimble/driver/local"
	"github.com/opennimble/opennimble/lifecycle"
	"github.com/opennimble/opennimble/metrics"
	"github.com/opennimble/opennimble/postgres"
	"github.com/opennimble/opennimble/server"
	"github.com/opennimble/opennimble/service"
	"github.com/opennimble/opennimble/sigv4"
	"github.com/opennimble/opennimble/sqlite"
	"k8s.io/client-go/rest"
)

// Config is everything a server is configured with.
type Config struct {
	Listen           string        // host:port
	DataDir          string        // the data folder
	Sync             string        // SQLite synchronous mode: full or normal
	Emulator         bool          // accept any well-formed signature
	EmulatorAdmins   []string      // administrator key ids in emulator mode
	Region           string        // region of ARNs and signatures
	AccountID        string        // account id of ARNs
	TransitionDelay  time.Duration // how long *_IN_PROGRESS states last
	DeletedRetention time.Duration // how long DELETED resources still answer
	// ClientTokenRetention is how long a client token is remembered (8h).
	ClientTokenRetention time.Duration
	Timestamps           string  // auto, iso8601 or epoch
	RateLimit            float64 // requests per second per principal; 0 = none
	PublicURL            string  // base URL clients reach the server at
	Driver               string  // workstation driver: sim, local or kubernetes
	Quotas               service.Quotas
	PageSize             int // items per page of lists without maxResults
	// SimStepDuration is how long each step of the simulated driver takes.
	SimStepDuration time.Duration
	// LocalImageRoots are the directories the local driver takes image
	// sources from (default <data-dir>/images).
	LocalImageRoots []string
	// LocalIODelay slows every chunk write, read and delete of the local
	// driver's backup store (crash tests only).
	LocalIODelay time.Duration
	// Backup is where the local driver keeps its backups, and their key.
	Backup BackupConfig
	// LocalDesktop makes every running session of the local driver a
	// desktop streamed to the browser: "on", "off", or "auto" (on when the
	// server runs as root and the programs are installed).
	LocalDesktop string
	// LocalDesktopUIDBase is the first uid desktops run as (one per
	// session); 0 uses the driver's default.
	LocalDesktopUIDBase int
	// LocalSharedRoots are the folders SHARED_FILE_SYSTEM components may
	// name as their endpoint.
	LocalSharedRoots []string
	// LocalDesktopCgroup says how desktops are limited: "auto" (a cgroup v2
	// per desktop under the server's own cgroup when it is delegated, else
	// rlimits), "off" (rlimits), or a delegated cgroup v2 folder.
	LocalDesktopCgroup string
	// LocalDesktopGeometry is every desktop's screen, WIDTHxHEIGHT or
	// WIDTHxHEIGHTxDEPTH ("" is the driver's default, 1280x800x24).
	LocalDesktopGeometry string
	// NoVNCDir is the folder of noVNC's web client, which stream URLs of
	// desktops serve.
	NoVNCDir string
	// KubernetesConfig is the kubernetes driver's configuration file (YAML:
	// namespaces, storage and snapshot classes, image and instance type
	// mappings); Kubeconfig the cluster's kubeconfig ("" uses $KUBECONFIG or
	// the in-cluster service account).
	KubernetesConfig string
	Kubeconfig       string
	// Controls serves the emulator controls under /_nimble/ to
	// administrators; emulator mode always does.
	Controls bool
	// Seed, when not 0, draws ids and tokens from a deterministic sequence
	// (emulator mode only: seeded tokens are guessable).
	Seed uint64
	// Store is "" (or "sqlite") for the embedded SQLite database of the data
	// folder, or a postgres:// URL: a PostgreSQL database that any number of
	// replicas share.
	Store string
	// SimDir is the simulated driver's folder (default <data-dir>/sim).
	// Replicas on one PostgreSQL store must all name the same folder.
	SimDir string
	// MaxConnections caps open connections (0: 4096, less under a low
	// descriptor limit); IdleTimeout closes keep-alive connections idle this
	// long.
	MaxConnections int
	IdleTimeout    time.Duration
	// BodyTimeout is how long a request body may take to arrive;
	// BodyMemoryMiB how many MiB the bodies being served may hold at once.
	BodyTimeout   time.Duration
	BodyMemoryMiB int
	// PortalIdleTimeout ends a studio portal session after this long
	// without a request (portal.DefaultIdleTimeout when 0).
	PortalIdleTimeout time.Duration
	// JobLease is how long a replica owns a lifecycle job it claimed: the
	// longest a killed replica's work waits to be taken over. 0: one minute
	// with SQLite (a restart frees the leases at once), 15s with PostgreSQL.
	JobLease time.Duration
	// LifecycleParallel is how many lifecycle reconciles a server runs at
	// once (lifecycle.DefaultParallel when 0).
	LifecycleParallel int
	// MetricsListen, when set, serves /metrics on this address instead of
	// the API's listener.
	MetricsListen string
	// PprofListen, when set, serves Go's profiler (/debug/pprof/) on this
	// address, a listener of its own; off by default.
	PprofListen string
	// ShutdownTimeout bounds a shutdown: requests in flight and lifecycle
	// steps running get this long to finish (default 30s).
	ShutdownTimeout time.Duration
}

// SharedStore reports whether the store is one that several servers share
// (PostgreSQL) rather than the data folder's own.
func (c *Config) SharedStore() bool { return postgres.IsURL(c.Store) }

// storeKind names the store for the health check: sqlite or postgres.
func storeKind(c Config) string {
	if c.SharedStore() {
		return "postgres"
	}
	return "sqlite"
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{
		Listen:               "127.0.0.1:8080",
		DataDir:              "./data",
		Store:                "sqlite",
		PortalIdleTimeout:    30 * time.Minute,
		Sync:                 "full",
		EmulatorAdmins:       []string{"test"},
		Region:               "us-west-2",
		AccountID:            "000000000000",
		DeletedRetention:     time.Hour,
		ClientTokenRetention: 8 * time.Hour,
		Timestamps:           string(server.TimestampsAuto),
		Driver:               "sim",
		PageSize:             100,
		IdleTimeout:          60 * time.Second,
		BodyTimeout:          server.DefaultBodyTimeout,
		BodyMemoryMiB:        server.DefaultBodyMemory >> 20,
		ShutdownTimeout:      30 * time.Second,
		LifecycleParallel:    lifecycle.DefaultParallel,
		LocalDesktop:         "auto",
		LocalDesktopCgroup:   "auto",
		NoVNCDir:             "/usr/share/novnc",
	}
}

// Validate checks a configuration.
func (c *Config) Validate() error {
	var errs []string
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Sprintf("listen %q: %v", c.Listen, err))
	}
	if c.DataDir == "" {
		errs = append(errs, "data-dir must not be empty")
	}
	switch c.Timestamps {
	case "auto", "iso8601", "epoch":
	default:
		errs = append(errs, fmt.Sprintf("timestamps %q: want auto, iso8601 or epoch", c.Timestamps))
	}
	switch c.Sync {
	case "full", "normal":
	default:
		errs = append(errs, fmt.Sprintf("sync %q: want full or normal", c.Sync))
	}
	if len(c.AccountID) != 12 || strings.Trim(c.AccountID, "0123456789") != "" {
		errs = append(errs, fmt.Sprintf("account-id %q: want twelve digits", c.AccountID))
	}
	if c.Region == "" {
		errs = append(errs, "region must not be empty")
	}
	if c.TransitionDelay < 0 || c.DeletedRetention < 0 || c.ClientTokenRetention < 0 {
		errs = append(errs, "durations must not be negative")
	}
	if c.PageSize < 1 || c.PageSize > 1000 {
		errs = append(errs, fmt.Sprintf("page-size %d: want 1 to 1000", c.PageSize))
	}
	if c.RateLimit < 0 {
		errs = append(errs, "rate-limit must not be negative")
	}
	if c.Store != "" && c.Store != "sqlite" && !c.SharedStore() {
		errs = append(errs, "store: want sqlite or a postgres:// URL")
	}
	if c.MetricsListen != "" {
		if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
			errs = append(errs, fmt.Sprintf("metrics-listen %q: %v", c.MetricsListen, err))
		}
	}
	if c.PprofListen != "" {
		if _, _, err := net.SplitHostPort(c.PprofListen); err != nil {
			errs = append(errs, fmt.Sprintf("pprof-listen %q: %v", c.PprofListen, err))
		}
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, "shutdown-timeout must not be negative")
	}
	if c.MaxConnections < 0 {
		errs = append(errs, "max-connections must not be negative")
	}
	if c.IdleTimeout <= 0 || c.BodyTimeout <= 0 {
		errs = append(errs, "idle-timeout and body-timeout must be positive")
	}
	if c.BodyMemoryMiB < server.MaxBodyBytes>>20 {
		errs = append(errs, fmt.Sprintf("body-memory-mib %d: want at least %d, the largest request body", c.BodyMemoryMiB, server.MaxBodyBytes>>20))
	}
	if c.JobLease < 0 || c.PortalIdleTimeout < 0 || c.LifecycleParallel < 0 {
		errs = append(errs, "job-lease, portal-idle-timeout and lifecycle-parallel must not be negative")
	}
	if c.Seed != 0 && !c.Emulator {
		errs = append(errs, "seed needs emulator mode: seeded tokens, such as those of stream URLs, are guessable")
	}
	switch c.LocalDesktop {
	case "auto", "on", "off", "":
	default:
		errs = append(errs, fmt.Sprintf("local-desktop %q: want auto, on or off", c.LocalDesktop))
	}
	if g := c.LocalDesktopCgroup; g != "" && g != "auto" && g != "off" && !filepath.IsAbs(g) {
		errs = append(errs, fmt.Sprintf("local-desktop-cgroup %q: want auto, off or an absolute cgroup v2 folder", g))
	}
	if c.LocalDesktopGeometry != "" {
		if err := local.CheckGeometry(c.LocalDesktopGeometry); err != nil {
			errs = append(errs, "local-desktop-geometry: "+err.Error())
		}
	}
	switch c.Driver {
	case "sim":
	case "local":
		if c.SharedStore() {
			errs = append(errs, "driver local keeps session volumes on this host: replicas on a shared store cannot use it")
		}
	case "kubernetes":
		if c.KubernetesConfig == "" {
			errs = append(errs, "driver kubernetes needs --kubernetes-config: the file that maps streaming images and instance types to the cluster")
		}
	default:
		errs = append(errs, fmt.Sprintf("driver %q: want sim, local or kubernetes", c.Driver))
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// Options are the collaborators tests replace.
type Options struct {
	Clock  opennimble.Clock
	IDs    opennimble.IDs
	Logger *slog.Logger
	// WrapStore, when set, wraps the store (tests inject failures with it).
	WrapStore func(opennimble.Store) opennimble.Store
	// WrapDriver, when set, wraps the workstation driver that the service
	// and its reconcilers call (tests slow or count steps with it).
	WrapDriver func(opennimble.Driver) opennimble.Driver
	// AuthClock is the clock signatures are checked against; the system
	// clock when nil. It is separate from Clock so that tests can move the
	// service's time by hours while clients still sign with the real time.
	AuthClock opennimble.Clock
	// KubeREST, when set, is how the kubernetes driver reaches its cluster,
	// in place of Config.Kubeconfig (tests).
	KubeREST *rest.Config
}

// App is a running server.
type App struct {
	Config  Config
	Store   opennimble.Store
	Service *service.Service
	// Addr is the address the server listens on.
	Addr string
	// URL is http://Addr.
	URL string
	// NewAdmin is the administrator credential created on this start, if the
	// data folder had none.
	NewAdmin *opennimble.Credential

	srv    *http.Server
	ctl    *controlState // nil when the emulator controls are off
	lock   *os.File
	cancel context.CancelFunc
	done   chan struct{}

	// closeDriver stops a driver's background work (the local driver's).
	closeDriver func() error
	driver      opennimble.Driver
	logger      *slog.Logger

	metrics    *metrics.Metrics
	metricsSrv *http.Server // nil when /metrics is on the API's listener
	pprofSrv   *http.Server // nil unless PprofListen is set
	pprofAddr  string
	worker     *lifecycle.Worker
	workerDone chan struct{}
	// jobTaker is the store, unwrapped, when it leases the jobs a
	// transaction makes due to the worker (PostgreSQL).
	jobTaker opennimble.JobTaker
	// desktops is set when stream URLs lead to desktops over VNC (the
	// local driver's); bridges are their open WebSocket connections.
	desktops bool
	bridges  *bridges
}

// DBPath is the SQLite database of a data folder.
func DBPath(dataDir string) string { return filepath.Join(dataDir, "opennimble.db") }

// AdminCredentialFile is where the first administrator credential is written.
func AdminCredentialFile(dataDir string) string { return filepath.Join(dataDir, "admin-credentials") }

// OpenStore opens the store the configuration names: the PostgreSQL
// database of a postgres:// Store, otherwise the SQLite database of the data
// folder.
func OpenStore(ctx context.Context, cfg Config) (opennimble.Store, error) {
	if cfg.SharedStore() {
		return postgres.Open(ctx, cfg.Store, postgres.Options{})
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, DBPath(cfg.DataDir), sqlite.Options{Sync: cfg.Sync})
}

// Start opens the store, starts the lifecycle and begins serving. It returns
// once the listener is bound.
func Start(ctx context.Context, cfg Config, o Options) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = opennimble.SystemClock{}
	}
	ctl := newControlState(cfg, &o)
	if o.IDs == nil {
		o.IDs = opennimble.RandomIDs{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	// The embedded store is this process's alone: the data folder's lock
	// keeps a second server away, and leases of jobs found at start were
	// held by a process that died, so its work is taken over at once. A
	// shared store has other replicas: their leases are theirs until they
	// expire.
	var lock *os.File
	if !cfg.SharedStore() {
		var err error
		if lock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		lock.Close()
		return nil, err
	}
	if sq, ok := st.(*sqlite.Store); ok {
		if n, err := sq.ReleaseLeases(ctx, o.Clock.Now()); err != nil {
			lock.Close()
			st.Close()
			return nil, err
		} else if n > 0 {
			o.Logger.Info("took over lifecycle jobs of a previous run", "jobs", n)
		}
	}
	var store opennimble.Store = st
	if o.WrapStore != nil {
		store = o.WrapStore(store)
	}
	m := newMetrics()
	if rc, ok := st.(opennimble.TxRetryCounter); ok {
		m.Register(metrics.NewCounterFunc("store_transaction_retries_total",
			"Write transactions this server started over because the database asked (PostgreSQL serialization failures and deadlocks, SQLite busy)",
			func() float64 { return float64(rc.TxRetries()) }))
	}
	store = &observedStore{Store: store, log: o.Logger, metrics: m}
	a := &App{Config: cfg, Store: store, done: make(chan struct{}), logger: o.Logger, lock: lock, ctl: ctl, metrics: m, workerDone: make(chan struct{})}
	a.jobTaker, _ = st.(opennimble.JobTaker)
	fail := func(err error) (*App, error) {
		_ = store.Close()
		_ = lock.Close()
		return nil, err
	}
	if !cfg.Emulator {
		if a.NewAdmin, err = ensureAdmin(ctx, store, cfg.DataDir, o.Clock); err != nil {
			return fail(err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fail(err)
	}
	a.Addr = ln.Addr().String()
	a.URL = "http://" + a.Addr
	public := publicBase(cfg, a.Addr, o.Logger)
	rctx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	w, svc, err := a.wire(rctx, cfg, o, public)
	if err != nil {
		cancel()
		_ = ln.Close()
		return fail(err)
	}
	a.worker = w
	a.Service = svc
	verifier := &sigv4.Verifier{
		Credentials:    &sigv4.CachedCredentials{Source: store, TTL: time.Second},
		Clock:          o.AuthClock,
		Region:         cfg.Region,
		Emulator:       cfg.Emulator,
		EmulatorAdmins: cfg.EmulatorAdmins,
	}
	// The API and the portal share one authorised handler: the portal may
	// do exactly what the API allows its signed-in principal.
	authorised := authz.New(svc, store, authz.Config{Region: cfg.Region, AccountID: cfg.AccountID})
	srv := server.New(server.Options{
		Handler:     authorised,
		Auth:        verifier,
		Logger:      o.Logger,
		Timestamps:  server.TimestampMode(cfg.Timestamps),
		RateLimit:   cfg.RateLimit,
		Hook:        ctl.hook(),
		BodyMemory:  int64(cfg.BodyMemoryMiB) << 20,
		BodyTimeout: cfg.BodyTimeout,
		Observer:    m,
	})
	a.routes(srv)
	if err := a.serveMetrics(srv, o.Logger); err != nil {
		cancel()
		_ = ln.Close()
		return fail(err)
	}
	if err := a.servePprof(o.Logger); err != nil {
		cancel()
		_ = ln.Close()
		if a.metricsSrv != nil {
			_ = a.metricsSrv.Close()
		}
		return fail(err)
	}
	a.mountPortal(srv, authorised, public, o)
	a.mountControls(srv, svc, o.Clock, o.Logger)
	a.srv, ln = httpServer(cfg, withBaseURL(srv), ln, o.Logger)
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.Logger.Error("server stopped", "error", err)
		}
	}()
	go func() { defer close(a.workerDone); w.Run(rctx) }()
	go svc.WatchDriver(rctx)
	return a, nil
}

// Close stops serving, stops the lifecycle and closes the store, giving
// requests and steps under way 5 seconds (see Shutdown).
func (a *App) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return a.Shutdown(ctx)
}

// ensureAdmin creates an administrator credential when the store has none
// (a fresh data folder, or one where only users' keys were made before the
// first start) and writes it, mode 0600, beside the database.
func ensureAdmin(ctx context.Context, st opennimble.Store, dataDir string, clock opennimble.Clock) (*opennimble.Credential, error) {
	creds, err := st.ListCredentials(ctx)
	if err != nil {
		return nil, err
	}
	if slices.ContainsFunc(creds, func(c opennimble.Credential) bool { return c.Admin }) {
		return nil, nil
	}
	// Replicas starting together on a shared store each get here: one of
	// them creates the administrator.
	c := NewCredential("admin", true, clock.Now())
	if created, err := st.PutFirstAdmin(ctx, c); err != nil || !created {
		return nil, err
	}
	body := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n# principal id: %s (administrator)\n", c.AccessKeyID, c.SecretAccessKey, c.PrincipalID)
	if err := os.WriteFile(AdminCredentialFile(dataDir), []byte(body), 0o600); err != nil {
		return nil, err
	}
	return &c, nil
}

// NewCredential makes a fresh access key for principalID.
func NewCredential(principalID string, admin bool, now time.Time) opennimble.Credential {
	return opennimble.Credential{
		AccessKeyID:     "ONAK" + opennimble.RandomString(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
		SecretAccessKey: opennimble.RandomString(40, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"),
		PrincipalID:     principalID,
		Admin:           admin,
		CreatedAt:       now,
	}
}
