// Package sim is a workstation driver without compute: sessions, volumes and
// backups are records (in memory, and in Options.Dir when set, so that they
// survive a restart), every step takes a configurable time measured on
// the injected clock, and any step can be made to fail. It lets the server,
// its tests and its users exercise the whole session lifecycle anywhere.
package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// Call describes an operation.
type Call struct {
	Step      opennimble.Step
	SessionID string
	BackupID  string
	Token     string
}

// Options configure a simulated driver. The zero value completes every step
// at once and never fails.
type Options struct {
	// Clock measures step durations; the system clock when nil.
	Clock opennimble.Clock
	// Durations is how long each step takes once begun.
	Durations map[opennimble.Step]time.Duration
	// Fail makes every operation of a step fail with the given error.
	Fail map[opennimble.Step]opennimble.DriverError
	// Dir, when set, is where the simulated sessions, volumes and backups
	// are kept, so that they survive a restart of the server.
	Dir string
	// Shared makes Dir the simulated fleet of every driver that names it, in
	// any process on this machine (replicas of a server): calls take the
	// folder's lock, read what others changed and keep operations there too.
	// See shared.go.
	Shared bool
}

// Driver is the simulated driver. It is safe for concurrent use.
type Driver struct {
	dir   string
	clock opennimble.Clock

	mu        sync.Mutex
	durations map[opennimble.Step]time.Duration
	fail      map[opennimble.Step]opennimble.DriverError
	ops       map[opKey]*op
	finished  []opKey // the operations in ops in the order they finished, for pruneOps
	sessions  map[string]*session
	backups   map[string]*backup
	calls     map[opennimble.Step]int
	started   map[opennimble.Step]int
	log       *stateLog // with Options.Dir: state.log
	j         *journal  // with Options.Shared instead: the folder's lock and ops.log
}

var _ opennimble.Driver = (*Driver)(nil)

// opKey identifies one operation: repeated calls with the same key are the
// same operation.
type opKey struct {
	step       opennimble.Step
	key, token string
}

// op is an operation begun at began; its outcome is fixed once finished.
type op struct {
	began    time.Time
	dur      time.Duration
	fail     *opennimble.DriverError
	finished bool
	kept     uint64 // the state.log line that keeps its effect
}

type session struct {
	instance string // InstanceRunning, InstanceStopped or InstanceTerminated
	volume   *volume
}

type volume struct {
	gen    int64 // 0 for a volume adopted without knowing its generation
	data   string
	source string
}

type backup struct {
	sessionID string
	gen       int64
	data      string
}

// The states of a simulated workstation instance.
const (
	InstanceRunning    = "running"
	InstanceStopped    = "stopped"
	InstanceTerminated = "terminated"
)

// New returns a simulated driver. It fails only when Options.Dir holds state
// it cannot read.
func New(o Options) (*Driver, error) {
	if o.Clock == nil {
		o.Clock = opennimble.SystemClock{}
	}
	d := &Driver{
		dir: o.Dir, clock: o.Clock,
		durations: map[opennimble.Step]time.Duration{}, fail: map[opennimble.Step]opennimble.DriverError{},
		ops: map[opKey]*op{}, sessions: map[string]*session{}, backups: map[string]*backup{},
		calls: map[opennimble.Step]int{}, started: map[opennimble.Step]int{},
	}
	for k, v := range o.Durations {
		d.durations[k] = v
	}
	for k, v := range o.Fail {
		d.fail[k] = v
	}
	if o.Shared {
		if o.Dir == "" {
			return nil, errors.New("sim: Shared needs a Dir")
		}
		if err := d.openShared(); err != nil {
			return nil, err
		}
	}
	if err := d.loadShared(); err != nil {
		return nil, err
	}
	return d, nil
}

// MustNew is New for options without a Dir, which cannot fail.
func MustNew(o Options) *Driver {
	d, err := New(o)
	if err != nil {
		panic(err)
	}
	return d
}

