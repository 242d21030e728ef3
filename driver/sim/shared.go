package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	opennimble "github.com/opennimble/opennimble"
)

// With Options.Shared, the simulated fleet in Dir is shared by every driver
// that names the folder, in this process or in others (several server
// replicas on one machine): like a real fleet, it is state outside the
// control plane, and it is a witness independent of the store when tests
// count what the replicas did. Every call takes the folder's lock (flock on sim.lock), reads what other drivers
// changed since it last looked, acts, and writes its changes before letting
// go.
//
// Everything is kept in ops.log, a journal of one JSON line per event,
// appended with a single write under the lock: "session" and "backup" (the
// whole state of one, as in state.log, see persist.go), "begin" (an
// operation's start time, duration and decided failure) and "finish" (its
// outcome, written in the same write as the state lines of its effect, after
// them). So an operation begun by a replica that was then killed is
// continued, not begun again, by the replica that takes its work over, and
// Started counts what every replica began; a write torn by a kill leaves the
// operation unfinished, to be finished again. The journal is rewritten with
// the live sessions and backups and without old finished operations when it
// grows large; "count" lines carry the totals of what was dropped.

// journalEntry is one line of ops.log.
type journalEntry struct {
	Event string                  `json:"event"` // session, backup, begin, finish or count
	Step  opennimble.Step         `json:"step,omitempty"`
	Key   string                  `json:"key,omitempty"`
	State json.RawMessage         `json:"state,omitempty"` // session, backup: null once removed
	Token string                  `json:"token,omitempty"`
	Began int64                   `json:"began,omitempty"` // unix nanoseconds
	Dur   time.Duration           `json:"dur,omitempty"`
	Fail  *opennimble.DriverError `json:"fail,omitempty"`
	N     int                     `json:"n,omitempty"` // count
}

const (
	journalName  = "ops.log"
	lockName     = "sim.lock"
	keepFinished = 10 * time.Minute
)

// compactAbove is the journal size past which it is rewritten without
// finished operations older than keepFinished; a variable for tests.
var compactAbove int64 = 4 << 20

// journal is the driver's view of ops.log.
type journal struct {
	lock *os.File
	f    *os.File // opened O_APPEND; replaced when another driver compacts
	pos  int64    // bytes of f already applied
	torn bool     // f ends in a partial line (a writer died mid-write)
	lost bool     // a write failed: read it all again at the next look
	base int64    // size after the last compaction this driver saw
}

