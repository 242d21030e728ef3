// Package kubesim plays, for tests against a real Kubernetes API server that
// runs no kubelet, scheduler or controllers, the parts those would: it marks
// workstation Pods scheduled, Running and Ready (or, on request,
// unschedulable or unable to pull their image), binds claims, lets deleted
// claims go, and makes VolumeSnapshots ready. Volume data is modelled by an
// annotation (DataAnnotation) that snapshots copy from their claim and
// restored claims from their snapshot, the way a CSI driver copies blocks.
package kubesim

import (
	"context"
	"fmt"
	"sync"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	snapclient "github.com/kubernetes-csi/external-snapshotter/client/v8/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// DataAnnotation holds a simulated volume's (or snapshot's) contents.
const DataAnnotation = "test.opennimble.io/data"

// PodFate says what the simulated kubelet does with a new Pod.
type PodFate int

const (
	// Run schedules the Pod and makes it Running and Ready.
	Run PodFate = iota
	// Unschedulable marks it unschedulable for lack of resources.
	Unschedulable
	// ImagePullFails makes its container wait in ImagePullBackOff.
	ImagePullFails
	// Hold leaves it Pending, untouched.
	Hold
)

// Cluster is the simulation.
type Cluster struct {
	Kube kubernetes.Interface
	Snap snapclient.Interface
	// PodIP is the address Running Pods get (default 127.0.0.1).
	PodIP string

	mu       sync.Mutex
	fate     func(*corev1.Pod) PodFate
	snapFail string // error message for every new snapshot
	hold     bool   // snapshots stay not ready
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// Start runs the simulation until Stop.
func Start(rc *rest.Config) (*Cluster, error) {
	kc, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	sc, err := snapclient.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Cluster{Kube: kc, Snap: sc, PodIP: "127.0.0.1", cancel: cancel}
	c.wg.Add(3)
	go c.loop(ctx, c.watchPods)
	go c.loop(ctx, c.watchClaims)
	go c.loop(ctx, c.watchSnapshots)
	return c, nil
}

// Stop ends the simulation.
func (c *Cluster) Stop() { c.cancel(); c.wg.Wait() }

// SetPodFate decides what happens to Pods created from now on (nil: Run).
func (c *Cluster) SetPodFate(f func(*corev1.Pod) PodFate) { c.mu.Lock(); c.fate = f; c.mu.Unlock() }

// FailSnapshots makes the snapshot controller report message as the error
// of every new snapshot ("" stops it).
func (c *Cluster) FailSnapshots(message string) { c.mu.Lock(); c.snapFail = message; c.mu.Unlock() }

// HoldSnapshots keeps new snapshots not ready until released.
func (c *Cluster) HoldSnapshots(hold bool) { c.mu.Lock(); c.hold = hold; c.mu.Unlock() }

func (c *Cluster) loop(ctx context.Context, fn func(context.Context) error) {
	defer c.wg.Done()
	for ctx.Err() == nil {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
}

func drain(ctx context.Context, w watch.Interface, fn func(watch.Event)) error {
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("watch closed")
			}
			if ev.Type == watch.Error {
				return fmt.Errorf("watch error: %v", ev.Object)
			}
			fn(ev)
		}
	}
}

func (c *Cluster) watchPods(ctx context.Context) error {
	w, err := c.Kube.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	return drain(ctx, w, func(ev watch.Event) {
		pod, ok := ev.Object.(*corev1.Pod)
		if !ok || ev.Type == watch.Deleted || pod.DeletionTimestamp != nil || len(pod.Status.Conditions) > 0 {
			return
		}
		c.mu.Lock()
		fate := Run
		if c.fate != nil {
			fate = c.fate(pod)
		}
		c.mu.Unlock()
		now := metav1.Now()
		switch fate {
		case Hold:
			return
		case Unschedulable:
			pod.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{
				Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable, LastTransitionTime: now,
				Message: "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
			}}}
		case ImagePullFails:
			pod.Status = corev1.PodStatus{Phase: corev1.PodPending,
				Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: pod.Spec.Containers[0].Name, Image: pod.Spec.Containers[0].Image,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff",
						Message: fmt.Sprintf("Back-off pulling image %q", pod.Spec.Containers[0].Image)}}}}}
		default:
			c.running(pod)
		}
		_, _ = c.Kube.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	})
}

