// Package versioncheck scrapes jetstack version-checker's /metrics and
// keeps one alert per outdated image: version_checker_is_latest_version 0
// triggers it (namespace, pod, container, image, current and latest
// version), 1 resolves it, and so does the series going away.
package versioncheck

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/opsbot/opsbot/incidents"
)

// Metric is version-checker's gauge: 1 when a container runs the latest
// version of its image, 0 when not.
const Metric = "version_checker_is_latest_version"

// Publisher stores events.
type Publisher interface {
	PublishEvents(ctx context.Context, evs []*incidents.Event, origin string) error
}

// Image is one container's image as version-checker reports it.
type Image struct {
	Namespace, Pod, Container, Image string
	Current, Latest                  string
	IsLatest                         bool
}

// Key names the alert of one container's image.
func (i Image) Key() string {
	return "version-checker:" + i.Namespace + "/" + i.Pod + "/" + i.Container
}

// Scraper scrapes and publishes changes.
type Scraper struct {
	URL       string
	Client    *http.Client
	Severity  incidents.Severity
	Labels    map[string]string
	Publisher Publisher
	Log       *slog.Logger
	Now       func() time.Time

	// firing are the outdated images of the last scrape; nil before the
	// first, which then resolves whatever is current (it may have been
	// outdated while opsbot was down).
	firing map[string]Image
}

// MaxBody bounds what a scrape reads.
const MaxBody = 16 << 20

// Check scrapes once and publishes what changed since the last scrape.
func (s *Scraper) Check(ctx context.Context) error {
	images, err := s.scrape(ctx)
	if err != nil {
		return fmt.Errorf("version-checker: %w", err)
	}
	run := s.Now().UTC().Format(time.RFC3339Nano)
	first := s.firing == nil
	now, seen := map[string]Image{}, map[string]bool{}
	var evs []*incidents.Event
	for _, img := range images {
		key := img.Key()
		seen[key] = true
		if !img.IsLatest {
			now[key] = img
			if prev, ok := s.firing[key]; ok && prev == img {
				continue
			}
			evs = append(evs, s.event(img, incidents.Trigger, run))
		} else if _, ok := s.firing[key]; ok || first {
			evs = append(evs, s.event(img, incidents.Resolve, run))
		}
	}
	for key, img := range s.firing {
		if !seen[key] {
			evs = append(evs, s.event(img, incidents.Resolve, run)) // the container is gone
		}
	}
	for _, ev := range evs {
		ev.AddLabels(s.Labels)
		if err := ev.Validate(s.Severity); err != nil {
			return fmt.Errorf("version-checker: %w", err)
		}
	}
	if len(evs) > 0 {
		if err := s.Publisher.PublishEvents(ctx, evs, "version-checker scrape of "+s.URL); err != nil {
			return fmt.Errorf("version-checker: %w", err)
		}
	}
	s.firing = now
	return nil
}

func (s *Scraper) event(img Image, action incidents.Action, run string) *incidents.Event {
	where := img.Namespace + "/" + img.Pod + " " + img.Container
	ev := &incidents.Event{
		ID: incidents.HashID(img.Key(), string(action), img.Current, img.Latest, run), Source: "version-checker",
		Action: action, DedupKey: img.Key(), GroupKey: "version-checker:" + img.Namespace, Severity: s.Severity,
		Summary: fmt.Sprintf("%s runs %s %s, %s is out", where, img.Image, img.Current, img.Latest),
		Labels: map[string]string{"namespace": img.Namespace, "pod": img.Pod, "container": img.Container,
			"image": img.Image, "current_version": img.Current, "latest_version": img.Latest},
	}
	if action == incidents.Resolve {
		ev.Summary = where + " runs the latest " + img.Image
	}
	return ev
}

func (s *Scraper) scrape(ctx context.Context) ([]Image, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", s.URL, resp.Status)
	}
	return Parse(io.LimitReader(resp.Body, MaxBody))
}

// Parse reads the Prometheus text exposition format and returns the
// images of version_checker_is_latest_version, in a stable order. The
// namespace label may come as exported_namespace (scraped through
// Prometheus).
func Parse(r io.Reader) ([]Image, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	fam, ok := families[Metric]
	if !ok {
		return nil, nil
	}
	var out []Image
	for _, m := range fam.GetMetric() {
		l := labels(m)
		img := Image{
			Namespace: l["namespace"], Pod: l["pod"], Container: l["container"], Image: l["image"],
			Current: l["current_version"], Latest: l["latest_version"],
		}
		if img.Namespace == "" {
			img.Namespace = l["exported_namespace"]
		}
		if img.Pod == "" || img.Container == "" || img.Image == "" {
			continue
		}
		var v float64
		switch {
		case m.GetGauge() != nil:
			v = m.GetGauge().GetValue()
		case m.GetUntyped() != nil:
			v = m.GetUntyped().GetValue()
		default:
			continue
		}
		img.IsLatest = v == 1
		out = append(out, img)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, lp := range m.GetLabel() {
		out[lp.GetName()] = strings.TrimSpace(lp.GetValue())
	}
	return out
}
