package kubernetes

import (
	"context"
	"fmt"
	"strconv"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	opennimble "github.com/opennimble/opennimble"
)

// A session's volumes are claims named <session key>-v<generation>; the
// newest generation is the session's volume and older ones are deleted as
// soon as a newer one exists.

func claimName(sessionID string, gen int64) string {
	return key(sessionID) + "-v" + strconv.FormatInt(gen, 10)
}

// sessionClaims returns the session's claims that are not being deleted.
// It asks the API server rather than the cache: it decides what to delete
// and whether a newer generation exists, where a claim created moments ago
// must not be missed. It runs once per volume step, not per poll.
func (d *Driver) sessionClaims(ctx context.Context, ns, sessionID string) ([]*corev1.PersistentVolumeClaim, error) {
	list, err := d.kube.claims(ns).List(ctx, metav1.ListOptions{
		LabelSelector: labelManagedBy + "=" + managedBy + "," + labelSession + "=" + key(sessionID)})
	if err != nil {
		return nil, fmt.Errorf("list the claims of session %s: %w", sessionID, err)
	}
	var out []*corev1.PersistentVolumeClaim
	for i := range list.Items {
		if c := &list.Items[i]; c.DeletionTimestamp == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

func generationOf(c *corev1.PersistentVolumeClaim) int64 {
	g, _ := strconv.ParseInt(c.Labels[labelGeneration], 10, 64)
	return g
}

// ensureVolume makes the session's claim of generation vol.Generation exist:
// used as it is when it does, else created empty (from == nil) or from a
// snapshot. Older generations are deleted; a newer one makes the call fail,
// since generations only grow.
func (d *Driver) ensureVolume(ctx context.Context, ns string, anchor *corev1.ConfigMap, w workstation, from *snapv1.VolumeSnapshot) error {
	name := claimName(w.sessionID, w.volume.Generation)
	existing, err := d.getClaim(ctx, ns, name)
	if err != nil {
		return err
	}
	claims, err := d.sessionClaims(ctx, ns, w.sessionID)
	if err != nil {
		return err
	}
	for _, c := range claims {
		if g := generationOf(c); g > w.volume.Generation {
			return failure(codeInternal, "session %s has volume generation %d (claim %s/%s), newer than the %d asked for", w.sessionID, g, ns, c.Name, w.volume.Generation)
		}
	}
	if existing == nil {
		size := w.volume.SizeGiB
		if size <= 0 {
			size = d.cfg.DefaultVolumeSizeGiB
		}
		q := gib(size)
		meta := d.meta(name, componentVolume, w)
		meta.Namespace = ns
		meta.OwnerReferences = ownedBy(anchor)
		meta.Labels[labelGeneration] = strconv.FormatInt(w.volume.Generation, 10)
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: meta, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q}},
		}}
		if d.cfg.StorageClassName != "" {
			claim.Spec.StorageClassName = &d.cfg.StorageClassName
		}
		if from != nil {
			group := snapv1.SchemeGroupVersion.Group
			claim.Spec.DataSource = &corev1.TypedLocalObjectReference{APIGroup: &group, Kind: "VolumeSnapshot", Name: from.Name}
			claim.Annotations[annBackupID] = from.Annotations[annBackupID]
			if rs := from.Status.RestoreSize; rs != nil && rs.Cmp(q) > 0 {
				claim.Spec.Resources.Requests[corev1.ResourceStorage] = *rs
			}
		}
		_, err := d.kube.claims(ns).Create(ctx, claim, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create claim %s/%s: %w", ns, name, err)
		}
	}
	for _, c := range claims {
		if generationOf(c) < w.volume.Generation {
			if err := d.kube.claims(ns).Delete(ctx, c.Name, metav1.DeleteOptions{}); ignoreNotFound(err) != nil {
				return fmt.Errorf("delete claim %s/%s: %w", ns, c.Name, err)
			}
		}
	}
	return nil
}

// DeleteVolume deletes the session's claims up to the given generation; it
// is done once their deletion is accepted (the storage system finishes it).
func (d *Driver) DeleteVolume(ctx context.Context, p opennimble.DeleteVolumeParams) (opennimble.Progress, error) {
	if err := ctx.Err(); err != nil {
		return opennimble.Progress{}, err
	}
	ns := d.namespace(p.StudioID)
	claims, err := d.sessionClaims(ctx, ns, p.SessionID)
	if err != nil {
		return opennimble.Progress{}, err
	}
	for _, c := range claims {
		if generationOf(c) > p.VolumeGeneration {
			continue
		}
		if err := d.kube.claims(ns).Delete(ctx, c.Name, metav1.DeleteOptions{}); ignoreNotFound(err) != nil {
			return opennimble.Progress{}, fmt.Errorf("delete claim %s/%s: %w", ns, c.Name, err)
		}
	}
	return done, nil
}

// Restore makes the session's volume of the new generation a claim whose
// dataSource is the backup's snapshot.
func (d *Driver) Restore(ctx context.Context, p opennimble.RestoreParams) (opennimble.Progress, error) {
	if err := ctx.Err(); err != nil {
		return opennimble.Progress{}, err
	}
	ns := d.namespace(p.StudioID)
	snap, err := d.getSnapshot(ctx, ns, key(p.BackupID), true)
	if err != nil {
		return opennimble.Progress{}, err
	}
	if snap == nil || snap.DeletionTimestamp != nil {
		return opennimble.Progress{}, failure(codeInternal, "backup %s has no VolumeSnapshot %s/%s to restore", p.BackupID, ns, key(p.BackupID))
	}
	if de := snapshotFailure(snap); de != nil {
		return opennimble.Progress{}, de
	}
	if !snapshotReady(snap) {
		return pending(pollWhileWaiting), nil
	}
	w := workstation{sessionID: p.SessionID, studioID: p.StudioID, token: p.Token, volume: p.Volume}
	anchor, err := d.ensureAnchor(ctx, ns, w)
	if err != nil {
		return opennimble.Progress{}, err
	}
	w.ownedBy, w.launchProfileID = anchor.Annotations[annOwnedBy], anchor.Annotations[annLaunchProfile]
	if err := d.ensureVolume(ctx, ns, anchor, w, snap); err != nil {
		return opennimble.Progress{}, err
	}
	return done, nil
}
