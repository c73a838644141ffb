package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Kube is the cluster of the GitOps drivers and the node gate.
type Kube struct {
	Dynamic dynamic.Interface
	Core    kubernetes.Interface
	// Poll is how often an object is looked at while waiting.
	Poll time.Duration
}

// The kinds of drivers that talk to the cluster instead of running a
// command.
const (
	DriverArgoCD = "argocd"
	DriverFlux   = "flux"
)

var (
	argoApps      = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	kustomization = schema.GroupVersionResource{Group: "kustomize.toolkit.fluxcd.io", Version: "v1", Resource: "kustomizations"}
	helmRelease   = schema.GroupVersionResource{Group: "helm.toolkit.fluxcd.io", Version: "v2", Resource: "helmreleases"}
)

// FluxResources are the Flux objects the flux driver reconciles.
var FluxResources = map[string]schema.GroupVersionResource{"kustomization": kustomization, "helmrelease": helmRelease}

func splitObject(o string) (ns, name string, err error) {
	ns, name, ok := strings.Cut(o, "/")
	if !ok || ns == "" || name == "" {
		return "", "", fmt.Errorf("%q is not namespace/name", o)
	}
	return ns, name, nil
}

// argoSync asks Argo CD to sync its Application to rev (a hard refresh
// and a sync operation), and waits until the application is Synced at rev
// and Healthy.
func (s *Service) argoSync(ctx context.Context, t *Target, l *live, rev string) (state, outcome string) {
	ns, name, err := splitObject(t.Driver.Object)
	if err != nil {
		return Failed, err.Error()
	}
	apps := s.Kube.Dynamic.Resource(argoApps).Namespace(ns)
	patch, _ := json.Marshal(map[string]any{
		"metadata":  map[string]any{"annotations": map[string]string{"argocd.argoproj.io/refresh": "hard"}},
		"operation": map[string]any{"initiatedBy": map[string]any{"username": "opsbot"}, "sync": map[string]any{"revision": rev}},
	})
	if _, err := apps.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "opsbot"}); err != nil {
		return Failed, fmt.Sprintf("Argo CD application %s: %v", t.Driver.Object, err)
	}
	l.update(func(x *Run) { x.Phase = "Argo CD syncing " + t.Driver.Object })
	l.write(fmt.Sprintf("[opsbot] Argo CD: sync of %s to %s requested", t.Driver.Object, short(rev)), s.OutputLimit)
	last := ""
	return s.poll(ctx, t, func() (bool, string, error) {
		app, err := apps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		phase, _, _ := unstructured.NestedString(app.Object, "status", "operationState", "phase")
		msg, _, _ := unstructured.NestedString(app.Object, "status", "operationState", "message")
		synced, _, _ := unstructured.NestedString(app.Object, "status", "operationState", "syncResult", "revision")
		sync, _, _ := unstructured.NestedString(app.Object, "status", "sync", "status")
		at, _, _ := unstructured.NestedString(app.Object, "status", "sync", "revision")
		health, _, _ := unstructured.NestedString(app.Object, "status", "health", "status")
		if now := fmt.Sprintf("operation %s, %s, %s", orDash(phase), orDash(sync), orDash(health)); now != last {
			l.write("[opsbot] Argo CD: "+now, s.OutputLimit)
			last = now
		}
		switch {
		case (phase == "Failed" || phase == "Error") && synced == rev:
			return true, fmt.Sprintf("Argo CD sync failed: %s", msg), nil
		case phase == "Succeeded" && synced == rev && sync == "Synced" && at == rev && health == "Healthy":
			return true, "", nil
		case health == "Degraded" && synced == rev && phase == "Succeeded":
			return true, "Argo CD reports the application Degraded", nil
		}
		return false, "", nil
	}, "Argo CD synced "+t.Driver.Object+" and it is Healthy")
}

