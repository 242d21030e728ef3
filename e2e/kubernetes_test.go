package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/service/nimblestudio"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	opennimble "github.com/opennimble/opennimble"
	"github.com/opennimble/opennimble/app"
	"github.com/opennimble/opennimble/internal/fixture"
	"github.com/opennimble/opennimble/internal/kubesim"
	"github.com/opennimble/opennimble/internal/kubetest"
	"github.com/opennimble/opennimble/internal/pgtest"
	"github.com/opennimble/opennimble/internal/testwait"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// kubeRig is a real Kubernetes API server with opennimble's deployment
// manifests applied, the cluster simulation (kubelet, CSI, snapshot
// controller), and a remote desktop for the workstations' Pods to serve.
type kubeRig struct {
	admin   *rest.Config // cluster administrator, for the test's own looks
	driver  *rest.Config // opennimble's service account: proves the RBAC suffices
	sim     *kubesim.Cluster
	desktop *httptest.Server
	config  string // the driver's configuration file
}

var kubeManifests = func() string { d, _ := filepath.Abs("../deploy/kubernetes"); return d }()

func newKubeRig(t *testing.T) *kubeRig {
	t.Helper()
	rc := kubetest.Start(t)
	sim, err := kubesim.Start(rc)
	check(t, err)
	if _, err := sim.Kube.CoreV1().Namespaces().Get(ctx(t), "opennimble", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		kubetest.ApplyDir(t, rc, kubeManifests)
	}
	t.Cleanup(sim.Stop)
	desktop := httptest.NewServer(http.HandlerFunc(remoteDesktop))
	t.Cleanup(desktop.Close)
	_, port, _ := net.SplitHostPort(desktop.Listener.Addr().String())
	cfg := filepath.Join(t.TempDir(), "kubernetes.yaml")
	check(t, os.WriteFile(cfg, []byte(`
namespacePrefix: nimble-
storageClassName: fast-ssd
volumeSnapshotClassName: csi-snapclass
homePath: /home/artist
images:
  - ec2ImageId: ami-0123456789abcdef0
    image: registry.example/studio/workstation:2.1
    port: `+port+`
  - ec2ImageId: "*"
    image: registry.example/studio/broken:0
    port: `+port+`
instanceTypes:
  g4dn.xlarge:
    requests: {cpu: "4", memory: 16Gi}
    limits: {cpu: "4", memory: 16Gi, nvidia.com/gpu: "1"}
    nodeSelector: {node.kubernetes.io/instance-type: g4dn.xlarge}
    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
`), 0o644))
	return &kubeRig{admin: rc, driver: kubetest.Impersonate(rc, "opennimble", "opennimble"), sim: sim, desktop: desktop, config: cfg}
}

// remoteDesktop stands for a workstation's remote desktop: it names the
// path it was asked for and echoes an upgraded connection.
func remoteDesktop(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") == "websocket" {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprint(buf, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		_ = buf.Flush()
		line, _ := buf.ReadString('\n')
		fmt.Fprint(buf, "echo "+line)
		_ = buf.Flush()
		return
	}
	fmt.Fprintf(w, "desktop of %s at %s", r.Header.Get("X-Nimble-Session-Id"), r.URL.Path)
}

func (k *kubeRig) option(c *app.Config, o *app.Options) {
	c.Driver, c.KubernetesConfig = "kubernetes", k.config
	o.KubeREST, o.Clock = k.driver, opennimble.SystemClock{}
}

func (k *kubeRig) pod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := k.sim.Kube.CoreV1().Pods(ns).Get(ctx(t), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	check(t, err)
	return p
}

// sessionPod waits for the Pod of a session and returns it.
func (k *kubeRig) sessionPod(t *testing.T, s *sess) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	awaitCond(t, "the session's pod", func() bool { pod = k.findPod(t, *s.id); return pod != nil })
	return pod
}

// findPod returns the session's live Pod, if any.
func (k *kubeRig) findPod(t *testing.T, sessionID string) *corev1.Pod {
	t.Helper()
	list, err := k.sim.Kube.CoreV1().Pods("").List(ctx(t), metav1.ListOptions{LabelSelector: "nimble.opennimble.io/component=workstation"})
	check(t, err)
	for i := range list.Items {
		if p := &list.Items[i]; p.Annotations["nimble.opennimble.io/session-id"] == sessionID && p.DeletionTimestamp == nil {
			return p
		}
	}
	return nil
}

