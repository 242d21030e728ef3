package kubernetes

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"

	opennimble "github.com/opennimble/opennimble"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
)

// Watch names every session whose anchor, Pod, claims or snapshots the
// informers see (so that a Pod becoming Ready or a snapshot becoming ready
// to use moves its session on at once), first
// all of them (which re-checks every session after a restart), then on each
// change, until ctx ends.
func (d *Driver) Watch(ctx context.Context, changed func(sessionID, studioID string)) {
	notify := func(obj any) {
		m, err := metaOf(obj)
		if err != nil {
			return
		}
		if id := m.GetAnnotations()[annSessionID]; id != "" {
			changed(id, m.GetAnnotations()[annStudioID])
		}
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: notify,
	}
	var regs []func()
	for _, inf := range []cache.SharedIndexInformer{d.mapInformer, d.podInformer, d.claimInformer, d.snapInformer} {
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			d.log.Error("cannot watch the cluster", "err", err)
			continue
		}
		regs = append(regs, func() { _ = inf.RemoveEventHandler(reg) })
	}
	select {
	case <-ctx.Done():
	case <-d.stop:
	}
	for _, r := range regs {
		r()
	}
}

// Check reports whether a READY session's workstation Pod still runs.
func (d *Driver) Check(ctx context.Context, sessionID, studioID string) error {
	ns, name := d.namespace(studioID), key(sessionID)
	pod, err := d.getPod(ctx, ns, name)
	switch {
	case err != nil:
		return err
	case pod == nil:
		return failure(codeInternal, "workstation pod %s/%s was deleted", ns, name)
	case pod.DeletionTimestamp != nil:
		return failure(codeInternal, "workstation pod %s/%s is being deleted", ns, name)
	}
	if de := podFailure(pod); de != nil {
		return de
	}
	return nil
}

// StreamTarget is the remote desktop of the session's Pod, with the web
// client its image serves (Image.Client, recorded on the Pod; a Pod made
// before that annotation existed ran the noVNC workstation image).
func (d *Driver) StreamTarget(ctx context.Context, sessionID, studioID string) (opennimble.StreamTarget, error) {
	ns, name := d.namespace(studioID), key(sessionID)
	pod, err := d.getPod(ctx, ns, name)
	if err != nil {
		return opennimble.StreamTarget{}, err
	}
	if pod == nil || pod.DeletionTimestamp != nil || pod.Status.PodIP == "" || !podReady(pod) {
		return opennimble.StreamTarget{}, failure(codeInternal, "session %s has no running workstation", sessionID)
	}
	port, err := strconv.Atoi(pod.Annotations[annStreamPort])
	if err != nil {
		return opennimble.StreamTarget{}, fmt.Errorf("workstation pod %s/%s: bad %s annotation: %w", ns, name, annStreamPort, err)
	}
	client := pod.Annotations[annStreamClient]
	return opennimble.StreamTarget{
		URL:   &url.URL{Scheme: "http", Host: net.JoinHostPort(pod.Status.PodIP, strconv.Itoa(port))},
		NoVNC: client == "" || client == ClientNoVNC,
	}, nil
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
