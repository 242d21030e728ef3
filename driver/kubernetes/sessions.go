package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	opennimble "github.com/opennimble/opennimble"
)

// workstation is what Provision and Start both need.
type workstation struct {
	sessionID, studioID, ownedBy, launchProfileID string
	token, instanceType, ec2ImageID               string
	volume                                        opennimble.Volume
}

// Provision makes the session's anchor, volume and Pod, and is done when
// the Pod is Ready.
func (d *Driver) Provision(ctx context.Context, p opennimble.ProvisionParams) (opennimble.Progress, error) {
	return d.run(ctx, workstation{p.SessionID, p.StudioID, p.OwnedBy, p.LaunchProfileID, p.Token, p.InstanceType, p.Ec2ImageID, p.Volume})
}

// Start runs the session's Pod on its volume of the given generation, made
// empty when the session has only an older one.
func (d *Driver) Start(ctx context.Context, p opennimble.StartParams) (opennimble.Progress, error) {
	return d.run(ctx, workstation{p.SessionID, p.StudioID, p.OwnedBy, p.LaunchProfileID, p.Token, p.InstanceType, p.Ec2ImageID, p.Volume})
}

func (d *Driver) run(ctx context.Context, w workstation) (opennimble.Progress, error) {
	if err := ctx.Err(); err != nil {
		return opennimble.Progress{}, err
	}
	ns, name := d.namespace(w.studioID), key(w.sessionID)
	if err := d.ensureNamespace(ctx, ns, w.studioID); err != nil {
		return opennimble.Progress{}, err
	}
	anchor, err := d.ensureAnchor(ctx, ns, w)
	if err != nil {
		return opennimble.Progress{}, err
	}
	if de := recordedFailure(anchor, w.token); de != nil {
		return opennimble.Progress{}, de
	}
	pod, err := d.getPod(ctx, ns, name)
	if err != nil {
		return opennimble.Progress{}, err
	}
	if pod != nil && pod.Annotations[annToken] != w.token {
		// The cache may show the Pod of an earlier transition that is gone
		// already; ask the API server. A Pod of an earlier transition that
		// is still there is replaced: Pods belong to transitions.
		if pod, err = orNil(d.kube.pods(ns).Get(ctx, name, metav1.GetOptions{})); err != nil {
			return opennimble.Progress{}, err
		}
		if pod != nil && pod.Annotations[annToken] != w.token && pod.DeletionTimestamp == nil {
			return pending(pollSoon), ignoreNotFound(d.kube.pods(ns).Delete(ctx, name, d.deleteOptions()))
		}
	}
	if pod != nil && pod.DeletionTimestamp != nil {
		return pending(pollSoon), nil // the previous workstation is still going
	}
	if pod == nil {
		// About to make a workstation: decide on the anchor as the API
		// server has it, since a failure just recorded may not be cached.
		if anchor, err = d.kube.configMaps(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return opennimble.Progress{}, fmt.Errorf("read the anchor of session %s: %w", w.sessionID, err)
		}
		if de := recordedFailure(anchor, w.token); de != nil {
			return opennimble.Progress{}, de
		}
		if err := d.ensureVolume(ctx, ns, anchor, w, nil); err != nil {
			var de *opennimble.DriverError
			if errors.As(err, &de) {
				return d.fail(ctx, ns, anchor, w.token, de)
			}
			return opennimble.Progress{}, err
		}
		spec, de := d.podFor(ns, anchor, w)
		if de != nil {
			return d.fail(ctx, ns, anchor, w.token, de)
		}
		pod, err = d.kube.pods(ns).Create(ctx, spec, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return pending(pollSoon), nil
		}
		if err != nil {
			return opennimble.Progress{}, fmt.Errorf("create pod %s/%s: %w", ns, name, err)
		}
	}
	ready, de := d.podProgress(pod)
	switch {
	case de != nil:
		return d.fail(ctx, ns, anchor, w.token, de)
	case ready:
		return done, nil
	}
	return pending(pollWhileWaiting), nil
}

// ensureAnchor creates the session's ConfigMap, which owns its Pod and
// volumes and remembers a failed transition.
func (d *Driver) ensureAnchor(ctx context.Context, ns string, w workstation) (*corev1.ConfigMap, error) {
	name := key(w.sessionID)
	if m, err := d.getAnchor(ctx, ns, name); err != nil || m != nil {
		return m, err
	}
	m := &corev1.ConfigMap{ObjectMeta: d.meta(name, componentSession, w), Data: map[string]string{}}
	created, err := d.kube.configMaps(ns).Create(ctx, m, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return d.kube.configMaps(ns).Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("create configmap %s/%s: %w", ns, name, err)
	}
	return created, nil
}

