package kubernetes

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	snapv1 "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	"github.com/opennimble/opennimble/internal/kubetest"
)

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestClient: the driver's own clients create, read and watch both kinds
// (a watch event decodes to the typed object), a missing object is
// NotFound, and the core kinds travel as protobuf, the snapshots as JSON,
// as with client-go's generated clientsets.
func TestClient(t *testing.T) {
	rc := rest.CopyConfig(kubetest.Start(t))
	ns := kubetest.Namespace(t, rc)
	var mu sync.Mutex
	types := map[string]string{} // response Content-Type by API group path
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err == nil && strings.Contains(r.URL.Path, "/namespaces/"+ns+"/") {
				group := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)[1] // v1 or snapshot.storage.k8s.io
				mu.Lock()
				types[group] = resp.Header.Get("Content-Type")
				mu.Unlock()
			}
			return resp, err
		})
	})
	kc, err := newClient(rc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// From the watch cache as it is ("0"): a consistent start waits for
	// the snapshots' watch cache, which on a fresh API server may not
	// catch up in time (504 "Too large resource version").
	from := metav1.ListOptions{ResourceVersion: "0"}
	pods, err := kc.pods(ns).Watch(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer pods.Stop()
	snaps, err := kc.snapshots(ns).Watch(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	defer snaps.Stop()

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	if _, err := kc.pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	claim := "c"
	snap := &snapv1.VolumeSnapshot{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Spec: snapv1.VolumeSnapshotSpec{Source: snapv1.VolumeSnapshotSource{PersistentVolumeClaimName: &claim}}}
	if _, err := kc.snapshots(ns).Create(ctx, snap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if p, ok := added(t, pods).(*corev1.Pod); !ok || p.Name != "p" || p.Spec.Containers[0].Image != "i" {
		t.Errorf("pod watch event: %#v", p)
	}
	if s, ok := added(t, snaps).(*snapv1.VolumeSnapshot); !ok || s.Name != "s" || *s.Spec.Source.PersistentVolumeClaimName != "c" {
		t.Errorf("snapshot watch event: %#v", s)
	}
	if got, err := kc.pods(ns).List(ctx, metav1.ListOptions{}); err != nil || len(got.Items) != 1 {
		t.Errorf("list pods: %v, %v", got, err)
	}
	if _, err := kc.pods(ns).Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get a missing pod: %v, want NotFound", err)
	}
	if _, err := kc.snapshots(ns).Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get a missing snapshot: %v, want NotFound", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if ct := types["v1"]; !strings.HasPrefix(ct, "application/vnd.kubernetes.protobuf") {
		t.Errorf("core responses are %q, want protobuf", ct)
	}
	if ct := types["snapshot.storage.k8s.io"]; !strings.HasPrefix(ct, "application/json") {
		t.Errorf("snapshot responses are %q, want JSON", ct)
	}
}

// added returns the object of the next event, which must be an addition.
func added(t *testing.T, w watch.Interface) any {
	t.Helper()
	select {
	case ev := <-w.ResultChan():
		if ev.Type != watch.Added {
			t.Fatalf("watch event %s %#v, want ADDED", ev.Type, ev.Object)
		}
		return ev.Object
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
	}
	return nil
}
