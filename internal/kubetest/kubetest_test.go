package kubetest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

func TestMain(m *testing.M) { Main(m) }

var (
	snapshots       = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshots"}
	snapshotClasses = schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshotclasses"}
	configMaps      = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
)

func TestStartSharesOneServer(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Host != b.Host {
		t.Fatalf("two servers: %s and %s", a.Host, b.Host)
	}
	a.Host = "changed"
	if c := Start(t); c.Host == "changed" {
		t.Fatal("Start returned a shared configuration, not a copy")
	}
	cs, err := kubernetes.NewForConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kube-apiserver %s", v.GitVersion)
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotCRDsServed(t *testing.T) {
	cfg := Start(t)
	ns := Namespace(t, cfg)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	class := obj("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass", "", "snapclass-"+ns)
	class.Object["driver"] = "csi.example.com"
	class.Object["deletionPolicy"] = "Delete"
	if _, err := dyn.Resource(snapshotClasses).Create(ctx, class, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	snap := obj("snapshot.storage.k8s.io/v1", "VolumeSnapshot", ns, "snap")
	snap.Object["spec"] = map[string]any{
		"volumeSnapshotClassName": class.GetName(),
		"source":                  map[string]any{"persistentVolumeClaimName": "home"},
	}
	if _, err := dyn.Resource(snapshots).Namespace(ns).Create(ctx, snap, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := dyn.Resource(snapshots).Namespace(ns).Get(ctx, "snap", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pvc, _, _ := unstructured.NestedString(got.Object, "spec", "source", "persistentVolumeClaimName"); pvc != "home" {
		t.Fatalf("spec.source.persistentVolumeClaimName = %q", pvc)
	}
	// The CRD's schema is enforced: a snapshot needs a source.
	bad := obj("snapshot.storage.k8s.io/v1", "VolumeSnapshot", ns, "bad")
	bad.Object["spec"] = map[string]any{}
	if _, err := dyn.Resource(snapshots).Namespace(ns).Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("snapshot without a source: err = %v, want Invalid", err)
	}
	// Status is a subresource the driver's tests patch in place of the
	// snapshot controller.
	status := []byte(`{"status":{"readyToUse":true}}`)
	if _, err := dyn.Resource(snapshots).Namespace(ns).Patch(ctx, "snap", "application/merge-patch+json", status, metav1.PatchOptions{}, "status"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"volumesnapshotcontents", "volumesnapshotclasses"} {
		gvr := schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: r}
		if _, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("list %s: %v", r, err)
		}
	}
}

const applyYAML = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: kubetest-apply
data:
  a: "1"
---
# an empty document
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshot
metadata:
  name: snap
  namespace: kubetest-apply
spec:
  source:
    persistentVolumeClaimName: home
---
apiVersion: v1
kind: Namespace
metadata:
  name: kubetest-apply
`

// widgetYAML is a CRD and, before it in the file, an object of its kind.
const widgetYAML = `apiVersion: kubetest.example.com/v1
kind: Widget
metadata: {name: w, namespace: kubetest-apply}
spec: {size: 3}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.kubetest.example.com}
spec:
  group: kubetest.example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
