package metrics

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/router"
	"github.com/switchyard/gateway/sdk"
)

func price(v float64) *float64 { return &v }

func call(group, deployment string, status int) *pipeline.Call {
	start := time.Unix(1_800_000_000, 0)
	c := &pipeline.Call{Group: group, Status: status, Start: start, End: start.Add(300 * time.Millisecond)}
	if deployment != "" {
		c.Deployment = &pipeline.Deployment{ID: deployment, Group: group, Target: &sdk.Target{Provider: "openai"},
			InputCostPerToken: price(0.001), OutputCostPerToken: price(0.002)}
	}
	c.Principal = &pipeline.Principal{KeyAlias: "alias-" + group, TeamID: "team-" + group}
	return c
}

// plainCall is a successful non-streamed call with usage, 200 ms of it upstream.
func plainCall(group, deployment string) *pipeline.Call {
	c := call(group, deployment, 200)
	c.Usage = &sdk.Usage{PromptTokens: 10, CompletionTokens: 5}
	c.Set(router.UpstreamTime{}, 200*time.Millisecond)
	return c
}

// Each finished call counts once in each of its series, whichever series were made by earlier calls, and a
// series a call does not count in is not exported.
func TestObserveCountsEachCallInItsSeries(t *testing.T) {
	m := New()
	ok := plainCall("g1", "d1")
	for range 3 {
		m.Observe(ok)
	}
	stream := call("g1", "d1", 200)
	stream.Streaming = true
	stream.FirstToken = stream.Start.Add(50 * time.Millisecond)
	m.Observe(stream)
	failed := call("g1", "d1", 502)
	failed.Err = &sdk.Error{Kind: sdk.KindAPIConnection, Message: "connection refused"}
	m.Observe(failed)
	m.Observe(call("", "", 404))

	want := map[string]float64{
		`litellm_requests_total{deployment="d1",key_alias="alias-g1",model_group="g1",provider="openai",status_class="2xx",team="team-g1"}`: 4,
		`litellm_requests_total{deployment="d1",key_alias="alias-g1",model_group="g1",provider="openai",status_class="5xx",team="team-g1"}`: 1,
		`litellm_requests_total{deployment="",key_alias="alias-",model_group="unrouted",provider="",status_class="4xx",team="team-"}`:       1,
		`litellm_tokens_total{key_alias="alias-g1",model_group="g1",provider="openai",team="team-g1",type="prompt"}`:                        30,
		`litellm_tokens_total{key_alias="alias-g1",model_group="g1",provider="openai",team="team-g1",type="completion"}`:                    15,
		`litellm_spend_total{key_alias="alias-g1",model_group="g1",provider="openai",team="team-g1"}`:                                       3 * (10*0.001 + 5*0.002),
		`litellm_request_duration_seconds_count{model_group="g1",provider="openai",status_class="2xx"}`:                                     4,
		`litellm_overhead_latency_metric_count{model_group="g1",provider="openai"}`:                                                         3,
		`litellm_overhead_latency_metric_sum{model_group="g1",provider="openai"}`:                                                           0.3,
		`litellm_time_to_first_token_seconds_count{model_group="g1",provider="openai"}`:                                                     1,
		`litellm_errors_total{error_class="APIConnectionError",model_group="g1",provider="openai",status_class="5xx"}`:                      1,
	}
	got := scrape(t, m)
	for series, v := range want {
		g, ok := got[series]
		if !ok {
			t.Errorf("%s: not exported", series)
			continue
		}
		if d := g - v; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s = %v, want %v", series, g, v)
		}
	}
	// Series nothing counted in yet are not exported: no cache hit, no tokens for the unrouted call.
	for s := range got {
		if strings.HasPrefix(s, "litellm_cache_hits_total") || strings.Contains(s, `model_group="unrouted"`) &&
			!strings.HasPrefix(s, "litellm_requests_total") && !strings.HasPrefix(s, "litellm_request_duration") {
			t.Errorf("%s exported before anything counted in it", s)
		}
	}
	if !m.failingFlag("d1").Load() {
		t.Error("d1's latest call failed upstream, but it is not flagged failing")
	}
	m.Observe(ok)
	if m.failingFlag("d1").Load() {
		t.Error("d1's latest call succeeded, but it is still flagged failing")
	}
}

// Calls racing on new and existing series lose no count (go test -race checks the lazy children too).
func TestObserveConcurrent(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 500 {
				c := call([]string{"a", "b"}[(i+j)%2], "d", 200)
				c.Usage = &sdk.Usage{PromptTokens: 1, CompletionTokens: 2}
				c.CacheHit = j%5 == 0
				m.Observe(c)
			}
		})
	}
	wg.Wait()
	got := scrape(t, m)
	var requests, hits, prompt float64
	for _, g := range []string{"a", "b"} {
		requests += got[`litellm_requests_total{deployment="d",key_alias="alias-`+g+`",model_group="`+g+
			`",provider="openai",status_class="2xx",team="team-`+g+`"}`]
		hits += got[`litellm_cache_hits_total{model_group="`+g+`"}`]
		prompt += got[`litellm_tokens_total{key_alias="alias-`+g+`",model_group="`+g+
			`",provider="openai",team="team-`+g+`",type="prompt"}`]
	}
	if requests != 4000 || hits != 800 || prompt != 3200 {
		t.Errorf("requests %v, cache hits %v, prompt tokens %v; want 4000, 800, 3200", requests, hits, prompt)
	}
}

// scrape returns the registry's samples by name and labels, as the text format writes them.
func scrape(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.Metric {
			var labels []string
			for _, l := range mt.Label {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			key := func(suffix string) string { return mf.GetName() + suffix + "{" + strings.Join(labels, ",") + "}" }
			switch {
			case mt.Counter != nil:
				out[key("")] = mt.Counter.GetValue()
			case mt.Histogram != nil:
				out[key("_count")] = float64(mt.Histogram.GetSampleCount())
				out[key("_sum")] = mt.Histogram.GetSampleSum()
			case mt.Gauge != nil:
				out[key("")] = mt.Gauge.GetValue()
			}
		}
	}
	return out
}

// BenchmarkObserve is the metrics stage's work for one plain call.
func BenchmarkObserve(b *testing.B) {
	m := New()
	c := plainCall("g", "d")
	b.ReportAllocs()
	for b.Loop() {
		m.Observe(c)
	}
}

// The Go collector exports its defaults and the live heap, which the soak benchmark and operators watch for
// memory held over time.
func TestGoRuntimeMetrics(t *testing.T) {
	runtime.GC() // the live heap is known from the first collection on
	families, err := New().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"go_gc_heap_live_bytes": false, "go_memstats_heap_inuse_bytes": false, "go_goroutines": false,
		"process_resident_memory_bytes": false}
	for _, f := range families {
		if _, ok := want[f.GetName()]; ok {
			want[f.GetName()] = true
			if f.GetName() == "go_gc_heap_live_bytes" && f.GetMetric()[0].GetGauge().GetValue() <= 0 {
				t.Errorf("go_gc_heap_live_bytes is %v", f.GetMetric()[0].GetGauge().GetValue())
			}
		}
	}
	for name, found := range want {
		if !found {
			t.Errorf("%s is not exported", name)
		}
	}
}
