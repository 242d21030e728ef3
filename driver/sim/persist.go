package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The simulation keeps what a real workstation fleet would keep across a
// restart of the control plane: each session's instance and volume and each
// backup, one small JSON file per object under Options.Dir, replaced with
// write-then-rename so that a crash leaves either the old or the new file.
// In-flight operations are not kept: after a restart a step begins again,
// and every step's effect is idempotent.

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

// persist saves the session and backup a call touched. It runs under d.mu.
func (d *Driver) persist(c Call) error {
	if d.dir == "" {
		return nil
	}
	var errs []error
	if c.SessionID != "" {
		path := filepath.Join(d.dir, "sessions", c.SessionID+".json")
		if s := d.sessions[c.SessionID]; s != nil {
			errs = append(errs, writeJSON(path, sessionFile{Instance: s.instance, Volume: s.volume}))
		} else {
			errs = append(errs, remove(path))
		}
	}
	if c.BackupID != "" {
		path := filepath.Join(d.dir, "backups", c.BackupID+".json")
		if b := d.backups[c.BackupID]; b != nil {
			errs = append(errs, writeJSON(path, backupFile{SessionID: b.sessionID, Gen: b.gen, Data: b.data}))
		} else {
			errs = append(errs, remove(path))
		}
	}
	return errors.Join(errs...)
}

func writeJSON(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
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
