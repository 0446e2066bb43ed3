// Package metrics exports the gateway's Prometheus metrics (client_golang) at GET /metrics: requests, latency,
// tokens, spend, errors, cache hits, time to first token, gateway overhead, in-flight requests, deployment
// state and cooldowns, fallbacks and retries, callback delivery and the router's shared-state health.
//
// The names are those LiteLLM users know (litellm_requests_total, litellm_request_duration_seconds,
// litellm_tokens_total, litellm_spend_total, litellm_errors_total, litellm_cache_hits_total, ...). Labels are
// bounded: model group and deployment come from the configuration (requests for unknown models are counted
// under model_group="unrouted"), key alias and team from the keys, status as a class (2xx, 4xx, 5xx); raw keys
// never appear.
package metrics

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchyard/gateway/core/accesslog"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/router"
	"github.com/switchyard/gateway/sdk"
)

// Metrics holds the gateway's collectors in a registry of its own (several gateways in one process, as in
// tests, do not collide).
type Metrics struct {
	reg *prometheus.Registry

	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	ttft      *prometheus.HistogramVec
	overhead  *prometheus.HistogramVec
	tokens    *prometheus.CounterVec
	spend     *prometheus.CounterVec
	errors    *prometheus.CounterVec
	cacheHits *prometheus.CounterVec
	inFlight  prometheus.Gauge
	fallbacks *prometheus.CounterVec
	retries   *prometheus.CounterVec
	// failing holds, per deployment id, whether its latest call failed upstream (*atomic.Bool): a deployment
	// failing without cooling down is in partial outage.
	failing sync.Map
	series  sync.Map // seriesKey → *series
}

var requestLabels = []string{"model_group", "deployment", "provider", "key_alias", "team", "status_class"}

// New returns the gateway's metrics, with Go runtime and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	// go_gc_heap_live_bytes joins the defaults: the heap the last collection found live. Heap in use also
	// counts the garbage since then, which the gateway lets grow to several times the live heap (cmd/gateway's
	// GC tuning), so only the live heap shows memory held over time.
	reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	latency := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "litellm_requests_total",
			Help: "Requests served, by model group, deployment, provider, key alias, team and status class."}, requestLabels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "litellm_request_duration_seconds",
			Help: "Time from receiving a request to its last byte, streams included.", Buckets: latency},
			[]string{"model_group", "provider", "status_class"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "litellm_time_to_first_token_seconds",
			Help: "Time from receiving a streamed request to its first chunk from the upstream.", Buckets: latency},
			[]string{"model_group", "provider"}),
		overhead: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "litellm_overhead_latency_metric",
			Help:    "The gateway's own time in a non-streamed request: the total minus the upstream call, in seconds.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25}},
			[]string{"model_group", "provider"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "litellm_tokens_total",
			Help: "Tokens used, by type (prompt, completion)."},
			[]string{"model_group", "provider", "key_alias", "team", "type"}),
		spend: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "litellm_spend_total",
			Help: "Spend in USD at the deployments' per-token prices."},
			[]string{"model_group", "provider", "key_alias", "team"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "litellm_errors_total",
			Help: "Failed requests, by error class (LiteLLM's exception names)."},
			[]string{"model_group", "provider", "error_class", "status_class"}),
		cacheHits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "litellm_cache_hits_total",
			Help: "Requests answered from the response cache."}, []string{"model_group"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "litellm_in_flight_requests",
			Help: "Requests under way."}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "litellm_fallbacks_total",
			Help: "Fallbacks to other model groups, by the group asked for."}, []string{"model_group"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "litellm_retries_total",
			Help: "Retries of upstream calls, by model group."}, []string{"model_group"}),
	}
	reg.MustRegister(m.requests, m.duration, m.ttft, m.overhead, m.tokens, m.spend, m.errors, m.cacheHits,
		m.inFlight, m.fallbacks, m.retries)
	return m
}

// Registry returns the registry, for collectors of other parts of the gateway.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// GaugeFunc registers a gauge read at scrape time.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

// CounterFunc registers a counter read at scrape time.
func (m *Metrics) CounterFunc(name, help string, f func() float64) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
}

