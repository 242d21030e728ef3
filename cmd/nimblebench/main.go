// Command nimblebench measures opennimble as its users would meet it: it
// builds the server, runs it as a separate process on 127.0.0.1 in fresh
// data folders, loads it with a lean HTTP/1.1 generator and prints a table
// and one "RESULT <name> <value>" line per figure. Every figure that has a
// goal is a ratio against a baseline measured in the same run, or an
// absolute the issue fixes (p99, memory, startup).
//
//	go run ./cmd/nimblebench -quick   # under two minutes
//	go run ./cmd/nimblebench          # the full size (1,000,000 backups)
//	go run ./cmd/nimblebench -quick -pin -profile -keep
//	                                  # also pinned; and a CPU profile kept
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/opennimble/opennimble/internal/bench"
	"github.com/opennimble/opennimble/internal/pgtest"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "baseline" {
		baseline(os.Args[2:])
		return
	}
	quick := flag.Bool("quick", false, "the everyday size: 100,000 backups and short load phases")
	keep := flag.Bool("keep", false, "keep the work folder")
	store := flag.String("store", "sqlite", "sqlite, or postgres: also measure stop_backup_cycles_per_s on a throwaway PostgreSQL cluster with one and three replicas")
	pin := flag.Bool("pin", false, "also measure stop_backup_cycles_per_s with the server on one core and the load generator on another (taskset), printed as stop_backup_cycles_per_s_pinned beside the unpinned figure")
	profile := flag.Bool("profile", false, "take CPU profiles of the server over its --pprof-listen into the work folder: reads-cpu.pprof (the first GetStreamingSessionBackup round), reads-allocs.pprof (allocations over the reads), cycles-cpu.pprof and cycles-pinned-cpu.pprof (the first replica; pg1-cpu.pprof, pg3-cpu.pprof with -store postgres); with -keep they stay")
	sessions := flag.Int("sessions", 0, "sessions cycling in parallel in the cycles phases (64, or 32 with -quick, when 0)")
	cyclesOnly := flag.Bool("cycles-only", false, "measure only the stop/backup/start cycles (and the write path), not the read figures")
	serverFlags := flag.String("server-flags", "", "extra flags for every opennimble server the benchmark starts, space separated (e.g. \"--sync normal\")")
	flag.Parse()
	if err := run(*quick, *keep, *store, *pin, *profile, *sessions, *cyclesOnly, *serverFlags); err != nil {
		fmt.Fprintln(os.Stderr, "nimblebench:", err)
		os.Exit(1)
	}
}

func run(quick, keep bool, store string, pin, profile bool, sessions int, cyclesOnly bool, serverFlags string) error {
	dir, err := os.MkdirTemp("", "nimblebench")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	} else {
		fmt.Fprintln(os.Stderr, "# work folder:", dir)
	}
	o := bench.Defaults(quick)
	o.Dir = dir
	o.Pin, o.Profile, o.CyclesOnly = pin, profile, cyclesOnly
	o.ServerFlags = strings.Fields(serverFlags)
	if sessions > 0 {
		o.Sessions = sessions
	}
	o.Bin = filepath.Join(dir, "opennimble")
	if o.Self, err = os.Executable(); err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "# building opennimble")
	build := exec.Command("go", "build", "-o", o.Bin, "./cmd/opennimble")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/opennimble (run nimblebench from the repository root): %w", err)
	}
	switch store {
	case "sqlite":
	case "postgres":
		pg, err := pgtest.NewWith(pgtest.Options{Durable: true})
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		defer pg.Stop()
		o.Postgres = "throwaway cluster"
		o.NewDatabase, o.DatabasePid = pg.NewDatabase, pg.Pid()
	default:
		return fmt.Errorf("-store %q: want sqlite or postgres", store)
	}
	return bench.Run(context.Background(), o, os.Stdout)
}

// baseline serves the same response bytes from a bare net/http handler: the
// ceiling any server on this machine, with this generator, can reach.
func baseline(args []string) {
	fs := flag.NewFlagSet("baseline", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	bodyFile := fs.String("body", "", "response body")
	_ = fs.Parse(args)
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body)
	})
	if err := http.ListenAndServe(*listen, h); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