func (k *kubeRig) claims(t *testing.T, ns, sessionID string) []corev1.PersistentVolumeClaim {
	t.Helper()
	list, err := k.sim.Kube.CoreV1().PersistentVolumeClaims(ns).List(ctx(t), metav1.ListOptions{LabelSelector: "nimble.opennimble.io/component=volume"})
	check(t, err)
	var out []corev1.PersistentVolumeClaim
	for _, c := range list.Items {
		if c.Annotations["nimble.opennimble.io/session-id"] == sessionID && c.DeletionTimestamp == nil {
			out = append(out, c)
		}
	}
	return out
}

func (k *kubeRig) snapshotExists(t *testing.T, ns, backupID string) bool {
	t.Helper()
	list, err := k.sim.Snap.SnapshotV1().VolumeSnapshots(ns).List(ctx(t), metav1.ListOptions{})
	check(t, err)
	for _, s := range list.Items {
		if s.Annotations["nimble.opennimble.io/backup-id"] == backupID && s.DeletionTimestamp == nil {
			return true
		}
	}
	return false
}

func (s *sess) awaitState(state string) *nimblestudio.StreamingSession {
	s.t.Helper()
	var got *nimblestudio.StreamingSession
	awaitCond(s.t, "session state "+state, func() bool {
		got = s.get()
		return aws.StringValue(got.State) == state
	})
	return got
}