// meta is the metadata of a session's object.
func (d *Driver) meta(name, component string, w workstation) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name: name,
		Labels: map[string]string{
			labelManagedBy: managedBy, labelComponent: component, labelSession: key(w.sessionID),
			labelStudio: labelValue(w.studioID), labelLaunchProfile: labelValue(w.launchProfileID), labelOwner: labelValue(w.ownedBy),
		},
		Annotations: map[string]string{
			annSessionID: w.sessionID, annStudioID: w.studioID, annLaunchProfile: w.launchProfileID, annOwnedBy: w.ownedBy,
		},
	}
}

// ownedBy makes an object belong to the session's anchor.
func ownedBy(anchor *corev1.ConfigMap) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: anchor.Name, UID: anchor.UID}}
}

// podFor builds the workstation Pod.
func (d *Driver) podFor(ns string, anchor *corev1.ConfigMap, w workstation) (*corev1.Pod, *opennimble.DriverError) {
	img, ok := d.cfg.image(w.ec2ImageID)
	if !ok {
		return nil, failure(codeImage, "no container image is configured for the streaming image's ec2ImageId %q (images in the kubernetes driver configuration)", w.ec2ImageID)
	}
	it, ok := d.cfg.instanceType(w.instanceType)
	if !ok {
		return nil, failure(codeCapacity, "instance type %q is not configured (instanceTypes in the kubernetes driver configuration)", w.instanceType)
	}
	name := key(w.sessionID)
	meta := d.meta(name, componentWorkstation, w)
	meta.Namespace = ns
	meta.OwnerReferences = ownedBy(anchor)
	meta.Labels[labelGeneration] = strconv.FormatInt(w.volume.Generation, 10)
	meta.Annotations[annToken] = w.token
	meta.Annotations[annImage] = w.ec2ImageID
	meta.Annotations[annInstanceType] = w.instanceType
	meta.Annotations[annStreamPort] = strconv.Itoa(int(img.Port))
	meta.Annotations[annStreamClient] = img.Client
	enableLinks := false
	return &corev1.Pod{
		ObjectMeta: meta,
		Spec: corev1.PodSpec{
			Hostname:                      name,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			EnableServiceLinks:            &enableLinks,
			NodeSelector:                  it.NodeSelector,
			Tolerations:                   it.Tolerations,
			TerminationGracePeriodSeconds: d.cfg.TerminationGracePeriodSeconds,
			Containers: []corev1.Container{{
				Name:            "workstation",
				Image:           img.Image,
				ImagePullPolicy: img.ImagePullPolicy,
				Ports:           []corev1.ContainerPort{{Name: "desktop", ContainerPort: img.Port, Protocol: corev1.ProtocolTCP}},
				Env: []corev1.EnvVar{
					{Name: "NIMBLE_SESSION_ID", Value: w.sessionID},
					{Name: "NIMBLE_STUDIO_ID", Value: w.studioID},
					{Name: "NIMBLE_LAUNCH_PROFILE_ID", Value: w.launchProfileID},
					{Name: "NIMBLE_OWNED_BY", Value: w.ownedBy},
					{Name: "NIMBLE_INSTANCE_TYPE", Value: w.instanceType},
					{Name: "HOME", Value: d.cfg.HomePath},
				},
				Resources:    corev1.ResourceRequirements{Requests: it.Requests, Limits: it.Limits},
				VolumeMounts: []corev1.VolumeMount{{Name: "home", MountPath: d.cfg.HomePath}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(img.Port)}},
					PeriodSeconds: 5,
				},
			}},
			Volumes: []corev1.Volume{{Name: "home", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName(w.sessionID, w.volume.Generation)},
			}}},
		},
	}, nil
}

// podProgress reads a workstation Pod's status: ready, still coming, or
// failed for good.
func (d *Driver) podProgress(pod *corev1.Pod) (bool, *opennimble.DriverError) {
	if de := podFailure(pod); de != nil {
		return false, de
	}
	for _, c := range pod.Status.Conditions {
		switch {
		case c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable:
			if since := time.Since(c.LastTransitionTime.Time); since >= d.cfg.UnschedulableTimeout.Duration {
				return false, failure(codeCapacity, "no node can run workstation pod %s/%s: %s", pod.Namespace, pod.Name, c.Message)
			}
		case c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue:
			return true, nil
		}
	}
	return false, nil
}

// podFailure reports what makes a Pod unable to ever run its workstation.
func podFailure(pod *corev1.Pod) *opennimble.DriverError {
	where := pod.Namespace + "/" + pod.Name
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		return failure(codeInternal, "workstation pod %s ended (phase %s): %s %s", where, pod.Status.Phase, pod.Status.Reason, pod.Status.Message)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		w := cs.State.Waiting
		if w == nil {
			continue
		}
		switch w.Reason {
		case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull":
			return failure(codeImage, "workstation pod %s cannot pull container image %s (%s): %s", where, containerImage(pod, cs.Name), w.Reason, w.Message)
		case "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError":
			return failure(codeInternal, "the workstation container of pod %s fails (%s): %s", where, w.Reason, w.Message)
		}
	}
	return nil
}

