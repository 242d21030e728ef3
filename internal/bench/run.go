package bench

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	"github.com/aws/aws-sdk-go/service/nimblestudio"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/internal/fixture"
	"github.com/opennimble/opennimble/service"
)

// Options size a run.
type Options struct {
	Bin      string // the opennimble binary
	Self     string // this benchmark binary, for the baseline server
	Dir      string // a fresh work folder
	Quick    bool
	Conns    int
	Duration time.Duration // of each load phase
	Big      int           // backups in the large store
	Small    int           // backups in the small store
	Sessions int           // sessions cycling in parallel
	Log      io.Writer
	// Postgres, when set, also measures the cycles on PostgreSQL with one
	// and with three replicas; NewDatabase makes a fresh database URL.
	Postgres    string
	NewDatabase func(ctx context.Context) (string, error)
	// DatabasePid is the PostgreSQL postmaster's process id, for the
	// processor time the database spends on a cycle.
	DatabasePid int
	// Pin also measures the cycles with the server on one core and the
	// load generator on another (taskset).
	Pin bool
	// Profile takes a CPU profile of the server through the cycles phase
	// into Dir (cycles-cpu.pprof), over its --pprof-listen.
	Profile bool
	// CyclesOnly skips the read figures (GetStreamingSessionBackup,
	// ListStreamingSessionBackups, RSS and startup with many backups).
	CyclesOnly bool
	// ServerFlags are given to every server started.
	ServerFlags []string

	pin *Pinning // set while a pinned phase runs
}

func (o Options) newDatabase(ctx context.Context) (string, error) { return o.NewDatabase(ctx) }

// Defaults returns the full or the quick size.
func Defaults(quick bool) Options {
	o := Options{Conns: 64, Duration: 10 * time.Second, Big: 1_000_000, Small: 1000, Sessions: 64, Log: os.Stderr}
	if quick {
		o.Quick = true
		o.Duration = 3 * time.Second
		o.Big = 100_000
		o.Sessions = 32
	}
	return o
}

// Figure is one measured number with its goal.
type Figure struct {
	Name  string
	Value float64
	Unit  string
	Goal  string
	Met   bool
}

type store struct {
	dir, studio, session, lp, backup string
	akid, secret                     string
}

func (o Options) logf(format string, args ...any) { fmt.Fprintf(o.Log, "# "+format+"\n", args...) }

