package kubeprovider

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/yaml"
)

// TestManifestsDryRun is `kubectl apply --dry-run=server` of every manifest
// in deploy/kubernetes: the API server validates and defaults each object
// and stores nothing.
func TestManifestsDryRun(t *testing.T) {
	needCluster(t)
	files, err := filepath.Glob("../kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in ../kubernetes: %v", err)
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON(js); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			objs = append(objs, u)
		}
	}
	// The namespace first, then the objects in it, as kubectl orders them.
	slices.SortStableFunc(objs, func(a, b *unstructured.Unstructured) int {
		return boolInt(b.GetKind() == "Namespace") - boolInt(a.GetKind() == "Namespace")
	})
	disc, err := discovery.NewDiscoveryClientForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	dyn := dynamic.NewForConfigOrDie(restConfig)
	ctx := context.Background()
	kinds := map[string]bool{}
	// A fresh namespace for each run, as the kustomization's namespace field
	// would set it: dry runs store nothing, but the namespace is made for real.
	ns := fmt.Sprintf("graft-manifests-%d", nsSeq.Add(1))
	for _, u := range objs {
		if u.GetKind() == "Namespace" {
			u.SetName(ns)
		} else if u.GetNamespace() != "" {
			u.SetNamespace(ns)
		}
		gvk := u.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s %s: %v", gvk, u.GetName(), err)
		}
		var r dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if u.GetNamespace() != "" {
			r = dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		}
		if _, err := r.Create(ctx, u, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("dry run of %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		if u.GetKind() == "Namespace" {
			// A dry run stores nothing: the namespaced objects need it for real.
			_, err := cluster.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: u.GetName()}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
		}
		kinds[u.GetKind()] = true
	}
	for _, k := range []string{"Namespace", "ServiceAccount", "Role", "RoleBinding", "StatefulSet", "Deployment", "Service"} {
		if !kinds[k] {
			t.Errorf("no %s among the manifests", k)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
