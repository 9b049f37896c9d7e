// Package metrics holds mgsd's Prometheus metrics: one registry with the
// Go runtime and process collectors and the service's own metrics, fed by
// hooks of the pipeline (uplink.Observer), the store (boltstore
// Options.OnCommit), the gRPC and HTTP servers (Observe callbacks), and
// read at scrape time from gauges (connections, queues).
//
// Extending it: add a field, create the metric in New with the "mgs_"
// prefix and register it, or register a collector with Register / a gauge
// with GaugeFunc from the component that owns the value.
package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	"github.com/openmgs/openmgs/uplink"
)

// Namespace prefixes every metric of the service.
const Namespace = "mgs"

// Latency buckets, in seconds: 100 µs to 10 s.
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// stageBuckets are finer, for the per-stage histogram (most stages take
// microseconds; commit and load take the time of the store).
var stageBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1}

// Metrics is the registry and the service's metrics. Its methods are safe
// for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	uplinks        *prometheus.CounterVec
	uplinkDuration *prometheus.HistogramVec
	uplinkAttempts prometheus.Histogram
	stageDuration  *prometheus.HistogramVec
	commitDuration prometheus.Histogram
	commitWrites   prometheus.Histogram
	grpcRequests   *prometheus.CounterVec
	grpcDuration   *prometheus.HistogramVec
	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	backups        *prometheus.CounterVec
	backupBytes    prometheus.Counter
	solverRuns     *prometheus.CounterVec
	solverDuration *prometheus.HistogramVec

	// Per-stage observers, cached: With(label) costs a map lookup and a
	// hash; a stage name set is small and fixed.
	mu     sync.RWMutex
	stages map[string]prometheus.Observer
}

var _ uplink.Observer = (*Metrics)(nil)

// New returns the metrics, registered with a new registry together with
// the Go runtime, process and build-info collectors.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), stages: map[string]prometheus.Observer{}}
	m.uplinks = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "uplinks_total",
		Help: "Uplinks handled by the pipeline, by msgtype, operation and result (ok, duplicate, invalid, error)."},
		[]string{"msgtype", "operation", "result"})
	m.uplinkDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "uplink_duration_seconds",
		Help: "Time to handle one uplink, from validation to durable commit, by result.", Buckets: latencyBuckets},
		[]string{"result"})
	m.uplinkAttempts = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "uplink_attempts",
		Help:    "Read-compute-commit runs per uplink (more than 1 after conflicting concurrent writes to one device).",
		Buckets: []float64{1, 2, 3, 4, 8, 16}})
	m.stageDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "uplink_stage_duration_seconds",
		Help: "Time of one run of a pipeline stage; load and commit are the store read and the durable commit.", Buckets: stageBuckets},
		[]string{"stage"})
	m.commitDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "store_commit_duration_seconds",
		Help: "Time of one group commit of the store (one transaction and one fsync).", Buckets: latencyBuckets})
	m.commitWrites = prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "store_commit_writes",
		Help:    "Writes grouped into one commit of the store.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}})
	m.grpcRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "grpc_requests_total",
		Help: "gRPC calls by full method and status code."}, []string{"method", "code"})
	m.grpcDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "grpc_request_duration_seconds",
		Help: "gRPC call duration by full method (streams: until they end).", Buckets: latencyBuckets}, []string{"method"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "http_requests_total",
		Help: "HTTP API requests by route pattern and status code."}, []string{"route", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "http_request_duration_seconds",
		Help: "HTTP API request duration by route pattern.", Buckets: latencyBuckets}, []string{"route"})
	m.backups = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "backups_total",
		Help: "Online backups served, by result (ok, error)."}, []string{"result"})
	m.backupBytes = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "backup_bytes_total",
		Help: "Bytes of the snapshots of successful backups."})
	m.solverRuns = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "solver_runs_total",
		Help: "Position solves of uplinks by solver (gnss, wifi) and result (ok, failed)."}, []string{"solver", "result"})
	m.solverDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "solver_duration_seconds",
		Help:    "Duration of position solves of uplinks, by solver.",
		Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1}}, []string{"solver"})
	m.reg.MustRegister(m.uplinks, m.uplinkDuration, m.uplinkAttempts, m.stageDuration, m.commitDuration, m.commitWrites,
		m.grpcRequests, m.grpcDuration, m.httpRequests, m.httpDuration, m.backups, m.backupBytes, m.solverRuns, m.solverDuration,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector())
	return m
}

// Registry returns the registry (to register more collectors or gather).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Register adds a collector.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// GaugeFunc registers a gauge mgs_<name> whose value f returns at scrape
// time (queue depths, open subscriptions).
func (m *Metrics) GaugeFunc(name, help string, f func() float64) error {
	return m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, f))
}

// Handler serves the registry in the Prometheus text (or OpenMetrics)
// format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// StageDone implements uplink.Observer.
func (m *Metrics) StageDone(stage string, d time.Duration) {
	m.mu.RLock()
	o, ok := m.stages[stage]
	m.mu.RUnlock()
	if !ok {
		o = m.stageDuration.WithLabelValues(stage)
		m.mu.Lock()
		m.stages[stage] = o
		m.mu.Unlock()
	}
	o.Observe(d.Seconds())
}

// UplinkDone implements uplink.Observer.
func (m *Metrics) UplinkDone(o uplink.Outcome) {
	m.uplinks.WithLabelValues(o.MsgType, o.Operation, o.Result).Inc()
	m.uplinkDuration.WithLabelValues(o.Result).Observe(o.Duration.Seconds())
	if o.Attempts > 0 {
		m.uplinkAttempts.Observe(float64(o.Attempts))
	}
}

// SolverDone records one position solve.
func (m *Metrics) SolverDone(solver string, ok bool, d time.Duration) {
	result := "ok"
	if !ok {
		result = "failed"
	}
	m.solverRuns.WithLabelValues(solver, result).Inc()
	m.solverDuration.WithLabelValues(solver).Observe(d.Seconds())
}

// OnCommit is boltstore's Options.OnCommit.
func (m *Metrics) OnCommit(writes int, d time.Duration) {
	m.commitWrites.Observe(float64(writes))
	m.commitDuration.Observe(d.Seconds())
}

// ObserveGRPC is server.Options.Observe.
func (m *Metrics) ObserveGRPC(method string, code codes.Code, d time.Duration) {
	m.grpcRequests.WithLabelValues(method, code.String()).Inc()
	m.grpcDuration.WithLabelValues(method).Observe(d.Seconds())
}

// ObserveHTTP is httpapi.Options.Observe.
func (m *Metrics) ObserveHTTP(route string, status int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// ObserveBackup is server.Options.OnBackup.
func (m *Metrics) ObserveBackup(bytes int64, err error) {
	if err != nil {
		m.backups.WithLabelValues("error").Inc()
		return
	}
	m.backups.WithLabelValues("ok").Inc()
	m.backupBytes.Add(float64(bytes))
}
