package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/backup"
)

// Provision gives a new session a running instance on a volume made from
// the image (unless it has that generation already: a repeated call).
func (d *Driver) Provision(ctx context.Context, p opennimble.ProvisionParams) (opennimble.Progress, error) {
	return d.run(ctx, opKey{opennimble.StepProvision, p.SessionID, p.Token}, func(ctx context.Context) error {
		return d.session(p.SessionID, func(st *sessionState) error {
			if st.Volume == nil || st.Volume.Generation < p.Volume.Generation {
				if err := d.fromImage(ctx, p.SessionID, st, p.Volume.Generation, p.ImageID, p.ImageSource); err != nil {
					return err
				}
			}
			if err := d.startDesktop(ctx, p.SessionID, st, p.Workstation, p.InstanceType); err != nil {
				return err
			}
			st.Instance = instanceRunning
			return nil
		})
	})
}

// Stop stops the session's instance; its volume stays as it is.
func (d *Driver) Stop(ctx context.Context, p opennimble.StopParams) (opennimble.Progress, error) {
	return d.run(ctx, opKey{opennimble.StepStop, p.SessionID, p.Token}, func(ctx context.Context) error {
		return d.session(p.SessionID, func(st *sessionState) error {
			if st.Instance == instanceTerminated {
				return failf("session %s is terminated", p.SessionID)
			}
			d.stopDesktop(p.SessionID)
			st.Instance = instanceStopped
			return nil
		})
	})
}

// Start runs the session on its volume of the generation asked for, made
// from the image first when the session's volume is older or gone.
func (d *Driver) Start(ctx context.Context, p opennimble.StartParams) (opennimble.Progress, error) {
	return d.run(ctx, opKey{opennimble.StepStart, p.SessionID, p.Token}, func(ctx context.Context) error {
		return d.session(p.SessionID, func(st *sessionState) error {
			v, gen := st.Volume, p.Volume.Generation
			switch {
			case st.Instance == instanceTerminated:
				return failf("session %s is terminated", p.SessionID)
			case v != nil && v.Generation > gen:
				return failf("session %s has volume generation %d, newer than %d", p.SessionID, v.Generation, gen)
			case v == nil || v.Generation < gen:
				if err := d.fromImage(ctx, p.SessionID, st, gen, p.ImageID, p.ImageSource); err != nil {
					return err
				}
			default:
				if _, err := os.Stat(d.VolumePath(p.SessionID)); errors.Is(err, fs.ErrNotExist) {
					return failf("the volume of session %s (%s) is missing", p.SessionID, d.VolumePath(p.SessionID))
				}
			}
			if err := d.startDesktop(ctx, p.SessionID, st, p.Workstation, p.InstanceType); err != nil {
				return err
			}
			st.Instance = instanceRunning
			return nil
		})
	})
}

// Terminate removes the session's instance and volume; backups stay.
func (d *Driver) Terminate(ctx context.Context, p opennimble.TerminateParams) (opennimble.Progress, error) {
	return d.run(ctx, opKey{opennimble.StepTerminate, p.SessionID, p.Token}, func(ctx context.Context) error {
		return d.session(p.SessionID, func(st *sessionState) error {
			d.stopDesktop(p.SessionID)
			if err := d.removeDesktopRuntime(p.SessionID); err != nil {
				return err
			}
			if err := d.removeVolume(p.SessionID); err != nil {
				return err
			}
			*st = sessionState{Instance: instanceTerminated}
			return nil
		})
	})
}

