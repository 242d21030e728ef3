package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go/aws/credentials"
	v4 "github.com/aws/aws-sdk-go/aws/signer/v4"
)

// Proc is a server running as its own process.
type Proc struct {
	cmd     *exec.Cmd
	Addr    string
	Started time.Time
	done    chan struct{}
}

// FreeAddr returns a free 127.0.0.1 address.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Start runs bin with args; it does not wait for readiness.
func Start(bin string, args ...string) (*Proc, error) {
	addr := ""
	for i, a := range args {
		if a == "--listen" && i+1 < len(args) {
			addr = args[i+1]
		}
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = os.Stderr
	cmd.Stderr = os.Stderr
	p := &Proc{cmd: cmd, Addr: addr, Started: time.Now(), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// WaitFor polls until req answers 200, and returns how long after the start
// of the process that was.
func (p *Proc) WaitFor(req []byte, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return 0, fmt.Errorf("server exited")
		default:
		}
		if s, _, err := Once(p.Addr, req); err == nil && s == 200 {
			return time.Since(p.Started), nil
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("no 200 within %v", timeout)
}

// Pid is the process's id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// RSS returns the resident memory of the process in bytes.
func (p *Proc) RSS() (int64, error) { return p.status("VmRSS:") }

// RSSAnon returns the process's resident anonymous memory (heap, stacks,
// SQLite's page cache) in bytes: RSS without the pages of files mapped in,
// which for opennimble are mostly its own binary's code and tables.
func (p *Proc) RSSAnon() (int64, error) { return p.status("RssAnon:") }

// status reads a size in kB from the process's /proc status, in bytes.
func (p *Proc) status(field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, p.cmd.Process.Pid)
}

// IO is what a process's /proc io file counts: read and write system
// calls (sockets and files alike) and the bytes they asked to write.
type IO struct{ ReadCalls, WriteCalls, Written int64 }

// IO returns the process's counts so far.
func (p *Proc) IO() (IO, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", p.cmd.Process.Pid))
	if err != nil {
		return IO{}, err
	}
	var io IO
	for line := range strings.Lines(string(b)) {
		name, value, _ := strings.Cut(strings.TrimSpace(line), ": ")
		n, _ := strconv.ParseInt(value, 10, 64)
		switch name {
		case "syscr":
			io.ReadCalls = n
		case "syscw":
			io.WriteCalls = n
		case "wchar":
			io.Written = n
		}
	}
	return io, nil
}

// Sub is the counts from o to io.
func (io IO) Sub(o IO) IO {
	return IO{io.ReadCalls - o.ReadCalls, io.WriteCalls - o.WriteCalls, io.Written - o.Written}
}

// CPU returns the processor time (user and system) the process has used,
// at the kernel's clock tick resolution (10 ms).
func (p *Proc) CPU() (time.Duration, error) {
	return procCPU(p.cmd.Process.Pid)
}

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

func procCPU(pid int) (time.Duration, error) {
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	return st.cpu, nil
}

// procStat is what the benchmark reads of /proc/<pid>/stat.
type procStat struct {
	ppid int
	cpu  time.Duration // utime + stime
	// children is cutime + cstime: the processor time of the children
	// the process has waited for (those that ended).
	children time.Duration
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name may hold spaces and parentheses: the fields that
	// follow start after the last ')'. ppid is the 4th field of the line,
	// utime, stime, cutime and cstime the 14th to 17th: the 2nd and the
	// 12th to 15th after the name.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %q", pid, b)
	}
	var n [5]int64
	for k, s := range []string{f[1], f[11], f[12], f[13], f[14]} {
		if n[k], err = strconv.ParseInt(s, 10, 64); err != nil {
			return procStat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
	}
	return procStat{ppid: int(n[0]), cpu: time.Duration(n[1]+n[2]) * clockTick, children: time.Duration(n[3]+n[4]) * clockTick}, nil
}

// TreeCPU returns the processor time of the process pid and its children
// so far: its own, that of the children it has waited for, and that of the
// children alive now (PostgreSQL's postmaster and its backends: a backend
// that ends between two readings moves from the last term to the second).
func TreeCPU(pid int) (time.Duration, error) {
	root, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	sum := root.cpu + root.children
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		st, err := readStat(child)
		if err != nil {
			continue // not a process, or one that has just ended
		}
		if st.ppid == pid {
			sum += st.cpu + st.children
		}
	}
	return sum, nil
}

// Stop ends the process with SIGTERM and waits for it.
func (p *Proc) Stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Signed returns the bytes of a GET request signed with SigV4, valid for 15
// minutes.
func Signed(addr, path, akid, secret, region string) ([]byte, error) {
	return SignedRequest("GET", addr, path, nil, akid, secret, region)
}

// SignedRequest returns the bytes of a request with body (JSON, or none)
// signed with SigV4, valid for 15 minutes: the server accepts it again and
// again within that time, as the load generator replays it.
func SignedRequest(method, addr, path string, body []byte, akid, secret, region string) ([]byte, error) {
	req, err := http.NewRequest(method, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "nimblebench")
	var rs io.ReadSeeker
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		rs = bytes.NewReader(body)
	}
	signer := v4.NewSigner(credentials.NewStaticCredentials(akid, secret, ""))
	if _, err := signer.Sign(req, rs, "nimble", region, time.Now()); err != nil {
		return nil, err
	}
	if body != nil {
		req.Body, req.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	var b bytes.Buffer
	if err := req.Write(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// CPUTimes are the machine's processor times from /proc/stat, in clock
// ticks, all CPUs together.
type CPUTimes struct{ Total, Idle, Steal int64 }

// MachineCPU reads the machine's processor times so far.
func MachineCPU() (CPUTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return CPUTimes{}, fmt.Errorf("/proc/stat begins %q", line)
	}
	var t CPUTimes
	for i, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return CPUTimes{}, fmt.Errorf("/proc/stat: %w", err)
		}
		switch i {
		case 3, 4: // idle, iowait
			t.Idle += n
		case 7:
			t.Steal = n
		case 8, 9: // guest time is counted in user time already
			continue
		}
		t.Total += n
	}
	return t, nil
}

// Since describes the processor time from o to t: how busy the machine
// was, and how much of the time its hypervisor gave the virtual CPUs to
// others (steal), in percent.
func (t CPUTimes) Since(o CPUTimes) (busy, steal float64) {
	d := float64(t.Total - o.Total)
	if d <= 0 {
		return 0, 0
	}
	return 100 * (d - float64(t.Idle-o.Idle) - float64(t.Steal-o.Steal)) / d, 100 * float64(t.Steal-o.Steal) / d
}
