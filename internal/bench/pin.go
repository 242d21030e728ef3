package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// Pinning (nimblebench -pin) runs the server on one core and this process,
// the load generator, on another, with util-linux's taskset: a cycle rate
// measured so cannot come from the generator starving the server of CPU,
// or the other way round.

// Pinning says which core the server and which the load generator get.
type Pinning struct {
	Server, Client int
	restore        string // this process's affinity list before pinning
	procs          int    // and its GOMAXPROCS
}

// ParseCPUList expands a Linux CPU list ("0-2,5") into its CPUs.
func ParseCPUList(s string) ([]int, error) {
	var cpus []int
	for _, part := range strings.Split(strings.TrimSpace(s), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, fmt.Errorf("CPU list %q: %w", s, err)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("CPU list %q: bad range %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}

// affinity returns this process's CPU list as taskset prints it.
func affinity() (string, error) {
	out, err := exec.Command("taskset", "-c", "-p", strconv.Itoa(os.Getpid())).Output()
	if err != nil {
		return "", fmt.Errorf("taskset (util-linux) is needed for -pin: %w", err)
	}
	_, list, ok := strings.Cut(strings.TrimSpace(string(out)), ": ")
	if !ok {
		return "", fmt.Errorf("taskset printed %q", out)
	}
	return list, nil
}

// Pin moves every thread of this process to the client's core: the server
// gets the first CPU this process may use and the generator the second.
func Pin() (*Pinning, error) {
	list, err := affinity()
	if err != nil {
		return nil, err
	}
	cpus, err := ParseCPUList(list)
	if err != nil {
		return nil, err
	}
	if len(cpus) < 2 {
		return nil, fmt.Errorf("-pin needs two CPUs, this process may use %q", list)
	}
	p := &Pinning{Server: cpus[0], Client: cpus[1], restore: list}
	if err := setAffinity(strconv.Itoa(p.Client)); err != nil {
		return nil, err
	}
	// One P for one core: two would have the kernel share the core between
	// two threads of the generator in slices of milliseconds, which a
	// request's measured latency would include.
	p.procs = runtime.GOMAXPROCS(1)
	return p, nil
}

// Unpin gives this process back the CPUs and Ps it had.
func (p *Pinning) Unpin() error {
	runtime.GOMAXPROCS(p.procs)
	return setAffinity(p.restore)
}

// Command returns the command line that runs bin with args on the
// server's core.
func (p *Pinning) Command(bin string, args []string) (string, []string) {
	if p == nil {
		return bin, args
	}
	return "taskset", append([]string{"-c", strconv.Itoa(p.Server), bin}, args...)
}

// Move puts every thread of a running process on the server's core, and
// Release gives it back the CPUs this process had before Pin.
func (p *Pinning) Move(pid int) error    { return setAffinityOf(pid, strconv.Itoa(p.Server)) }
func (p *Pinning) Release(pid int) error { return setAffinityOf(pid, p.restore) }

// setAffinity sets the CPU list of every thread of this process (-a): the
// threads the Go runtime starts later inherit it.
func setAffinity(list string) error { return setAffinityOf(os.Getpid(), list) }

func setAffinityOf(pid int, list string) error {
	out, err := exec.Command("taskset", "-a", "-c", "-p", list, strconv.Itoa(pid)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset -a -c -p %s %d: %v: %s", list, pid, err, out)
	}
	return nil
}
