package upgrade_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/opsbot/opsbot/deploy"
	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/internal/flaketest"
	"github.com/opsbot/opsbot/internal/kubetest"
	"github.com/opsbot/opsbot/store"
	"github.com/opsbot/opsbot/upgrade"
)

// TestRollingUpgrade: against a real kube-apiserver, where the test plays
// the kubelet and the disruption controller: each node is cordoned,
// drained (the eviction waits for the PodDisruptionBudget), deployed and
// uncordoned, one at a time; the node whose deploy fails stops the roll
// and stays cordoned. The plan's lock file lands on the branch first.
func TestRollingUpgrade(t *testing.T) {
	flaketest.Nix(t)
	// k3s-3's health check fails once: the upgraded k3s-3 fails its gate,
	// the rolled back one passes.
	var failures atomic.Int32
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failures.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer health.Close()
	cfg := kubetest.Start(t)
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := flaketest.New(t)
	newPkgs := r.Bump(t)
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(filepath.Join(dir, "opsbot.db"), store.Options{Rules: incidents.DefaultRules()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	repo := &deploy.Repo{URL: r.Host, Branch: "main", Dir: filepath.Join(dir, "repo"), Timeout: time.Minute}
	plans := &upgrade.Service{Store: st, Log: quiet, Planner: &upgrade.Planner{Repo: repo, WorkDir: dir, Build: upgrade.DefaultBuild,
		Hosts: []string{"web"}, Timeout: 5 * time.Minute, Log: quiet, Now: time.Now}}
	if err := plans.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer plans.Stop()
	plan, err := plans.MakeNow(ctx, "alice")
	if err != nil || plan.State != upgrade.Ready {
		t.Fatalf("plan: %+v %v", plan, err)
	}
	cmd := func(argv ...string) deploy.Driver { return deploy.Driver{Name: "command", Deploy: argv} }
	deploys := &deploy.Service{Repo: repo, Store: st, WorkDir: filepath.Join(dir, "runs"), PlanTTL: time.Hour, OutputLimit: 1 << 16,
		Log: quiet, Now: time.Now, Targets: map[string]*deploy.Target{
			"k3s-1": {Name: "k3s-1", Host: "k3s-1", Timeout: time.Minute, Driver: cmd("echo", "{host}", "{rev}")},
			"k3s-2": {Name: "k3s-2", Host: "k3s-2", Timeout: time.Minute, Driver: cmd("echo", "{host}", "{rev}")},
			"k3s-3": {Name: "k3s-3", Host: "k3s-3", Timeout: time.Minute, Driver: cmd("echo", "{host}", "{rev}"),
				Gate: deploy.Gate{Duration: 300 * time.Millisecond, Interval: 50 * time.Millisecond, HTTP: []string{health.URL}}},
		}}
	if _, err := deploys.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer deploys.Stop()
	// k3s-3 runs the current head.
	oldHead := flaketest.Git(t, r.Host, "rev-parse", "HEAD")
	if run, err := deploys.RunNow(ctx, "k3s-3", oldHead, "alice", "test"); err != nil || run.State != deploy.Succeeded {
		t.Fatalf("k3s-3 before: %+v %v", run, err)
	}
	failures.Store(1)

	// The cluster: three Ready nodes, a ReplicaSet's pod on each, a budget.
	ready := []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	yes := true
	// The controller manager would make the namespace's service account.
	if _, err := kc.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"k3s-1", "k3s-2", "k3s-3"} {
		node, err := kc.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		node.Status.Conditions = ready
		if _, err := kc.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-" + n, Namespace: "default", Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-5d4f", UID: "0a0b0c0d-0000-4000-8000-000000000001", Controller: &yes}}},
			Spec: corev1.PodSpec{NodeName: n, Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}
		if pod, err = kc.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pod.Status.Phase, pod.Status.Conditions = corev1.PodRunning, []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if _, err := kc.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	two := intstr.FromInt32(2)
	pdb, err := kc.PolicyV1().PodDisruptionBudgets("default").Create(ctx, &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &two, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	budget := func(allowed int32) {
		p, err := kc.PolicyV1().PodDisruptionBudgets("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return
		}
		p.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: allowed,
			CurrentHealthy: 2 + allowed, DesiredHealthy: 2, ExpectedPods: 3}
		kc.PolicyV1().PodDisruptionBudgets("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
	}
	budget(0)

	// The kubelet and the disruption controller. The budget allows
	// nothing until the first node has been cordoned for a while, with its
	// pod still there.
	var (
		mu             sync.Mutex
		maxCordoned    int
		waitedOnBudget atomic.Bool
		cordonedSince  time.Time
	)
	go func() {
		for ctx.Err() == nil {
			time.Sleep(30 * time.Millisecond)
			nodes, err := kc.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			cordoned := 0
			for _, n := range nodes.Items {
				if n.Spec.Unschedulable {
					cordoned++
				}
			}
			mu.Lock()
			maxCordoned = max(maxCordoned, cordoned)
			mu.Unlock()
			pods, _ := kc.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			for _, p := range pods.Items {
				if p.DeletionTimestamp != nil {
					zero := int64(0)
					kc.CoreV1().Pods("default").Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
				}
			}
			if !waitedOnBudget.Load() && cordoned == 1 {
				if cordonedSince.IsZero() {
					cordonedSince = time.Now()
				}
				if _, err := kc.CoreV1().Pods("default").Get(ctx, "web-k3s-1", metav1.GetOptions{}); err == nil && time.Since(cordonedSince) > 500*time.Millisecond {
					waitedOnBudget.Store(true)
				}
				continue
			}
			if waitedOnBudget.Load() {
				budget(1)
			}
		}
	}()

	applier := &upgrade.Applier{Plans: st, Store: st, Deploys: deploys, Repo: repo, Kube: kc, WorkDir: dir,
		Nodes:        []upgrade.Node{{Name: "k3s-1", Target: "k3s-1"}, {Name: "k3s-2", Target: "k3s-2"}, {Name: "k3s-3", Target: "k3s-3"}},
		DrainTimeout: time.Minute, ReadyTimeout: 10 * time.Second, Poll: 100 * time.Millisecond, Log: quiet, Now: time.Now,
		OnFailure: upgrade.PolicyRollback, Snapshot: []string{"touch", filepath.Join(dir, "snapshot-taken")}}
	if _, err := applier.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer applier.Stop()
	if _, err := applier.Begin(ctx, plan.ID, "0123456789abcdef", "bob"); err == nil || !strings.Contains(err.Error(), "look at the plan again") {
		t.Fatalf("a wrong lock hash: %v", err)
	}
	ap, err := applier.Begin(ctx, plan.ID, plan.LockHash[:12], "bob")
	if err != nil {
		t.Fatal(err)
	}
	if got := flaketest.Git(t, r.Host, "show", "main:flake.lock"); !strings.Contains(got, newPkgs) || flaketest.Git(t, r.Host, "rev-parse", "main") != ap.Rev {
		t.Fatal("the new lock file is not on the branch")
	}
	for deadline := time.Now().Add(90 * time.Second); ap.State == upgrade.Applying; time.Sleep(50 * time.Millisecond) {
		if ap, err = applier.Get(ctx, ap.ID); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the upgrade did not end: %s", ap.Progress())
		}
	}
	if ap.State != upgrade.Failed || ap.Node != 2 || ap.Nodes[0].State != upgrade.Done || ap.Nodes[1].State != upgrade.Done ||
		!strings.Contains(ap.Error, "deploy k3s-3: run #4 failed: the health gate failed") ||
		!strings.Contains(ap.Error, "k3s-3 was rolled back to "+oldHead[:12]+" (run #5); k3s-3 stays cordoned") ||
		!strings.Contains(ap.Progress(), "at node 3 of 3 (k3s-3) while rolling back") {
		t.Fatalf("apply: %+v\n%s", ap, ap.Progress())
	}
	if now, _ := deploys.Store.Deployed(ctx, "k3s-3", 0); now != oldHead {
		t.Fatalf("k3s-3 runs %s after the rollback", now)
	}
	if _, err := os.Stat(filepath.Join(dir, "snapshot-taken")); err != nil || !ap.Snapshoted {
		t.Fatalf("no snapshot before the first node: %v", err)
	}
	if !waitedOnBudget.Load() {
		t.Fatal("the eviction did not wait for the budget")
	}
	mu.Lock()
	if maxCordoned != 1 {
		t.Fatalf("%d nodes were cordoned at once", maxCordoned)
	}
	mu.Unlock()
	for n, want := range map[string]bool{"k3s-1": false, "k3s-2": false, "k3s-3": true} {
		node, _ := kc.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if node.Spec.Unschedulable != want {
			t.Errorf("%s unschedulable %v, want %v", n, node.Spec.Unschedulable, want)
		}
		if _, err := kc.CoreV1().Pods("default").Get(ctx, "web-"+n, metav1.GetOptions{}); err == nil {
			t.Errorf("the pod on %s was not evicted", n)
		}
	}
	runs, _ := deploys.Runs(ctx, "k3s-1", 1)
	if len(runs) != 1 || runs[0].To != ap.Rev || runs[0].State != deploy.Succeeded {
		t.Fatalf("k3s-1's run: %+v", runs)
	}
	// The plan was made from the old head: it cannot be applied again.
	if _, err := applier.Begin(ctx, plan.ID, plan.LockHash, "bob"); err == nil || !strings.Contains(err.Error(), "make a new plan") {
		t.Fatalf("applied twice: %v", err)
	}

	// A stop in the middle of a roll: the upgrade says where it stopped.
	flaketest.Commit(t, r.Pkgs, map[string]string{"versions.json": strings.Replace(flaketest.V2, "6.1.2", "6.1.3", 1)}, "v3")
	plan2, err := plans.MakeNow(ctx, "alice")
	if err != nil || plan2.State != upgrade.Ready {
		t.Fatalf("plan 2: %+v %v", plan2, err)
	}
	deploys.Targets["k3s-1"].Driver = cmd("sleep", "30")
	applier.Stop()
	second := &upgrade.Applier{Plans: st, Store: st, Deploys: deploys, Repo: repo, Kube: kc, WorkDir: dir, Nodes: applier.Nodes[:1],
		DrainTimeout: time.Minute, ReadyTimeout: 10 * time.Second, Poll: 100 * time.Millisecond, Log: quiet, Now: time.Now}
	if _, err := second.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ap, err = second.Begin(ctx, plan2.ID, plan2.LockHash, "bob")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ap.Phase != "deploying"; time.Sleep(20 * time.Millisecond) {
		if ap, _ = second.Get(ctx, ap.ID); time.Now().After(deadline) {
			t.Fatalf("not deploying: %s", ap.Progress())
		}
	}
	second.Stop()
	if ap, _ = second.Get(ctx, ap.ID); ap.State != upgrade.Interrupted || !strings.Contains(ap.Progress(), "interrupted at node 1 of 1 (k3s-1) while deploying") {
		t.Fatalf("after a stop: %s", ap.Progress())
	}
	// Resumed after a restart (the deploy it was waiting for is stopped
	// too), it goes on from the node it stopped at.
	deploys.Stop()
	deploys = &deploy.Service{Repo: repo, Store: st, WorkDir: filepath.Join(dir, "runs"), PlanTTL: time.Hour, OutputLimit: 1 << 16,
		Log: quiet, Now: time.Now, Targets: map[string]*deploy.Target{
			"k3s-1": {Name: "k3s-1", Host: "k3s-1", Timeout: time.Minute, Driver: cmd("echo", "{host}", "{rev}")}}}
	if _, err := deploys.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer deploys.Stop()
	second = &upgrade.Applier{Plans: st, Store: st, Deploys: deploys, Repo: repo, Kube: kc, WorkDir: dir, Nodes: applier.Nodes[:1],
		DrainTimeout: time.Minute, ReadyTimeout: 10 * time.Second, Poll: 100 * time.Millisecond, Log: quiet, Now: time.Now}
	if _, err := second.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Resume(ctx, 99, "bob"); err == nil {
		t.Fatal("resumed an upgrade that does not exist")
	}
	resumed, err := second.Resume(ctx, ap.ID, "bob")
	if err != nil || resumed.State != upgrade.Applying {
		t.Fatalf("resume: %+v %v", resumed, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ap.State != upgrade.Done; time.Sleep(20 * time.Millisecond) {
		if ap, _ = second.Get(ctx, ap.ID); time.Now().After(deadline) || ap.State == upgrade.Failed {
			t.Fatalf("not done after the resume: %s", ap.Progress())
		}
	}
	if node, _ := kc.CoreV1().Nodes().Get(ctx, "k3s-1", metav1.GetOptions{}); node.Spec.Unschedulable {
		t.Fatal("k3s-1 stays cordoned after the resumed upgrade")
	}
	if _, err := second.Resume(ctx, ap.ID, "bob"); err == nil || !strings.Contains(err.Error(), "only an interrupted one") {
		t.Fatalf("resumed twice: %v", err)
	}
	second.Stop()
	// A crash: the next start finds it applying and reports where.
	crashed := &upgrade.Apply{PlanID: plan2.ID, State: upgrade.Applying, Phase: "draining", Nodes: []upgrade.NodeResult{{Node: "k3s-1", Target: "k3s-1", State: "upgrading"}}}
	if err := st.CreateUpgradeApply(ctx, crashed); err != nil {
		t.Fatal(err)
	}
	third := &upgrade.Applier{Plans: st, Store: st, Deploys: deploys, Log: quiet, Now: time.Now}
	stopped, err := third.Start(ctx)
	if err != nil || len(stopped) != 1 || !strings.Contains(stopped[0].Progress(), "interrupted at node 1 of 1 (k3s-1) while draining: opsbot stopped during the upgrade") {
		t.Fatalf("after a crash: %+v %v", stopped, err)
	}
	third.Stop()
}
