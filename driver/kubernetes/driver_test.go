package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"github.com/opennimble/opennimble/internal/testwait"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/drivertest"
	"github.com/opennimble/opennimble/internal/kubesim"
	"github.com/opennimble/opennimble/internal/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

const testConfig = `
namespacePrefix: nimble-
storageClassName: fast
volumeSnapshotClassName: snapclass
homePath: /home/artist
defaultVolumeSizeGiB: 20
images:
  - ec2ImageId: "*"
    image: registry.example/workstation:1
    port: 8443
instanceTypes:
  g4dn.xlarge:
    requests: {cpu: "4", memory: 16Gi}
    limits: {cpu: "4", memory: 16Gi, nvidia.com/gpu: "1"}
    nodeSelector: {node.kubernetes.io/instance-type: g4dn.xlarge}
    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
`

var studioCounter atomic.Int64

// rig is a driver on the shared API server with the cluster simulation,
// and a studio (so a namespace) of its own.
type rig struct {
	d      *Driver
	sim    *kubesim.Cluster
	studio string
}

// newRig starts a driver; namespaced gives it a fresh namespace of its own
// (else it has a namespace per studio).
func newRig(t *testing.T, cfgText string, namespaced bool) *rig {
	t.Helper()
	rc := kubetest.Start(t)
	cfg, err := ParseConfig([]byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	if namespaced {
		cfg.Namespace = kubetest.Namespace(t, rc)
	}
	d, err := New(Options{Config: cfg, REST: rc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	sim, err := kubesim.Start(rc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Stop)
	return &rig{d: d, sim: sim, studio: fmt.Sprintf("stu-%d-%d", time.Now().UnixNano()%1e6, studioCounter.Add(1))}
}

// current returns the session's live claim of the highest generation, once
// the simulated provisioner has bound it (and so filled it).
func (r *rig) current(t *testing.T, studio, sessionID string) (*corev1.PersistentVolumeClaim, bool) {
	t.Helper()
	ns := r.d.namespace(studio)
	deadline := testwait.Deadline(t)
	for {
		list, err := r.sim.Kube.CoreV1().PersistentVolumeClaims(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labelSession + "=" + key(sessionID)})
		if err != nil {
			t.Fatal(err)
		}
		var live []corev1.PersistentVolumeClaim
		for _, c := range list.Items {
			if c.DeletionTimestamp == nil {
				live = append(live, c)
			}
		}
		if len(live) == 0 {
			return nil, false
		}
		c := slices.MaxFunc(live, func(a, b corev1.PersistentVolumeClaim) int { return int(generationOf(&a) - generationOf(&b)) })
		if c.Status.Phase == corev1.ClaimBound {
			return &c, true
		}
		if time.Now().After(deadline) {
			t.Fatalf("claim %s/%s is not bound after 10s", ns, c.Name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConformance(t *testing.T) {
	drivertest.Run(t, func(t *testing.T) *drivertest.Harness {
		// drivertest uses studio "stu-1" and the same backup ids in every
		// test: each gets a namespace of its own.
		r := newRig(t, testConfig, true)
		return &drivertest.Harness{
			Driver: r.d,
			Read: func(id string) (string, bool) {
				c, ok := r.current(t, "stu-1", id)
				if !ok {
					return "", false
				}
				return c.Annotations[kubesim.DataAnnotation], true
			},
			Write: func(id, data string) {
				c, ok := r.current(t, "stu-1", id)
				if !ok {
					t.Fatalf("session %s has no volume to write", id)
				}
				if err := r.sim.SetData(context.Background(), c.Namespace, c.Name, data); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}

// TestKubeconfig: the driver reaches the cluster through a kubeconfig file,
// as `serve --kubeconfig` does, and reports a cluster it cannot reach.
func TestKubeconfig(t *testing.T) {
	path := kubetest.Kubeconfig(t, kubetest.Start(t))
	cfg, err := ParseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{Config: cfg, Kubeconfig: path})
	if err != nil {
		t.Fatal(err)
	}
	_ = d.Close()

	kc, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kc.Clusters["kubetest"].Server = "https://127.0.0.1:1"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{Config: cfg, Kubeconfig: path, SyncTimeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "did not sync") {
		t.Fatalf("an unreachable cluster: %v", err)
	}
}

// TestFailureIsRemembered: a transition that failed (an unschedulable Pod)
// fails the same way when asked again, and never makes another Pod, even
// once the cluster could run it.
func TestFailureIsRemembered(t *testing.T) {
	r := newRig(t, testConfig, true)
	r.sim.SetPodFate(func(*corev1.Pod) kubesim.PodFate { return kubesim.Unschedulable })
	p := opennimble.ProvisionParams{SessionID: "ses-Full", StudioID: "stu-1", Token: "t1", InstanceType: "g4dn.xlarge", Ec2ImageID: "ami-1",
		Volume: opennimble.Volume{Generation: 1}}
	var first *opennimble.DriverError
	deadline := testwait.Deadline(t)
	for first == nil {
		_, err := r.d.Provision(t.Context(), p)
		if err != nil && !errors.As(err, &first) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("an unschedulable pod never failed the provision")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if first.StatusCode != codeCapacity {
		t.Fatalf("failure %+v, want %s", first, codeCapacity)
	}
	r.sim.SetPodFate(nil)
	for range 5 {
		_, err := r.d.Provision(t.Context(), p)
		var again *opennimble.DriverError
		if !errors.As(err, &again) || *again != *first {
			t.Fatalf("asked again: %v, want the same failure %v", err, first)
		}
	}
	pods, err := r.sim.Kube.CoreV1().Pods(r.d.namespace("stu-1")).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, pod := range pods.Items {
		if pod.DeletionTimestamp == nil {
			t.Fatalf("a failed transition left or made pod %s", pod.Name)
		}
	}
}

// TestStreamTarget: the stream target is the Ready Pod's address at its
// image's port, and says whether the image serves noVNC (the default, the
// workstation image) or another web client, which the stream URL's /
// then shows as it is.
func TestStreamTarget(t *testing.T) {
	r := newRig(t, `
images:
  - {ec2ImageId: ami-web, image: registry.example/web-desktop:1, port: 8080, client: web}
  - {ec2ImageId: "*", image: registry.example/workstation:1, port: 6080}
instanceTypes:
  "*": {}
`, true)
	for _, tc := range []struct {
		image, session string
		port           string
		noVNC          bool
	}{{"ami-web", "ses-web", "8080", false}, {"ami-other", "ses-vnc", "6080", true}} {
		if _, err := r.d.StreamTarget(t.Context(), tc.session, "stu-1"); err == nil {
			t.Fatalf("%s has a stream target before its Pod exists", tc.session)
		}
		p := opennimble.ProvisionParams{SessionID: tc.session, StudioID: "stu-1", Token: "t1", InstanceType: "g4dn.xlarge", Ec2ImageID: tc.image,
			Volume: opennimble.Volume{Generation: 1}}
		testwait.Eventually(t, tc.session+" ready", func() bool {
			pr, err := r.d.Provision(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			return pr.Done
		})
		got, err := r.d.StreamTarget(t.Context(), tc.session, "stu-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.URL.String() != "http://"+r.sim.PodIP+":"+tc.port || got.NoVNC != tc.noVNC {
			t.Fatalf("%s (image %s): stream target %s, noVNC %v; want port %s, noVNC %v", tc.session, tc.image, got.URL, got.NoVNC, tc.port, tc.noVNC)
		}
	}
}

// A Pod that stays past its deletion time (its node never confirms) is
// deleted without a grace period, so that a stop does not wait forever.
func TestStopForcesAPodStuckTerminating(t *testing.T) {
	r := newRig(t, testConfig, true)
	r.d.forceDeleteAfter = 0
	ns := r.d.namespace(r.studio)
	name := key("ses-stuck")
	ctx := context.Background()
	// Bound to a node that is gone: a graceful deletion waits for its
	// kubelet forever.
	grace := int64(1)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{NodeName: "gone", TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "w", Image: "busybox"}}}}
	if _, err := r.sim.Kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.sim.Kube.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	deadline := testwait.Deadline(t)
	for {
		p, err := r.d.Stop(ctx, opennimble.StopParams{SessionID: "ses-stuck", StudioID: r.studio, Token: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if p.Done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stuck Pod was never removed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := r.sim.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the Pod is still there: %v", err)
	}
}
