package sim

import (
	"context"

	opennimble "github.com/opennimble/opennimble"
)

// Provision creates the session running on a volume made from the image.
func (d *Driver) Provision(ctx context.Context, p opennimble.ProvisionParams) (opennimble.Progress, error) {
	c := Call{Step: opennimble.StepProvision, SessionID: p.SessionID, Token: p.Token}
	return d.do(ctx, c, opKey{opennimble.StepProvision, p.SessionID, p.Token}, func() *opennimble.DriverError {
		s := d.sessions[p.SessionID]
		if s == nil {
			s = &session{}
			d.sessions[p.SessionID] = s
		}
		if s.volume == nil || s.volume.gen < p.Volume.Generation {
			s.volume = fromImage(p.Volume.Generation, p.ImageID, p.ImageSource)
		}
		s.instance = InstanceRunning
		return nil
	})
}

// Stop stops the session's instance and keeps its volume.
func (d *Driver) Stop(ctx context.Context, p opennimble.StopParams) (opennimble.Progress, error) {
	c := Call{Step: opennimble.StepStop, SessionID: p.SessionID, Token: p.Token}
	return d.do(ctx, c, opKey{opennimble.StepStop, p.SessionID, p.Token}, func() *opennimble.DriverError {
		s := d.session(p.SessionID)
		if s.instance == InstanceTerminated {
			return internal("session %s is terminated", p.SessionID)
		}
		s.instance = InstanceStopped
		return nil
	})
}

// Start runs the session on the volume generation asked for, made from the
// image when the session does not have it yet.
func (d *Driver) Start(ctx context.Context, p opennimble.StartParams) (opennimble.Progress, error) {
	c := Call{Step: opennimble.StepStart, SessionID: p.SessionID, Token: p.Token}
	return d.do(ctx, c, opKey{opennimble.StepStart, p.SessionID, p.Token}, func() *opennimble.DriverError {
		s := d.session(p.SessionID)
		v := s.volume
		switch {
		case s.instance == InstanceTerminated:
			return internal("session %s is terminated", p.SessionID)
		case v != nil && v.gen == 0:
			v.gen = p.Volume.Generation // adopted after a restart
		case v != nil && v.gen > p.Volume.Generation:
			return internal("session %s has volume generation %d, newer than %d", p.SessionID, v.gen, p.Volume.Generation)
		case v == nil || v.gen < p.Volume.Generation:
			s.volume = fromImage(p.Volume.Generation, p.ImageID, p.ImageSource)
		}
		s.instance = InstanceRunning
		return nil
	})
}

// Terminate removes the session's instance and volume.
func (d *Driver) Terminate(ctx context.Context, p opennimble.TerminateParams) (opennimble.Progress, error) {
	c := Call{Step: opennimble.StepTerminate, SessionID: p.SessionID, Token: p.Token}
	return d.do(ctx, c, opKey{opennimble.StepTerminate, p.SessionID, p.Token}, func() *opennimble.DriverError {
		d.sessions[p.SessionID] = &session{instance: InstanceTerminated}
		return nil
	})
}

// Snapshot copies the session's volume into a backup.
func (d *Driver) Snapshot(ctx context.Context, p opennimble.SnapshotParams) (opennimble.Progress, error) {
	c := Call{Step: opennimble.StepSnapshot, SessionID: p.SessionID, BackupID: p.BackupID}
	return d.do(ctx, c, opKey{opennimble.StepSnapshot, p.BackupID, ""}, func() *opennimble.DriverError {
		v := d.session(p.SessionID).volume
		switch {
		case v == nil:
			return internal("session %s has no volume to back up", p.SessionID)
		case v.gen == 0:
			v.gen = p.VolumeGeneration // adopted after a restart
		case v.gen != p.VolumeGeneration:
			return internal("session %s has volume generation %d, not %d", p.SessionID, v.gen, p.VolumeGeneration)
		}
		d.backups[p.BackupID] = &backup{sessionID: p.SessionID, gen: v.gen, data: v.data}
		return nil
	})
}

// Restore gives the session a new volume holding a backup's data.
func (d *Driver) Restore(ctx context.Context, p opennimble.RestoreParams) (opennimble.Progress, error) {
	c := Call{Step: opennimble.StepRestore, SessionID: p.SessionID, BackupID: p.BackupID, Token: p.Token}
	return d.do(ctx, c, opKey{opennimble.StepRestore, p.SessionID, p.Token}, func() *opennimble.DriverError {
		b := d.backups[p.BackupID]
		if b == nil {
			return internal("backup %s does not exist", p.BackupID)
		}
		s := d.session(p.SessionID)
		if s.volume != nil && s.volume.gen > p.Volume.Generation {
			return internal("session %s has volume generation %d, newer than %d", p.SessionID, s.volume.gen, p.Volume.Generation)
		}
		s.volume = &volume{gen: p.Volume.Generation, data: b.data, source: "backup:" + p.BackupID}
		return nil
	})
}

// DeleteVolume deletes the session's volume unless it is newer than asked.
func (d *Driver) DeleteVolume(ctx context.Context, p opennimble.DeleteVolumeParams) (opennimble.Progress, error) {
	c := Call{Step: opennimble.StepDeleteVolume, SessionID: p.SessionID, Token: p.Token}
	return d.do(ctx, c, opKey{opennimble.StepDeleteVolume, p.SessionID, p.Token}, func() *opennimble.DriverError {
		if s := d.sessions[p.SessionID]; s != nil && s.volume != nil && s.volume.gen <= p.VolumeGeneration {
			s.volume = nil
		}
		return nil
	})
}

// DeleteBackup deletes a backup's data.
func (d *Driver) DeleteBackup(ctx context.Context, p opennimble.DeleteBackupParams) (opennimble.Progress, error) {
	c := Call{Step: opennimble.StepDeleteBackup, BackupID: p.BackupID}
	return d.do(ctx, c, opKey{opennimble.StepDeleteBackup, p.BackupID, ""}, func() *opennimble.DriverError {
		delete(d.backups, p.BackupID)
		return nil
	})
}

func fromImage(gen int64, imageID, source string) *volume {
	if source == "" {
		source = imageID
	}
	return &volume{gen: gen, data: ImageData(imageID), source: "image:" + source}
}

// ImageData is what a fresh volume made from an image holds in the simulation.
func ImageData(imageID string) string { return "image " + imageID }
