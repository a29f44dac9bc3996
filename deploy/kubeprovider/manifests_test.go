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
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
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
		objs = append(objs, decodeAll(t, f, data)...)
	}
	dryRun(t, objs)
}

// TestKustomizationRenders is `kubectl apply -k --dry-run=server`: the
// kustomization builds (kustomize's own library), lists every manifest, its
// knobs land where they should, and what it renders passes the API server.
func TestKustomizationRenders(t *testing.T) {
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "../kubernetes")
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs := decodeAll(t, "kustomize build", out)

	files, _ := filepath.Glob("../kubernetes/*.yaml")
	want := 0
	for _, f := range files {
		if filepath.Base(f) != "kustomization.yaml" {
			data, _ := os.ReadFile(f)
			want += len(decodeAll(t, f, data))
		}
	}
	if len(objs) != want {
		t.Errorf("the kustomization renders %d objects, the manifests hold %d: a file is missing from resources", len(objs), want)
	}
	for _, u := range objs {
		if ns := u.GetNamespace(); u.GetKind() != "Namespace" && ns != "graft" {
			t.Errorf("%s %s in namespace %q, want graft", u.GetKind(), u.GetName(), ns)
		}
	}
	control := find(t, objs, "Deployment", "graft-control")
	containers, _, _ := unstructured.NestedSlice(control.Object, "spec", "template", "spec", "containers")
	c := containers[0].(map[string]any)
	env := c["env"].([]any)[0].(map[string]any)
	if c["image"] != "graft:latest" || env["name"] != "GRAFT_IMAGE" || env["value"] != c["image"] {
		t.Errorf("control image %v, GRAFT_IMAGE %v: the replicas must run the control plane's image", c["image"], env["value"])
	}
	if n, _, _ := unstructured.NestedInt64(find(t, objs, "Deployment", "envoy").Object, "spec", "replicas"); n != 2 {
		t.Errorf("envoy replicas %d, want the kustomization's 2", n)
	}
	needCluster(t)
	dryRun(t, objs)
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	i := slices.IndexFunc(objs, func(u *unstructured.Unstructured) bool { return u.GetKind() == kind && u.GetName() == name })
	if i < 0 {
		t.Fatalf("no %s %s", kind, name)
	}
	return objs[i]
}

func decodeAll(t *testing.T, name string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	for _, doc := range bytes.Split(data, []byte("\n---\n")) {
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		objs = append(objs, u)
	}
	return objs
}

// dryRun creates each object with dryRun=All, the namespace first as
// kubectl orders it, in a fresh namespace for each run.
func dryRun(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
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
	ns := fmt.Sprintf("graft-manifests-%d", nsSeq.Add(1))
	for _, u := range objs {
		u = u.DeepCopy()
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
