package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/app"
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "opennimble",
		Short:         "An open, self-hostable server for the Amazon Nimble Studio API (nimble 2020-08-01)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	backups := newBackups()
	configFlag(backups.PersistentFlags(), new(string))
	root.AddCommand(newServe(), newCredentials(), newVersion(), newProbe(), backups, newModel(), newSessionLog())
	setVersion(root)
	return root
}

// storeFlags are the flags every command that opens the data folder has.
func storeFlags(fs *pflag.FlagSet, cfg *app.Config, configFile *string) {
	configFlag(fs, configFile)
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "data folder: the SQLite database, the first administrator credential, session volumes")
	fs.StringVar(&cfg.Sync, "sync", cfg.Sync, "SQLite durability: full (survives power loss) or normal (survives a crash of the process)")
	fs.StringVar(&cfg.Store, "store", cfg.Store, "where state is kept: sqlite (the data folder's database) or a postgres://user:password@host/db URL, which any number of replicas may share")
}

func newServe() *cobra.Command {
	cfg := app.Defaults()
	var configFile, logLevel, logFormat string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server",
		Long: `Run the server. Every flag can also be set with an environment variable
(OPENNIMBLE_ and the flag name in upper case with underscores, e.g.
OPENNIMBLE_DATA_DIR) or in a TOML file given with --config. Precedence:
flags, then environment, then file, then defaults.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := resolve(cmd.Flags(), configFile); err != nil {
				return err
			}
			logger, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			if n, raised := atLeastTwoProcs(); raised {
				logger.Debug("GOMAXPROCS raised to 2 on a single CPU, so that a goroutine waiting on the disk does not hold up the others", "was", n)
			}
			if gcPercent() {
				logger.Debug("GOGC set to 200", "why", "the live heap is small and most of it short-lived; collecting half as often saves about a fifth of the CPU of a stop/backup/start cycle")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			a, err := app.Start(ctx, cfg, app.Options{Logger: logger})
			if err != nil {
				return err
			}
			if a.NewAdmin != nil {
				announceAdmin(logger, cfg.DataDir, a.NewAdmin)
			}
			mode := "authenticated"
			if cfg.Emulator {
				mode = "emulator (any well-formed signature; the access key id is the principal)"
			}
			logger.Info("opennimble serving", "url", a.URL, "data_dir", cfg.DataDir, "mode", mode, "region", cfg.Region, "driver", cfg.Driver,
				"controls", cfg.ControlsEnabled(), "seed", cfg.Seed)
			<-ctx.Done()
			stop() // a second signal ends the process at once
			logger.Info("signal received: shutting down", "timeout", cfg.ShutdownTimeout)
			sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			return a.Shutdown(sctx)
		},
	}
	fs := cmd.Flags()
	storeFlags(fs, &cfg, &configFile)
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on")
	fs.BoolVar(&cfg.Emulator, "emulator", cfg.Emulator, "emulator mode: accept any well-formed SigV4 signature and take the access key id as the principal id")
	fs.StringSliceVar(&cfg.EmulatorAdmins, "emulator-admins", cfg.EmulatorAdmins, "access key ids that are administrators in emulator mode")
	fs.StringVar(&cfg.Region, "region", cfg.Region, "region of this endpoint (ARNs, SigV4 credential scope)")
	fs.StringVar(&cfg.AccountID, "account-id", cfg.AccountID, "twelve-digit account id of ARNs")
	fs.DurationVar(&cfg.TransitionDelay, "transition-delay", cfg.TransitionDelay, "how long CREATE/UPDATE/DELETE_IN_PROGRESS states last (0: complete at once, in the background)")
	fs.DurationVar(&cfg.DeletedRetention, "deleted-retention", cfg.DeletedRetention, "how long a DELETED resource still answers Get before it is purged")
	fs.DurationVar(&cfg.ClientTokenRetention, "client-token-retention", cfg.ClientTokenRetention, "how long a client token is remembered: a retry within it gets the first answer, a request after it is new")
	fs.StringVar(&cfg.Timestamps, "timestamps", cfg.Timestamps, "timestamp format of responses: auto (epoch seconds for paws, ISO 8601 otherwise), iso8601 or epoch")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", cfg.RateLimit, "requests per second allowed per principal before ThrottlingException (0: unlimited)")
	fs.IntVar(&cfg.MaxConnections, "max-connections", cfg.MaxConnections, "most open client connections; past nine tenths of it idle keep-alive connections are closed, oldest first, to serve new clients (0: 4096, less under a low descriptor limit)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "close a keep-alive connection idle this long")
	fs.DurationVar(&cfg.BodyTimeout, "body-timeout", cfg.BodyTimeout, "how long a request body may take to arrive once its headers have")
	fs.IntVar(&cfg.BodyMemoryMiB, "body-memory-mib", cfg.BodyMemoryMiB, "MiB that request bodies being received may hold at once, all connections together; past it, ThrottlingException (which SDKs retry)")
	fs.StringVar(&cfg.PublicURL, "public-url", cfg.PublicURL, "base URL clients reach this server at, for stream and portal URLs (default http://<listen>)")
	fs.StringVar(&cfg.Driver, "driver", cfg.Driver, "workstation driver: sim (simulated workstations), local (session volumes as directories in <data-dir>/volumes, backups in <data-dir>/backups) or kubernetes (Pods, PersistentVolumeClaims and VolumeSnapshots; see --kubernetes-config)")
	fs.StringSliceVar(&cfg.LocalImageRoots, "local-image-roots", cfg.LocalImageRoots, "with --driver local: directories a streaming image's opennimble:source may name (default <data-dir>/images)")
	fs.DurationVar(&cfg.LocalIODelay, "local-io-delay", cfg.LocalIODelay, "with --driver local: slow every backup chunk write, read and delete by this long (crash tests)")
	_ = fs.MarkHidden("local-io-delay")
	addBackupFlags(fs, &cfg.Backup)
	fs.StringVar(&cfg.LocalDesktop, "local-desktop", cfg.LocalDesktop, "with --driver local: make every running session a desktop in a bubblewrap sandbox, streamed to the browser at its stream URL: on, off, or auto (on when the server runs as root and bwrap, Xvnc, openbox, xterm and xdpyinfo are installed)")
	fs.IntVar(&cfg.LocalDesktopUIDBase, "local-desktop-uid-base", cfg.LocalDesktopUIDBase, "with --local-desktop: the first uid desktops run as; every session gets the next free one (0: 200000)")
	fs.StringSliceVar(&cfg.LocalSharedRoots, "local-shared-roots", cfg.LocalSharedRoots, "with --local-desktop: host folders in which SHARED_FILE_SYSTEM studio components may name their endpoint (none: such components are refused)")
	fs.StringVar(&cfg.LocalDesktopCgroup, "local-desktop-cgroup", cfg.LocalDesktopCgroup, "with --local-desktop: how desktops' memory and processes are limited: auto (a cgroup v2 per desktop with memory.max and pids.max, under the server's own cgroup when it is delegated to the server; else rlimits), off (rlimits: RLIMIT_AS, RLIMIT_NPROC), or the delegated cgroup v2 folder to put them under")
	fs.StringVar(&cfg.LocalDesktopGeometry, "local-desktop-geometry", cfg.LocalDesktopGeometry, "with --local-desktop: every desktop's screen, WIDTHxHEIGHT or WIDTHxHEIGHTxDEPTH with depth 16 or 24 (empty: 1280x800x24; depth 16 halves the framebuffer's memory)")
	fs.StringVar(&cfg.NoVNCDir, "novnc-dir", cfg.NoVNCDir, "folder of noVNC's web client, served at the stream URLs of desktops (Debian package novnc)")
	fs.StringVar(&cfg.KubernetesConfig, "kubernetes-config", cfg.KubernetesConfig, "with --driver kubernetes: the driver's YAML configuration (namespaces, storage and snapshot classes, images and instance types; see deploy/kubernetes)")
	fs.StringVar(&cfg.Kubeconfig, "kubeconfig", cfg.Kubeconfig, "with --driver kubernetes: kubeconfig of the cluster (default $KUBECONFIG, else the in-cluster service account, else ~/.kube/config)")
	fs.StringVar(&cfg.SimDir, "sim-dir", cfg.SimDir, "folder of the simulated workstations (default <data-dir>/sim); replicas on one PostgreSQL store must share it")
	fs.DurationVar(&cfg.JobLease, "job-lease", cfg.JobLease, "how long a claimed lifecycle job is this server's, and so how long a killed replica's work waits for another (0: 15s with PostgreSQL, 1m with SQLite)")
	fs.IntVar(&cfg.LifecycleParallel, "lifecycle-parallel", cfg.LifecycleParallel, "how many lifecycle reconciles (the steps that move sessions, backups and other resources on) run at once; each mostly waits for the store or the driver")
	fs.DurationVar(&cfg.PortalIdleTimeout, "portal-idle-timeout", cfg.PortalIdleTimeout, "sign a studio portal user out after this long without a request")
	fs.DurationVar(&cfg.SimStepDuration, "sim-step-duration", cfg.SimStepDuration, "how long each step of the simulated driver takes (provision, stop, start, snapshot, restore, ...)")
	fs.IntVar(&cfg.PageSize, "page-size", cfg.PageSize, "items per page of list operations that have no maxResults (and the default where they have one)")
	fs.BoolVar(&cfg.Controls, "controls", cfg.Controls, "serve the emulator controls under /_nimble/ (reset, transitions, faults, state) to administrators; always on with --emulator")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "with --emulator: draw ids, tokens and the pagination key from this seed, so that runs are reproducible (0: random)")
	fs.IntVar(&cfg.Quotas.Studios, "quota-studios", 0, "most studios in the account (0: 1000)")
	fs.IntVar(&cfg.Quotas.StudioComponentsPerStudio, "quota-studio-components", 0, "most studio components per studio (0: 1000)")
	fs.IntVar(&cfg.Quotas.LaunchProfilesPerStudio, "quota-launch-profiles", 0, "most launch profiles per studio (0: 1000)")
	fs.IntVar(&cfg.Quotas.StreamingImagesPerStudio, "quota-streaming-images", 0, "most streaming images per studio (0: 1000)")
	fs.IntVar(&cfg.Quotas.SessionsPerStudio, "quota-streaming-sessions", 0, "most streaming sessions (not deleted) per studio (0: 1000)")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", cfg.MetricsListen, "serve /metrics (Prometheus) on this address instead of on --listen, e.g. to keep it on a network only Prometheus reaches")
	fs.StringVar(&cfg.PprofListen, "pprof-listen", cfg.PprofListen, "serve Go's profiler (/debug/pprof/) on this address, never on --listen; off when empty (e.g. 127.0.0.1:6060, for profiling only)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "on SIGTERM or SIGINT, how long requests in flight and running lifecycle steps get to finish before they are cut off (steps are handed back)")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log-level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("log-format %q: want text or json", format)
}

func newCredentials() *cobra.Command {
	cfg := app.Defaults()
	var configFile string
	cmd := &cobra.Command{
		Use:   "credentials",
		Short: "Manage the access keys of a data folder (works while the server runs)",
	}
	cmd.PersistentFlags().AddFlagSet(func() *pflag.FlagSet {
		fs := pflag.NewFlagSet("store", pflag.ContinueOnError)
		storeFlags(fs, &cfg, &configFile)
		return fs
	}())
	// open resolves the configuration and opens the data folder's store.
	open := func(cmd *cobra.Command) (opennimble.Store, error) {
		if err := resolve(cmd.Flags(), configFile); err != nil {
			return nil, err
		}
		if err := requireData(cfg); err != nil {
			return nil, err
		}
		return app.OpenStore(cmd.Context(), cfg)
	}
	var principal string
	var admin bool
	create := &cobra.Command{
		Use:   "create --principal-id ID [--admin]",
		Short: "Create an access key for a principal and print it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if principal == "" {
				return fmt.Errorf("--principal-id is required")
			}
			if err := opennimble.ValidatePrincipalID(principal); err != nil {
				return fmt.Errorf("--principal-id: %w", err)
			}
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			cred := app.NewCredential(principal, admin, time.Now().UTC())
			if err := st.PutCredential(cmd.Context(), cred); err != nil {
				return err
			}
			fmt.Printf("aws_access_key_id     = %s\naws_secret_access_key = %s\nprincipal_id          = %s\nadmin                 = %v\n", cred.AccessKeyID, cred.SecretAccessKey, cred.PrincipalID, cred.Admin)
			return nil
		},
	}
	create.Flags().StringVar(&principal, "principal-id", "", "the principal the key authenticates (what ownedBy, createdBy and memberships name)")
	create.Flags().BoolVar(&admin, "admin", false, "make the principal an account administrator")
	list := &cobra.Command{
		Use:   "list",
		Short: "List access keys (secrets are not shown)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			creds, err := st.ListCredentials(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCESS KEY ID\tPRINCIPAL ID\tADMIN\tCREATED")
			for _, cr := range creds {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", cr.AccessKeyID, cr.PrincipalID, cr.Admin, cr.CreatedAt.UTC().Format(time.RFC3339))
			}
			return tw.Flush()
		},
	}
	del := &cobra.Command{
		Use:   "delete ACCESS_KEY_ID",
		Short: "Delete an access key; requests signed with it are refused from then on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.DeleteCredential(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("delete %s: %w", args[0], err)
			}
			fmt.Printf("deleted %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}

// atLeastTwoProcs gives the Go scheduler two Ps when it has one (a single
// CPU, a taskset or a cgroup limit of one) and GOMAXPROCS was not set. The
// server blocks in system calls that wait for the disk (fdatasync of the
// WAL, the simulated workstations' log): with one P, a goroutine blocked so
// holds it until the runtime's monitor takes it back, while requests and
// lifecycle steps that are ready wait. nimblebench -pin (server on one core)
// measured 187 stop/backup/start cycles a second with one P and 360 with two.
func atLeastTwoProcs() (was int, raised bool) {
	was = runtime.GOMAXPROCS(0)
	if was >= 2 || os.Getenv("GOMAXPROCS") != "" {
		return was, false
	}
	runtime.GOMAXPROCS(2)
	return was, true
}

// defaultGCPercent is the GOGC the server runs with unless GOGC is set. Its
// live heap is small (tens of MB even with a million backups) and nearly
// every allocation dies with its request or lifecycle step, so the default
// of 100 collects very often: nimblebench -quick measured 2.5 ms of CPU per
// stop/backup/start cycle with 100, 2.1 with 200 and 2.0 with 400, for 15,
// 20 and 30 MiB of anonymous memory. 200 takes most of the gain for a
// third more memory.
const defaultGCPercent = 200

// gcPercent sets defaultGCPercent unless GOGC was set, and reports whether
// it did.
func gcPercent() bool {
	if os.Getenv("GOGC") != "" {
		return false
	}
	debug.SetGCPercent(defaultGCPercent)
	return true
}