// fluxReconcile asks Flux to reconcile its Kustomization or HelmRelease
// now, and waits until it has handled the request and is Ready (a
// Kustomization at rev).
func (s *Service) fluxReconcile(ctx context.Context, t *Target, l *live, rev string) (state, outcome string) {
	ns, name, err := splitObject(t.Driver.Object)
	if err != nil {
		return Failed, err.Error()
	}
	gvr, ok := FluxResources[t.Driver.Resource]
	if !ok {
		return Failed, fmt.Sprintf("%q is not a Flux resource (kustomization, helmrelease)", t.Driver.Resource)
	}
	objs := s.Kube.Dynamic.Resource(gvr).Namespace(ns)
	token := s.Now().UTC().Format(time.RFC3339Nano)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{"reconcile.fluxcd.io/requestedAt": token}}})
	if _, err := objs.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "opsbot"}); err != nil {
		return Failed, fmt.Sprintf("Flux %s %s: %v", t.Driver.Resource, t.Driver.Object, err)
	}
	l.update(func(x *Run) { x.Phase = "Flux reconciling " + t.Driver.Object })
	l.write(fmt.Sprintf("[opsbot] Flux: reconcile of %s %s requested", t.Driver.Resource, t.Driver.Object), s.OutputLimit)
	return s.poll(ctx, t, func() (bool, string, error) {
		obj, err := objs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "", err
		}
		handled, _, _ := unstructured.NestedString(obj.Object, "status", "lastHandledReconcileAt")
		if handled != token {
			return false, "", nil
		}
		applied, _, _ := unstructured.NestedString(obj.Object, "status", "lastAppliedRevision")
		ready, reason, msg := condition(obj, "Ready")
		switch {
		case ready == "False":
			return true, fmt.Sprintf("Flux: %s is not Ready: %s: %s", t.Driver.Object, reason, msg), nil
		case ready == "True" && (gvr != kustomization || strings.HasSuffix(applied, rev)):
			l.write(fmt.Sprintf("[opsbot] Flux: %s Ready at %s", t.Driver.Object, orDash(applied)), s.OutputLimit)
			return true, "", nil
		}
		return false, "", nil
	}, "Flux reconciled "+t.Driver.Object+" and it is Ready")
}

// poll calls check every Kube.Poll until it is done or the target's
// timeout.
func (s *Service) poll(ctx context.Context, t *Target, check func() (done bool, failure string, err error), success string) (string, string) {
	ctx, cancel := context.WithTimeout(ctx, t.Timeout)
	defer cancel()
	for {
		done, failure, err := check()
		switch {
		case err != nil && ctx.Err() == nil:
			return Failed, err.Error()
		case done && failure != "":
			return Failed, failure
		case done:
			return Succeeded, success
		}
		select {
		case <-ctx.Done():
			if s.ctx.Err() != nil {
				return Interrupted, "interrupted"
			}
			return Failed, fmt.Sprintf("not done after %s", t.Timeout)
		case <-time.After(s.Kube.Poll):
		}
	}
}

func condition(obj *unstructured.Unstructured, typ string) (status, reason, message string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			status, _ = m["status"].(string)
			reason, _ = m["reason"].(string)
			message, _ = m["message"].(string)
		}
	}
	return
}

// nodesReady says which of the nodes are not Ready, "" if all are.
func (s *Service) nodesReady(ctx context.Context, nodes []string) string {
	var bad []string
	for _, n := range nodes {
		node, err := s.Kube.Core.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			bad = append(bad, fmt.Sprintf("node %s: %v", n, err))
			continue
		}
		ready := false
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ready = c.Status == corev1.ConditionTrue
				if !ready {
					bad = append(bad, fmt.Sprintf("node %s is not Ready: %s", n, c.Reason))
				}
			}
		}
		if !ready && len(node.Status.Conditions) == 0 {
			bad = append(bad, fmt.Sprintf("node %s reports no Ready condition", n))
		}
	}
	return strings.Join(bad, "; ")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