// TestKubernetesDriver walks a session through its life on a real API
// server: Pod and claim with the mapped image, resources and size; READY
// once the Pod is; a stream URL proxied to the Pod's remote desktop; stop
// with a VolumeSnapshot that makes the backup READY; start from it on a
// claim whose dataSource is the snapshot; retention deleting the oldest
// snapshot; a Pod deleted behind opennimble's back reported, also across a
// restart of the server; unschedulable Pods and image pull failures failing
// their sessions with the right status.
func TestKubernetesDriver(t *testing.T) {
	k := newKubeRig(t)
	dataDir := t.TempDir()
	e := start(t, k.option, func(c *app.Config, o *app.Options) { c.DataDir = dataDir })
	pr := makeProfile(t, ctx(t), e.Admin, "kube", withBackups(1), withPersistence(600))

	// Create: a Pod the test (as kubelet) has not started yet keeps the
	// session CREATE_IN_PROGRESS.
	k.sim.SetPodFate(func(*corev1.Pod) kubesim.PodFate { return kubesim.Hold })
	out := must[*nimblestudio.CreateStreamingSessionOutput](t)(e.Admin.CreateStreamingSessionWithContext(ctx(t), &nimblestudio.CreateStreamingSessionInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile, Ec2InstanceType: aws.String("g4dn.xlarge")}))
	s := &sess{e: e, studio: pr.Studio, id: out.Session.SessionId, c: e.Admin, profile: pr, t: t}
	pod := k.sessionPod(t, s)
	ns := pod.Namespace
	nsObj, err := k.sim.Kube.CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{})
	check(t, err)
	if !strings.HasPrefix(ns, "nimble-") || nsObj.Annotations["nimble.opennimble.io/studio-id"] != pr.Studio {
		t.Fatalf("pod namespace %q (%v), want the studio's own namespace nimble-…", ns, nsObj.Annotations)
	}
	c := pod.Spec.Containers[0]
	if c.Image != "registry.example/studio/workstation:2.1" || c.Resources.Limits.Name("nvidia.com/gpu", "").String() != "1" ||
		c.Resources.Requests.Memory().String() != "16Gi" || pod.Spec.NodeSelector["node.kubernetes.io/instance-type"] != "g4dn.xlarge" ||
		!slices.ContainsFunc(pod.Spec.Tolerations, func(x corev1.Toleration) bool { return x.Key == "nvidia.com/gpu" }) || c.VolumeMounts[0].MountPath != "/home/artist" {
		t.Fatalf("pod does not have the mapped image, resources and placement: image %s, resources %v, node selector %v, tolerations %v", c.Image, c.Resources, pod.Spec.NodeSelector, pod.Spec.Tolerations)
	}
	for label, want := range map[string]string{"app.kubernetes.io/managed-by": "opennimble", "nimble.opennimble.io/launch-profile": pr.LaunchProfile, "nimble.opennimble.io/owner": "test"} {
		if pod.Labels[label] != want {
			t.Fatalf("pod label %s = %q, want %q", label, pod.Labels[label], want)
		}
	}
	if len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].Kind != "ConfigMap" {
		t.Fatalf("pod owner references %+v, want the session's ConfigMap", pod.OwnerReferences)
	}
	claims := k.claims(t, ns, *s.id)
	if len(claims) != 1 || claims[0].Spec.Resources.Requests.Storage().String() != "500Gi" || aws.StringValue(claims[0].Spec.StorageClassName) != "fast-ssd" ||
		pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != claims[0].Name {
		t.Fatalf("claims %+v: want one of 500Gi in fast-ssd, mounted by the pod", claims)
	}
	time.Sleep(300 * time.Millisecond)
	if st := aws.StringValue(s.get().State); st != "CREATE_IN_PROGRESS" {
		t.Fatalf("session is %s before its pod is Ready", st)
	}
	k.sim.SetPodFate(nil)
	check(t, k.sim.MarkReady(ctx(t), ns, pod.Name))
	s.waitReady()

	// The stream URL reaches the Pod's remote desktop through the server.
	k.checkStream(t, s)

	// Work on the volume, then stop with a backup: a VolumeSnapshot of the
	// claim; the backup is READY once the snapshot is ready to use.
	check(t, k.sim.SetData(ctx(t), ns, claims[0].Name, "shot 010, take 3"))
	k.sim.HoldSnapshots(true)
	check(t, s.stop())
	var first string
	awaitCond(t, "a backup", func() bool {
		if b := s.backups(); len(b) == 1 {
			first = *b[0].BackupId
		}
		return first != "" && k.snapshotExists(t, ns, first)
	})
	time.Sleep(300 * time.Millisecond)
	if b := s.backups(); aws.StringValue(b[0].State) != "CREATE_IN_PROGRESS" {
		t.Fatalf("backup is %s before its snapshot is ready", aws.StringValue(b[0].State))
	}
	check(t, k.sim.ReleaseSnapshots(ctx(t)))
	s.awaitState("STOPPED")
	if b := s.backups(); aws.StringValue(b[0].State) != "READY" {
		t.Fatalf("backup is %s after its snapshot is ready", aws.StringValue(b[0].State))
	}
	if p := k.pod(t, ns, pod.Name); p != nil {
		t.Fatalf("the pod of a stopped session still exists: %s", p.Status.Phase)
	}
	if cl := k.claims(t, ns, *s.id); len(cl) != 1 {
		t.Fatalf("a stopped persistent session has %d claims, want its one volume", len(cl))
	}

	// Start from the backup: a new claim restored from the snapshot.
	check(t, s.start(first))
	s.waitReady()
	claims = k.claims(t, ns, *s.id)
	if len(claims) != 1 || claims[0].Spec.DataSource == nil || claims[0].Spec.DataSource.Kind != "VolumeSnapshot" {
		t.Fatalf("after a start from a backup the claims are %+v, want one restored from the snapshot", claims)
	}
	awaitCond(t, "restored data", func() bool {
		cl, err := k.sim.Kube.CoreV1().PersistentVolumeClaims(ns).Get(ctx(t), claims[0].Name, metav1.GetOptions{})
		return err == nil && cl.Annotations[kubesim.DataAnnotation] == "shot 010, take 3"
	})
	if got := s.get(); aws.StringValue(got.StartedFromBackupId) != first {
		t.Fatalf("startedFromBackupId %q, want %s", aws.StringValue(got.StartedFromBackupId), first)
	}

	// Retention (1 backup): the second stop's backup deletes the first's snapshot.
	second := s.stopWithBackup()
	awaitCond(t, "the oldest snapshot deleted", func() bool { return !k.snapshotExists(t, ns, first) })
	if !k.snapshotExists(t, ns, second) {
		t.Fatal("the retained backup's snapshot is gone")
	}

	// A Pod deleted behind opennimble's back: the session leaves READY and
	// says why; with AUTOMATIC backups what the volume holds is backed up.
	check(t, s.start(""))
	s.waitReady()
	pod = k.sessionPod(t, s)
	check(t, k.sim.Kube.CoreV1().Pods(ns).Delete(ctx(t), pod.Name, metav1.DeleteOptions{}))
	got := s.awaitState("STOPPED")
	if msg := aws.StringValue(got.StatusMessage); !strings.Contains(msg, "outside opennimble") || !strings.Contains(msg, pod.Name) || aws.StringValue(got.StatusCode) != "INTERNAL_ERROR" {
		t.Fatalf("a lost workstation is reported as %s: %q", aws.StringValue(got.StatusCode), msg)
	}

	// Across a restart: the Pod goes while the server is down; the restarted
	// server re-adopts the session's objects and reports it.
	check(t, s.start(""))
	s.waitReady()
	pod = k.sessionPod(t, s)
	check(t, e.App.Close())
	check(t, k.sim.Kube.CoreV1().Pods(ns).Delete(ctx(t), pod.Name, metav1.DeleteOptions{}))
	e2 := start(t, k.option, func(c *app.Config, o *app.Options) { c.DataDir = dataDir })
	s.e, s.c = e2, e2.Admin
	got = s.awaitState("STOPPED")
	if !strings.Contains(aws.StringValue(got.StatusMessage), "was deleted") {
		t.Fatalf("after a restart the lost workstation is reported as %q", aws.StringValue(got.StatusMessage))
	}

	// A Pod the kubelet evicts (it ends Failed) is reported the same way.
	check(t, s.start(""))
	s.waitReady()
	pod = k.sessionPod(t, s)
	pod.Status.Phase, pod.Status.Reason, pod.Status.Message = corev1.PodFailed, "Evicted", "The node was low on resource: memory."
	_, err = k.sim.Kube.CoreV1().Pods(ns).UpdateStatus(ctx(t), pod, metav1.UpdateOptions{})
	check(t, err)
	got = s.awaitState("STOPPED")
	if msg := aws.StringValue(got.StatusMessage); !strings.Contains(msg, "Evicted") || !strings.Contains(msg, "low on resource") {
		t.Fatalf("an evicted workstation is reported as %q", msg)
	}
	if p := k.pod(t, ns, pod.Name); p != nil {
		t.Fatal("the evicted pod was not cleaned up by the stop")
	}

	// No room in the cluster: INSUFFICIENT_CAPACITY.
	k.sim.SetPodFate(func(*corev1.Pod) kubesim.PodFate { return kubesim.Unschedulable })
	full := must[*nimblestudio.CreateStreamingSessionOutput](t)(e2.Admin.CreateStreamingSessionWithContext(ctx(t), &nimblestudio.CreateStreamingSessionInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile}))
	fs := &sess{e: e2, studio: pr.Studio, id: full.Session.SessionId, c: e2.Admin, t: t}
	got = fs.awaitState("CREATE_FAILED")
	if aws.StringValue(got.StatusCode) != "INSUFFICIENT_CAPACITY" || !strings.Contains(aws.StringValue(got.StatusMessage), "Insufficient nvidia.com/gpu") {
		t.Fatalf("an unschedulable pod gives %s: %q", aws.StringValue(got.StatusCode), aws.StringValue(got.StatusMessage))
	}
	// Its Pod is removed, so that it does not start later for nothing.
	awaitCond(t, "the unschedulable pod removed", func() bool { return k.findPod(t, *fs.id) == nil })

	// An image that cannot be pulled: CREATE_FAILED naming the image.
	k.sim.SetPodFate(func(*corev1.Pod) kubesim.PodFate { return kubesim.ImagePullFails })
	bad := must[*nimblestudio.CreateStreamingSessionOutput](t)(e2.Admin.CreateStreamingSessionWithContext(ctx(t), &nimblestudio.CreateStreamingSessionInput{
		StudioId: &pr.Studio, LaunchProfileId: &pr.LaunchProfile}))
	bs := &sess{e: e2, studio: pr.Studio, id: bad.Session.SessionId, c: e2.Admin, t: t}
	got = bs.awaitState("CREATE_FAILED")
	if !strings.Contains(aws.StringValue(got.StatusMessage), "registry.example/studio/workstation:2.1") {
		t.Fatalf("an image pull failure gives %s: %q", aws.StringValue(got.StatusCode), aws.StringValue(got.StatusMessage))
	}
	k.sim.SetPodFate(nil)

	// A snapshot the storage system fails: the backup is CREATE_FAILED with
	// the snapshot's error, and the session says its backup failed.
	ws := e2.session(t, pr)
	k.sim.FailSnapshots("snapshot quota of the storage pool exceeded")
	check(t, ws.stop())
	got = ws.awaitState("STOP_FAILED")
	if !strings.Contains(aws.StringValue(got.StatusMessage), "snapshot quota of the storage pool exceeded") {
		t.Fatalf("a failed snapshot leaves the session with %q", aws.StringValue(got.StatusMessage))
	}
	var failed *nimblestudio.StreamingSessionBackup
	for _, b := range ws.backups() {
		if aws.StringValue(b.SessionId) == *ws.id {
			failed = b
		}
	}
	if failed == nil || aws.StringValue(failed.State) != "CREATE_FAILED" || !strings.Contains(aws.StringValue(failed.StatusMessage), "snapshot quota of the storage pool exceeded") {
		t.Fatalf("the backup of a failed snapshot: %v", failed)
	}
	k.sim.FailSnapshots("")

	// Deleting sessions removes their Pods, claims and anchors; backups
	// (snapshots) go with the session's deletion.
	for _, x := range []*sess{s, fs, bs, ws} {
		must[*nimblestudio.DeleteStreamingSessionOutput](t)(e2.Admin.DeleteStreamingSessionWithContext(ctx(t), &nimblestudio.DeleteStreamingSessionInput{StudioId: &pr.Studio, SessionId: x.id}))
	}
	awaitCond(t, "the sessions' objects removed", func() bool {
		list, err := k.sim.Kube.CoreV1().ConfigMaps(ns).List(ctx(t), metav1.ListOptions{LabelSelector: "nimble.opennimble.io/component=session"})
		check(t, err)
		return len(list.Items) == 0 && len(k.claims(t, ns, *s.id)) == 0 && !k.snapshotExists(t, ns, second)
	})
}