// SetDuration changes how long operations of step begun from now on take.
func (d *Driver) SetDuration(step opennimble.Step, dur time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.durations[step] = dur
}

// SetFailure makes operations of step begun from now on fail with e; nil
// lets them succeed again.
func (d *Driver) SetFailure(step opennimble.Step, e *opennimble.DriverError) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e == nil {
		delete(d.fail, step)
		return
	}
	d.fail[step] = *e
}

// do runs the operation key: the first call begins it (and counts it as
// started), later calls report on it. apply performs its effect, once, when
// its duration has passed, under the lock; a non-nil result fails it.
func (d *Driver) do(ctx context.Context, c Call, key opKey, apply func() *opennimble.DriverError) (opennimble.Progress, error) {
	if err := ctx.Err(); err != nil {
		return opennimble.Progress{}, err
	}
	if d.j != nil {
		return d.doShared(c, key, apply)
	}
	d.mu.Lock()
	d.calls[c.Step]++
	now := d.clock.Now()
	o := d.ops[key]
	if o == nil {
		o = &op{began: now, dur: d.durations[c.Step], fail: d.failure(c)}
		d.ops[key] = o
		d.started[c.Step]++
	}
	if left := o.began.Add(o.dur).Sub(now); left > 0 {
		d.mu.Unlock()
		return opennimble.Progress{RetryAfter: left}, nil
	}
	if !o.finished {
		if o.fail == nil {
			o.fail = apply()
			if o.fail == nil {
				o.kept = d.queue(c)
			}
		}
		o.finished = true
		d.finished = append(d.finished, key)
		d.pruneOps(now)
	}
	fail, kept := o.fail, o.kept
	d.mu.Unlock()
	// The state is written outside the lock, so that operations on other
	// sessions need not wait for this one's I/O. A repeated call waits for
	// it too: done means kept.
	if err := d.flush(kept); err != nil {
		// The effect is not durable: let the step run again.
		d.mu.Lock()
		o.finished = false
		d.mu.Unlock()
		return opennimble.Progress{}, fmt.Errorf("sim: keep state: %w", err)
	}
	if fail != nil {
		e := *fail
		return opennimble.Progress{}, &e
	}
	return opennimble.Progress{Done: true}, nil
}

// pruneOps forgets finished operations once there are many, oldest first,
// so that a long-running server does not grow without bound. A repeated call
// of a forgotten operation begins it again, which every step tolerates. It
// looks only at the oldest, so that a step costs the same with many kept.
func (d *Driver) pruneOps(now time.Time) {
	const keep = 10000
	for len(d.ops) > keep && len(d.finished) > 0 {
		k := d.finished[0]
		o := d.ops[k]
		if o != nil && o.finished && now.Sub(o.began) <= time.Minute {
			return
		}
		d.finished = d.finished[1:]
		if o != nil && o.finished {
			delete(d.ops, k)
		}
	}
}

// failure decides, when an operation begins, whether it is to fail.
func (d *Driver) failure(c Call) *opennimble.DriverError {
	var e *opennimble.DriverError
	if f, ok := d.fail[c.Step]; ok {
		e = &f
	}
	if e != nil && e.StatusCode == "" {
		c := *e
		c.StatusCode = "INTERNAL_ERROR"
		e = &c
	}
	return e
}

// session returns the state of a session, adopting one the driver does not
// know (it forgets everything when the process restarts) as running with a
// volume of unknown generation, so that a restarted server's lifecycle can
// still finish what it began.
func (d *Driver) session(id string) *session {
	s := d.sessions[id]
	if s == nil {
		s = &session{instance: InstanceRunning, volume: &volume{source: "adopted"}}
		d.sessions[id] = s
	}
	return s
}

func internal(format string, args ...any) *opennimble.DriverError {
	return &opennimble.DriverError{StatusCode: "INTERNAL_ERROR", Message: fmt.Sprintf(format, args...)}
}
