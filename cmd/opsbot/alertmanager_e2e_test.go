package main

import (
	"strings"

	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/opsbot/opsbot/incidents"
)

// alertmanagerBin finds Debian's Alertmanager. The README's test command
// installs it and sets OPSBOT_REQUIRE_REAL=1, so there it must be found.
func alertmanagerBin(t *testing.T) string {
	for _, name := range []string{"prometheus-alertmanager", "alertmanager"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("OPSBOT_REQUIRE_REAL") != "" {
		t.Fatal("prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)")
	}
	t.Skip("prometheus-alertmanager is not installed; scripts/test.sh installs it")
	return ""
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startAlertmanager runs Debian's Alertmanager on loopback with a webhook
// receiver pointing at opsbotURL, and returns its URL.
func startAlertmanager(t *testing.T, opsbotURL string) string {
	return startAlertmanagerAt(t, opsbotURL, freePort(t))
}

// startAlertmanagerAt is startAlertmanager on a given loopback address.
func startAlertmanagerAt(t *testing.T, opsbotURL, addr string) string {
	bin := alertmanagerBin(t)
	dir := t.TempDir()
	// The receiver of docs/sources.md, with the test's URL and token, and
	// timings short enough for a test.
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(snippet(t, "alertmanager-receiver")), &cfg); err != nil {
		t.Fatal(err)
	}
	route := cfg["route"].(map[string]any)
	route["group_wait"], route["group_interval"], route["repeat_interval"] = "1s", "1s", "1h"
	wh := cfg["receivers"].([]any)[0].(map[string]any)["webhook_configs"].([]any)[0].(map[string]any)
	wh["url"] = strings.Replace(wh["url"].(string), "http://opsbot.internal:8080", opsbotURL, 1)
	tokenFile := filepath.Join(dir, "opsbot-token")
	if err := os.WriteFile(tokenFile, []byte(e2eToken), 0o600); err != nil {
		t.Fatal(err)
	}
	wh["http_config"].(map[string]any)["authorization"].(map[string]any)["credentials_file"] = tokenFile
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	daemon(t, bin, "--config.file="+filepath.Join(dir, "alertmanager.yml"),
		"--storage.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr, "--cluster.listen-address=")
	url := "http://" + addr
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("alertmanager did not get ready in 20s")
	return ""
}

type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt,omitzero"`
}

func postAlerts(t *testing.T, amURL string, alerts []amAlert) {
	t.Helper()
	resp, err := http.Post(amURL+"/api/v2/alerts", "application/json", bytesReader(mustJSON(t, alerts)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("alertmanager answered %s", resp.Status)
	}
}

// TestRealAlertmanager: Debian's Alertmanager delivers to opsbot through its
// webhook receiver, grouped by a label, firing and then resolved.
func TestRealAlertmanager(t *testing.T) {
	dir := t.TempDir()
	p := start(t, writeConfig(t, dir, ""))
	am := startAlertmanager(t, p.url)

	started := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	alerts := []amAlert{
		{Labels: map[string]string{"alertname": "ProbeFailure", "service": "git", "instance": "git-1", "severity": "warning"},
			Annotations: map[string]string{"summary": "git-1 probe failing"}, StartsAt: started},
		{Labels: map[string]string{"alertname": "ProbeFailure", "service": "git", "instance": "git-2", "severity": "critical"},
			Annotations: map[string]string{"summary": "git-2 probe failing"}, StartsAt: started},
		{Labels: map[string]string{"alertname": "DiskFull", "service": "nas", "instance": "nas", "severity": "warning"},
			Annotations: map[string]string{"summary": "nas disk full"}, StartsAt: started},
	}
	postAlerts(t, am, alerts)

	// The snippet groups by [alertname, service]: the test's alerts fall
	// into one group per service.
	byGroup := func() map[string]*incidents.Incident {
		m := map[string]*incidents.Incident{}
		for _, i := range p.all() {
			for _, svc := range []string{"git", "nas"} {
				if strings.Contains(i.GroupKey, `service="`+svc+`"`) {
					m[`{}:{service="`+svc+`"}`] = i
				}
			}
		}
		return m
	}
	waitFor(t, 30*time.Second, "two triggered incidents, grouped by service", func() bool {
		g := byGroup()
		git, nas := g[`{}:{service="git"}`], g[`{}:{service="nas"}`]
		return len(g) == 2 && git != nil && nas != nil && git.FiringAlerts == 2 && nas.FiringAlerts == 1 &&
			git.Severity == incidents.Critical && nas.Severity == incidents.Warning && git.State == incidents.Triggered
	})

	// Resolve one alert of the git group: the incident stays open, its
	// severity drops to the remaining alert's.
	resolved := alerts[1]
	resolved.EndsAt = time.Now().Add(-time.Second).UTC()
	postAlerts(t, am, []amAlert{resolved})
	waitFor(t, 30*time.Second, "git down to one warning alert", func() bool {
		git := byGroup()[`{}:{service="git"}`]
		return git != nil && git.FiringAlerts == 1 && git.Severity == incidents.Warning && git.State == incidents.Triggered
	})

	for i := range alerts {
		alerts[i].EndsAt = time.Now().Add(-time.Second).UTC()
	}
	postAlerts(t, am, alerts)
	waitFor(t, 30*time.Second, "both incidents resolved", func() bool {
		g := byGroup()
		for _, i := range g {
			if i.State != incidents.Resolved {
				return false
			}
		}
		return len(g) == 2
	})
	for _, i := range byGroup() {
		firing, resolvedN := 0, 0
		for _, e := range i.Timeline {
			switch e.Kind {
			case incidents.KindAlertFiring:
				firing++
			case incidents.KindAlertResolved:
				resolvedN++
			}
		}
		if firing != len(i.Alerts) || resolvedN != len(i.Alerts) {
			t.Fatalf("%s: %d alerts, %d fired, %d resolved in the timeline", i.GroupKey, len(i.Alerts), firing, resolvedN)
		}
	}
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}
