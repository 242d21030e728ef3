package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/opennimble/opennimble/internal/kubetest"
)

const (
	manifests      = "kubernetes"
	namespace      = "opennimble"
	serviceAccount = "opennimble"
	// studioNS stands for a namespace the driver creates for a studio.
	studioNS = "nimble-st-0123456789abcdef"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := kubetest.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "kubetest:", err)
	}
	os.Exit(code)
}

// applied applies the manifests once for the tests that need them.
func applied(t *testing.T) *rest.Config {
	t.Helper()
	cfg := kubetest.Start(t)
	kubetest.ApplyDir(t, cfg, manifests) // server-side apply: repeating it is harmless
	return cfg
}

// access is one request the ServiceAccount may or may not make.
type access struct {
	group, resource, subresource, verb string
	namespaced                         bool
}

func (a access) String() string {
	r := a.resource
	if a.group != "" {
		r += "." + a.group
	}
	if a.subresource != "" {
		r += "/" + a.subresource
	}
	return a.verb + " " + r
}

// grants expands rules into accesses.
func grants(group string, resources []string, namespaced bool, verbs ...string) []access {
	var out []access
	for _, r := range resources {
		for _, v := range verbs {
			out = append(out, access{group: group, resource: r, verb: v, namespaced: namespaced})
		}
	}
	return out
}

// allowed is everything the driver needs (README.md's table).
var allowed = slices.Concat(
	grants("", []string{"pods", "persistentvolumeclaims", "configmaps"}, true,
		"get", "list", "watch", "create", "update", "patch", "delete"),
	grants("", []string{"namespaces"}, false, "get", "list", "watch", "create"),
	grants("snapshot.storage.k8s.io", []string{"volumesnapshots"}, true, "get", "list", "watch", "create", "delete"),
	grants("snapshot.storage.k8s.io", []string{"volumesnapshotclasses"}, false, "get", "list", "watch"),
)

// denied is a sample of what it must not do.
var denied = slices.Concat(
	grants("", []string{"secrets"}, true, "get", "list", "watch", "create", "update", "delete"),
	grants("", []string{"namespaces"}, false, "delete", "update", "patch", "deletecollection"),
	grants("", []string{"pods", "persistentvolumeclaims", "configmaps"}, true, "deletecollection", "*"),
	[]access{
		{resource: "pods", subresource: "status", verb: "update", namespaced: true},
		{resource: "pods", subresource: "status", verb: "patch", namespaced: true},
		{resource: "pods", subresource: "exec", verb: "create", namespaced: true},
		{resource: "pods", subresource: "portforward", verb: "create", namespaced: true},
		{resource: "pods", subresource: "log", verb: "get", namespaced: true},
		{resource: "persistentvolumeclaims", subresource: "status", verb: "patch", namespaced: true},
		{resource: "serviceaccounts", subresource: "token", verb: "create", namespaced: true},
		{group: "snapshot.storage.k8s.io", resource: "volumesnapshots", subresource: "status", verb: "patch", namespaced: true},
	},
	grants("snapshot.storage.k8s.io", []string{"volumesnapshots"}, true, "update", "patch"),
	grants("snapshot.storage.k8s.io", []string{"volumesnapshotclasses"}, false, "create", "update", "delete"),
	grants("snapshot.storage.k8s.io", []string{"volumesnapshotcontents"}, false, "get", "list", "create", "delete"),
	grants("", []string{"services", "serviceaccounts", "events"}, true, "create"),
	grants("", []string{"nodes", "persistentvolumes"}, false, "list"),
	grants("apps", []string{"deployments"}, true, "create", "list"),
	grants("rbac.authorization.k8s.io", []string{"roles", "rolebindings"}, true, "create", "bind", "escalate"),
	grants("rbac.authorization.k8s.io", []string{"clusterroles", "clusterrolebindings"}, false, "create", "bind", "escalate"),
)

func TestServiceAccountGrants(t *testing.T) {
	cfg := applied(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	can := func(a access, ns string) bool {
		t.Helper()
		attrs := &authorizationv1.ResourceAttributes{Group: a.group, Resource: a.resource, Subresource: a.subresource, Verb: a.verb}
		if a.namespaced {
			attrs.Namespace = ns
		}
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:" + namespace + ":" + serviceAccount,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
			ResourceAttributes: attrs,
		}}
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("%v: %v", a, err)
		}
		return got.Status.Allowed
	}
	// The driver's namespace and a studio's: a ClusterRole grants both.
	for _, ns := range []string{studioNS, namespace} {
		for _, a := range allowed {
			if !can(a, ns) {
				t.Errorf("the ServiceAccount may not %v in %s; the driver needs it", a, ns)
			}
		}
		for _, a := range denied {
			if can(a, ns) {
				t.Errorf("the ServiceAccount may %v in %s; it must not", a, ns)
			}
		}
	}
}