func (c *Cluster) watchClaims(ctx context.Context) error {
	w, err := c.Kube.CoreV1().PersistentVolumeClaims("").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	return drain(ctx, w, func(ev watch.Event) {
		claim, ok := ev.Object.(*corev1.PersistentVolumeClaim)
		if !ok || ev.Type == watch.Deleted {
			return
		}
		if claim.DeletionTimestamp != nil {
			// The protection controller lets a claim go once no Pod uses it.
			if len(claim.Finalizers) > 0 {
				patch := []byte(`{"metadata":{"finalizers":null}}`)
				_, _ = c.Kube.CoreV1().PersistentVolumeClaims(claim.Namespace).Patch(ctx, claim.Name, types.MergePatchType, patch, metav1.PatchOptions{})
			}
			return
		}
		if claim.Status.Phase == corev1.ClaimBound {
			return
		}
		// The provisioner fills a claim restored from a snapshot.
		if ds := claim.Spec.DataSource; ds != nil && ds.Kind == "VolumeSnapshot" {
			snap, err := c.Snap.SnapshotV1().VolumeSnapshots(claim.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
			if err != nil {
				return
			}
			if err := c.SetData(ctx, claim.Namespace, claim.Name, snap.Annotations[DataAnnotation]); err != nil {
				return
			}
			if claim, err = c.Kube.CoreV1().PersistentVolumeClaims(claim.Namespace).Get(ctx, claim.Name, metav1.GetOptions{}); err != nil {
				return
			}
		}
		claim.Status.Phase = corev1.ClaimBound
		claim.Status.AccessModes = claim.Spec.AccessModes
		claim.Status.Capacity = claim.Spec.Resources.Requests
		_, _ = c.Kube.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{})
	})
}

func (c *Cluster) watchSnapshots(ctx context.Context) error {
	w, err := c.Snap.SnapshotV1().VolumeSnapshots("").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	return drain(ctx, w, func(ev watch.Event) {
		snap, ok := ev.Object.(*snapv1.VolumeSnapshot)
		if !ok || ev.Type == watch.Deleted || snap.DeletionTimestamp != nil || snap.Status != nil {
			return
		}
		c.mu.Lock()
		hold, failMsg := c.hold, c.snapFail
		c.mu.Unlock()
		if hold {
			return
		}
		c.complete(ctx, snap, failMsg)
	})
}

// ReleaseSnapshots makes every held snapshot ready.
func (c *Cluster) ReleaseSnapshots(ctx context.Context) error {
	c.mu.Lock()
	c.hold = false
	failMsg := c.snapFail
	c.mu.Unlock()
	list, err := c.Snap.SnapshotV1().VolumeSnapshots("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range list.Items {
		if s := &list.Items[i]; s.Status == nil {
			c.complete(ctx, s, failMsg)
		}
	}
	return nil
}

// complete plays the snapshot controller: copy the source claim's data,
// then report ready (or the configured error).
func (c *Cluster) complete(ctx context.Context, snap *snapv1.VolumeSnapshot, failMsg string) {
	now := metav1.Now()
	status := &snapv1.VolumeSnapshotStatus{CreationTime: &now}
	if failMsg != "" {
		status.Error = &snapv1.VolumeSnapshotError{Time: &now, Message: &failMsg}
		status.ReadyToUse = new(bool)
	} else {
		src := snap.Spec.Source.PersistentVolumeClaimName
		if src == nil {
			return
		}
		claim, err := c.Kube.CoreV1().PersistentVolumeClaims(snap.Namespace).Get(ctx, *src, metav1.GetOptions{})
		if err != nil {
			return
		}
		data := claim.Annotations[DataAnnotation]
		if snap.Annotations == nil {
			snap.Annotations = map[string]string{}
		}
		snap.Annotations[DataAnnotation] = data
		updated, err := c.Snap.SnapshotV1().VolumeSnapshots(snap.Namespace).Update(ctx, snap, metav1.UpdateOptions{})
		if err != nil {
			return
		}
		snap = updated
		status.ReadyToUse, status.RestoreSize = new(true), new(claim.Spec.Resources.Requests[corev1.ResourceStorage])
	}
	snap.Status = status
	_, _ = c.Snap.SnapshotV1().VolumeSnapshots(snap.Namespace).UpdateStatus(ctx, snap, metav1.UpdateOptions{})
}

// SetData writes a claim's simulated contents, standing for an artist at
// the workstation.
func (c *Cluster) SetData(ctx context.Context, ns, claim, data string) error {
	for {
		cl, err := c.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cl.Annotations == nil {
			cl.Annotations = map[string]string{}
		}
		cl.Annotations[DataAnnotation] = data
		_, err = c.Kube.CoreV1().PersistentVolumeClaims(ns).Update(ctx, cl, metav1.UpdateOptions{})
		if !apierrors.IsConflict(err) {
			return err
		}
	}
}

// MarkReady plays the kubelet for a Pod left alone (Hold): scheduled,
// Running and Ready.
func (c *Cluster) MarkReady(ctx context.Context, ns, name string) error {
	pod, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	c.running(pod)
	_, err = c.Kube.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return err
}

// running sets a Pod's status to scheduled, Running and Ready.
func (c *Cluster) running(pod *corev1.Pod) {
	now := metav1.Now()
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: c.PodIP, PodIPs: []corev1.PodIP{{IP: c.PodIP}}, StartTime: &now,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}}
	for _, ct := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{Name: ct.Name, Image: ct.Image, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}})
	}
}