// Run measures every figure and writes the table and RESULT lines to out.
func Run(ctx context.Context, o Options, out io.Writer) error {
	var figs []Figure
	var err error
	add := func(name string, v float64, unit, goal string, met bool) {
		figs = append(figs, Figure{Name: name, Value: v, Unit: unit, Goal: goal, Met: met})
	}

	var base *Proc
	if o.CyclesOnly {
		// The write path's baseline answers with a body of a session's
		// size.
		base, err = o.baseline([]byte(`{"session":{"state":"STOP_IN_PROGRESS"}}` + strings.Repeat(" ", 900)))
	} else {
		base, err = o.reads(ctx, add)
	}
	if err != nil {
		return err
	}
	defer base.Stop()
	baseAddr := base.Addr

	// 4: stop → backup READY → STOPPED → start → READY cycles, and the
	// write path (Stop, Start) against the baseline.
	cy, err := o.cycles(ctx, cycleRun{name: "cycles", replicas: 1, profile: o.Profile})
	if err != nil {
		return err
	}
	add("stop_backup_cycles_per_s", cy.rate, "cycles/s", ">= 1000", cy.rate >= 1000)
	add("store_writes_per_cycle", cy.writesPerCycle, "tx", "", true)
	add("server_cpu_ms_per_cycle", millis(cy.cpuPerCycle), "ms", "", true)
	add("server_write_calls_per_cycle", cy.writeCallsPerCycle, "calls", "", true)
	baseWrite, err := ClosedLoop(baseAddr, cy.baseStop(baseAddr), o.Conns, o.Duration)
	if err != nil {
		return err
	}
	wr := cy.write.RPS() / baseWrite.RPS()
	o.logf("write path: %d Stop/Start requests, mean %.2f ms over %d connections = %.0f req/s; bare net/http %.0f req/s",
		cy.write.Writes, cy.write.Busy.Seconds()*1000/float64(max(cy.write.Writes, 1)), cy.write.Conns, cy.write.RPS(), baseWrite.RPS())
	add("api_write_rps", cy.write.RPS(), "req/s", "", true)
	add("api_write_rps_ratio", wr, "", "", true)
	if o.Pin {
		pin, err := Pin()
		if err != nil {
			return err
		}
		o.logf("pinned: server on CPU %d, load generator on CPU %d", pin.Server, pin.Client)
		o.pin = pin
		pc, err := o.cycles(ctx, cycleRun{name: "cycles-pinned", replicas: 1, profile: o.Profile})
		o.pin = nil
		if uerr := pin.Unpin(); err == nil {
			err = uerr
		}
		if err != nil {
			return err
		}
		add("stop_backup_cycles_per_s_pinned", pc.rate, "cycles/s", ">= 1000", pc.rate >= 1000)
	}
	if o.Postgres != "" {
		simDir := filepath.Join(o.Dir, "pg-sim")
		var one float64
		for _, n := range []int{1, 3} {
			db, err := o.newDatabase(ctx)
			if err != nil {
				return err
			}
			c, err := o.cycles(ctx, cycleRun{name: fmt.Sprintf("pg%d", n), replicas: n, profile: o.Profile, extra: []string{"--store", db, "--sim-dir", fmt.Sprintf("%s-%d", simDir, n)}})
			if err != nil {
				return err
			}
			if n == 1 {
				one = c.rate
				add("stop_backup_cycles_per_s_postgres_1_replica", c.rate, "cycles/s", ">= 500", c.rate >= 500)
				// What a cycle costs the two processes that share the
				// machine's cores with the load generator: at 500 cycles a
				// second their sum must fit in the cores the generator
				// leaves.
				add("server_cpu_ms_per_cycle_postgres_1_replica", millis(c.cpuPerCycle), "ms", "", true)
				add("postgres_cpu_ms_per_cycle_1_replica", millis(c.dbCPUPerCycle), "ms", "", true)
				continue
			}
			add(fmt.Sprintf("stop_backup_cycles_per_s_postgres_%d_replica", n), c.rate, "cycles/s", ">= 1 replica's", c.rate >= one)
		}
	}

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\tunit\tgoal\tmet")
	for _, f := range figs {
		met := "yes"
		if f.Goal == "" {
			met = ""
		} else if !f.Met {
			met = "NO"
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%s\t%s\t%s\n", f.Name, f.Value, f.Unit, f.Goal, met)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range figs {
		fmt.Fprintf(out, "RESULT %s %.3f\n", f.Name, f.Value)
	}
	return nil
}

// reads measures the read figures and leaves the baseline server running
// at baseAddr, for the write path's figure.
func (o Options) reads(ctx context.Context, add func(name string, v float64, unit, goal string, met bool)) (base *Proc, err error) {
	small, err := o.prepare(ctx, "small", o.Small)
	if err != nil {
		return nil, err
	}
	big, err := o.prepare(ctx, "big", o.Big)
	if err != nil {
		return nil, err
	}

	// 1, 2, 3 (small side): GetStreamingSessionBackup against the baseline.
	var pprofAddr string
	var extra []string
	if o.Profile {
		if pprofAddr, err = FreeAddr(); err != nil {
			return nil, err
		}
		extra = []string{"--pprof-listen", pprofAddr}
	}
	p, err := o.serve(small.dir, extra...)
	if err != nil {
		return nil, err
	}
	get, err := Signed(p.Addr, "/2020-08-01/studios/"+small.studio+"/streaming-session-backups/"+small.backup, small.akid, small.secret, "us-west-2")
	if err != nil {
		return nil, err
	}
	if _, err := p.WaitFor(get, 30*time.Second); err != nil {
		return nil, err
	}
	status, body, err := Fetch(p.Addr, get)
	if err != nil || status != 200 {
		return nil, fmt.Errorf("GetStreamingSessionBackup: %d %v %s", status, err, body)
	}
	base, err = o.baseline(body)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			base.Stop()
		}
	}()
	baseAddr := base.Addr
	baseReq := []byte(strings.Replace(string(get), p.Addr, baseAddr, 1))
	if _, err := base.WaitFor(baseReq, 10*time.Second); err != nil {
		return nil, err
	}
	o.logf("warming up")
	if _, err := ClosedLoop(p.Addr, get, o.Conns, time.Second); err != nil {
		return nil, err
	}
	if _, err := ClosedLoop(baseAddr, baseReq, o.Conns, time.Second); err != nil {
		return nil, err
	}
	var srvRPS, baseRPS []float64
	for i := 0; i < 2; i++ {
		profiled := make(chan error, 1)
		if i == 0 && pprofAddr != "" {
			go func() { profiled <- o.profile(pprofAddr, filepath.Join(o.Dir, "reads-cpu.pprof")) }()
		} else {
			profiled <- nil
		}
		r, err := ClosedLoop(p.Addr, get, o.Conns, o.Duration)
		if err != nil {
			return nil, err
		}
		if err := <-profiled; err != nil {
			return nil, err
		}
		if r.Errors > 0 {
			return nil, fmt.Errorf("%d of %d GetStreamingSessionBackup requests failed", r.Errors, r.Requests)
		}
		srvRPS = append(srvRPS, r.RPS())
		b, err := ClosedLoop(baseAddr, baseReq, o.Conns, o.Duration)
		if err != nil {
			return nil, err
		}
		baseRPS = append(baseRPS, b.RPS())
		o.logf("round %d: opennimble %.0f req/s, bare net/http %.0f req/s", i+1, r.RPS(), b.RPS())
	}
	if pprofAddr != "" {
		// Allocations since the start: mostly the GetStreamingSessionBackup rounds.
		if err := o.fetchProfile("http://"+pprofAddr+"/debug/pprof/allocs", "allocation profile", filepath.Join(o.Dir, "reads-allocs.pprof")); err != nil {
			return nil, err
		}
	}
	rps, brps := mean(srvRPS), mean(baseRPS)
	add("get_backup_rps", rps, "req/s", "", true)
	add("baseline_rps", brps, "req/s", "", true)
	add("get_backup_rps_ratio", rps/brps, "", ">= 0.7", rps/brps >= 0.7)

	gc0, err := Scrape(p.Addr)
	if err != nil {
		return nil, err
	}
	cpu0, err := MachineCPU()
	if err != nil {
		return nil, err
	}
	half, baseHalf, err := o.tails(p.Addr, get, baseAddr, baseReq, rps/2, "")
	if err != nil {
		return nil, err
	}
	cpu1, err := MachineCPU()
	if err != nil {
		return nil, err
	}
	gc1, err := Scrape(p.Addr)
	if err != nil {
		return nil, err
	}
	busy, steal := cpu1.Since(cpu0)
	o.logf("at half load: %.0f garbage collections a second, %.1f KiB allocated a request; the machine's CPUs %.0f%% busy, %.1f%% stolen by the hypervisor",
		(gc1.GCs-gc0.GCs)/half.Duration.Seconds(), (gc1.Allocated-gc0.Allocated)/1024/float64(max(half.Requests, 1)), busy, steal)
	// Time the hypervisor gives the virtual CPUs to others comes in slices
	// of milliseconds: at a few percent it is the tail, server or not.
	add("machine_cpu_steal_pct_half_load", steal, "%", "", true)
	p99 := millis(half.Percentile(99))
	add("get_backup_p99_ms", p99, "ms", "<= 3", p99 <= 3)
	add("baseline_p99_ms", millis(baseHalf.Percentile(99)), "ms", "", true)
	if o.Pin {
		if err := o.pinnedTail(p, get, base, baseReq, add); err != nil {
			return nil, err
		}
	}

	listSmall, err := o.listPage(p.Addr, small)
	if err != nil {
		return nil, err
	}
	p.Stop()

	// 3, 5 (large side).
	p, err = o.serve(big.dir)
	if err != nil {
		return nil, err
	}
	getBig, err := Signed(p.Addr, "/2020-08-01/studios/"+big.studio+"/streaming-session-backups/"+big.backup, big.akid, big.secret, "us-west-2")
	if err != nil {
		return nil, err
	}
	startup, err := p.WaitFor(getBig, 60*time.Second)
	if err != nil {
		return nil, err
	}
	listBig, err := o.listPage(p.Addr, big)
	if err != nil {
		return nil, err
	}
	if _, err := ClosedLoop(p.Addr, getBig, o.Conns, o.Duration/2); err != nil {
		return nil, err
	}
	rss, err := p.RSS()
	if err != nil {
		return nil, err
	}
	anon, err := p.RSSAnon()
	if err != nil {
		return nil, err
	}
	p.Stop()
	ratio := float64(listBig) / float64(listSmall)
	add("list_backups_page_ms_small", float64(listSmall.Microseconds())/1000, "ms", "", true)
	add("list_backups_page_ms_big", float64(listBig.Microseconds())/1000, "ms", "", true)
	add("list_backups_scale_ratio", ratio, "", "<= 2", ratio <= 2)
	rssMiB := float64(rss) / (1 << 20)
	rssGoal := 100.0 // MiB; 50 for the full size's 1M backups
	if o.Big >= 1_000_000 {
		rssGoal = 50
	}
	add(fmt.Sprintf("rss_mib_%s_backups", count(o.Big)), rssMiB, "MiB", fmt.Sprintf("<= %.0f", rssGoal), rssMiB <= rssGoal)
	add(fmt.Sprintf("rss_anon_mib_%s_backups", count(o.Big)), float64(anon)/(1<<20), "MiB", "", true)
	ms := float64(startup.Microseconds()) / 1000
	add(fmt.Sprintf("startup_ms_%s_backups", count(o.Big)), ms, "ms", "<= 1000", ms <= 1000)

	return base, nil
}

