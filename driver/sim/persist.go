package sim

import (
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
// backup, one small JSON file per object under Options.Dir, replaced with
// write-then-rename so that a crash leaves either the old or the new file.
// In-flight operations are not kept: after a restart a step begins again,
// and every step's effect is idempotent. (With Options.Shared they are kept
// too; see shared.go.)

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

func (d *Driver) load() error {
	if d.dir == "" {
		return nil
	}
	for _, sub := range []string{"sessions", "backups"} {
		if err := os.MkdirAll(filepath.Join(d.dir, sub), 0o700); err != nil {
			return err
		}
	}
	return errors.Join(
		readAll(filepath.Join(d.dir, "sessions"), func(id string, b []byte) error {
			var f sessionFile
			if err := json.Unmarshal(b, &f); err != nil {
				return err
			}
			d.sessions[id] = &session{instance: f.Instance, volume: f.Volume}
			return nil
		}),
		readAll(filepath.Join(d.dir, "backups"), func(id string, b []byte) error {
			var f backupFile
			if err := json.Unmarshal(b, &f); err != nil {
				return err
			}
			d.backups[id] = &backup{sessionID: f.SessionID, gen: f.Gen, data: f.Data}
			return nil
		}),
	)
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

// fileWrite is the new content of one state file (nil data removes it),
// numbered so that a slower writer never replaces a newer state.
type fileWrite struct {
	path string
	data []byte
	seq  uint64
}

type fileState struct {
	mu      sync.Mutex
	written uint64
}

// capture records the state a call touched, to be written by writeFiles. It
// runs under d.mu.
func (d *Driver) capture(c Call) []fileWrite {
	if d.dir == "" {
		return nil
	}
	var out []fileWrite
	add := func(path string, v any, exists bool) {
		d.seq++
		w := fileWrite{path: path, seq: d.seq}
		if exists {
			w.data, _ = json.Marshal(v)
		}
		out = append(out, w)
	}
	if c.SessionID != "" {
		s := d.sessions[c.SessionID]
		var f sessionFile
		if s != nil {
			f = sessionFile{Instance: s.instance, Volume: s.volume.clone()}
		}
		add(filepath.Join(d.dir, "sessions", c.SessionID+".json"), f, s != nil)
	}
	if c.BackupID != "" {
		b := d.backups[c.BackupID]
		var f backupFile
		if b != nil {
			f = backupFile{SessionID: b.sessionID, Gen: b.gen, Data: b.data}
		}
		add(filepath.Join(d.dir, "backups", c.BackupID+".json"), f, b != nil)
	}
	return out
}

// writeFiles writes captured state, each file at most once per newer state.
func (d *Driver) writeFiles(ws []fileWrite) error {
	var errs []error
	for _, w := range ws {
		v, _ := d.files.LoadOrStore(w.path, &fileState{})
		fs := v.(*fileState)
		fs.mu.Lock()
		if w.seq > fs.written {
			var err error
			if w.data == nil {
				err = remove(w.path)
			} else {
				err = writeFile(w.path, w.data)
			}
			if err == nil {
				fs.written = w.seq
			}
			errs = append(errs, err)
		}
		fs.mu.Unlock()
	}
	return errors.Join(errs...)
}

// persist saves the session and backup a call touched, at once.
func (d *Driver) persist(c Call) error {
	return d.writeFiles(d.capture(c))
}

func (v *volume) clone() *volume {
	if v == nil {
		return nil
	}
	c := *v
	return &c
}

func writeFile(path string, b []byte) error {
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func remove(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
