package sim

import (
	"errors"
	"sort"

	opennimble "github.com/opennimble/opennimble"
)

// Reset forgets every session, volume, backup and operation, in memory and
// in Options.Dir, and zeroes the call counters, as if the driver were new.
// Durations, failures and the rule stay. An operation in flight when Reset
// runs may still leave its effect behind it.
func (d *Driver) Reset() error {
	unlock := d.look()
	clear(d.ops)
	d.finished = nil
	clear(d.sessions)
	clear(d.backups)
	clear(d.calls)
	clear(d.started)
	var err error
	if d.j != nil {
		err = errors.Join(d.resetJournal(), d.removeFiles())
	}
	unlock()
	if d.log != nil {
		d.log.wmu.Lock()
		defer d.log.wmu.Unlock()
		err = d.compactLog()
	}
	return err
}

// SessionState is what the simulation holds for one session.
type SessionState struct {
	ID       string       `json:"id"`
	Instance string       `json:"instance"`
	Volume   *VolumeState `json:"volume,omitempty"`
}

// VolumeState is a session's volume.
type VolumeState struct {
	Generation int64  `json:"generation"`
	Data       string `json:"data"`
	Source     string `json:"source"`
}

// BackupState is what the simulation holds for one backup.
type BackupState struct {
	ID         string `json:"id"`
	SessionID  string `json:"sessionId"`
	Generation int64  `json:"generation"`
	Data       string `json:"data"`
}

// State is everything the simulation holds, in id order.
type State struct {
	Sessions []SessionState `json:"sessions"`
	Backups  []BackupState  `json:"backups"`
}

var (
	_ opennimble.Resetter    = (*Driver)(nil)
	_ opennimble.StateDumper = (*Driver)(nil)
)

// DumpState is Dump, for the emulator's state dump.
func (d *Driver) DumpState() any { return d.Dump() }

// Dump returns a copy of everything the simulation holds.
func (d *Driver) Dump() State {
	defer d.look()()
	return d.dump()
}

func (d *Driver) dump() State {
	st := State{Sessions: []SessionState{}, Backups: []BackupState{}}
	for id, s := range d.sessions {
		ss := SessionState{ID: id, Instance: s.instance}
		if v := s.volume; v != nil {
			ss.Volume = &VolumeState{Generation: v.gen, Data: v.data, Source: v.source}
		}
		st.Sessions = append(st.Sessions, ss)
	}
	for id, b := range d.backups {
		st.Backups = append(st.Backups, BackupState{ID: id, SessionID: b.sessionID, Generation: b.gen, Data: b.data})
	}
	sort.Slice(st.Sessions, func(i, j int) bool { return st.Sessions[i].ID < st.Sessions[j].ID })
	sort.Slice(st.Backups, func(i, j int) bool { return st.Backups[i].ID < st.Backups[j].ID })
	return st
}