// TestClusterRoleIsExactlyTheList compares the rules themselves, which
// access reviews cannot: they would not notice a grant nobody asked about.
func TestClusterRoleIsExactlyTheList(t *testing.T) {
	cfg := applied(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	role, err := cs.RbacV1().ClusterRoles().Get(ctx, "opennimble", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, r := range role.Rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("unexpected rule %+v", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					got = append(got, access{group: g, resource: res, verb: v}.String())
				}
			}
		}
	}
	for _, a := range allowed {
		want = append(want, access{group: a.group, resource: a.resource, verb: a.verb}.String())
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("ClusterRole opennimble grants\n  %s\nwant exactly\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	binding, err := cs.RbacV1().ClusterRoleBindings().Get(ctx, "opennimble", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if binding.RoleRef.Kind != "ClusterRole" || binding.RoleRef.Name != "opennimble" ||
		len(binding.Subjects) != 1 || binding.Subjects[0].Kind != "ServiceAccount" ||
		binding.Subjects[0].Name != serviceAccount || binding.Subjects[0].Namespace != namespace {
		t.Errorf("ClusterRoleBinding opennimble: roleRef %+v, subjects %+v", binding.RoleRef, binding.Subjects)
	}
}

// TestServiceAccountDoesTheDriversWork makes, as the ServiceAccount, the
// requests a session's life takes, and some it must not.
func TestServiceAccountDoesTheDriversWork(t *testing.T) {
	admin := applied(t)
	cfg := kubetest.Impersonate(admin, namespace, serviceAccount)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "nimble-st-"}}
	if ns, err = cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a studio namespace: %v", err)
	}
	t.Cleanup(func() {
		adminCS, _ := kubernetes.NewForConfig(admin)
		_ = adminCS.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	anchor := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "session"}, Data: map[string]string{"state": "provisioning"}}
	if anchor, err = cs.CoreV1().ConfigMaps(ns.Name).Create(ctx, anchor, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create the session's ConfigMap: %v", err)
	}
	owner := []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: anchor.Name, UID: anchor.UID}}
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "session", OwnerReferences: owner},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("500Gi")}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(ns.Name).Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create the session's claim: %v", err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "session", OwnerReferences: owner},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "workstation", Image: "ghcr.io/example/workstation:1.0"}}},
	}
	if _, err := cs.CoreV1().Pods(ns.Name).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create the session's Pod: %v", err)
	}
	// The driver's informers list and watch across all namespaces.
	w, err := cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("watch Pods: %v", err)
	}
	w.Stop()
	if _, err := cs.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list ConfigMaps: %v", err)
	}
	anchor.Data["state"] = "ready"
	if _, err := cs.CoreV1().ConfigMaps(ns.Name).Update(ctx, anchor, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update the session's ConfigMap: %v", err)
	}
	snap := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "snapshot.storage.k8s.io/v1",
		"kind":       "VolumeSnapshot",
		"metadata":   map[string]any{"name": "backup"},
		"spec": map[string]any{
			"volumeSnapshotClassName": "csi-snapclass",
			"source":                  map[string]any{"persistentVolumeClaimName": "session"},
		},
	}}
	snapshots := schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshots"}
	if _, err := dyn.Resource(snapshots).Namespace(ns.Name).Create(ctx, snap, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create a VolumeSnapshot: %v", err)
	}
	classes := schema.GroupVersionResource{Group: "snapshot.storage.k8s.io", Version: "v1", Resource: "volumesnapshotclasses"}
	if _, err := dyn.Resource(classes).List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatalf("list VolumeSnapshotClasses: %v", err)
	}
	forbidden := map[string]error{}
	_, forbidden["list Secrets"] = cs.CoreV1().Secrets(namespace).List(ctx, metav1.ListOptions{})
	_, forbidden["get the postgres Secret"] = cs.CoreV1().Secrets(namespace).Get(ctx, "opennimble-postgres", metav1.GetOptions{})
	_, forbidden["patch Pod status"] = cs.CoreV1().Pods(ns.Name).Patch(ctx, "session", types.MergePatchType,
		[]byte(`{"status":{"phase":"Running"}}`), metav1.PatchOptions{}, "status")
	_, forbidden["list Nodes"] = cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	forbidden["delete a namespace"] = cs.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}) // last: if allowed, it would end the namespace
	for what, err := range forbidden {
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: err = %v, want Forbidden", what, err)
		}
	}

	if err := dyn.Resource(snapshots).Namespace(ns.Name).Delete(ctx, "backup", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete a VolumeSnapshot: %v", err)
	}
	if err := cs.CoreV1().Pods(ns.Name).Delete(ctx, "session", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete the Pod: %v", err)
	}
}

