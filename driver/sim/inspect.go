package sim

import opennimble "github.com/opennimble/opennimble"

// VolumeInfo is what the simulation knows of a session's volume.
type VolumeInfo struct {
	Generation int64
	// Data stands for the volume's contents: the image's (see ImageData)
	// until Write changes it, or a backup's after a restore.
	Data string
	// Source is "image:<id or source>", "backup:<id>" or "adopted".
	Source string
}

// Volume returns the session's volume, or ok false when it has none.
func (d *Driver) Volume(sessionID string) (VolumeInfo, bool) {
	defer d.look()()
	s := d.sessions[sessionID]
	if s == nil || s.volume == nil {
		return VolumeInfo{}, false
	}
	return VolumeInfo{Generation: s.volume.gen, Data: s.volume.data, Source: s.volume.source}, true
}

// Write stands for a user changing the session's volume: its data becomes
// data. It reports false when the session has no volume.
func (d *Driver) Write(sessionID, data string) bool {
	c := Call{SessionID: sessionID}
	unlock := d.look()
	s := d.sessions[sessionID]
	if s == nil || s.volume == nil {
		unlock()
		return false
	}
	s.volume.data = data
	var kept uint64
	if d.j != nil {
		_ = d.record(stateLines(d.entries(c))...)
	} else {
		kept = d.queue(c)
	}
	unlock()
	_ = d.flush(kept)
	return true
}

// Instance returns the state of the session's instance (InstanceRunning,
// InstanceStopped, InstanceTerminated), or "" if the driver never saw it.
func (d *Driver) Instance(sessionID string) string {
	defer d.look()()
	if s := d.sessions[sessionID]; s != nil {
		return s.instance
	}
	return ""
}

// BackupInfo is what the simulation knows of a backup.
type BackupInfo struct {
	SessionID  string
	Generation int64
	Data       string
}

// Backup returns a backup's data, or ok false when it does not exist.
func (d *Driver) Backup(backupID string) (BackupInfo, bool) {
	defer d.look()()
	b := d.backups[backupID]
	if b == nil {
		return BackupInfo{}, false
	}
	return BackupInfo{SessionID: b.sessionID, Generation: b.gen, Data: b.data}, true
}

// Backups counts the backups that exist.
func (d *Driver) Backups() int {
	defer d.look()()
	return len(d.backups)
}

// Calls counts every call of a step, including repeated calls that only
// asked how an operation was doing, by this driver.
func (d *Driver) Calls(step opennimble.Step) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[step]
}

// Started counts the operations of a step that were begun: a repeated call
// for the same operation does not count, so tests can check that no step
// ran twice. With Options.Shared it counts what every driver on the folder
// began, in every process.
func (d *Driver) Started(step opennimble.Step) int {
	defer d.look()()
	return d.started[step]
}
