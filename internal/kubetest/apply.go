package kubetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authzv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// manifest is one object read from a file.
type manifest struct {
	file string
	obj  *unstructured.Unstructured
}

func (m manifest) String() string {
	return fmt.Sprintf("%s: %s %q", m.file, m.obj.GroupVersionKind().Kind, m.obj.GetName())
}

// ApplyDir server-side applies every object of the YAML (or JSON) files of
// dir, as the field manager "kubetest" with strict field validation:
// namespaces first, then CRDs, then the rest in file order. A namespaced
// object without a namespace goes to "default", as with kubectl. Files
// named kustomization.yaml are skipped. Each rejected object is reported,
// then the test fails.
func ApplyDir(tb testing.TB, cfg *rest.Config, dir string) {
	tb.Helper()
	objs, err := readDir(dir)
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	if len(objs) == 0 {
		tb.Fatalf("kubetest: no objects in %s", dir)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	ctx := context.Background()
	applied := map[string]bool{} // groups of the CRDs applied so far
	for _, m := range objs {
		if err := apply(ctx, dyn, mapper, m.obj, applied[m.obj.GroupVersionKind().Group]); err != nil {
			tb.Errorf("kubetest: %v rejected: %v", m, err)
			continue
		}
		if rank(m) == 1 {
			group, _, _ := unstructured.NestedString(m.obj.Object, "spec", "group")
			applied[group] = true
		}
	}
	if tb.Failed() {
		tb.FailNow()
	}
	if err := awaitBindings(ctx, cfg, objs); err != nil {
		tb.Fatalf("kubetest: %v", err)
	}
}

// awaitBindings waits until the API server's authorizer, which learns of
// RBAC objects through a watch of its own, grants what the applied
// bindings give their service accounts: a test that acts as one right
// after ApplyDir must not see a Forbidden that a moment later is gone.
func awaitBindings(ctx context.Context, cfg *rest.Config, objs []manifest) error {
	roles := map[string][]rbacv1.PolicyRule{} // "Kind/namespace/name" of roles applied
	var bindings []*unstructured.Unstructured
	for _, m := range objs {
		switch m.obj.GetKind() {
		case "Role", "ClusterRole":
			var r rbacv1.ClusterRole // a Role has the same rules
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m.obj.Object, &r); err != nil {
				return err
			}
			roles[m.obj.GetKind()+"/"+m.obj.GetNamespace()+"/"+m.obj.GetName()] = r.Rules
		case "RoleBinding", "ClusterRoleBinding":
			bindings = append(bindings, m.obj)
		}
	}
	if len(bindings) == 0 {
		return nil
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, b := range bindings {
		var rb rbacv1.RoleBinding // a ClusterRoleBinding has the same subjects and roleRef
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(b.Object, &rb); err != nil {
			return err
		}
		ns := ""
		if rb.RoleRef.Kind == "Role" {
			ns = b.GetNamespace()
		}
		for _, rule := range roles[rb.RoleRef.Kind+"/"+ns+"/"+rb.RoleRef.Name] {
			if len(rule.Verbs) == 0 || len(rule.Resources) == 0 || len(rule.APIGroups) == 0 {
				continue
			}
			for _, sub := range rb.Subjects {
				if sub.Kind != "ServiceAccount" {
					continue
				}
				review := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
					User:   "system:serviceaccount:" + sub.Namespace + ":" + sub.Name,
					Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + sub.Namespace, "system:authenticated"},
					ResourceAttributes: &authzv1.ResourceAttributes{Namespace: b.GetNamespace(), Verb: rule.Verbs[0],
						Group: rule.APIGroups[0], Resource: rule.Resources[0]},
				}}
				for deadline := time.Now().Add(15 * time.Second); ; {
					got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
					if err == nil && got.Status.Allowed {
						break
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("binding %s does not take effect: %s may not %s %s (%v)", b.GetName(), review.Spec.User, rule.Verbs[0], rule.Resources[0], err)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}
	}
	return nil
}

// apply server-side applies one object. If wait, its kind comes from a
// CRD just applied, which the API server may take a moment to serve.
func apply(ctx context.Context, dyn dynamic.Interface, mapper *restmapper.DeferredDiscoveryRESTMapper, obj *unstructured.Unstructured, wait bool) error {
	gvk := obj.GroupVersionKind()
	var mapping *meta.RESTMapping
	for deadline := time.Now().Add(15 * time.Second); ; {
		var err error
		mapping, err = mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err == nil {
			break
		}
		if !wait || !meta.IsNoMatchError(err) || time.Now().After(deadline) {
			return err
		}
		mapper.Reset()
		time.Sleep(100 * time.Millisecond)
	}
	var ri dynamic.ResourceInterface = dyn.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		ri = dyn.Resource(mapping.Resource).Namespace(ns)
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	force := true
	_, err = ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
		FieldManager:    "kubetest",
		Force:           &force,
		FieldValidation: metav1.FieldValidationStrict,
	})
	return err
}

// readDir reads the objects of the manifest files of dir, ordered for
// applying.
func readDir(dir string) ([]manifest, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var objs []manifest
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir(), strings.EqualFold(strings.TrimSuffix(strings.TrimSuffix(name, ".yaml"), ".yml"), "kustomization"):
			continue
		case strings.HasSuffix(name, ".yaml"), strings.HasSuffix(name, ".yml"), strings.HasSuffix(name, ".json"):
			got, err := readFile(filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			objs = append(objs, got...)
		}
	}
	slices.SortStableFunc(objs, func(a, b manifest) int { return rank(a) - rank(b) })
	return objs, nil
}

// rank orders namespaces before CRDs before everything else.
func rank(m manifest) int {
	switch m.obj.GroupVersionKind().GroupKind().String() {
	case "Namespace":
		return 0
	case "CustomResourceDefinition.apiextensions.k8s.io":
		return 1
	}
	return 2
}

// readFile splits a multi-document YAML (or JSON) file into objects,
// skipping empty documents and unpacking lists.
func readFile(path string) ([]manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var objs []manifest
	for i := 1; ; i++ {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
		}
		if len(doc) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{Object: doc}
		if obj.GetKind() == "" || obj.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s: document %d has no apiVersion or kind", path, i)
		}
		if obj.IsList() {
			err := obj.EachListItem(func(o runtime.Object) error {
				objs = append(objs, manifest{file: path, obj: o.(*unstructured.Unstructured)})
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", path, i, err)
			}
			continue
		}
		objs = append(objs, manifest{file: path, obj: obj})
	}
}