func containerImage(pod *corev1.Pod, container string) string {
	for _, c := range pod.Spec.Containers {
		if c.Name == container {
			return c.Image
		}
	}
	return "?"
}

// fail records a transition's definitive failure on the session's anchor
// (so that a repeated call reports it again), removes the Pod that cannot
// run, and returns the failure.
func (d *Driver) fail(ctx context.Context, ns string, anchor *corev1.ConfigMap, token string, de *opennimble.DriverError) (opennimble.Progress, error) {
	m := anchor.DeepCopy()
	if m.Data == nil {
		m.Data = map[string]string{}
	}
	m.Data[keyFailedToken], m.Data[keyFailedCode], m.Data[keyFailedMessage] = token, de.StatusCode, de.Message
	if _, err := d.kube.configMaps(ns).Update(ctx, m, metav1.UpdateOptions{}); err != nil {
		return opennimble.Progress{}, fmt.Errorf("record the failure of session %s: %w", anchor.Annotations[annSessionID], err)
	}
	if err := d.kube.pods(ns).Delete(ctx, anchor.Name, d.deleteOptions()); ignoreNotFound(err) != nil {
		return opennimble.Progress{}, err
	}
	d.log.Warn("workstation failed", "session", anchor.Annotations[annSessionID], "status", de.StatusCode, "message", de.Message)
	return opennimble.Progress{}, de
}

func recordedFailure(anchor *corev1.ConfigMap, token string) *opennimble.DriverError {
	if anchor.Data[keyFailedToken] != token || token == "" {
		return nil
	}
	return &opennimble.DriverError{StatusCode: anchor.Data[keyFailedCode], Message: anchor.Data[keyFailedMessage]}
}

func (d *Driver) deleteOptions() metav1.DeleteOptions {
	bg := metav1.DeletePropagationBackground
	return metav1.DeleteOptions{GracePeriodSeconds: d.cfg.TerminationGracePeriodSeconds, PropagationPolicy: &bg}
}

// Stop deletes the session's Pod and is done when it is gone.
func (d *Driver) Stop(ctx context.Context, p opennimble.StopParams) (opennimble.Progress, error) {
	return d.removePod(ctx, d.namespace(p.StudioID), key(p.SessionID))
}

func (d *Driver) removePod(ctx context.Context, ns, name string) (opennimble.Progress, error) {
	if err := ctx.Err(); err != nil {
		return opennimble.Progress{}, err
	}
	pod, err := d.getPod(ctx, ns, name)
	if err != nil || pod == nil {
		return done, err
	}
	if pod.DeletionTimestamp == nil || time.Since(pod.DeletionTimestamp.Time) > d.forceDeleteAfter {
		opts := d.deleteOptions()
		if pod.DeletionTimestamp != nil {
			// Still there well past its deletion time: its node is gone
			// or never confirmed (kubectl delete --force --grace-period=0).
			zero := int64(0)
			opts.GracePeriodSeconds = &zero
		}
		err := d.kube.pods(ns).Delete(ctx, name, opts)
		if apierrors.IsNotFound(err) {
			return done, nil
		}
		if err != nil {
			return opennimble.Progress{}, fmt.Errorf("delete pod %s/%s: %w", ns, name, err)
		}
	}
	// Gone only when the API server says so: the cache may lag.
	if _, err := d.kube.pods(ns).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return done, nil
	}
	return pending(pollSoon), nil
}

// Terminate removes the Pod, every volume and the anchor of the session.
func (d *Driver) Terminate(ctx context.Context, p opennimble.TerminateParams) (opennimble.Progress, error) {
	ns, name := d.namespace(p.StudioID), key(p.SessionID)
	prog, err := d.removePod(ctx, ns, name)
	if err != nil || !prog.Done {
		return prog, err
	}
	if prog, err := d.DeleteVolume(ctx, opennimble.DeleteVolumeParams{SessionID: p.SessionID, StudioID: p.StudioID, VolumeGeneration: maxGeneration}); err != nil || !prog.Done {
		return prog, err
	}
	if err := d.kube.configMaps(ns).Delete(ctx, name, metav1.DeleteOptions{}); ignoreNotFound(err) != nil {
		return opennimble.Progress{}, err
	}
	return done, nil
}

const maxGeneration = int64(1) << 62

func gib(n int32) resource.Quantity { return *resource.NewQuantity(int64(n)<<30, resource.BinarySI) }