// Collect registers a collector (deployment state, say).
func (m *Metrics) Collect(c prometheus.Collector) { m.reg.MustRegister(c) }

// Stage returns the pipeline stage counting requests in flight and observing each finished call. It goes
// right after the log stage, so that it sees every call, rejected ones included.
func (m *Metrics) Stage() pipeline.Stage { return stage{m} }

type stage struct{ m *Metrics }

func (s stage) Name() string { return "metrics" }

func (s stage) Before(context.Context, *pipeline.Call) error {
	s.m.inFlight.Inc()
	return nil
}

func (s stage) After(c *pipeline.Call) {
	s.m.inFlight.Dec()
	s.m.Observe(c)
}

// Observe records one finished call.
func (m *Metrics) Observe(c *pipeline.Call) {
	group, deployment, provider := c.Group, "", ""
	if group == "" {
		group = "unrouted"
	}
	if d := c.Deployment; d != nil {
		deployment = d.ID
		if d.Target != nil {
			provider = d.Target.Provider
		}
	}
	alias, team := "", ""
	if p := c.Principal; p != nil {
		alias, team = p.KeyAlias, p.TeamID
	}
	class := statusClass(c.Status)
	s := m.seriesOf(seriesKey{group, deployment, provider, alias, team, class})
	s.requests.Inc()
	end := c.End
	if end.IsZero() {
		end = time.Now()
	}
	s.duration.Observe(end.Sub(c.Start).Seconds())
	if !c.FirstToken.IsZero() {
		s.ttft.get(func() prometheus.Observer { return m.ttft.WithLabelValues(group, provider) }).
			Observe(c.FirstToken.Sub(c.Start).Seconds())
	}
	if up, ok := c.Value(router.UpstreamTime{}).(time.Duration); ok && !c.Streaming && up > 0 {
		s.overhead.get(func() prometheus.Observer { return m.overhead.WithLabelValues(group, provider) }).
			Observe(max(end.Sub(c.Start)-up, 0).Seconds())
	}
	if c.Err != nil {
		m.errors.WithLabelValues(group, provider, c.Err.Kind.String(), class).Inc()
	}
	if s.failing != nil {
		s.failing.Store(upstreamFailure(c.Err))
	}
	if c.CacheHit {
		s.hits.get(func() prometheus.Counter { return m.cacheHits.WithLabelValues(group) }).Inc()
		return // a hit costs nothing
	}
	if u := c.Usage; u != nil && c.Err == nil {
		s.prompt.get(func() prometheus.Counter {
			return m.tokens.WithLabelValues(group, provider, alias, team, "prompt")
		}).Add(float64(u.PromptTokens))
		s.completion.get(func() prometheus.Counter {
			return m.tokens.WithLabelValues(group, provider, alias, team, "completion")
		}).Add(float64(u.CompletionTokens))
		if cost := accesslog.Cost(c); cost > 0 {
			s.spend.get(func() prometheus.Counter { return m.spend.WithLabelValues(group, provider, alias, team) }).
				Add(cost)
		}
	}
	for _, h := range c.Headers() {
		switch h.Name {
		case "x-litellm-attempted-fallbacks":
			if n, _ := strconv.Atoi(h.Value); n > 0 {
				m.fallbacks.WithLabelValues(c.Model).Add(float64(n))
			}
		case "x-litellm-attempted-retries":
			if n, _ := strconv.Atoi(h.Value); n > 0 {
				m.retries.WithLabelValues(group).Add(float64(n))
			}
		}
	}
}

// seriesKey is what the per-call series of a finished call depend on.
type seriesKey struct {
	group, deployment, provider, alias, team, class string
}

// series are the children of the vectors a call with one seriesKey counts in. Looking them up once per key,
// rather than each vector hashing its label values under its lock on every call, saved 7 lookups per request.
// The children a call does not always count in are made on first use, so that a series is exported once it
// has counted something, as before.
type series struct {
	requests                        prometheus.Counter
	duration                        prometheus.Observer
	failing                         *atomic.Bool // nil without a deployment
	prompt, completion, spend, hits lazy[prometheus.Counter]
	ttft, overhead                  lazy[prometheus.Observer]
}

// lazy is a child made on first use.
type lazy[T any] struct{ p atomic.Pointer[T] }

