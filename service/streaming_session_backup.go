package service

import (
	"context"
	"maps"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/api"
)

// createBackup creates the backup a stop of d fills, in CREATE_IN_PROGRESS,
// with the session's tags.
func (s *Service) createBackup(ctx context.Context, t *txn, d *sessionDoc) (*backupDoc, error) {
	now := s.now()
	id := s.ids.New("bak")
	b := &backupDoc{StudioId: d.StudioId, VolumeGeneration: d.Volume.Generation, UpdatedAt: &now,
		StreamingSessionBackup: api.StreamingSessionBackup{
			Arn:             s.arn(opennimble.KindStreamingBackup, id),
			BackupId:        id,
			CreatedAt:       &now,
			LaunchProfileId: d.LaunchProfileId,
			OwnedBy:         d.OwnedBy,
			SessionId:       d.SessionId,
			State:           api.StreamingSessionStateCreateInProgress,
			StatusCode:      api.StreamingSessionStatusCodeStreamingSessionCreateInProgress,
			StatusMessage:   "Backup in progress: the session is stopping",
			Tags:            maps.Clone(d.Tags),
		}}
	_, err := put(ctx, t, nil, b)
	return b, err
}

// loadBackup returns a backup of the studio that is not DELETED.
func (s *Service) loadBackup(ctx context.Context, tx opennimble.Tx, studioID, id string) (*backupDoc, *opennimble.Record, error) {
	b, rec, err := get[backupDoc](ctx, tx, opennimble.KindStreamingBackup, id)
	if err != nil {
		return nil, nil, err
	}
	if b == nil || b.StudioId != studioID || b.State == api.StreamingSessionStateDeleted {
		return nil, nil, opennimble.NotFound("streaming session backup", id)
	}
	return b, rec, nil
}

// checkRestorable accepts only a READY backup of the session itself: a
// session's backups hold its owner's data, and restoring another session's
// would hand that data to someone else.
func (s *Service) checkRestorable(ctx context.Context, tx opennimble.Tx, d *sessionDoc, backupID string) error {
	b, _, err := s.loadBackup(ctx, tx, d.StudioId, backupID)
	if err != nil {
		return err
	}
	if b.SessionId != d.SessionId {
		return opennimble.Errorf(opennimble.ErrValidation,
			"Backup %s belongs to streaming session %s, not %s: a session can only start from its own backups",
			backupID, b.SessionId, d.SessionId).With("fieldName", "backupId")
	}
	if b.State != api.StreamingSessionStateReady {
		return opennimble.Errorf(opennimble.ErrValidation,
			"Backup %s is %s: a session can only start from a READY backup", backupID, b.State).With("fieldName", "backupId")
	}
	return nil
}

func (s *Service) GetStreamingSessionBackup(ctx context.Context, in *api.GetStreamingSessionBackupRequest) (*api.GetStreamingSessionBackupResponse, error) {
	// Clients poll this while a session stops: one committed read.
	b, err := getCommitted[backupDoc](ctx, s, opennimble.KindStreamingBackup, in.BackupId)
	if err != nil {
		return nil, err
	}
	// DELETED backups still answer until purged, like sessions.
	if b == nil || b.StudioId != in.StudioId {
		return nil, opennimble.NotFound("streaming session backup", in.BackupId)
	}
	return &api.GetStreamingSessionBackupResponse{StreamingSessionBackup: &b.StreamingSessionBackup}, nil
}

func (s *Service) ListStreamingSessionBackups(ctx context.Context, in *api.ListStreamingSessionBackupsRequest) (*api.ListStreamingSessionBackupsResponse, error) {
	return read(ctx, s, func(tx opennimble.Tx) (*api.ListStreamingSessionBackupsResponse, error) {
		if _, _, err := s.loadStudio(ctx, tx, in.StudioId); err != nil {
			return nil, err
		}
		// Newest first: the backup a user wants to restore is usually the last.
		q := opennimble.ListQuery{Kind: opennimble.KindStreamingBackup, StudioID: in.StudioId, OwnedBy: in.OwnedBy,
			ExcludeStates: []string{string(api.StreamingSessionStateDeleted)}, Descending: true}
		sc := scope("ListStreamingSessionBackups", in.StudioId, in.OwnedBy)
		docs, next, err := page[backupDoc](ctx, s, tx, sc, in.NextToken, 0, q, nil)
		if err != nil {
			return nil, err
		}
		out := &api.ListStreamingSessionBackupsResponse{StreamingSessionBackups: make([]*api.StreamingSessionBackup, 0, len(docs)), NextToken: next}
		for _, b := range docs {
			out.StreamingSessionBackups = append(out.StreamingSessionBackups, &b.StreamingSessionBackup)
		}
		return out, nil
	})
}

