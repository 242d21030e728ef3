package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// The simulation keeps what a real workstation fleet would keep across a
// restart of the control plane: each session's instance and volume and each
// backup. Under Options.Dir they are lines of state.log, one JSON object per
// changed session or backup (its whole state, null once removed), appended
// with one write(2) when a step completes, before the step reports done; at
// load later lines win. Nothing is fsynced: what a completed step did
// survives a kill of the server (the page cache keeps it), not a crash of
// the machine. A line torn by a kill mid-write is skipped, and its step,
// which did not report done, runs again: every step's effect is idempotent.
// The log is rewritten with the live objects only (written aside, then
// renamed over it) at load and when it has grown past twice that size.
// In-flight operations are not kept: after a restart a step begins again.
// (With Options.Shared the state lines, and operations, go to ops.log
// instead; see shared.go.)
//
// Older versions kept one file per object, sessions/<id>.json and
// backups/<id>.json; load reads them into the log and removes them.

const logName = "state.log"

// compactLogAbove is the size below which state.log is never rewritten
// while the driver runs; a variable for tests.
var compactLogAbove int64 = 4 << 20

// stateEntry is one line of state.log: the whole state of one session
// (Event "session", State a sessionFile) or backup ("backup", a backupFile),
// State null when it no longer exists. ops.log's lines (journalEntry) share
// the shape.
type stateEntry struct {
	Event string          `json:"event"`
	Key   string          `json:"key"`
	State json.RawMessage `json:"state"`
}

type sessionFile struct {
	Instance string  `json:"instance"`
	Volume   *volume `json:"volume,omitempty"`
}

type volumeJSON struct {
	Gen    int64  `json:"generation"`
	Data   string `json:"data"`
	Source string `json:"source"`
}

func (v *volume) MarshalJSON() ([]byte, error) {
	return json.Marshal(volumeJSON{Gen: v.gen, Data: v.data, Source: v.source})
}

func (v *volume) UnmarshalJSON(b []byte) error {
	var j volumeJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*v = volume{gen: j.Gen, data: j.Data, source: j.Source}
	return nil
}

type backupFile struct {
	SessionID string `json:"sessionId"`
	Gen       int64  `json:"generation"`
	Data      string `json:"data"`
}

// sessionEntry is the line that keeps session id as d holds it.
func (d *Driver) sessionEntry(id string) stateEntry {
	e := stateEntry{Event: "session", Key: id, State: json.RawMessage("null")}
	if s := d.sessions[id]; s != nil {
		e.State, _ = json.Marshal(sessionFile{Instance: s.instance, Volume: s.volume})
	}
	return e
}

// backupEntry is the line that keeps backup id as d holds it.
func (d *Driver) backupEntry(id string) stateEntry {
	e := stateEntry{Event: "backup", Key: id, State: json.RawMessage("null")}
	if b := d.backups[id]; b != nil {
		e.State, _ = json.Marshal(backupFile{SessionID: b.sessionID, Gen: b.gen, Data: b.data})
	}
	return e
}

// entries are the lines that keep the session and backup c touched.
func (d *Driver) entries(c Call) []stateEntry {
	var out []stateEntry
	if c.SessionID != "" {
		out = append(out, d.sessionEntry(c.SessionID))
	}
	if c.BackupID != "" {
		out = append(out, d.backupEntry(c.BackupID))
	}
	return out
}

// allEntries are the lines that keep everything d holds.
func (d *Driver) allEntries() []stateEntry {
	out := make([]stateEntry, 0, len(d.sessions)+len(d.backups))
	for id := range d.sessions {
		out = append(out, d.sessionEntry(id))
	}
	for id := range d.backups {
		out = append(out, d.backupEntry(id))
	}
	return out
}

// applyState sets what a line says; it reports false for a line it cannot
// read (the remains of a torn write).
func (d *Driver) applyState(e stateEntry) bool {
	removed := len(e.State) == 0 || string(e.State) == "null"
	switch e.Event {
	case "session":
		var f sessionFile
		if removed {
			delete(d.sessions, e.Key)
		} else if json.Unmarshal(e.State, &f) == nil {
			d.sessions[e.Key] = &session{instance: f.Instance, volume: f.Volume}
		} else {
			return false
		}
	case "backup":
		var f backupFile
		if removed {
			delete(d.backups, e.Key)
		} else if json.Unmarshal(e.State, &f) == nil {
			d.backups[e.Key] = &backup{sessionID: f.SessionID, gen: f.Gen, data: f.Data}
		} else {
			return false
		}
	default:
		return false
	}
	return true
}

// appendEntries appends the lines to b, as json.Marshal would write them
// without validating State again.
func appendEntries(b []byte, es []stateEntry) []byte {
	for _, e := range es {
		key, _ := json.Marshal(e.Key)
		b = append(append(append(b, `{"event":"`...), e.Event...), `","key":`...)
		b = append(append(append(b, key...), `,"state":`...), e.State...)
		b = append(b, "}\n"...)
	}
	return b
}

// stateLog is the driver's state.log, without Options.Shared. Steps queue
// their lines under Driver.mu, in the order their effects happened, and
// whichever caller gets to write first writes every line queued so far in
// one write(2): callers that were waiting find theirs written.
type stateLog struct {
	path string

	wmu   sync.Mutex // held by the one caller writing or compacting
	f     *os.File   // opened O_APPEND
	size  int64      // bytes in f
	live  int64      // bytes of the last compaction
	torn  bool       // a failed write may have left a partial line
	done  uint64     // the last queued line written
	spare []byte     // the queue last written, to queue in again

	// Under Driver.mu.
	queue  []byte
	queued uint64 // lines queued since the driver began
}