// checkStream makes a stream and uses its URL: the page and a WebSocket
// reach the session's remote desktop through the server.
func (k *kubeRig) checkStream(t *testing.T, s *sess) {
	t.Helper()
	st := must[*nimblestudio.CreateStreamingSessionStreamOutput](t)(s.c.CreateStreamingSessionStreamWithContext(ctx(t), &nimblestudio.CreateStreamingSessionStreamInput{
		StudioId: &s.studio, SessionId: s.id, ExpirationInSeconds: aws.Int64(600)}))
	check(t, s.c.WaitUntilStreamingSessionStreamReadyWithContext(ctx(t), &nimblestudio.GetStreamingSessionStreamInput{
		StudioId: &s.studio, SessionId: s.id, StreamId: st.Stream.StreamId}, fast()))
	got := must[*nimblestudio.GetStreamingSessionStreamOutput](t)(s.c.GetStreamingSessionStreamWithContext(ctx(t), &nimblestudio.GetStreamingSessionStreamInput{
		StudioId: &s.studio, SessionId: s.id, StreamId: st.Stream.StreamId}))
	url := aws.StringValue(got.Stream.Url)
	// The workstation image serves noVNC (the image's default client): the
	// stream URL leads to its page, connecting to the stream's WebSocket,
	// as the local driver's desktops do.
	resp, err := http.Get(url + "?x=1") // follows the redirects to <url>/ and on
	check(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	token := url[strings.LastIndex(url, "/")+1:]
	landed := resp.Request.URL
	if want := "desktop of " + *s.id + " at /vnc.html"; resp.StatusCode != 200 || string(body) != want ||
		landed.Path != "/_stream/"+token+"/vnc.html" || landed.Query().Get("path") != "_stream/"+token+"/websockify" || landed.Query().Get("autoconnect") != "true" {
		t.Fatalf("stream URL landed on %s answering %d %q, want noVNC's page connecting to the stream's websockify, answering %q", landed, resp.StatusCode, body, want)
	}
	// A Pod whose image serves another web client (images[].client: web,
	// recorded on the Pod) shows its own / at the stream URL.
	pod := k.sessionPod(t, s)
	_, err = k.sim.Kube.CoreV1().Pods(pod.Namespace).Patch(ctx(t), pod.Name, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"nimble.opennimble.io/stream-client":"web"}}}`), metav1.PatchOptions{})
	check(t, err)
	awaitCond(t, "the stream URL to show the web client's own /", func() bool {
		resp, err := http.Get(url + "/")
		check(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.Request.URL.Path == strings.TrimPrefix(url, s.e.App.URL)+"/" && string(body) == "desktop of "+*s.id+" at /"
	})
	_, err = k.sim.Kube.CoreV1().Pods(pod.Namespace).Patch(ctx(t), pod.Name, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"nimble.opennimble.io/stream-client":null}}}`), metav1.PatchOptions{})
	check(t, err)
	// A Pod without it (made before it existed) ran the noVNC image.
	awaitCond(t, "the stream URL to open noVNC again", func() bool {
		resp, err := http.Get(url + "/")
		check(t, err)
		resp.Body.Close()
		return resp.Request.URL.Path == strings.TrimPrefix(url, s.e.App.URL)+"/vnc.html"
	})
	resp, err = http.Get(url + "/vnc/lite.html")
	check(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "desktop of " + *s.id + " at /vnc/lite.html"; string(body) != want {
		t.Fatalf("stream sub-path answered %q, want %q", body, want)
	}
	// A WebSocket upgrade passes through.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.e.App.URL, "http://"))
	check(t, err)
	defer conn.Close()
	path := strings.TrimPrefix(url, s.e.App.URL) + "/websockify"
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", path)
	br := bufio.NewReader(conn)
	status, _ := br.ReadString('\n')
	if !strings.Contains(status, "101") {
		t.Fatalf("websocket upgrade through the stream URL: %q", status)
	}
	for line, _ := br.ReadString('\n'); line != "\r\n" && line != ""; line, _ = br.ReadString('\n') {
	}
	fmt.Fprint(conn, "hello\n")
	echo, _ := br.ReadString('\n')
	if echo != "echo hello\n" {
		t.Fatalf("websocket echo %q", echo)
	}
	// A wrong token is refused before anything reaches the workstation.
	resp, err = http.Get(url[:len(url)-2] + "xx/")
	check(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a forged stream URL answered %d", resp.StatusCode)
	}
}

