package versioncheck

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Exposition serves version-checker's metric the way a client_golang
// registry writes it, as version-checker does.
type Exposition struct {
	Reg   *prometheus.Registry
	Gauge *prometheus.GaugeVec
}

// NewExposition registers the gauge with version-checker's label names;
// namespaceLabel is "namespace", or "exported_namespace" as Prometheus
// relabels it.
func NewExposition(namespaceLabel string) *Exposition {
	e := &Exposition{Reg: prometheus.NewRegistry(), Gauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: Metric, Help: "Where the container in use is using the latest upstream registry version",
	}, []string{namespaceLabel, "pod", "container", "container_type", "image", "current_version", "latest_version"})}
	e.Reg.MustRegister(e.Gauge, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "version_checker_last_checked", Help: "Timestamp for when the image was last checked",
	}, []string{"namespace", "pod", "container"}))
	return e
}

func (e *Exposition) text(t *testing.T) string {
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(e.Reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestParse(t *testing.T) {
	e := NewExposition("namespace")
	e.Gauge.WithLabelValues("media", "jellyfin-7d9c", "jellyfin", "init", "jellyfin/jellyfin", "10.9.0", "10.10.3").Set(0)
	e.Gauge.WithLabelValues("home", "hass-0", "home-assistant", "", "ghcr.io/home-assistant/home-assistant", "2026.11.1", "2026.11.1").Set(1)
	text := e.text(t)
	images, err := Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(images) != 2 {
		t.Fatalf("%+v", images)
	}
	j := images[1]
	if j.Namespace != "media" || j.Pod != "jellyfin-7d9c" || j.IsLatest || j.Current != "10.9.0" || j.Latest != "10.10.3" || j.Image != "jellyfin/jellyfin" {
		t.Fatalf("%+v", j)
	}
	exported := NewExposition("exported_namespace")
	exported.Gauge.WithLabelValues("media", "p", "c", "", "img", "1", "2").Set(0)
	images, _ = Parse(strings.NewReader(exported.text(t)))
	if len(images) != 1 || images[0].Namespace != "media" {
		t.Fatalf("exported_namespace: %+v", images)
	}
	if _, err := Parse(strings.NewReader("version_checker_is_latest_version{ 1\n")); err == nil {
		t.Fatal("a broken exposition parsed")
	}
}

func FuzzParse(f *testing.F) {
	b, _ := os.ReadFile(filepath.Join("testdata", "metrics.txt"))
	f.Add(b)
	f.Add([]byte("# TYPE version_checker_is_latest_version gauge\nversion_checker_is_latest_version{pod=\"p\",container=\"c\",image=\"i\"} 0\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		images, err := Parse(bytes.NewReader(body))
		if err != nil {
			return
		}
		for _, i := range images {
			if i.Pod == "" || i.Container == "" || i.Image == "" {
				t.Fatalf("incomplete image %+v", i)
			}
		}
	})
}

func TestScrapeErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) }))
	defer srv.Close()
	s := &Scraper{URL: srv.URL, Client: srv.Client()}
	if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("%v", err)
	}
}