// pinnedTail measures the half-load tail again with the server on one core
// and the load generator on the other (-pin): the server's own queueing,
// without the scheduler's sharing of both cores among the server's, the
// generator's and the kernel's threads. The rate is half of what the pinned
// server answers flat out; the bare net/http server, on the same core, gets
// the same rate.
func (o Options) pinnedTail(p *Proc, get []byte, base *Proc, baseReq []byte, add func(name string, v float64, unit, goal string, met bool)) (err error) {
	pin, err := Pin()
	if err != nil {
		return err
	}
	defer func() {
		for _, e := range []error{pin.Release(p.Pid()), pin.Release(base.Pid()), pin.Unpin()} {
			if err == nil {
				err = e
			}
		}
	}()
	if err := pin.Move(p.Pid()); err != nil {
		return err
	}
	if err := pin.Move(base.Pid()); err != nil {
		return err
	}
	full, err := ClosedLoop(p.Addr, get, o.Conns, o.Duration)
	if err != nil {
		return err
	}
	half, baseHalf, err := o.tails(p.Addr, get, base.Addr, baseReq, full.RPS()/2,
		fmt.Sprintf("pinned (server on CPU %d, load generator on CPU %d), ", pin.Server, pin.Client))
	if err != nil {
		return err
	}
	p99 := millis(half.Percentile(99))
	add("get_backup_p99_ms_pinned", p99, "ms", "<= 3", p99 <= 3)
	add("baseline_p99_ms_pinned", millis(baseHalf.Percentile(99)), "ms", "", true)
	return nil
}

