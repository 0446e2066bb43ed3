package main

import (
	"fmt"
	"math"
	"strings"
)

// Issue 9's figures for the gateway variants that change what the gateway does with a request rather than what
// it keeps: a translated provider against the pass-through path, and cache hits against misses.

const (
	// translateCeiling is issue 9's target for a translated provider: at most this multiple of the
	// pass-through path's cost (extra latency, CPU, and 1 ÷ throughput).
	translateCeiling = 1.3
	// cacheFloor is issue 9's target for cache hits: at least this multiple of the throughput of misses on the
	// 0 ms upstream.
	cacheFloor = 2.0
)

// translatedTargets are the gateway's targets that serve the model through a translating provider, each
// compared with the bare gateway's pass-through (openai/) path against the same fake and the same answer.
var translatedTargets = []struct{ name, provider string }{
	{"gateway-anthropic", "anthropic/"},
	{"gateway-bedrock", "bedrock/"},
}

// writeVariantTargets writes the tables of the variants that ran next to the bare gateway.
func (h *harness) writeVariantTargets(b *strings.Builder, scs []scenario, has func(string) bool) {
	if !has("gateway") {
		return
	}
	for _, tr := range translatedTargets {
		if has(tr.name) {
			h.writeTranslateTargets(b, scs, tr.name, tr.provider, has("direct"))
		}
	}
	if has("gateway-cache") {
		h.writeCacheTargets(b, scs)
	}
}

// ceilingVerdict says whether a cost ratio stays under a ceiling.
func ceilingVerdict(ratio, ceiling float64) string {
	if math.IsNaN(ratio) {
		return "—"
	}
	if ratio <= ceiling {
		return "met"
	}
	return "not met"
}

// writeTranslateTargets compares a translated target t (whose provider prefix is provider) with the bare
// gateway. Latency figures are what each adds over direct when direct ran (the same fake answers both paths, so
// direct is their common floor), else the figures themselves; throughput is compared as cost, gateway ÷ t
// requests/s.
func (h *harness) writeTranslateTargets(b *strings.Builder, scs []scenario, t, provider string, direct bool) {
	fmt.Fprintf(b, "\n### Issue 9: translated provider (%s) against pass-through (openai/)\n\n", provider)
	fmt.Fprintf(b, "Cost ratio: %[1]s ÷ gateway for latency (over direct when direct ran) and CPU; "+
		"gateway ÷ %[1]s for requests/s (paired by round). Target: at most %.1[2]f×.\n\n", t, translateCeiling)
	fmt.Fprintf(b, "| figure | gateway | %s | cost ratio | ≤ %.1f× |\n|---|---:|---:|---:|---|\n", t, translateCeiling)
	line := func(label, g, a string, r float64) {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", label, g, a, fmtRatio(r), ceilingVerdict(r, translateCeiling))
	}
	lat := func(sc, label string, m metric) {
		if direct {
			g, a := h.extra(sc, "gateway", m), h.extra(sc, t, m)
			line(label+" over direct", fmtExtra(g), fmtExtra(a), quotient(a, g))
			return
		}
		g, a := h.median(sc, "gateway", m), h.median(sc, t, m)
		line(label, fmtUS(g), fmtUS(a), quotient(a, g))
	}
	cpu := func(sc, label string) {
		m := cpuPerRequest("target")
		g, a := h.median(sc, "gateway", m), h.median(sc, t, m)
		line(label, fmtNum(g), fmtNum(a), quotient(a, g))
	}
	for _, sc := range scs {
		switch {
		case sc.stream:
			lat(sc.name, sc.name+": TTFT p50", ttftP50)
			lat(sc.name, sc.name+": total stream p50", p50)
			cpu(sc.name, sc.name+": CPU µs/stream of the target")
		case sc.requests > 0:
			lat(sc.name, sc.name+": p50", p50)
			lat(sc.name, sc.name+": p99", p99)
			cpu(sc.name, sc.name+": CPU µs/request of the target")
		default:
			line(sc.name+": requests/s", fmtNum(h.median(sc.name, "gateway", rps)), fmtNum(h.median(sc.name, t, rps)),
				h.ratio(sc.name, "gateway", t, rps))
			cpu(sc.name, sc.name+": CPU µs/request of the target")
		}
	}
}

// writeCacheTargets compares gateway-cache (all hits but the first request) with the bare gateway (all misses).
func (h *harness) writeCacheTargets(b *strings.Builder, scs []scenario) {
	const t = "gateway-cache"
	fmt.Fprintf(b, "\n### Issue 9: cache hits against misses\n\n")
	fmt.Fprintf(b, "gateway-cache answers every request but the first from its local cache; the bare gateway "+
		"asks the fake every time. Ratio: gateway-cache ÷ gateway (requests/s paired by round). Target: hits at "+
		"least %.0f× the throughput of misses on the 0 ms upstream. A streamed hit is sent as one content event "+
		"(see events per stream), so the stream figures are not like for like.\n\n", cacheFloor)
	b.WriteString("| figure | gateway (miss) | gateway-cache (hit) | ratio | target |\n|---|---:|---:|---:|---|\n")
	line := func(label, g, c string, r float64, verdict string) {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", label, g, c, fmtRatio(r), verdict)
	}
	cpu := cpuPerRequest("target")
	for _, sc := range scs {
		switch {
		case sc.stream:
			line(sc.name+": TTFT p50", fmtUS(h.median(sc.name, "gateway", ttftP50)),
				fmtUS(h.median(sc.name, t, ttftP50)), h.ratio(sc.name, t, "gateway", ttftP50), "")
		case sc.requests > 0:
			line(sc.name+": p50", fmtUS(h.median(sc.name, "gateway", p50)), fmtUS(h.median(sc.name, t, p50)),
				h.ratio(sc.name, t, "gateway", p50), "")
		default:
			r := h.ratio(sc.name, t, "gateway", rps)
			verdict := "—"
			if sc.upstream == "0ms" && !math.IsNaN(r) {
				verdict = "not met"
				if r >= cacheFloor {
					verdict = "met"
				}
				verdict = fmt.Sprintf("≥ %.0f×: %s", cacheFloor, verdict)
			}
			line(sc.name+": requests/s", fmtNum(h.median(sc.name, "gateway", rps)),
				fmtNum(h.median(sc.name, t, rps)), r, verdict)
			line(sc.name+": CPU µs/request of the target", fmtNum(h.median(sc.name, "gateway", cpu)),
				fmtNum(h.median(sc.name, t, cpu)), h.ratio(sc.name, t, "gateway", cpu), "")
		}
	}
}