// setBackupState changes a backup's state in the transaction.
func (s *Service) setBackupState(ctx context.Context, t *txn, b *backupDoc, rec *opennimble.Record, state api.StreamingSessionState, code api.StreamingSessionStatusCode, msg string) error {
	now := s.now()
	b.State, b.StatusCode, b.StatusMessage, b.UpdatedAt = state, code, msg, &now
	_, err := put(ctx, t, rec, b)
	return err
}

// finishBackup settles the backup of a stop: READY once its snapshot is
// complete (then the session's oldest READY backups beyond
// maxBackupsToRetain are deleted), or CREATE_FAILED when the stop failed.
func (s *Service) finishBackup(ctx context.Context, t *txn, d *sessionDoc, failure *opennimble.DriverError) error {
	b, rec, err := get[backupDoc](ctx, t, opennimble.KindStreamingBackup, d.Op.BackupID)
	if err != nil || b == nil || b.State != api.StreamingSessionStateCreateInProgress {
		return err
	}
	if failure != nil {
		return s.setBackupState(ctx, t, b, rec, api.StreamingSessionStateCreateFailed, sessionStatusCode(failure.StatusCode), failure.Message)
	}
	if err := s.setBackupState(ctx, t, b, rec, api.StreamingSessionStateReady, api.StreamingSessionStatusCodeStreamingSessionReady, "Backup is ready"); err != nil {
		return err
	}
	return s.pruneBackups(ctx, t, d)
}

// pruneBackups deletes the session's oldest READY backups beyond
// maxBackupsToRetain. The newest backup is always kept, since it was just
// taken to be restored (a limit of 0 would otherwise discard every backup).
func (s *Service) pruneBackups(ctx context.Context, t *txn, d *sessionDoc) error {
	if d.MaxBackupsToRetain == nil {
		return nil
	}
	keep := max(int(*d.MaxBackupsToRetain), 1)
	// The session's live backups, newest first (deleted ones leave its
	// index): a few records, filtered here by their state column, and only
	// those to delete decoded.
	recs, err := t.List(ctx, opennimble.ListQuery{Kind: opennimble.KindStreamingBackup, ParentID: d.SessionId, Descending: true})
	if err != nil {
		return err
	}
	ready := 0
	for _, rec := range recs {
		if rec.State != string(api.StreamingSessionStateReady) {
			continue
		}
		if ready++; ready <= keep {
			continue
		}
		b, err := decode[backupDoc](rec)
		if err != nil {
			return err
		}
		if err := s.beginBackupDelete(ctx, t, b, rec, "Backup is being deleted: the session keeps its newest backups only"); err != nil {
			return err
		}
	}
	return nil
}

// deleteSessionBackups deletes every backup of a session being deleted.
func (s *Service) deleteSessionBackups(ctx context.Context, t *txn, sessionID string) error {
	docs, recs, err := list[backupDoc](ctx, t, opennimble.ListQuery{Kind: opennimble.KindStreamingBackup, ParentID: sessionID,
		ExcludeStates: []string{string(api.StreamingSessionStateDeleted), string(api.StreamingSessionStateDeleteInProgress)}})
	if err != nil {
		return err
	}
	for i := range docs {
		if err := s.beginBackupDelete(ctx, t, docs[i], recs[i], "Backup is being deleted with its session"); err != nil {
			return err
		}
	}
	return nil
}

// beginBackupDelete moves a backup to DELETE_IN_PROGRESS and asks the
// lifecycle to delete its data.
func (s *Service) beginBackupDelete(ctx context.Context, t *txn, b *backupDoc, rec *opennimble.Record, msg string) error {
	if err := s.setBackupState(ctx, t, b, rec, api.StreamingSessionStateDeleteInProgress, api.StreamingSessionStatusCodeStreamingSessionDeleteInProgress, msg); err != nil {
		return err
	}
	return t.schedule(ctx, opennimble.KindStreamingBackup, b.BackupId, *b.UpdatedAt)
}