// driverConfig is the schema of kubernetes.yaml (the kubernetes driver's
// Config), strict: a key it does not know is an error.
type driverConfig struct {
	Namespace               *string `json:"namespace"`
	NamespacePrefix         string  `json:"namespacePrefix"`
	StorageClassName        *string `json:"storageClassName"`
	VolumeSnapshotClassName string  `json:"volumeSnapshotClassName"`
	HomePath                string  `json:"homePath"`
	DefaultVolumeSizeGiB    int32   `json:"defaultVolumeSizeGiB"`
	Images                  []struct {
		Ec2ImageID string `json:"ec2ImageId"`
		Image      string `json:"image"`
		Port       int32  `json:"port"`
	} `json:"images"`
	InstanceTypes map[string]struct {
		Requests     corev1.ResourceList `json:"requests"`
		Limits       corev1.ResourceList `json:"limits"`
		NodeSelector map[string]string   `json:"nodeSelector"`
		Tolerations  []corev1.Toleration `json:"tolerations"`
	} `json:"instanceTypes"`
}

func TestDriverConfiguration(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(manifests, "configmap.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(b, &cm); err != nil {
		t.Fatal(err)
	}
	if cm.Name != "opennimble-kubernetes" || cm.Namespace != namespace {
		t.Fatalf("ConfigMap %s/%s, want %s/opennimble-kubernetes", cm.Namespace, cm.Name, namespace)
	}
	doc, ok := cm.Data["kubernetes.yaml"]
	if !ok {
		t.Fatal("no key kubernetes.yaml")
	}
	var c driverConfig
	if err := yaml.UnmarshalStrict([]byte(doc), &c); err != nil {
		t.Fatalf("kubernetes.yaml: %v", err)
	}
	if c.Namespace == nil || c.NamespacePrefix == "" || c.StorageClassName == nil || c.VolumeSnapshotClassName == "" ||
		!strings.HasPrefix(c.HomePath, "/") || c.DefaultVolumeSizeGiB <= 0 {
		t.Errorf("kubernetes.yaml lacks a key or has a bad value: %+v", c)
	}
	wildcard := false
	for i, im := range c.Images {
		wildcard = wildcard || im.Ec2ImageID == "*"
		if im.Ec2ImageID == "" || im.Image == "" || im.Port < 1 || im.Port > 65535 {
			t.Errorf("images[%d] = %+v", i, im)
		}
	}
	if !wildcard {
		t.Error(`images: no "*" entry, so sessions of any other streaming image cannot start`)
	}
	for _, name := range []string{"g4dn.xlarge", "g4dn.2xlarge", "g5.xlarge"} {
		it, ok := c.InstanceTypes[name]
		if !ok {
			t.Errorf("instanceTypes: no %s", name)
			continue
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, lim := it.Requests[r], it.Limits[r]
			if req.IsZero() || lim.IsZero() || req.Cmp(lim) > 0 {
				t.Errorf("%s: %s request %s, limit %s", name, r, req.String(), lim.String())
			}
		}
		if gpu := it.Limits["nvidia.com/gpu"]; gpu.Value() != 1 {
			t.Errorf("%s: nvidia.com/gpu limit %s, want 1", name, gpu.String())
		}
		if it.NodeSelector["node.kubernetes.io/instance-type"] != name {
			t.Errorf("%s: nodeSelector %v", name, it.NodeSelector)
		}
		if len(it.Tolerations) == 0 {
			t.Errorf("%s: no tolerations for the GPU nodes' taint", name)
		}
	}
}

