// Package kubernetes is the workstation driver that runs streaming sessions
// on a Kubernetes cluster: a session's workstation is a Pod, its volume a
// PersistentVolumeClaim mounted as the artist's home, and its backups CSI
// VolumeSnapshots of that claim. The driver follows its Pods, claims and
// snapshots with informers and answers the lifecycle from their caches, so
// that what happens in the cluster (a Pod becoming Ready, a snapshot ready
// to use, a Pod deleted by an operator) reaches the API within moments.
//
// Every object carries the labels app.kubernetes.io/managed-by=opennimble and
// nimble.opennimble.io/{component,session,studio,launch-profile,owner}, and
// the exact ids in annotations. A ConfigMap per session (the session's
// anchor) owns its Pod and claims; snapshots have no owner, since backups
// outlive their sessions. All names derive from ids, so every call is
// idempotent and a restarted server re-adopts what it created.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	snaplisters "github.com/kubernetes-csi/external-snapshotter/client/v8/listers/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	opennimble "github.com/opennimble/opennimble"
)

// Options configure a Driver.
type Options struct {
	Config *Config
	// REST is how to reach the API server; nil loads Kubeconfig.
	REST *rest.Config
	// Kubeconfig is a kubeconfig file; empty uses $KUBECONFIG, and without
	// it the in-cluster service account.
	Kubeconfig string
	Logger     *slog.Logger
	// SyncTimeout bounds the wait for the informers' first listing (30s).
	SyncTimeout time.Duration
}

// Driver is the Kubernetes workstation driver. It implements
// opennimble.Driver, opennimble.Watcher and opennimble.Streamer.
type Driver struct {
	cfg  *Config
	kube *client
	log  *slog.Logger

	pods  corelisters.PodLister
	maps  corelisters.ConfigMapLister
	snaps snaplisters.VolumeSnapshotLister

	podInformer, claimInformer, mapInformer, snapInformer cache.SharedIndexInformer

	// forceDeleteAfter is how long past its deletion time a Pod may stay
	// before it is deleted without a grace period (forceDeleteAfterDefault).
	forceDeleteAfter time.Duration

	stop       chan struct{}
	closeOnce  sync.Once
	namespaces sync.Map // namespaces known to exist
}

var (
	_ opennimble.Driver   = (*Driver)(nil)
	_ opennimble.Watcher  = (*Driver)(nil)
	_ opennimble.Streamer = (*Driver)(nil)
)

// RESTConfig loads a kubeconfig file, or $KUBECONFIG when it is empty;
// without either it uses the in-cluster service account when there is one
// and ~/.kube/config otherwise.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" && os.Getenv("KUBECONFIG") == "" {
		if rc, err := rest.InClusterConfig(); err == nil {
			return rc, nil
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
}

// New connects to the cluster, starts the informers and waits for their
// first listing.
func New(o Options) (*Driver, error) {
	if o.Config == nil {
		return nil, errors.New("kubernetes driver: no configuration")
	}
	rc := o.REST
	if rc == nil {
		var err error
		if rc, err = RESTConfig(o.Kubeconfig); err != nil {
			return nil, fmt.Errorf("kubernetes driver: %w", err)
		}
	}
	rc = rest.CopyConfig(rc)
	if rc.UserAgent == "" {
		rc.UserAgent = "opennimble"
	}
	rc.QPS, rc.Burst = max(rc.QPS, 50), max(rc.Burst, 100)
	kc, err := newClient(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes driver: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Driver{cfg: o.Config, kube: kc, log: log, stop: make(chan struct{}), forceDeleteAfter: forceDeleteAfterDefault}
	ns := o.Config.Namespace // "" watches every namespace
	tweak := func(lo *metav1.ListOptions) { lo.LabelSelector = labelManagedBy + "=" + managedBy }
	d.podInformer = kc.pods(ns).informer(tweak)
	d.claimInformer = kc.claims(ns).informer(tweak)
	d.mapInformer = kc.configMaps(ns).informer(tweak)
	d.snapInformer = kc.snapshots(ns).informer(tweak)
	d.pods = corelisters.NewPodLister(d.podInformer.GetIndexer())
	d.maps = corelisters.NewConfigMapLister(d.mapInformer.GetIndexer())
	d.snaps = snaplisters.NewVolumeSnapshotLister(d.snapInformer.GetIndexer())
	for _, inf := range []cache.SharedIndexInformer{d.podInformer, d.claimInformer, d.mapInformer, d.snapInformer} {
		go inf.Run(d.stop)
	}
	timeout := o.SyncTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), d.podInformer.HasSynced, d.claimInformer.HasSynced, d.mapInformer.HasSynced, d.snapInformer.HasSynced) {
		d.Close()
		return nil, fmt.Errorf("kubernetes driver: the informers did not sync within %s: is the API server reachable, are the VolumeSnapshot CRDs installed and does the service account have list and watch on pods, persistentvolumeclaims, configmaps and volumesnapshots?", timeout)
	}
	if ns != "" {
		if _, err := kc.namespaces().Get(ctx, ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			log.Warn("the configured namespace does not exist: sessions cannot start until it does", "namespace", ns)
		}
	}
	if c := o.Config.VolumeSnapshotClassName; c != "" {
		// A missing class fails every backup; say so now rather than then.
		if _, err := kc.snapshotClasses().Get(ctx, c, metav1.GetOptions{}); err != nil {
			log.Warn("the configured VolumeSnapshotClass cannot be read: backups will fail until it exists", "volumeSnapshotClassName", c, "err", err)
		}
	}
	return d, nil
}