// Snapshot backs the session's volume up as backup BackupID, taking over
// the unchanged files of the session's previous backup. A backup that
// exists already is complete: it is not taken again.
func (d *Driver) Snapshot(ctx context.Context, p opennimble.SnapshotParams) (opennimble.Progress, error) {
	return d.run(ctx, opKey{opennimble.StepSnapshot, p.BackupID, ""}, func(ctx context.Context) error {
		if !backup.ValidID(p.BackupID) {
			return failf("invalid backup id %q", p.BackupID)
		}
		return d.session(p.SessionID, func(st *sessionState) error {
			if ok, err := d.repo.Exists(ctx, p.BackupID); err != nil || ok {
				return err
			}
			v := st.Volume
			switch {
			case v == nil:
				return failf("session %s has no volume to back up", p.SessionID)
			case v.Generation != p.VolumeGeneration:
				return failf("session %s has volume generation %d, not %d", p.SessionID, v.Generation, p.VolumeGeneration)
			}
			dir := d.VolumePath(p.SessionID)
			if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
				return failf("the volume of session %s (%s) is missing", p.SessionID, dir)
			}
			stats, err := d.repo.Snapshot(ctx, dir, backup.SnapshotOptions{ID: p.BackupID, Parent: st.LastBackup,
				Meta: map[string]string{"sessionId": p.SessionID, "volumeGeneration": strconv.FormatInt(v.Generation, 10)}})
			var se *backup.SourceError
			if errors.As(err, &se) {
				return failf("cannot read the volume of session %s: %v", p.SessionID, se.Err)
			}
			if err != nil {
				return err
			}
			d.log.Info("local driver: backup taken", "session", p.SessionID, "backup", p.BackupID, "files", stats.Files,
				"bytes", stats.Bytes, "filesRead", stats.ReadFiles, "newChunks", stats.NewChunks, "stored", stats.Stored(), "duration", stats.Duration)
			if d.metrics != nil {
				d.metrics.ObserveSnapshot(stats.Duration, stats.Bytes, stats.Stored())
			}
			st.LastBackup = p.BackupID
			return nil
		})
	})
}

// Restore replaces the session's volume by a new one holding the backup.
// The backup is restored to a scratch directory first, so a damaged backup
// fails the restore and leaves the session's volume as it was.
func (d *Driver) Restore(ctx context.Context, p opennimble.RestoreParams) (opennimble.Progress, error) {
	return d.run(ctx, opKey{opennimble.StepRestore, p.SessionID, p.Token}, func(ctx context.Context) error {
		return d.session(p.SessionID, func(st *sessionState) error {
			v, gen, source := st.Volume, p.Volume.Generation, "backup:"+p.BackupID
			switch {
			case v != nil && v.Generation > gen:
				return failf("session %s has volume generation %d, newer than %d", p.SessionID, v.Generation, gen)
			case v != nil && v.Generation == gen && v.Source == source:
				return nil // restored before a crash
			}
			d.stopDesktop(p.SessionID)
			return d.replaceVolume(ctx, p.SessionID, st, gen, source, func(dir string) error {
				rs, err := d.repo.Restore(ctx, p.BackupID, dir)
				if err == nil && d.metrics != nil {
					d.metrics.ObserveRestore(rs.Duration, rs.Bytes)
				}
				var se *backup.SourceError
				switch {
				case errors.Is(err, backup.ErrNoBackup):
					return failf("backup %s does not exist", p.BackupID)
				case errors.Is(err, backup.ErrCorrupt):
					return failf("backup %s is damaged and was not restored: %v", p.BackupID, err)
				case errors.As(err, &se):
					return failf("cannot write the volume of session %s: %v", p.SessionID, se.Err)
				}
				return err
			})
		})
	})
}

// DeleteVolume deletes the session's volume unless it is newer than asked.
func (d *Driver) DeleteVolume(ctx context.Context, p opennimble.DeleteVolumeParams) (opennimble.Progress, error) {
	return d.run(ctx, opKey{opennimble.StepDeleteVolume, p.SessionID, p.Token}, func(ctx context.Context) error {
		return d.session(p.SessionID, func(st *sessionState) error {
			if st.Volume == nil || st.Volume.Generation > p.VolumeGeneration {
				return nil
			}
			d.stopDesktop(p.SessionID)
			if err := d.removeVolume(p.SessionID); err != nil {
				return err
			}
			st.Volume = nil
			return nil
		})
	})
}

// DeleteBackup deletes a backup; the chunks only it used are freed by the
// garbage collection it starts.
func (d *Driver) DeleteBackup(ctx context.Context, p opennimble.DeleteBackupParams) (opennimble.Progress, error) {
	return d.run(ctx, opKey{opennimble.StepDeleteBackup, p.BackupID, ""}, func(ctx context.Context) error {
		if !backup.ValidID(p.BackupID) {
			return nil // no such backup can exist
		}
		if err := d.repo.Delete(ctx, p.BackupID); err != nil {
			return err
		}
		d.collectSoon()
		return nil
	})
}

// session runs fn on the session's state under its lock and saves the
// state when fn succeeds.
func (d *Driver) session(id string, fn func(st *sessionState) error) error {
	if err := validID(id); err != nil {
		return err
	}
	defer d.lockSession(id)()
	st, err := d.load(id)
	if err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	if err := d.save(id, st); err != nil {
		return fmt.Errorf("local driver: save the state of session %s: %w", id, err)
	}
	return nil
}
