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

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
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
