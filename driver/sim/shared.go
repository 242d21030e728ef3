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
// Sessions and backups are the JSON files of persist.go, read again for the
// session and backup a call names. Operations are kept in ops.log, a journal
// of one JSON line per event, appended with a single write under the lock:
// "begin" (the operation's start time, duration and decided failure) and
// "finish" (its outcome, written after the effect's files). So an operation
// begun by a replica that was then killed is continued, not begun again, by
// the replica that takes its work over, and Started counts what every
// replica began. The journal is rewritten without old finished operations
// when it grows large; "count" lines carry the totals of what was dropped.

// journalEntry is one line of ops.log.
type journalEntry struct {
	Event string                  `json:"event"` // begin, finish or count
	Step  opennimble.Step         `json:"step"`
	Key   string                  `json:"key,omitempty"`
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
	d.j.f, d.j.pos, d.j.torn = f, 0, false
	d.ops, d.started = map[opKey]*op{}, map[opennimble.Step]int{}
	return nil
}

// loadShared is load, under the folder's lock when it is shared: other
// drivers change the files only while they hold it.
func (d *Driver) loadShared() error {
	if d.j == nil {
		return d.load()
	}
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return d.load()
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
	if err := d.refresh(c); err != nil {
		return opennimble.Progress{}, fmt.Errorf("sim: %w", err)
	}
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
		if fail == nil {
			if fail = apply(); fail == nil {
				if err := d.persist(c); err != nil {
					// Not durable: the next look reads the files again and
					// the step runs again.
					return opennimble.Progress{}, fmt.Errorf("sim: keep state: %w", err)
				}
			}
		}
		// Finished only once the effect is kept: a driver killed in
		// between leaves the operation to be finished again by the next
		// caller, which every step's effect tolerates.
		if err := d.record(finishEntry(key, fail)); err != nil {
			return opennimble.Progress{}, err
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
	if mine, err := j.f.Stat(); err != nil || onDisk == nil || !os.SameFile(mine, onDisk) {
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

// apply brings the operations in line with one journal entry.
func (d *Driver) apply(e journalEntry) {
	key := opKey{e.Step, e.Key, e.Token}
	switch e.Event {
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

// record appends an event to the journal and reads it back, which applies
// it.
func (d *Driver) record(e journalEntry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if d.j.torn {
		line = append([]byte{'\n'}, line...) // end the torn line first
	}
	if _, err := d.j.f.Write(line); err != nil {
		return fmt.Errorf("sim: %s: %w", journalName, err)
	}
	if err := d.readJournal(); err != nil {
		return fmt.Errorf("sim: %s: %w", journalName, err)
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

// compact rewrites a large journal without the operations that finished
// long ago, keeping the started totals. It runs under the folder's lock; other
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

// refresh reads again, under the folder's lock, the session and backup a
// call touches, which another driver may have changed.
func (d *Driver) refresh(c Call) error {
	if c.SessionID != "" {
		if err := d.reloadSession(c.SessionID); err != nil {
			return err
		}
	}
	if c.BackupID != "" {
		if err := d.reloadBackup(c.BackupID); err != nil {
			return err
		}
	}
	return nil
}

func (d *Driver) reloadSession(id string) error {
	b, err := os.ReadFile(filepath.Join(d.dir, "sessions", id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		delete(d.sessions, id)
		return nil
	}
	if err != nil {
		return err
	}
	var f sessionFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("sim state of session %s: %w", id, err)
	}
	d.sessions[id] = &session{instance: f.Instance, volume: f.Volume}
	return nil
}

func (d *Driver) reloadBackup(id string) error {
	b, err := os.ReadFile(filepath.Join(d.dir, "backups", id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		delete(d.backups, id)
		return nil
	}
	if err != nil {
		return err
	}
	var f backupFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("sim state of backup %s: %w", id, err)
	}
	d.backups[id] = &backup{sessionID: f.SessionID, gen: f.Gen, data: f.Data}
	return nil
}

// look locks d for a read (or a test's write) of the session and backup c
// names, as fresh as the folder holds them when it is shared. The returned
// function unlocks.
func (d *Driver) look(c Call) func() {
	if d.j == nil {
		d.mu.Lock()
		return d.mu.Unlock
	}
	unlock, err := d.lock()
	if err != nil { // the folder is unreadable: answer from memory
		d.mu.Lock()
		return d.mu.Unlock
	}
	_ = d.refresh(c)
	return unlock
}

// lookAll is look for every session and backup.
func (d *Driver) lookAll() func() {
	unlock := d.look(Call{})
	if d.j != nil {
		clear(d.sessions)
		clear(d.backups)
		_ = d.load()
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
