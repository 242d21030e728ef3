// Package metrics is what a server tells Prometheus: requests, lifecycle
// jobs and steps, sessions by state, backups, store transactions and the
// build. Each layer reports through a small interface of its own (the
// server's request observer, the lifecycle's job observer, the service's
// step observer); this package implements them all on one registry, so that
// no other package imports client_golang.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "opennimble"

// Metrics is one server's collectors and the registry that serves them.
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	jobs            *prometheus.CounterVec
	jobsRunning     prometheus.Gauge
	stepDuration    *prometheus.HistogramVec
	txDuration      *prometheus.HistogramVec
	backups         *prometheus.CounterVec
	transitions     *prometheus.CounterVec
	backupBytes     *prometheus.CounterVec
	backupDuration  *prometheus.HistogramVec
}

// Build describes the running binary (the build_info metric).
type Build struct {
	Version, Revision, GoVersion string
}

// New returns the metrics of a server built as b, with the Go runtime's and
// the process's collectors.
func New(b Build) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "requests_total",
			Help: "API requests by operation (or unauthenticated path prefix) and error code (\"\" when it succeeded)."},
			[]string{"operation", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "request_duration_seconds",
			Help: "Time to answer an API request, by operation.", Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10}},
			[]string{"operation"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "lifecycle_jobs_total",
			Help: "Lifecycle jobs run by this server, by kind of resource and outcome: completed, retried (the reconcile failed and was rescheduled with backoff), failed (could not be completed or rescheduled) or handed_back (stopped by a shutdown; it runs again)."},
			[]string{"kind", "outcome"}),
		jobsRunning: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: namespace, Name: "lifecycle_jobs_running",
			Help: "Lifecycle jobs this server is running now."}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "lifecycle_step_duration_seconds",
			Help:    "Time a workstation driver took for a session step (provision, stop, snapshot, restore, start, delete-volume, terminate), from this server's first call to the call that reported it done or failed, by step, driver and outcome.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900}},
			[]string{"step", "driver", "outcome"}),
		txDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "store_transaction_duration_seconds",
			Help:    "Store transaction latency by kind (view, update, or the job queue's claim, complete, retry and renew) and outcome (ok or error), commit included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}},
			[]string{"kind", "outcome"}),
		backups: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "backups_total",
			Help: "Streaming session backups this server saw finish, by outcome: taken (READY) or failed (CREATE_FAILED)."},
			[]string{"outcome"}),
		backupBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "backup_bytes_total",
			Help: "Bytes of the local driver's backups: written (the size of the volumes' files each snapshot represents), stored (what snapshots added to the backup store, after deduplication and compression) and restored. written/stored is the deduplication ratio."},
			[]string{"direction"}),
		backupDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: "backup_duration_seconds",
			Help:    "Time the local driver took to snapshot a volume into the backup store or restore one from it.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}},
			[]string{"operation"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: "state_changes_total",
			Help: "State changes of resources committed by this server, by kind of resource and new state."},
			[]string{"kind", "state"}),
	}
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help: "Always 1; the labels say which build runs."}, []string{"version", "revision", "goversion"})
	info.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	reg.MustRegister(m.requests, m.requestDuration, m.jobs, m.jobsRunning, m.stepDuration, m.txDuration, m.backups, m.transitions, m.backupBytes, m.backupDuration, info,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	// A gauge whose source fails (a store that does not answer) is left
	// out; the rest of the scrape still answers.
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Register adds a collector of another part of the server (sessions by
// state, the local driver's backup repository).
func (m *Metrics) Register(c prometheus.Collector) { m.reg.MustRegister(c) }

// ObserveRequest counts an answered request; code is the error code of a
// failed one.
func (m *Metrics) ObserveRequest(operation, code string, d time.Duration) {
	m.requests.WithLabelValues(operation, code).Inc()
	m.requestDuration.WithLabelValues(operation).Observe(d.Seconds())
}

// JobStarted and JobFinished bracket one lifecycle job.
func (m *Metrics) JobStarted() { m.jobsRunning.Inc() }

// JobFinished counts a job's outcome (completed, retried, failed or
// handed_back).
func (m *Metrics) JobFinished(kind, outcome string) {
	m.jobsRunning.Dec()
	m.jobs.WithLabelValues(kind, outcome).Inc()
}

// ObserveStep records a driver step that finished (failed or not).
func (m *Metrics) ObserveStep(step, driver string, d time.Duration, failed bool) {
	outcome := "done"
	if failed {
		outcome = "failed"
	}
	m.stepDuration.WithLabelValues(step, driver, outcome).Observe(d.Seconds())
}

// ObserveTx records a store transaction.
func (m *Metrics) ObserveTx(kind string, d time.Duration, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.txDuration.WithLabelValues(kind, outcome).Observe(d.Seconds())
}

// StateChanged counts a committed state change; backups that become READY or
// CREATE_FAILED count as taken or failed.
func (m *Metrics) StateChanged(kind, state string) {
	m.transitions.WithLabelValues(kind, state).Inc()
	if kind != "streaming-session-backup" {
		return
	}
	switch state {
	case "READY":
		m.backups.WithLabelValues("taken").Inc()
	case "CREATE_FAILED":
		m.backups.WithLabelValues("failed").Inc()
	}
}

// ObserveSnapshot records a snapshot of the local driver: its duration, the
// size of the files it represents and what it added to the store.
func (m *Metrics) ObserveSnapshot(d time.Duration, bytes, stored int64) {
	m.backupDuration.WithLabelValues("snapshot").Observe(d.Seconds())
	m.backupBytes.WithLabelValues("written").Add(float64(bytes))
	m.backupBytes.WithLabelValues("stored").Add(float64(stored))
}

// ObserveRestore records a restore of the local driver.
func (m *Metrics) ObserveRestore(d time.Duration, bytes int64) {
	m.backupDuration.WithLabelValues("restore").Observe(d.Seconds())
	m.backupBytes.WithLabelValues("restored").Add(float64(bytes))
}

// GaugeSource is a set of gauges read when Prometheus scrapes: each call
// returns the current value of every label value (sessions by state, say).
type GaugeSource func(ctx context.Context) (map[string]float64, error)

// gaugeCollector turns a GaugeSource into a collector.
type gaugeCollector struct {
	desc *prometheus.Desc
	read GaugeSource
	// timeout bounds a scrape's read, so that a store that does not answer
	// leaves the gauge out instead of hanging the scrape.
	timeout time.Duration
	labeled bool
}

// NewCounterFunc returns a counter named opennimble_<name> read from fn at
// every scrape.
func NewCounterFunc(name, help string, fn func() float64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, fn)
}

// NewGauges returns a collector of gauges named opennimble_<name> with one
// label (none when label is "": src then returns one value under ""), read
// from src at every scrape. A read that fails reports nothing (the scrape
// still answers, with the other metrics).
func NewGauges(name, help, label string, src GaugeSource) prometheus.Collector {
	var labels []string
	if label != "" {
		labels = []string{label}
	}
	return &gaugeCollector{desc: prometheus.NewDesc(namespace+"_"+name, help, labels, nil), read: src, timeout: 5 * time.Second, labeled: label != ""}
}

func (c *gaugeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	values, err := c.read(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for label, v := range values {
		if c.labeled {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, label)
		} else {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v)
		}
	}
}
