package handlers

import (
	"context"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/opsbot/opsbot/incidents"
)

// Metrics are opsbot's Prometheus metrics, on a registry of their own.
type Metrics struct {
	reg          *prometheus.Registry
	eventsRecv   *prometheus.CounterVec
	eventsApply  *prometheus.CounterVec
	eventsReject *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	notified     *prometheus.CounterVec
}

// StateSource is what the metrics read at scrape time.
type StateSource struct {
	OpenCounts func(ctx context.Context) ([]incidents.OpenCount, error)
	Lag        func(ctx context.Context) (uint64, error)
}

// NewMetrics registers the metrics; src is read at each scrape.
func NewMetrics(src StateSource) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		eventsRecv: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbot_events_received_total", Help: "Events stored on the bus, by source.",
		}, []string{"source"}),
		eventsApply: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbot_events_applied_total", Help: "Stream messages applied by the reducer, by source and outcome.",
		}, []string{"source", "outcome"}),
		eventsReject: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbot_events_rejected_total", Help: "Events refused, by source and reason (invalid, too_large, unavailable).",
		}, []string{"source", "reason"}),
		notified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "opsbot_notifications_total", Help: "Notification attempts, by target and result (sent, failed, given_up).",
		}, []string{"target", "result"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "opsbot_http_request_duration_seconds", Help: "HTTP request latency, by route and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "code"}),
	}
	m.reg.MustRegister(m.eventsRecv, m.eventsApply, m.eventsReject, m.httpDuration, m.notified,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&stateCollector{src: src},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "opsbot_process_peak_resident_memory_bytes", Help: "Peak resident set size (VmHWM).",
		}, peakRSS))
	return m
}

// Handler serves the metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *Metrics) received(source string, n int) {
	m.eventsRecv.WithLabelValues(source).Add(float64(n))
}
func (m *Metrics) rejected(source, reason string, n int) {
	m.eventsReject.WithLabelValues(source, reason).Add(float64(n))
}

// Notified counts a notification attempt.
func (m *Metrics) Notified(target, result string) { m.notified.WithLabelValues(target, result).Inc() }

// Rejected counts a stream message the reducer could not decode.
func (m *Metrics) Rejected(subject, reason string) {
	source := strings.TrimPrefix(subject, "opsbot.events.")
	switch {
	case strings.HasPrefix(subject, "opsbot.commands."):
		source = "command"
	case strings.HasPrefix(subject, "opsbot.raw."):
		source = "raw" // the source name is the publisher's to choose: keep the label set small
	}
	m.rejected(source, reason, 1)
}

// Applied counts what the reducer applied.
func (m *Metrics) Applied(batch []incidents.Envelope, out []incidents.Outcome) {
	for i, o := range out {
		source := "command"
		if ev := batch[i].Event; ev != nil {
			source = ev.Source
		}
		outcome := o.Outcome
		switch {
		case o.Duplicate:
			outcome = "duplicate"
		case strings.HasPrefix(outcome, "ignored"):
			outcome = "ignored"
		}
		m.eventsApply.WithLabelValues(source, outcome).Inc()
	}
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (m *Metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		m.httpDuration.WithLabelValues(r.Pattern, strconv.Itoa(sw.code)).Observe(time.Since(start).Seconds())
	})
}

var (
	openDesc = prometheus.NewDesc("opsbot_incidents_open", "Open incidents, by state and severity.", []string{"state", "severity"}, nil)
	lagDesc  = prometheus.NewDesc("opsbot_reducer_lag_messages", "Stream messages the reducer has not yet applied.", nil, nil)
)

type stateCollector struct{ src StateSource }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- openDesc; ch <- lagDesc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if counts, err := c.src.OpenCounts(ctx); err == nil {
		seen := map[[2]string]bool{}
		for _, n := range counts {
			seen[[2]string{string(n.State), string(n.Severity)}] = true
			ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, float64(n.N), string(n.State), string(n.Severity))
		}
		for _, st := range []incidents.State{incidents.Triggered, incidents.Acknowledged} {
			for _, sev := range []incidents.Severity{incidents.Critical, incidents.Warning, incidents.Info} {
				if !seen[[2]string{string(st), string(sev)}] {
					ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, 0, string(st), string(sev))
				}
			}
		}
	} else {
		ch <- prometheus.NewInvalidMetric(openDesc, err)
	}
	if lag, err := c.src.Lag(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, float64(lag))
	} else {
		ch <- prometheus.NewInvalidMetric(lagDesc, err)
	}
}

// peakRSS reads VmHWM from /proc/self/status, in bytes; 0 where there is none.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}