func (l *lazy[T]) get(make func() T) T {
	if p := l.p.Load(); p != nil {
		return *p
	}
	v := make()
	l.p.CompareAndSwap(nil, &v) // a vector returns the same child to both sides of a race
	return *l.p.Load()
}

// seriesOf returns the series of k, made on first use. Series are never deleted from the vectors, so a cached
// child is always the one the registry exports.
func (m *Metrics) seriesOf(k seriesKey) *series {
	if v, ok := m.series.Load(k); ok {
		return v.(*series)
	}
	s := &series{
		requests: m.requests.WithLabelValues(k.group, k.deployment, k.provider, k.alias, k.team, k.class),
		duration: m.duration.WithLabelValues(k.group, k.provider, k.class),
	}
	if k.deployment != "" {
		s.failing = m.failingFlag(k.deployment)
	}
	v, _ := m.series.LoadOrStore(k, s)
	return v.(*series)
}

func statusClass(status int) string {
	switch {
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case status >= 300:
		return "3xx"
	case status >= 200:
		return "2xx"
	}
	return "unknown"
}

// failingFlag returns the flag of a deployment's latest outcome.
func (m *Metrics) failingFlag(id string) *atomic.Bool {
	if v, ok := m.failing.Load(id); ok {
		return v.(*atomic.Bool)
	}
	v, _ := m.failing.LoadOrStore(id, new(atomic.Bool))
	return v.(*atomic.Bool)
}

// upstreamFailure reports an error that says the deployment is unwell (server errors, timeouts, connection
// failures), as opposed to the client's own mistakes or limits.
func upstreamFailure(e *sdk.Error) bool {
	if e == nil {
		return false
	}
	switch e.Kind {
	case sdk.KindInternal, sdk.KindAPIConnection, sdk.KindServiceUnavailable, sdk.KindTimeout:
		return e.HTTPStatus() != 499
	}
	return e.HTTPStatus() >= 500
}

// RouterStatus exports the router's view of deployments at scrape time: litellm_deployment_state (0 healthy,
// 1 partial outage: its latest call failed upstream, 2 outage: cooling down after failures, as LiteLLM's),
// litellm_deployment_cooldown (1 while cooling down), litellm_deployment_in_flight; and the health of its
// shared state in Redis.
func (m *Metrics) RouterStatus(r *router.Router) {
	m.reg.MustRegister(&routerCollector{r: r, m: m})
	if shared, _, _ := r.SharedState(); shared {
		m.GaugeFunc("litellm_router_redis_degraded", "1 while the router's Redis is unreachable and state is local.",
			func() float64 {
				if _, degraded, _ := r.SharedState(); degraded {
					return 1
				}
				return 0
			})
		m.CounterFunc("litellm_router_redis_fallbacks_total", "Times the router fell back to local state.",
			func() float64 { _, _, n := r.SharedState(); return float64(n) })
	}
}

var (
	deploymentLabels = []string{"model_group", "deployment", "provider"}
	stateDesc        = prometheus.NewDesc("litellm_deployment_state",
		"Deployment state: 0 healthy, 1 partial outage (its latest call failed), 2 outage (cooling down after "+
			"failures).", deploymentLabels, nil)
	cooldownDesc = prometheus.NewDesc("litellm_deployment_cooldown",
		"1 while the deployment cools down after failures.", deploymentLabels, nil)
	inFlightDesc = prometheus.NewDesc("litellm_deployment_in_flight",
		"Requests to the deployment under way on this replica.", deploymentLabels, nil)
)

type routerCollector struct {
	r *router.Router
	m *Metrics
}

func (c *routerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- stateDesc
	ch <- cooldownDesc
	ch <- inFlightDesc
}

func (c *routerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, s := range c.r.Status(ctx) {
		state, cool := 0.0, 0.0
		switch {
		case s.CoolingDown:
			state, cool = 2, 1
		case c.m.failingFlag(s.ID).Load():
			state = 1
		}
		ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, state, s.Group, s.ID, s.Provider)
		ch <- prometheus.MustNewConstMetric(cooldownDesc, prometheus.GaugeValue, cool, s.Group, s.ID, s.Provider)
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(s.InFlight), s.Group, s.ID,
			s.Provider)
	}
}
