// Package pgtest runs throwaway PostgreSQL clusters for tests: initdb into a
// fresh temporary folder, a postmaster listening only on a Unix socket in
// that folder, and a new database for every caller that wants one. Nothing
// outlives the test binary: Stop (or the test's cleanup) shuts the server
// down and removes the folder, and the server is killed if the test binary
// dies first.
//
// The server binaries are looked up in $OPENNIMBLE_PG_BIN, then on PATH,
// then in /usr/lib/postgresql/<version>/bin (Debian's layout). Tests that
// need PostgreSQL fail, rather than skip, when it is missing: a store that
// silently goes untested is worse than a red build.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Install says what to do when the server binaries are missing.
const Install = "PostgreSQL server binaries (initdb, postgres) not found: install them " +
	"(Debian/Ubuntu: apt-get install -y postgresql; .ci/run does this) " +
	"or point OPENNIMBLE_PG_BIN at the folder that holds them"

// port is the port number in the socket's name; the socket lives in the
// cluster's own folder, so clusters never collide whatever the number.
const port = 5432

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	dir  string // owns data/, the socket and the log
	cmd  *exec.Cmd
	done chan struct{}
	seq  atomic.Int64
	once sync.Once
}

// Start starts a cluster for the test and stops it when the test ends. It
// fails the test, saying what to install, when PostgreSQL is not found.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := New()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := c.Stop(); err != nil {
			tb.Errorf("pgtest: %v", err)
		}
	})
	return c
}

// Options tune a cluster; the zero value is a fast, throwaway one.
type Options struct {
	// Durable keeps fsync and synchronous commits on, as a production
	// server has them, for benchmarks whose figures should mean something.
	Durable bool
}

// keepLogEnv names a folder to copy each cluster's server log into when the
// cluster stops (as postgres-<pid>.log), with every statement that failed
// and its error's detail: serialization failures say why ("Reason code:
// ..."). With it set the server also loads pg_stat_statements (a contrib
// module Debian's postgresql package ships), so that a diagnostic can
// CREATE EXTENSION and read what each statement cost. Off unless set.
const keepLogEnv = "OPENNIMBLE_PG_KEEP_LOG"

// New initialises and starts a cluster. The caller must Stop it.
func New() (*Cluster, error) { return NewWith(Options{}) }

// NewWith is New with options.
func NewWith(o Options) (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, done: make(chan struct{})}
	cred, err := serverUser()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		// initdb and postgres refuse to run as root.
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %v\n%s", err, out)
	}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logf.Close()
	args := []string{"-D", data, "-k", dir, "-p", strconv.Itoa(port), "-c", "listen_addresses=",
		"-c", "max_connections=300", "-c", "shared_buffers=128MB"}
	if os.Getenv(keepLogEnv) != "" {
		// Which backend, transaction and application each line is from.
		args = append(args, "-c", "log_line_prefix=%m [%p] %a x%x ", "-c", "log_min_error_statement=error",
			"-c", "shared_preload_libraries=pg_stat_statements", "-c", "track_io_timing=on")
	}
	if !o.Durable {
		// Durability is pointless for a cluster that is deleted at the end.
		// (synchronous_commit stays on, as clients may set it themselves;
		// without fsync it costs nothing.)
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	c.cmd = exec.Command(filepath.Join(bin, "postgres"), args...)
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: postgres: %w", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	if err := c.waitReady(30 * time.Second); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// waitReady polls until the server accepts connections.
func (c *Cluster) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		cancel()
		if err == nil {
			return conn.Close(context.Background())
		}
		select {
		case <-c.done:
			return fmt.Errorf("pgtest: postgres exited during start:\n%s", c.Log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres not ready after %v: %v\n%s", timeout, err, c.Log())
		}
	}
}

// DSN is the connection URL of database db as the superuser postgres.
func (c *Cluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&port=%d&sslmode=disable", db, c.dir, port)
}

// NewDatabase creates an empty database and returns its connection URL.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d", c.seq.Add(1))
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("pgtest: create database: %w", err)
	}
	return c.DSN(name), nil
}

// Database is NewDatabase for a test, which it fails on error.
func (c *Cluster) Database(tb testing.TB) string {
	tb.Helper()
	dsn, err := c.NewDatabase(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return dsn
}

// Log returns what the server wrote to its log so far.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	return string(b)
}

// keepLog copies the server log into $OPENNIMBLE_PG_KEEP_LOG, if set.
func (c *Cluster) keepLog() {
	dst := os.Getenv(keepLogEnv)
	if dst == "" || c.cmd == nil || c.cmd.Process == nil {
		return
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "postgres.log"))
	if err == nil {
		err = os.WriteFile(filepath.Join(dst, fmt.Sprintf("postgres-%d.log", c.cmd.Process.Pid)), b, 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: keeping the server log: %v\n", err)
	}
}

// Stop shuts the server down (fast shutdown: open sessions are ended) and
// removes its folder. It is safe to call more than once.
func (c *Cluster) Stop() error {
	var err error
	c.once.Do(func() {
		if c.cmd != nil && c.cmd.Process != nil {
			_ = c.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-c.done:
			case <-time.After(20 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.done
				err = errors.New("postgres did not shut down within 20s; killed")
			}
		}
		c.keepLog()
		if rerr := os.RemoveAll(c.dir); err == nil {
			err = rerr
		}
	})
	return err
}

// Pid is the process id of the cluster's postmaster, the parent of its
// backends.
func (c *Cluster) Pid() int { return c.cmd.Process.Pid }

// findBin returns the folder holding initdb and postgres.
func findBin() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv("OPENNIMBLE_PG_BIN"); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("pgtest: OPENNIMBLE_PG_BIN=%s holds no initdb and postgres; %s", dir, Install)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(p); has(dir) {
			return dir, nil
		}
	}
	// Debian's postgresql package keeps the server binaries off PATH.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	return "", errors.New("pgtest: " + Install)
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// serverUser returns the credential to run the server binaries with: none
// when this process is not root, else the user postgres (created by the
// Debian package) or, failing that, nobody.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("pgtest: running as root and found neither user postgres nor nobody to run PostgreSQL as")
}
