package deploy_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/internal/kubetest"
)

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crd defines a namespaced custom resource whose fields are free, with or
// without the status subresource.
func crd(group, version, kind, plural string, status bool) *unstructured.Unstructured {
	v := map[string]any{"name": version, "served": true, "storage": true,
		"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}
	if status {
		v["subresources"] = map[string]any{"status": map[string]any{}}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": plural + "." + group},
		"spec": map[string]any{"group": group, "scope": "Namespaced", "versions": []any{v},
			"names": map[string]any{"kind": kind, "plural": plural, "singular": strings.ToLower(kind)}},
	}}
}

func object(apiVersion, kind, ns, name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": map[string]any{}}}
}

// TestKubeDrivers: against a real kube-apiserver, the Argo CD driver asks
// for a sync of the Application and waits for it Synced and Healthy; the
// Flux driver asks for a reconcile of the Kustomization and waits for it
// handled and Ready at the revision; the node gate fails on a node that is
// not Ready. The test plays Argo CD's and Flux's controllers.
func TestKubeDrivers(t *testing.T) {
	cfg := kubetest.Start(t)
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, c := range []*unstructured.Unstructured{
		crd("argoproj.io", "v1alpha1", "Application", "applications", false),
		crd("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations", true),
	} {
		if _, err := dyn.Resource(crdGVR).Create(ctx, c, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	apps := schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	kusts := schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	create := func(gvr schema.GroupVersionResource, o *unstructured.Unstructured) {
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			// The CRD takes a moment to be served.
			if _, err := dyn.Resource(gvr).Namespace("default").Create(ctx, o, metav1.CreateOptions{}); err == nil {
				return
			} else if time.Now().After(deadline) {
				t.Fatal(err)
			}
		}
	}
	create(apps, object("argoproj.io/v1alpha1", "Application", "default", "web"))
	create(kusts, object("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "default", "apps"))
	if _, err := core.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "web"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	setNode := func(ready corev1.ConditionStatus) {
		n, _ := core.CoreV1().Nodes().Get(ctx, "web", metav1.GetOptions{})
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		if _, err := core.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	}
	setNode(corev1.ConditionTrue)

	e := newEnv(t,
		&deploy.Target{Name: "web", Driver: deploy.Driver{Name: "argocd", Kind: deploy.DriverArgoCD, Object: "default/web"},
			Gate: deploy.Gate{Duration: 1500 * time.Millisecond, Interval: 100 * time.Millisecond, Nodes: []string{"web"}}},
		&deploy.Target{Name: "apps", Driver: deploy.Driver{Name: "flux", Kind: deploy.DriverFlux, Object: "default/apps", Resource: "kustomization"}})
	e.svc.Kube = &deploy.Kube{Dynamic: dyn, Core: core, Poll: 50 * time.Millisecond}
	e.origin.commit("1", "good")
	var bad string

	// Argo CD's controller: a requested sync is done, Healthy unless it is
	// the bad revision. Flux's: a requested reconcile is handled, Ready.
	go func() {
		for ctx.Err() == nil {
			time.Sleep(30 * time.Millisecond)
			app, err := dyn.Resource(apps).Namespace("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				continue
			}
			rev, ok, _ := unstructured.NestedString(app.Object, "operation", "sync", "revision")
			if ok {
				health := "Healthy"
				if rev == bad {
					health = "Degraded"
				}
				delete(app.Object, "operation")
				unstructured.SetNestedField(app.Object, map[string]any{
					"operationState": map[string]any{"phase": "Succeeded", "syncResult": map[string]any{"revision": rev}},
					"sync":           map[string]any{"status": "Synced", "revision": rev},
					"health":         map[string]any{"status": health},
				}, "status")
				dyn.Resource(apps).Namespace("default").Update(ctx, app, metav1.UpdateOptions{})
			}
			k, err := dyn.Resource(kusts).Namespace("default").Get(ctx, "apps", metav1.GetOptions{})
			if err != nil {
				continue
			}
			req := k.GetAnnotations()["reconcile.fluxcd.io/requestedAt"]
			if handled, _, _ := unstructured.NestedString(k.Object, "status", "lastHandledReconcileAt"); req != "" && req != handled {
				head := e.origin.git("rev-parse", "HEAD")
				unstructured.SetNestedField(k.Object, map[string]any{"lastHandledReconcileAt": req, "lastAppliedRevision": "main@sha1:" + head,
					"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded", "message": "Applied revision: main@sha1:" + head}},
				}, "status")
				dyn.Resource(kusts).Namespace("default").UpdateStatus(ctx, k, metav1.UpdateOptions{})
			}
		}
	}()

	r := e.deploy(deploy.KindDeploy, "web", "", "alice")
	if r.State != deploy.Succeeded || !strings.Contains(r.Output, "Argo CD: operation Succeeded, Synced, Healthy") || !strings.Contains(r.Output, "health gate passed") {
		t.Fatalf("argocd: %+v\n%s", r, r.Output)
	}
	app, _ := dyn.Resource(apps).Namespace("default").Get(ctx, "web", metav1.GetOptions{})
	if app.GetAnnotations()["argocd.argoproj.io/refresh"] != "hard" {
		t.Fatalf("annotations: %v", app.GetAnnotations())
	}
	// A revision Argo CD finds Degraded fails.
	bad = e.origin.commit("2", "bad")
	if r = e.deploy(deploy.KindDeploy, "web", "", "alice"); r.State != deploy.Failed || !strings.Contains(r.Outcome, "Degraded") {
		t.Fatalf("degraded: %+v\n%s", r, r.Output)
	}
	// A node that stops being Ready fails the gate.
	e.origin.commit("3", "fixed")
	p, err := e.svc.NewPlan(ctx, deploy.KindDeploy, "web", "", "alice")
	if err != nil {
		t.Fatal(err)
	}
	run, err := e.svc.Approve(ctx, p.ID, "alice", "test", false)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		x, _, _ := e.svc.Follow(ctx, run.ID)
		if x.Phase == "health gate" {
			break
		}
		if time.Now().After(deadline) || x.State != deploy.Running {
			t.Fatalf("no gate: %+v\n%s", x, x.Output)
		}
	}
	setNode(corev1.ConditionFalse)
	if r = e.wait(run.ID); r.State != deploy.Failed || !strings.Contains(r.Outcome, "node web is not Ready") {
		t.Fatalf("node gate: %+v\n%s", r, r.Output)
	}

	// Flux.
	r = e.deploy(deploy.KindDeploy, "apps", "", "bob")
	if r.State != deploy.Succeeded || !strings.Contains(r.Output, "Flux: default/apps Ready at main@sha1:"+r.To) {
		t.Fatalf("flux: %+v\n%s", r, r.Output)
	}
	k, _ := dyn.Resource(kusts).Namespace("default").Get(ctx, "apps", metav1.GetOptions{})
	b, _ := json.Marshal(k.GetAnnotations())
	if !strings.Contains(string(b), "reconcile.fluxcd.io/requestedAt") {
		t.Fatalf("annotations: %s", b)
	}
}
