package main

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/opsbot/opsbot/incidents"
	"github.com/opsbot/opsbot/versioncheck"
)

// TestVersionChecker: opsbot scrapes version-checker's metrics, served in
// the real exposition format by a client_golang registry as version-checker
// serves them, and keeps an alert per outdated image.
func TestVersionChecker(t *testing.T) {
	reg := prometheus.NewRegistry()
	gauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: versioncheck.Metric, Help: "is latest"},
		[]string{"namespace", "pod", "container", "container_type", "image", "current_version", "latest_version"})
	reg.MustRegister(gauge)
	gauge.WithLabelValues("media", "jellyfin-7d9c", "jellyfin", "", "jellyfin/jellyfin", "10.9.0", "10.10.3").Set(0)
	gauge.WithLabelValues("photos", "immich-server-5f", "server", "", "ghcr.io/immich-app/immich-server", "v1.120.0", "v1.121.0").Set(0)
	gauge.WithLabelValues("home", "hass-0", "home-assistant", "", "ghcr.io/home-assistant/home-assistant", "2026.11.1", "2026.11.1").Set(1)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	p := start(t, writeConfig(t, t.TempDir(), fmt.Sprintf(`checks:
  version_checker:
    enabled: true
    url: %s/metrics
    schedule: "@every 1s"
`, srv.URL)))
	alerts := func() map[string]incidents.Alert {
		m := map[string]incidents.Alert{}
		for _, i := range p.all() {
			if i.GroupKey != "version-checker:"+i.Alerts[0].Labels["namespace"] {
				t.Fatalf("incident %+v is not grouped by namespace", i)
			}
			for _, a := range i.Alerts {
				m[a.DedupKey] = a
			}
		}
		return m
	}
	jellyfin, immich := "version-checker:media/jellyfin-7d9c/jellyfin", "version-checker:photos/immich-server-5f/server"
	waitFor(t, 15*time.Second, "two outdated images", func() bool {
		m := alerts()
		j := m[jellyfin]
		return len(m) == 2 && j.Status == incidents.AlertFiring && m[immich].Status == incidents.AlertFiring &&
			j.Summary == "media/jellyfin-7d9c jellyfin runs jellyfin/jellyfin 10.9.0, 10.10.3 is out" &&
			j.Labels["latest_version"] == "10.10.3" && j.Severity == incidents.Info
	})
	// Jellyfin is upgraded (version-checker replaces the series), the
	// immich pod is gone.
	gauge.DeleteLabelValues("media", "jellyfin-7d9c", "jellyfin", "", "jellyfin/jellyfin", "10.9.0", "10.10.3")
	gauge.WithLabelValues("media", "jellyfin-7d9c", "jellyfin", "", "jellyfin/jellyfin", "10.10.3", "10.10.3").Set(1)
	gauge.DeleteLabelValues("photos", "immich-server-5f", "server", "", "ghcr.io/immich-app/immich-server", "v1.120.0", "v1.121.0")
	waitFor(t, 15*time.Second, "both resolved", func() bool {
		m := alerts()
		return m[jellyfin].Status == incidents.AlertResolved && m[immich].Status == incidents.AlertResolved
	})
	for _, i := range p.all() {
		if i.State != incidents.Resolved {
			t.Fatalf("%+v", i)
		}
	}
	if !strings.Contains(p.log(), "version-checker scrape scheduled") {
		t.Fatalf("log:\n%s", p.log())
	}
}
