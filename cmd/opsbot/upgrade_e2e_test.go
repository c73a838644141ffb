package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/opsbot/opsbot/internal/flaketest"
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