// TestKubernetesReplicas runs three opennimble binaries, as the deployment
// does, on one PostgreSQL database and one Kubernetes API server (reached
// through --kubeconfig as the deployment's service account), and drives
// sessions through create, stop with a backup, start from it, a second stop
// and start, and delete, each request to a random replica, while replicas
// are killed with SIGKILL and restarted. Afterwards every session is
// DELETED with exact backups (TestReplicas' cycle checks them), and the
// cluster holds nothing of theirs: no Pod, claim, anchor or snapshot.
func TestKubernetesReplicas(t *testing.T) {
	sessions := 12
	if testing.Short() {
		sessions = 4
	}
	k := newKubeRig(t)
	pg := pgtest.Start(t)
	rs := newReplicaSet(t, binary(t), 3, "--store", pg.Database(t), "--driver", "kubernetes",
		"--kubernetes-config", k.config, "--kubeconfig", kubetest.Kubeconfig(t, k.driver), "--job-lease", "2s")
	cx := testwait.Context(t)
	pr, err := fixture.Make(cx, rs.reps[0].c, "kubereplicas", fixture.WithBackups(1), fixture.WithPersistence(600))
	check(t, err)

	chaosCtx, stopChaos := context.WithCancel(cx)
	var kills atomic.Int64
	chaosDone := make(chan error, 1)
	go func() { chaosDone <- rs.chaos(chaosCtx, 1500*time.Millisecond, &kills) }()
	d := &driver{rs: rs, studio: pr.Studio, profile: pr.LaunchProfile}
	runs := make([]sessionRun, sessions)
	errs := make(chan error, sessions)
	for i := range sessions {
		go func() { errs <- d.cycle(cx, i, &runs[i]) }()
	}
	for range sessions {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	stopChaos()
	check(t, <-chaosDone)
	if t.Failed() {
		return
	}
	t.Logf("%d sessions, %d replica kills", sessions, kills.Load())

	// Nothing of theirs is left in the cluster.
	awaitCond(t, "the sessions' objects removed", func() bool {
		sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=opennimble,nimble.opennimble.io/studio=" + pr.Studio}
		pods, err := k.sim.Kube.CoreV1().Pods("").List(ctx(t), sel)
		check(t, err)
		claims, err := k.sim.Kube.CoreV1().PersistentVolumeClaims("").List(ctx(t), sel)
		check(t, err)
		maps, err := k.sim.Kube.CoreV1().ConfigMaps("").List(ctx(t), sel)
		check(t, err)
		snaps, err := k.sim.Snap.SnapshotV1().VolumeSnapshots("").List(ctx(t), sel)
		check(t, err)
		left := len(pods.Items) + len(claims.Items) + len(maps.Items) + len(snaps.Items)
		if left > 0 {
			t.Logf("left: %d pods, %d claims, %d anchors, %d snapshots", len(pods.Items), len(claims.Items), len(maps.Items), len(snaps.Items))
		}
		return left == 0
	})
}