// TestDeploymentWiring checks, on the objects as the API server stored
// them, that the Deployment's references meet: Secret, ConfigMap, flags,
// ports, probes, and the Service.
func TestDeploymentWiring(t *testing.T) {
	cfg := applied(t)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := cs.AppsV1().Deployments(namespace).Get(ctx, "opennimble", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := d.Spec.Template.Spec
	if *d.Spec.Replicas != 3 || spec.ServiceAccountName != serviceAccount || len(spec.Containers) != 1 {
		t.Fatalf("replicas %d, serviceAccountName %q, %d containers", *d.Spec.Replicas, spec.ServiceAccountName, len(spec.Containers))
	}
	c := spec.Containers[0]
	flag := func(name string) string {
		i := slices.Index(c.Args, name)
		if i < 0 || i+1 >= len(c.Args) {
			t.Errorf("args %q: no %s", c.Args, name)
			return ""
		}
		return c.Args[i+1]
	}
	if len(c.Args) == 0 || c.Args[0] != "serve" || flag("--driver") != "kubernetes" || flag("--listen") != "0.0.0.0:8080" {
		t.Errorf("args %q", c.Args)
	}

	// The configuration file is the ConfigMap's key, mounted.
	cfgPath := flag("--kubernetes-config")
	mount := mountOf(spec, c, filepath.Dir(cfgPath))
	if mount == nil || mount.ConfigMap == nil || mount.ConfigMap.Name != "opennimble-kubernetes" {
		t.Errorf("--kubernetes-config %s is not in the ConfigMap opennimble-kubernetes", cfgPath)
	} else if cm, err := cs.CoreV1().ConfigMaps(namespace).Get(ctx, mount.ConfigMap.Name, metav1.GetOptions{}); err != nil {
		t.Error(err)
	} else if _, ok := cm.Data[filepath.Base(cfgPath)]; !ok {
		t.Errorf("ConfigMap %s has no key %s", cm.Name, filepath.Base(cfgPath))
	}

	// A read-only root, and the data folder an emptyDir.
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
		t.Error("want runAsNonRoot and readOnlyRootFilesystem")
	}
	if data := mountOf(spec, c, flag("--data-dir")); data == nil || data.EmptyDir == nil {
		t.Errorf("--data-dir %s is not an emptyDir", flag("--data-dir"))
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Error("no cpu and memory requests")
	}

	// The store's URL comes from the Secret, which has it.
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env["OPENNIMBLE_PUBLIC_URL"].Value == "" {
		t.Error("no OPENNIMBLE_PUBLIC_URL")
	}
	ref := env["OPENNIMBLE_STORE"].ValueFrom
	if ref == nil || ref.SecretKeyRef == nil {
		t.Fatal("OPENNIMBLE_STORE does not come from a Secret")
	}
	secret, err := cs.CoreV1().Secrets(namespace).Get(ctx, ref.SecretKeyRef.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if url := string(secret.Data[ref.SecretKeyRef.Key]); !strings.HasPrefix(url, "postgres://") {
		t.Errorf("Secret %s key %s = %q, want a postgres:// URL", secret.Name, ref.SecretKeyRef.Key, url)
	}

	// Probes and the Service reach the port the server listens on.
	port := portOf(c, "http")
	if port != 8080 {
		t.Errorf("container port http = %d, want 8080 (--listen)", port)
	}
	// Readiness follows the store; liveness only the process, so that a
	// database outage does not restart every replica.
	for name, pr := range map[string]struct {
		p    *corev1.Probe
		path string
	}{"readiness": {c.ReadinessProbe, "/_nimble/health"}, "liveness": {c.LivenessProbe, "/_nimble/live"}} {
		p := pr.p
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != pr.path || portOf(c, p.HTTPGet.Port.String()) != 8080 {
			t.Errorf("%s probe: want GET %s on 8080, have %+v", name, pr.path, p)
		}
	}
	// The image is the one deploy/container builds, and the Pod gets
	// longer to stop than the server takes to drain.
	if !strings.HasPrefix(c.Image, ImageName+":") {
		t.Errorf("image %q: want %s:<tag>, what scripts/build-image builds", c.Image, ImageName)
	}
	drain, err := time.ParseDuration(flag("--shutdown-timeout"))
	if err != nil || spec.TerminationGracePeriodSeconds == nil || time.Duration(*spec.TerminationGracePeriodSeconds)*time.Second <= drain {
		t.Errorf("terminationGracePeriodSeconds %v must exceed --shutdown-timeout %q", spec.TerminationGracePeriodSeconds, flag("--shutdown-timeout"))
	}
	svc, err := cs.CoreV1().Services(namespace).Get(ctx, "opennimble", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != corev1.ServiceTypeClusterIP || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 80 ||
		portOf(c, svc.Spec.Ports[0].TargetPort.String()) != 8080 {
		t.Errorf("Service: want ClusterIP 80 -> 8080, have %+v", svc.Spec)
	}
	for k, v := range svc.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("Service selector %v does not select the Pods (labels %v)", svc.Spec.Selector, d.Spec.Template.Labels)
		}
	}
}

// mountOf returns the volume mounted at path in container c.
func mountOf(spec corev1.PodSpec, c corev1.Container, path string) *corev1.Volume {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			for i := range spec.Volumes {
				if spec.Volumes[i].Name == m.Name {
					return &spec.Volumes[i]
				}
			}
		}
	}
	return nil
}

// portOf resolves a port given by name or number.
func portOf(c corev1.Container, port string) int32 {
	for _, p := range c.Ports {
		if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
			return p.ContainerPort
		}
	}
	return 0
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(manifests, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
	}
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(manifests, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" {
			want = append(want, base)
		}
	}
	got := slices.Clone(k.Resources)
	sort.Strings(got)
	sort.Strings(want)
	if k.Kind != "Kustomization" || !slices.Equal(got, want) {
		t.Errorf("kustomization.yaml: kind %q, resources %q; want the files %q", k.Kind, k.Resources, want)
	}
}