// openShared opens the lock and the journal of d.dir.
func (d *Driver) openShared() error {
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(d.dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	d.j = &journal{lock: lock}
	return d.reopenJournal()
}

func (d *Driver) reopenJournal() error {
	if d.j.f != nil {
		d.j.f.Close()
	}
	f, err := os.OpenFile(filepath.Join(d.dir, journalName), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	d.j.f, d.j.pos, d.j.torn, d.j.lost = f, 0, false, false
	d.ops, d.started = map[opKey]*op{}, map[opennimble.Step]int{}
	clear(d.sessions)
	clear(d.backups)
	return nil
}

// loadShared is load, or with Options.Shared the migration of the older
// layout's files (see persist.go) into the journal, under the folder's lock:
// the journal is rewritten as their lines followed by what it held, so that
// the journal's lines win, and then the files are removed.
func (d *Driver) loadShared() error {
	if d.j == nil {
		return d.load()
	}
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	old := &Driver{dir: d.dir, sessions: map[string]*session{}, backups: map[string]*backup{}}
	if found, err := old.readFiles(); err != nil || !found {
		return err
	}
	path := filepath.Join(d.dir, journalName)
	held, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f, err := writeRenamed(path, append(appendEntries(nil, old.allEntries()), held...))
	if err != nil {
		return err
	}
	f.Close()
	if err := d.readJournal(); err != nil {
		return err
	}
	return d.removeFiles()
}

// lock takes d.mu and the folder's lock, and brings the operations up to
// date. The returned function lets go of both.
func (d *Driver) lock() (func(), error) {
	d.mu.Lock()
	if err := syscall.Flock(int(d.j.lock.Fd()), syscall.LOCK_EX); err != nil {
		d.mu.Unlock()
		return nil, fmt.Errorf("sim: lock %s: %w", d.dir, err)
	}
	unlock := func() {
		_ = syscall.Flock(int(d.j.lock.Fd()), syscall.LOCK_UN)
		d.mu.Unlock()
	}
	if err := d.readJournal(); err != nil {
		unlock()
		return nil, fmt.Errorf("sim: %s: %w", journalName, err)
	}
	return unlock, nil
}

// doShared is do on a shared Dir: everything, the files included, happens
// under the folder's lock, so that drivers in several processes take turns.
func (d *Driver) doShared(c Call, key opKey, apply func() *opennimble.DriverError) (opennimble.Progress, error) {
	unlock, err := d.lock()
	if err != nil {
		return opennimble.Progress{}, err
	}
	defer unlock()
	d.calls[c.Step]++
	now := d.clock.Now()
	o := d.ops[key]
	if o == nil {
		if err := d.record(beginEntry(key, &op{began: now, dur: d.durations[c.Step], fail: d.failure(c)})); err != nil {
			return opennimble.Progress{}, err
		}
		o = d.ops[key]
	}
	if left := o.began.Add(o.dur).Sub(now); left > 0 {
		return opennimble.Progress{RetryAfter: left}, nil
	}
	if !o.finished {
		fail := o.fail
		var lines []journalEntry
		if fail == nil {
			if fail = apply(); fail == nil {
				lines = stateLines(d.entries(c))
			}
		}
		// The effect and the operation's end in one write: a driver
		// killed before it is done leaves the operation to be finished
		// again by the next caller, which every step's effect tolerates.
		if err := d.record(append(lines, finishEntry(key, fail))...); err != nil {
			return opennimble.Progress{}, fmt.Errorf("sim: keep state: %w", err)
		}
	}
	if o.fail != nil {
		e := *o.fail
		return opennimble.Progress{}, &e
	}
	return opennimble.Progress{Done: true}, nil
}

// readJournal applies what was appended to the journal since the last look,
// starting afresh when another driver replaced it by a compacted one.
func (d *Driver) readJournal() error {
	j := d.j
	onDisk, err := os.Stat(filepath.Join(d.dir, journalName))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fresh := false
	if mine, err := j.f.Stat(); err != nil || onDisk == nil || !os.SameFile(mine, onDisk) || j.lost {
		if err := d.reopenJournal(); err != nil {
			return err
		}
		fresh = true
	}
	if _, err := j.f.Seek(j.pos, io.SeekStart); err != nil {
		return err
	}
	b, err := io.ReadAll(j.f)
	if err != nil {
		return err
	}
	end := bytes.LastIndexByte(b, '\n') + 1
	j.torn = end < len(b)
	for _, line := range bytes.Split(b[:end], []byte{'\n'}) {
		var e journalEntry
		if len(line) == 0 || json.Unmarshal(line, &e) != nil {
			continue // the remains of a torn write
		}
		d.apply(e)
	}
	j.pos += int64(end)
	if fresh {
		j.base = j.pos // compact again only once it has doubled
	}
	return nil
}

// apply brings the state and operations in line with one journal entry.
func (d *Driver) apply(e journalEntry) {
	key := opKey{e.Step, e.Key, e.Token}
	switch e.Event {
	case "session", "backup":
		d.applyState(stateEntry{Event: e.Event, Key: e.Key, State: e.State})
	case "begin":
		d.ops[key] = &op{began: time.Unix(0, e.Began), dur: e.Dur, fail: e.Fail}
		d.started[e.Step]++
	case "finish":
		if o := d.ops[key]; o != nil {
			o.finished, o.fail = true, e.Fail
		}
	case "count":
		d.started[e.Step] += e.N
	}
}

// stateLines are state lines as journal entries.
func stateLines(es []stateEntry) []journalEntry {
	out := make([]journalEntry, len(es), len(es)+1)
	for i, e := range es {
		out[i] = journalEntry{Event: e.Event, Key: e.Key, State: e.State}
	}
	return out
}

// record appends events to the journal, in one write, and applies them:
// under the folder's lock, the journal read to its end, nothing else is
// appended in between. When the write fails, the next look reads the whole
// journal again, forgetting what was not written.
func (d *Driver) record(es ...journalEntry) error {
	var line []byte
	if d.j.torn {
		line = append(line, '\n') // end the torn line first
	}
	for _, e := range es {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		line = append(append(line, b...), '\n')
	}
	if _, err := d.j.f.Write(line); err != nil {
		d.j.lost = true
		return fmt.Errorf("sim: %s: %w", journalName, err)
	}
	d.j.pos += int64(len(line))
	d.j.torn = false
	for _, e := range es {
		if e.State == nil { // state lines come from what d holds
			d.apply(e)
		}
	}
	if err := d.compact(); err != nil {
		return fmt.Errorf("sim: compact %s: %w", journalName, err)
	}
	return nil
}

func beginEntry(k opKey, o *op) journalEntry {
	return journalEntry{Event: "begin", Step: k.step, Key: k.key, Token: k.token, Began: o.began.UnixNano(), Dur: o.dur, Fail: o.fail}
}

func finishEntry(k opKey, fail *opennimble.DriverError) journalEntry {
	return journalEntry{Event: "finish", Step: k.step, Key: k.key, Token: k.token, Fail: fail}
}

// compact rewrites a large journal with the live sessions and backups and
// without the operations that finished long ago, keeping the started
// totals. It runs under the folder's lock; other
// drivers notice the new file at their next look.
func (d *Driver) compact() error {
	j := d.j
	if j.pos < compactAbove || j.pos < 2*j.base {
		return nil
	}
	now := d.clock.Now()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	kept := map[opennimble.Step]int{}
	var live []journalEntry
	for k, o := range d.ops {
		if o.finished && now.Sub(o.began) > keepFinished {
			continue
		}
		kept[k.step]++
		live = append(live, beginEntry(k, o))
		if o.finished {
			live = append(live, finishEntry(k, o.fail))
		}
	}
	for _, e := range stateLines(d.allEntries()) {
		_ = enc.Encode(e)
	}
	for step, n := range d.started {
		if n -= kept[step]; n > 0 {
			_ = enc.Encode(journalEntry{Event: "count", Step: step, N: n})
		}
	}
	for _, e := range live {
		_ = enc.Encode(e)
	}
	path := filepath.Join(d.dir, journalName)
	if err := os.WriteFile(path+".tmp", buf.Bytes(), 0o600); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return err
	}
	return d.readJournal()
}

// look locks d for a read (or a test's write), as fresh as the folder holds
// it when it is shared. The returned function unlocks.
func (d *Driver) look() func() {
	if d.j == nil {
		d.mu.Lock()
		return d.mu.Unlock
	}
	unlock, err := d.lock()
	if err != nil { // the folder is unreadable: answer from memory
		d.mu.Lock()
		return d.mu.Unlock
	}
	return unlock
}

// resetJournal replaces the journal by an empty one, under the folder's lock.
func (d *Driver) resetJournal() error {
	path := filepath.Join(d.dir, journalName)
	if err := os.WriteFile(path+".tmp", nil, 0o600); err != nil {
		return err
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return err
	}
	return d.readJournal()
}
