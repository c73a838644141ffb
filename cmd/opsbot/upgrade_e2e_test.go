package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/opsbot/opsbot/internal/flaketest"
	"github.com/opsbot/opsbot/internal/kubetest"
	"github.com/opsbot/opsbot/notify/ntfy/ntfytest"
)

// TestUpgradePlan: "opsbot upgrade plan" through the built binary: real
// nix updates the flake, builds both hosts' systems before and after, and
// the report says what changes and what restarts; the lock file is pushed
// to the configured branch.
func TestUpgradePlan(t *testing.T) {
	flaketest.Nix(t)
	r := flaketest.New(t)
	newPkgs := r.Bump(t)
	p := start(t, writeConfig(t, t.TempDir(), fmt.Sprintf(`repo:
  url: %s
upgrade:
  hosts: [web, db]
  branch: opsbot/upgrade
`, r.Host)))
	out, code := p.cli("upgrade", "plan")
	if code != 0 || !contains(out, "upgrade plan 1 is being made", "Upgrade plan 1,", "pkgs: ", "→ "+newPkgs[:12],
		"web: reboot; k3s restart; restarts nginx.service", "because: initrd-linux 6.1.1 → 6.1.2; k3s 1.28.1 → 1.28.2; linux 6.1.1 → 6.1.2",
		"unit-nginx.service: +30.0 KiB", "db: reboot", "The new flake.lock is on branch opsbot/upgrade") {
		t.Fatalf("upgrade plan (%d):\n%s", code, out)
	}
	if got := flaketest.Git(t, r.Host, "show", "opsbot/upgrade:flake.lock"); !strings.Contains(got, newPkgs) {
		t.Fatal("the branch does not have the new lock file")
	}
	if out, code = p.cli("upgrade", "show", "1", "--json"); code != 0 || !contains(out, `"state": "ready"`, `"reboot": true`, `"lock_hash": "`) {
		t.Fatalf("upgrade show (%d): %s", code, out)
	}
	if out, code = p.cli("upgrade", "plan", "nope"); code != 1 || !contains(out, `the flake has no input "nope"`) {
		t.Fatalf("unknown input (%d): %s", code, out)
	}
	if out, code = p.cli("upgrade", "show", "9"); code != 1 || !contains(out, "upgrade plan 9 does not exist") {
		t.Fatalf("no plan (%d): %s", code, out)
	}
	if out, _ = p.cli("audit"); !contains(out, "upgrade plan") {
		t.Fatalf("audit: %s", out)
	}
}

// TestUpgradeReport: the scheduled report through the built binary, posted
// to ntfy with a link, listed and shown; and made at once on request.
func TestUpgradeReport(t *testing.T) {
	flaketest.Nix(t)
	r := flaketest.New(t)
	r.Bump(t)
	phone := ntfytest.New("")
	defer phone.Close()
	dir := t.TempDir()
	base := fmt.Sprintf(`repo:
  url: %s
upgrade:
  hosts: [web]
notify:
  ntfy:
%s`, r.Host, ntfyTarget("phone", phone.URL))
	p := start(t, writeConfig(t, dir, base+`reports:
  upgrade:
    enabled: true
    schedule: "@every 2s"
`))
	if !strings.Contains(p.log(), `msg="upgrade report scheduled" schedule="@every 2s"`) {
		t.Fatalf("log:\n%s", p.log())
	}
	waitFor(t, 30*time.Second, "the scheduled report on the phone", func() bool {
		for _, m := range phone.Messages() {
			if strings.HasPrefix(m.Title, "Upgrade report 1") && strings.Contains(m.Message, "web: reboot") {
				return true
			}
		}
		return false
	})
	if out, code := p.cli("reports"); code != 0 || !contains(out, "done", "upgrade plan") {
		t.Fatalf("reports (%d): %s", code, out)
	}
	if out, code := p.cli("report", "show", "1"); code != 0 || !contains(out, "posted to phone", "web: reboot; k3s restart; restarts nginx.service",
		"Outdated container images (version-checker)", "Hosts that drift from the repo") {
		t.Fatalf("report show (%d): %s", code, out)
	}
	p.stop()
	p = start(t, writeConfig(t, dir, base))
	if out, code := p.cli("report", "upgrade", "--now"); code != 0 || !contains(out, "is being made", "posted to phone", "web: reboot") {
		t.Fatalf("report --now (%d): %s", code, out)
	}
}

// TestUpgradeApply: "opsbot upgrade apply" through the built binary,
// against a real kube-apiserver: the plan's lock file pushed, the node
// cordoned, drained, deployed and uncordoned.
func TestUpgradeApply(t *testing.T) {
	flaketest.Nix(t)
	kube := kubetest.Start(t)
	kc, err := kubernetes.NewForConfig(kube)
	if err != nil {
		t.Fatal(err)
	}
	node, err := kc.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "k3s-1"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := kc.CoreV1().Nodes().UpdateStatus(t.Context(), node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := flaketest.New(t)
	newPkgs := r.Bump(t)
	p := start(t, writeConfig(t, t.TempDir(), fmt.Sprintf(`repo:
  url: %s
kube:
  kubeconfig: %s
  poll: 200ms
deploy:
  targets:
    - name: k3s-1
      driver: command
      command: [echo, deploying, "{host}", "{rev}"]
upgrade:
  hosts: [web]
  nodes:
    - {node: k3s-1, target: k3s-1}
  ready_timeout: 10s
`, r.Host, kubetest.Kubeconfig(t, kube))))
	if out, code := p.cli("upgrade", "plan"); code != 0 {
		t.Fatalf("plan (%d): %s", code, out)
	}
	out, code := p.cli("upgrade", "apply", "1", "--yes")
	if code != 0 || !contains(out, "flake.lock ", "upgrade 1: node 1 of 1 (k3s-1)", "upgrade 1: all 1 nodes upgraded to") {
		t.Fatalf("apply (%d): %s", code, out)
	}
	if got := flaketest.Git(t, r.Host, "show", "main:flake.lock"); !strings.Contains(got, newPkgs) {
		t.Fatal("the new lock file is not on the branch")
	}
	if node, _ = kc.CoreV1().Nodes().Get(t.Context(), "k3s-1", metav1.GetOptions{}); node.Spec.Unschedulable {
		t.Fatal("k3s-1 is still cordoned")
	}
	if out, code = p.cli("deploys", "k3s-1"); code != 0 || !contains(out, "succeeded", "#1") {
		t.Fatalf("deploys (%d): %s", code, out)
	}
	if out, code = p.cli("upgrade", "status", "1"); code != 0 || !contains(out, "all 1 nodes upgraded") {
		t.Fatalf("status (%d): %s", code, out)
	}
}