`

func TestApplyDir(t *testing.T) {
	cfg := Start(t)
	dir := t.TempDir()
	write(t, dir, "objects.yaml", applyYAML)
	write(t, dir, "widget.yml", widgetYAML)
	write(t, dir, "kustomization.yaml", "resources: [objects.yaml]\n")
	write(t, dir, "notes.txt", "not a manifest\n")
	ApplyDir(t, cfg, dir)
	ApplyDir(t, cfg, dir) // applying again changes nothing and fails nothing

	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cm, err := dyn.Resource(configMaps).Namespace("kubetest-apply").Get(ctx, "settings", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedString(cm.Object, "data", "a"); v != "1" {
		t.Fatalf("data.a = %q", v)
	}
	if _, err := dyn.Resource(snapshots).Namespace("kubetest-apply").Get(ctx, "snap", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	widgets := schema.GroupVersionResource{Group: "kubetest.example.com", Version: "v1", Resource: "widgets"}
	w, err := dyn.Resource(widgets).Namespace("kubetest-apply").Get(ctx, "w", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if size, _, _ := unstructured.NestedInt64(w.Object, "spec", "size"); size != 3 {
		t.Fatalf("widget spec.size = %d", size)
	}
}

func TestApplyDirFailsOnRejectedObjects(t *testing.T) {
	cfg := Start(t)
	ns := Namespace(t, cfg)
	dir := t.TempDir()
	write(t, dir, "bad.yaml", fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: typo, namespace: %[1]s}
datta: {a: "1"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: fine, namespace: %[1]s}
---
apiVersion: example.com/v1
kind: Unknown
metadata: {name: nothing, namespace: %[1]s}
`, ns))
	ft := &fakeTB{TB: t}
	ft.run(func() { ApplyDir(ft, cfg, dir) })
	if !ft.failed {
		t.Fatal("ApplyDir accepted a ConfigMap with an unknown field and an unknown kind")
	}
	msgs := strings.Join(ft.msgs, "\n")
	for _, want := range []string{`ConfigMap "typo"`, `Unknown "nothing"`} {
		if !strings.Contains(msgs, want) {
			t.Errorf("no report of %s in:\n%s", want, msgs)
		}
	}
	if strings.Contains(msgs, `"fine"`) {
		t.Errorf("the valid object was reported:\n%s", msgs)
	}
}

func TestImpersonateIsBoundByRBAC(t *testing.T) {
	cfg := Start(t)
	ns := Namespace(t, cfg)
	dir := t.TempDir()
	write(t, dir, "rbac.yaml", fmt.Sprintf(`apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: %[1]s}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-configmaps, namespace: %[1]s}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-configmaps}
subjects:
- {kind: ServiceAccount, name: reader, namespace: %[1]s}
`, ns))
	ApplyDir(t, cfg, dir)

	cs, err := kubernetes.NewForConfig(Impersonate(cfg, ns, "reader"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("granted list configmaps: %v", err)
	}
	denied := map[string]error{}
	_, denied["list secrets"] = cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	denied["delete configmap"] = cs.CoreV1().ConfigMaps(ns).Delete(ctx, "x", metav1.DeleteOptions{})
	_, denied["list configmaps elsewhere"] = cs.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	_, denied["list namespaces"] = cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	for what, err := range denied {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: err = %v, want Forbidden", what, err)
		}
	}
	// Another account in the same namespace is granted nothing.
	other, err := kubernetes.NewForConfig(Impersonate(cfg, ns, "other"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("unbound account: err = %v, want Forbidden", err)
	}
}

func TestNamespaceIsFreshAndValid(t *testing.T) {
	cfg := Start(t)
	a, b := Namespace(t, cfg), Namespace(t, cfg)
	if a == b {
		t.Fatalf("Namespace returned %s twice", a)
	}
	if !strings.HasPrefix(a, "testnamespaceisfreshandvalid-") {
		t.Errorf("namespace %q is not named after the test", a)
	}
}

func TestNamePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"TestX":                       "testx-",
		"TestA/sub_test#01":           "testa-sub-test-01-",
		"123":                         "t123-",
		"///":                         "t-",
		strings.Repeat("Abcdefgh", 9): strings.ToLower(strings.Repeat("Abcdefgh", 5)) + "-",
	} {
		if got := namePrefix(in); got != want {
			t.Errorf("namePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func obj(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeTB records failures instead of failing the real test.
type fakeTB struct {
	testing.TB
	failed bool
	msgs   []string
}

func (f *fakeTB) run(fn func()) {
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	<-done
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Failed() bool { return f.failed }
func (f *fakeTB) FailNow()     { f.failed = true; runtime.Goexit() }
func (f *fakeTB) Errorf(format string, args ...any) {
	f.failed = true
	f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
}
func (f *fakeTB) Fatalf(format string, args ...any) { f.Errorf(format, args...); f.FailNow() }