// tails sends req to addr, then baseReq to the bare net/http server at
// baseAddr, each open-loop at rate, and logs the latencies of both: the
// bare server's is the part of the tail that the machine and the load
// generator add whatever the server does.
func (o Options) tails(addr string, req []byte, baseAddr string, baseReq []byte, rate float64, how string) (srv, base Result, err error) {
	if srv, err = OpenLoop(addr, req, o.Conns, rate, o.Duration); err != nil {
		return srv, base, err
	}
	if base, err = OpenLoop(baseAddr, baseReq, o.Conns, rate, o.Duration); err != nil {
		return srv, base, err
	}
	o.logf("%sat %.0f req/s: opennimble p50 %v p90 %v p99 %v p99.9 %v; bare net/http p50 %v p90 %v p99 %v p99.9 %v", how, rate,
		srv.Percentile(50), srv.Percentile(90), srv.Percentile(99), srv.Percentile(99.9),
		base.Percentile(50), base.Percentile(90), base.Percentile(99), base.Percentile(99.9))
	return srv, base, nil
}

// baseline starts the bare net/http server that answers every request with
// body, and waits until it answers.
func (o Options) baseline(body []byte) (*Proc, error) {
	file := filepath.Join(o.Dir, "baseline.json")
	if err := os.WriteFile(file, body, 0o600); err != nil {
		return nil, err
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	p, err := Start(o.Self, "baseline", "--listen", addr, "--body", file)
	if err != nil {
		return nil, err
	}
	if _, err := p.WaitFor([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 10*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dm", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// serve starts the server on dir in authenticated mode.
func (o Options) serve(dir string, extra ...string) (*Proc, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--listen", addr, "--data-dir", dir, "--log-level", "error"}, o.ServerFlags...)
	args = append(args, extra...)
	bin, args := o.pin.Command(o.Bin, args)
	return Start(bin, args...)
}

var credRE = regexp.MustCompile(`aws_access_key_id = (\S+)\naws_secret_access_key = (\S+)`)

func readAdmin(dir string) (string, string, error) {
	b, err := os.ReadFile(app.AdminCredentialFile(dir))
	if err != nil {
		return "", "", err
	}
	m := credRE.FindSubmatch(b)
	if m == nil {
		return "", "", fmt.Errorf("no credential in %s", app.AdminCredentialFile(dir))
	}
	return string(m[1]), string(m[2]), nil
}

func client(addr, akid, secret string) *nimblestudio.NimbleStudio {
	return nimblestudio.New(session.Must(session.NewSession(&aws.Config{
		Region: aws.String("us-west-2"), Endpoint: aws.String("http://" + addr),
		Credentials: credentials.NewStaticCredentials(akid, secret, ""), MaxRetries: aws.Int(3),
	})))
}

// prepare makes a data folder with a studio, a session and n backups of it,
// the backups written through the store's interface.
func (o Options) prepare(ctx context.Context, name string, n int) (*store, error) {
	s := &store{dir: filepath.Join(o.Dir, name)}
	p, err := o.serve(s.dir)
	if err != nil {
		return nil, err
	}
	defer p.Stop()
	health := []byte("GET /_nimble/health HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := p.WaitFor(health, 30*time.Second); err != nil {
		return nil, err
	}
	if s.akid, s.secret, err = readAdmin(s.dir); err != nil {
		return nil, err
	}
	c := client(p.Addr, s.akid, s.secret)
	pr, err := fixture.Make(ctx, c, "bench"+name, fixture.WithBackups(10))
	if err != nil {
		return nil, err
	}
	out, err := c.CreateStreamingSessionWithContext(ctx, &nimblestudio.CreateStreamingSessionInput{StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile})
	if err != nil {
		return nil, err
	}
	s.studio, s.lp, s.session = pr.Studio, pr.LaunchProfile, *out.Session.SessionId
	p.Stop()

	o.logf("seeding %d backups into %s", n, s.dir)
	t0 := time.Now()
	st, err := app.OpenStore(ctx, app.Config{DataDir: s.dir, Sync: "normal"})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	ids, err := service.SeedBackups(ctx, st, service.Config{Region: "us-west-2", AccountID: "000000000000"}, opennimble.RandomIDs{},
		s.studio, s.session, s.lp, "admin", n, 20000)
	if err != nil {
		return nil, err
	}
	s.backup = ids[len(ids)/2]
	o.logf("seeded in %v", time.Since(t0).Round(time.Millisecond))
	return s, nil
}

// listPage returns the median time of the first page of
// ListStreamingSessionBackups, over sequential requests.
func (o Options) listPage(addr string, s *store) (time.Duration, error) {
	req, err := Signed(addr, "/2020-08-01/studios/"+s.studio+"/streaming-session-backups", s.akid, s.secret, "us-west-2")
	if err != nil {
		return 0, err
	}
	var times []time.Duration
	for i := 0; i < 200; i++ {
		status, d, err := Once(addr, req)
		if err != nil || status != 200 {
			return 0, fmt.Errorf("ListStreamingSessionBackups: %d %v", status, err)
		}
		if i >= 20 {
			times = append(times, d)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[len(times)/2], nil
}

// cycleRun is one cycles phase: its name (the work folder's), how many
// replicas share the store, and what else it measures.
type cycleRun struct {
	name     string
	replicas int
	extra    []string // server flags
	profile  bool     // a CPU profile of the first replica over the cycles
}

// cycled is what a cycles phase measured.
type cycled struct {
	rate           float64       // cycles per second
	writesPerCycle float64       // store write transactions (all replicas)
	cpuPerCycle    time.Duration // server processor time (all replicas)
	dbCPUPerCycle  time.Duration // PostgreSQL's (its postmaster and backends)
	// writeCallsPerCycle counts the server's write system calls (socket
	// writes and the database's pwrites), with one replica.
	writeCallsPerCycle float64
	write              CycleResult
	stop               []byte // a signed Stop request of the write path
	addr               string // the server stop was signed for
}

// baseStop is the write path's Stop request sent to the baseline instead.
func (c cycled) baseStop(baseAddr string) []byte {
	return []byte(strings.Replace(string(c.stop), c.addr, baseAddr, 1))
}

// cycles runs sessions through stop (with a backup) and start in parallel
// and returns what it measured.
func (o Options) cycles(ctx context.Context, r cycleRun) (cycled, error) {
	var res cycled
	dir := filepath.Join(o.Dir, r.name)
	health := []byte("GET /_nimble/health HTTP/1.1\r\nHost: x\r\n\r\n")
	var procs []*Proc
	var akid, secret, pprofAddr string
	for i := 0; i < r.replicas; i++ {
		// The first replica creates the administrator credential; the
		// others share its store and find it there.
		extra := r.extra
		if i == 0 && r.profile {
			a, err := FreeAddr()
			if err != nil {
				return res, err
			}
			pprofAddr, extra = a, append(slices.Clone(extra), "--pprof-listen", a)
		}
		p, err := o.serve(filepath.Join(dir, fmt.Sprint(i)), extra...)
		if err != nil {
			return res, err
		}
		defer p.Stop()
		if _, err := p.WaitFor(health, 30*time.Second); err != nil {
			return res, err
		}
		if i == 0 {
			if akid, secret, err = readAdmin(filepath.Join(dir, "0")); err != nil {
				return res, err
			}
		}
		procs = append(procs, p)
	}
	c := client(procs[0].Addr, akid, secret)
	pr, err := fixture.Make(ctx, c, "cycles", fixture.WithBackups(2), fixture.WithPersistence(600))
	if err != nil {
		return res, err
	}
	ids := make([]*string, o.Sessions)
	for i := range ids {
		out, err := c.CreateStreamingSessionWithContext(ctx, &nimblestudio.CreateStreamingSessionInput{StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile})
		if err != nil {
			return res, err
		}
		ids[i] = out.Session.SessionId
	}
	for _, id := range ids {
		if err := waitState(ctx, c, pr.Studio, id, "READY"); err != nil {
			return res, err
		}
	}
	// Each session gets its own keep-alive connection to one replica
	// (spread round robin), with requests signed for that replica.
	reqs := make([]SessionRequests, len(ids))
	for i, id := range ids {
		if reqs[i], err = SignedSession(procs[i%len(procs)].Addr, pr.Studio, *id, akid, secret, "us-west-2"); err != nil {
			return res, err
		}
	}
	res.stop, res.addr = reqs[0].Stop, reqs[0].Addr
	before, err := scrapeAll(procs)
	if err != nil {
		return res, err
	}
	o.logf("%s: cycling %d sessions on %d replica(s) for %v", r.name, len(ids), r.replicas, o.Duration)
	profiled := make(chan error, 1)
	if pprofAddr != "" {
		go func() { profiled <- o.profile(pprofAddr, filepath.Join(o.Dir, r.name+"-cpu.pprof")) }()
	}
	cpu0, err := cpuAll(procs)
	if err != nil {
		return res, err
	}
	db0, gen0, machine0, err := o.otherCPU()
	if err != nil {
		return res, err
	}
	io0, err := procs[0].IO()
	if err != nil {
		return res, err
	}
	res.write, err = CycleLoop(reqs, o.Duration)
	if err != nil {
		return res, err
	}
	cpu1, err := cpuAll(procs)
	if err != nil {
		return res, err
	}
	db1, gen1, machine1, err := o.otherCPU()
	if err != nil {
		return res, err
	}
	io1, err := procs[0].IO()
	if err != nil {
		return res, err
	}
	if pprofAddr != "" {
		if err := <-profiled; err != nil {
			return res, err
		}
	}
	after, err := scrapeAll(procs)
	if err != nil {
		return res, err
	}
	d := Delta(before.Tx, after.Tx)
	n := res.write.Cycles
	res.rate = res.write.Rate()
	if n > 0 {
		res.writesPerCycle = Writes(d) / float64(n)
		res.cpuPerCycle = (cpu1 - cpu0) / time.Duration(n)
		res.dbCPUPerCycle = (db1 - db0) / time.Duration(n)
		busy, steal := machine1.Since(machine0)
		db := ""
		if o.DatabasePid != 0 {
			db = fmt.Sprintf(", PostgreSQL %.2f ms", millis(res.dbCPUPerCycle))
		}
		o.logf("%s: processor time per cycle: server(s) %.2f ms%s, load generator %.2f ms; the machine's CPUs %.0f%% busy, %.1f%% stolen by the hypervisor",
			r.name, millis(res.cpuPerCycle), db, millis((gen1-gen0)/time.Duration(n)), busy, steal)
		o.logf("%s: %d cycles; store transactions per cycle: %s; started over: %.2f", r.name, n, perCycle(d, n), (after.Retries-before.Retries)/float64(n))
		o.logf("%s: lifecycle jobs per cycle: %s", r.name, perCycle(Delta(before.Jobs, after.Jobs), n))
		if r.replicas == 1 {
			io := io1.Sub(io0)
			res.writeCallsPerCycle = float64(io.WriteCalls) / float64(n)
			o.logf("%s: server system calls per cycle: %.1f reads, %.1f writes of %.1f KiB (sockets and files)", r.name,
				float64(io.ReadCalls)/float64(n), res.writeCallsPerCycle, float64(io.Written)/1024/float64(n))
		}
		o.logf("%s: API requests per cycle: %s", r.name, perCycle(Delta(before.Requests, after.Requests), n))
		if r.replicas > 1 {
			o.logf("%s: work per replica: %s", r.name, perReplica(before.PerProc, after.PerProc))
		}
	}
	return res, nil
}

// otherCPU reads the processor time so far of what shares the machine
// with the servers: the PostgreSQL cluster (0 without one), this load
// generator, and the machine's.
func (o Options) otherCPU() (db, gen time.Duration, machine CPUTimes, err error) {
	if o.DatabasePid != 0 {
		if db, err = TreeCPU(o.DatabasePid); err != nil {
			return 0, 0, machine, err
		}
	}
	if gen, err = procCPU(os.Getpid()); err != nil {
		return 0, 0, machine, err
	}
	machine, err = MachineCPU()
	return db, gen, machine, err
}

// cpuAll sums the processor time of every replica.
func cpuAll(procs []*Proc) (time.Duration, error) {
	var sum time.Duration
	for _, p := range procs {
		c, err := p.CPU()
		if err != nil {
			return 0, err
		}
		sum += c
	}
	return sum, nil
}

// scrapeAll sums the counts of every replica.
func scrapeAll(procs []*Proc) (Scraped, error) {
	sum := Scraped{Tx: map[string]float64{}, Jobs: map[string]float64{}, Requests: map[string]float64{}}
	for _, p := range procs {
		c, err := Scrape(p.Addr)
		if err != nil {
			return sum, err
		}
		sum.PerProc = append(sum.PerProc, c)
		sum.Retries += c.Retries
		for _, m := range [][2]map[string]float64{{sum.Tx, c.Tx}, {sum.Jobs, c.Jobs}, {sum.Requests, c.Requests}} {
			for k, v := range m[1] {
				m[0][k] += v
			}
		}
	}
	return sum, nil
}

// perReplica says which share of the lifecycle jobs, store write
// transactions and API requests each replica took between two scrapes.
func perReplica(before, after []Scraped) string {
	total := func(m map[string]float64) float64 {
		n := 0.0
		for _, v := range m {
			n += v
		}
		return n
	}
	jobs, writes, reqs := make([]float64, len(after)), make([]float64, len(after)), make([]float64, len(after))
	var sj, sw, sr float64
	for i := range after {
		jobs[i] = total(Delta(before[i].Jobs, after[i].Jobs))
		writes[i] = Writes(Delta(before[i].Tx, after[i].Tx))
		reqs[i] = total(Delta(before[i].Requests, after[i].Requests))
		sj, sw, sr = sj+jobs[i], sw+writes[i], sr+reqs[i]
	}
	var parts []string
	for i := range after {
		parts = append(parts, fmt.Sprintf("replica %d: jobs %.0f%%, store writes %.0f%%, requests %.0f%%",
			i, 100*jobs[i]/max(sj, 1), 100*writes[i]/max(sw, 1), 100*reqs[i]/max(sr, 1)))
	}
	return strings.Join(parts, "; ")
}

func perCycle(d map[string]float64, n int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if d[k] != 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", k, d[k]/float64(n)))
		}
	}
	return strings.Join(parts, ", ")
}

// profile takes a CPU profile of the server at pprofAddr for the length
// of a load phase and writes it to file.
func (o Options) profile(pprofAddr, file string) error {
	secs := max(1, int(o.Duration.Seconds()))
	return o.fetchProfile(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, secs), "CPU profile", file)
}

// fetchProfile saves the profile at url to file.
func (o Options) fetchProfile(url, what, file string) error {
	res, err := http.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("%s: %s", what, res.Status)
	}
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	o.logf("%s of the server: %s (go tool pprof -top %s)", what, file, file)
	return os.WriteFile(file, b, 0o600)
}

func waitState(ctx context.Context, c *nimblestudio.NimbleStudio, studio string, id *string, want string) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out, err := c.GetStreamingSessionWithContext(ctx, &nimblestudio.GetStreamingSessionInput{StudioId: &studio, SessionId: id})
		if err != nil {
			return err
		}
		switch st := aws.StringValue(out.Session.State); {
		case st == want:
			return nil
		case strings.HasSuffix(st, "_FAILED"):
			return fmt.Errorf("session %s: %s (%s)", *id, st, aws.StringValue(out.Session.StatusMessage))
		}
		time.Sleep(10 * time.Millisecond) // a client polling as fast as is reasonable
	}
	return fmt.Errorf("session %s did not reach %s", *id, want)
}
