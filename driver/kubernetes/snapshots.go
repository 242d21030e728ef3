package kubernetes

import (
	"context"
	"fmt"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opennimble "github.com/opennimble/opennimble"
)

// Snapshot takes a VolumeSnapshot (named after the backup) of the session's
// claim of the given generation; it is done when the snapshot is
// readyToUse and fails with the snapshot's error.
func (d *Driver) Snapshot(ctx context.Context, p opennimble.SnapshotParams) (opennimble.Progress, error) {
	if err := ctx.Err(); err != nil {
		return opennimble.Progress{}, err
	}
	ns, name := d.namespace(p.StudioID), key(p.BackupID)
	snap, err := d.getSnapshot(ctx, ns, name, false)
	if err != nil {
		return opennimble.Progress{}, err
	}
	if snap == nil {
		claim, err := d.getClaim(ctx, ns, claimName(p.SessionID, p.VolumeGeneration))
		if err != nil {
			return opennimble.Progress{}, err
		}
		if claim == nil || claim.DeletionTimestamp != nil {
			return opennimble.Progress{}, failure(codeInternal, "session %s has no volume of generation %d (claim %s/%s) to back up", p.SessionID, p.VolumeGeneration, ns, claimName(p.SessionID, p.VolumeGeneration))
		}
		src := claim.Name
		snap = &snapv1.VolumeSnapshot{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: ns,
				Labels: map[string]string{
					labelManagedBy: managedBy, labelComponent: componentBackup, labelBackup: name,
					labelSession: key(p.SessionID), labelStudio: labelValue(p.StudioID),
				},
				Annotations: map[string]string{annBackupID: p.BackupID, annSessionID: p.SessionID, annStudioID: p.StudioID},
			},
			Spec: snapv1.VolumeSnapshotSpec{Source: snapv1.VolumeSnapshotSource{PersistentVolumeClaimName: &src}},
		}
		if c := d.cfg.VolumeSnapshotClassName; c != "" {
			snap.Spec.VolumeSnapshotClassName = &c
		}
		snap, err = d.kube.snapshots(ns).Create(ctx, snap, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return pending(pollSoon), nil
		}
		if err != nil {
			return opennimble.Progress{}, fmt.Errorf("create volumesnapshot %s/%s: %w", ns, name, err)
		}
	}
	if owner := snap.Annotations[annSessionID]; owner != p.SessionID {
		return opennimble.Progress{}, failure(codeInternal, "volume snapshot %s/%s of backup %s belongs to session %s, not %s", ns, name, p.BackupID, owner, p.SessionID)
	}
	if de := snapshotFailure(snap); de != nil {
		return opennimble.Progress{}, de
	}
	if snapshotReady(snap) {
		return done, nil
	}
	return pending(pollWhileWaiting), nil
}

func snapshotReady(s *snapv1.VolumeSnapshot) bool {
	return s.Status != nil && s.Status.ReadyToUse != nil && *s.Status.ReadyToUse
}

func snapshotFailure(s *snapv1.VolumeSnapshot) *opennimble.DriverError {
	if s.Status == nil || s.Status.Error == nil {
		return nil
	}
	msg := "(no message)"
	if s.Status.Error.Message != nil {
		msg = *s.Status.Error.Message
	}
	return failure(codeInternal, "volume snapshot %s/%s failed: %s", s.Namespace, s.Name, msg)
}

// DeleteBackup deletes the backup's VolumeSnapshot; it is done once the
// deletion is accepted (the snapshot controller frees the storage).
func (d *Driver) DeleteBackup(ctx context.Context, p opennimble.DeleteBackupParams) (opennimble.Progress, error) {
	if err := ctx.Err(); err != nil {
		return opennimble.Progress{}, err
	}
	ns, name := d.namespace(p.StudioID), key(p.BackupID)
	err := d.kube.snapshots(ns).Delete(ctx, name, metav1.DeleteOptions{})
	if ignoreNotFound(err) != nil {
		return opennimble.Progress{}, fmt.Errorf("delete volumesnapshot %s/%s: %w", ns, name, err)
	}
	return done, nil
}