// Close stops the informers.
func (d *Driver) Close() error {
	d.closeOnce.Do(func() { close(d.stop) })
	return nil
}

func metaOf(obj any) (metav1.Object, error) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("unexpected object %T", obj)
	}
	return m, nil
}

// namespace is where a studio's sessions live.
func (d *Driver) namespace(studioID string) string {
	if d.cfg.Namespace != "" {
		return d.cfg.Namespace
	}
	return d.cfg.NamespacePrefix + key(studioID)
}

// ensureNamespace creates a studio's namespace once.
func (d *Driver) ensureNamespace(ctx context.Context, ns, studioID string) error {
	if _, ok := d.namespaces.Load(ns); ok || d.cfg.Namespace != "" {
		return nil
	}
	_, err := d.kube.namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        ns,
		Labels:      map[string]string{labelManagedBy: managedBy, labelStudio: labelValue(studioID)},
		Annotations: map[string]string{annStudioID: studioID},
	}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	d.namespaces.Store(ns, true)
	return nil
}

// The getters read the informers' caches (unless noted) and, on a miss, the API server:
// an object created moments ago may not have reached the cache yet, and a
// miss must be authoritative. They return nil, nil when there is none.

func (d *Driver) getPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	if p, err := d.pods.Pods(ns).Get(name); err == nil {
		return p, nil
	}
	p, err := d.kube.pods(ns).Get(ctx, name, metav1.GetOptions{})
	return orNil(p, err)
}

// getClaim always asks the API server: claims are looked at only to decide
// (make a volume, snapshot it), where a deleted claim the cache still
// shows would do harm.
func (d *Driver) getClaim(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	c, err := d.kube.claims(ns).Get(ctx, name, metav1.GetOptions{})
	return orNil(c, err)
}

func (d *Driver) getAnchor(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if m, err := d.maps.ConfigMaps(ns).Get(name); err == nil {
		return m, nil
	}
	m, err := d.kube.configMaps(ns).Get(ctx, name, metav1.GetOptions{})
	return orNil(m, err)
}

// getSnapshot reads the cache unless live: a restore decides on a
// snapshot that may have been deleted moments ago.
func (d *Driver) getSnapshot(ctx context.Context, ns, name string, live bool) (*snapv1.VolumeSnapshot, error) {
	if s, err := d.snaps.VolumeSnapshots(ns).Get(name); err == nil && !live {
		return s, nil
	}
	s, err := d.kube.snapshots(ns).Get(ctx, name, metav1.GetOptions{})
	return orNil(s, err)
}

func orNil[T any](obj *T, err error) (*T, error) {
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return obj, nil
}

// ignoreNotFound treats deleting what is gone as done.
func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// done and pending are the Progress values the methods return.
var done = opennimble.Progress{Done: true}

func pending(after time.Duration) opennimble.Progress { return opennimble.Progress{RetryAfter: after} }

func failure(code, format string, args ...any) *opennimble.DriverError {
	return &opennimble.DriverError{StatusCode: code, Message: fmt.Sprintf(format, args...)}
}

const (
	codeInternal = "INTERNAL_ERROR"
	codeCapacity = "INSUFFICIENT_CAPACITY"
	codeImage    = "AMI_VALIDATION_ERROR"
	pollSoon     = 500 * time.Millisecond
	// forceDeleteAfterDefault: a Pod whose node does not confirm its
	// deletion this long after its deletion time never will.
	forceDeleteAfterDefault = 30 * time.Second
	pollWhileWaiting        = 2 * time.Second
)