// queue queues the lines that keep the session and backup c touched, for
// flush, and returns the last one's number (0 without state.log). It runs
// under d.mu, when the effect happens, so that the lines are in the order
// of the effects.
func (d *Driver) queue(c Call) uint64 {
	if d.log == nil {
		return 0
	}
	es := d.entries(c)
	d.log.queue = appendEntries(d.log.queue, es)
	d.log.queued += uint64(len(es))
	return d.log.queued
}

// flush writes the lines queued up to upto, unless another caller already
// has. It runs without d.mu, which it takes to take the queue.
func (d *Driver) flush(upto uint64) error {
	l := d.log
	if l == nil || upto == 0 {
		return nil
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.done >= upto {
		return nil
	}
	d.mu.Lock()
	b, end := l.queue, l.queued
	l.queue, l.spare = l.spare[:0], nil
	d.mu.Unlock()
	if l.torn {
		if _, err := l.f.Write([]byte{'\n'}); err != nil {
			d.requeue(b)
			return err
		}
		l.size, l.torn = l.size+1, false
	}
	n, err := l.f.Write(b)
	l.size += int64(n)
	if err != nil {
		// Queued again, the lines are written by the next flush, which a
		// caller that was waiting for them does at once.
		l.torn = n > 0
		d.requeue(b)
		return err
	}
	l.done, l.spare = end, b[:0]
	if l.size >= compactLogAbove && l.size >= 2*l.live {
		// The lines are written: a failed compaction leaves the log as
		// it was, to be compacted by a later flush.
		_ = d.compactLog()
	}
	return nil
}

// requeue puts lines that could not be written back in front of the queue.
func (d *Driver) requeue(b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.log.queue = append(b, d.log.queue...)
}

// compactLog replaces state.log with the lines of the live objects, which
// include every line queued so far. It runs under l.wmu, and takes d.mu to
// copy the state.
func (d *Driver) compactLog() error {
	l := d.log
	d.mu.Lock()
	es := d.allEntries()
	queue, end := l.queue, l.queued
	l.queue = nil
	d.mu.Unlock()
	b := appendEntries(nil, es)
	f, err := writeRenamed(l.path, b)
	if err != nil {
		d.requeue(queue)
		return err
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f, l.size, l.live, l.torn, l.done = f, int64(len(b)), int64(len(b)), false, end
	return nil
}

// writeRenamed writes b to a new file that then replaces path, and returns
// it open for appending.
func writeRenamed(path string, b []byte) (*os.File, error) {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err = f.Write(b); err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	return f, nil
}

// load reads Options.Dir without Options.Shared: the files of the older
// layout, then state.log, which it compacts; then it removes the older
// files, now in the log.
func (d *Driver) load() error {
	if d.dir == "" {
		return nil
	}
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	old, err := d.readFiles()
	if err != nil {
		return err
	}
	d.log = &stateLog{path: filepath.Join(d.dir, logName)}
	// What a compaction killed before its rename left.
	tmps, _ := filepath.Glob(d.log.path + ".*.tmp")
	for _, tmp := range tmps {
		_ = os.Remove(tmp)
	}
	b, err := os.ReadFile(d.log.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	d.replay(b)
	d.log.wmu.Lock()
	defer d.log.wmu.Unlock()
	if err := d.compactLog(); err != nil {
		return fmt.Errorf("sim: compact %s: %w", logName, err)
	}
	if old {
		return d.removeFiles()
	}
	return nil
}

// replay applies the lines of a log, skipping those it cannot read.
func (d *Driver) replay(b []byte) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		var e stateEntry
		if len(line) > 0 && json.Unmarshal(line, &e) == nil {
			d.applyState(e)
		}
	}
}

// ReadState returns what a Dir holds, shared or not, without changing it,
// so that a test can look at the folder of a running server.
func ReadState(dir string) (State, error) {
	d := &Driver{dir: dir, sessions: map[string]*session{}, backups: map[string]*backup{}}
	if _, err := d.readFiles(); err != nil {
		return State{}, err
	}
	// ops.log's state lines are state.log's; its other lines are skipped.
	for _, name := range []string{journalName, logName} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return State{}, err
		}
		d.replay(b)
	}
	return d.dump(), nil
}

// oldDirs are the folders of the older layout, one file per object.
var oldDirs = []string{"sessions", "backups"}

// readFiles reads the files of the older layout, if any, and reports
// whether there were folders of it.
func (d *Driver) readFiles() (bool, error) {
	found := false
	var errs []error
	for _, sub := range oldDirs {
		dir := filepath.Join(d.dir, sub)
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		found = true
		errs = append(errs, readAll(dir, func(id string, b []byte) error {
			e := stateEntry{Event: strings.TrimSuffix(sub, "s"), Key: id, State: b}
			if !d.applyState(e) {
				return errors.New("unreadable")
			}
			return nil
		}))
	}
	return found, errors.Join(errs...)
}

// removeFiles removes the folders of the older layout.
func (d *Driver) removeFiles() error {
	var errs []error
	for _, sub := range oldDirs {
		errs = append(errs, os.RemoveAll(filepath.Join(d.dir, sub)))
	}
	return errors.Join(errs...)
}

func readAll(dir string, fn func(id string, b []byte) error) error {
	return filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := fn(strings.TrimSuffix(e.Name(), ".json"), b); err != nil {
			return fmt.Errorf("sim state %s: %w", path, err)
		}
		return nil
	})
}
