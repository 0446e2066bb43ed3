package main

import (
	"fmt"
	"math"
	"strings"

	"github.com/switchyard/gateway/bench/internal/loadgen"
)

// The report's last tables hold the figures issue 9 sets targets on: the gateway against the nginx floor, and
// the governance variants against the bare gateway.

// governanceFloors are issue 9's targets for throughput with governance on, as a fraction of the bare
// gateway's requests/s.
var governanceFloors = map[string]float64{"gateway-gov": 0.85, "gateway-gov-redis-pg": 0.75}

// governanceTargets are the governance variants, in report order. gateway-ledger has no floor of its own: it
// shows how much of gateway-gov's cost is the spend ledger's.
var governanceTargets = []string{"gateway-ledger", "gateway-gov", "gateway-gov-redis-pg"}

func ttftP50(r *runRecord) float64 {
	return ttft(func(s loadgen.Summary) float64 { return s.P50 })(r)
}

// quotient is a ÷ b, NaN unless both are positive (a ratio of an extra that is not positive means nothing).
func quotient(a, b float64) float64 {
	if !(a > 0 && b > 0) {
		return math.NaN()
	}
	return a / b
}

func (h *harness) writeTargets(b *strings.Builder, scs []scenario, has func(string) bool) {
	if has("nginx") && has("gateway") {
		h.writeNginxTargets(b, scs, has("direct"))
	}
	var gov []string
	for _, t := range governanceTargets {
		if has(t) {
			gov = append(gov, t)
		}
	}
	if has("gateway") && len(gov) > 0 {
		h.writeGovernanceTargets(b, scs, gov)
	}
	h.writeVariantTargets(b, scs, has)
}

// writeNginxTargets compares the gateway with nginx: what each adds over direct, and the gateway's figure as a
// multiple of nginx's.
func (h *harness) writeNginxTargets(b *strings.Builder, scs []scenario, direct bool) {
	fmt.Fprintf(b, "\n### Issue 9: gateway against nginx\n\n")
	b.WriteString("\"over direct\": median of the per-round differences from direct. The last column is gateway ÷ " +
		"nginx (latency, CPU: lower is better; requests/s: higher is better; requests/s paired by round).\n\n")
	b.WriteString("| figure | nginx | gateway | gateway ÷ nginx |\n|---|---:|---:|---:|\n")
	line := func(label, n, g, r string) { fmt.Fprintf(b, "| %s | %s | %s | %s |\n", label, n, g, r) }
	overDirect := func(sc, label string, m metric) {
		if !direct {
			return
		}
		n, g := h.extra(sc, "nginx", m), h.extra(sc, "gateway", m)
		line(label, fmtExtra(n), fmtExtra(g), fmtRatio(quotient(g, n)))
	}
	cpu := func(sc, label string) {
		m := cpuPerRequest("target")
		n, g := h.median(sc, "nginx", m), h.median(sc, "gateway", m)
		line(label, fmtNum(n), fmtNum(g), fmtRatio(quotient(g, n)))
	}
	for _, sc := range scs {
		switch {
		case sc.stream:
			overDirect(sc.name, sc.name+": TTFT p50 over direct", ttftP50)
			overDirect(sc.name, sc.name+": total stream p50 over direct", p50)
			cpu(sc.name, sc.name+": CPU µs/stream of the target")
		case sc.requests > 0:
			overDirect(sc.name, sc.name+": p50 over direct", p50)
			overDirect(sc.name, sc.name+": p99 over direct", p99)
		default:
			line(sc.name+": requests/s", fmtNum(h.median(sc.name, "nginx", rps)),
				fmtNum(h.median(sc.name, "gateway", rps)), fmtRatio(h.ratio(sc.name, "gateway", "nginx", rps)))
			n, g := h.median(sc.name, "nginx", p99), h.median(sc.name, "gateway", p99)
			line(sc.name+": p99", fmtUS(n), fmtUS(g), fmtRatio(quotient(g, n)))
			cpu(sc.name, sc.name+": CPU µs/request of the target")
		}
	}
}

// writeGovernanceTargets compares the governance variants with the bare gateway.
func (h *harness) writeGovernanceTargets(b *strings.Builder, scs []scenario, gov []string) {
	fmt.Fprintf(b, "\n### Issue 9: governance on, against the bare gateway\n\n")
	b.WriteString("Percentages and differences are medians of per-round pairs with the bare gateway.\n\n")
	b.WriteString("| figure | gateway |")
	for _, t := range gov {
		b.WriteString(" " + t + " |")
	}
	b.WriteString("\n|---|---:|" + strings.Repeat("---:|", len(gov)) + "\n")
	line := func(label, base string, cell func(t string) string) {
		fmt.Fprintf(b, "| %s | %s |", label, base)
		for _, t := range gov {
			b.WriteString(" " + cell(t) + " |")
		}
		b.WriteString("\n")
	}
	diff := func(sc string, m metric) func(string) string {
		return func(t string) string {
			return fmtUS(h.median(sc, t, m)) + " (" +
				fmtExtra(h.paired(sc, t, "gateway", m, func(a, b float64) float64 { return a - b })) + ")"
		}
	}
	lowest := map[string]float64{}
	for _, sc := range scs {
		cpu := cpuPerRequest("target")
		switch {
		case sc.stream:
			line(sc.name+": TTFT p50 (over gateway)", fmtUS(h.median(sc.name, "gateway", ttftP50)), diff(sc.name, ttftP50))
			line(sc.name+": CPU µs/stream of the target", fmtNum(h.median(sc.name, "gateway", cpu)), diff(sc.name, cpu))
		case sc.requests > 0:
			line(sc.name+": p50 (over gateway)", fmtUS(h.median(sc.name, "gateway", p50)), diff(sc.name, p50))
			line(sc.name+": p99 (over gateway)", fmtUS(h.median(sc.name, "gateway", p99)), diff(sc.name, p99))
		default:
			line(sc.name+": requests/s (% of gateway)", fmtNum(h.median(sc.name, "gateway", rps)), func(t string) string {
				r := h.ratio(sc.name, t, "gateway", rps)
				if low, ok := lowest[t]; !math.IsNaN(r) && (!ok || r < low) {
					lowest[t] = r
				}
				return fmt.Sprintf("%s (%s)", fmtNum(h.median(sc.name, t, rps)), fmtPercent(r))
			})
			line(sc.name+": CPU µs/request of the target", fmtNum(h.median(sc.name, "gateway", cpu)), diff(sc.name, cpu))
		}
	}
	if len(lowest) > 0 {
		line("throughput target: lowest % of gateway", "—", func(t string) string {
			return verdict(lowest[t], governanceFloors[t])
		})
	}
}

func fmtPercent(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", 100*v)
}

// verdict says whether a throughput ratio meets its floor; a target without a floor gets its ratio alone.
func verdict(ratio, floor float64) string {
	if math.IsNaN(ratio) {
		return "—"
	}
	if floor == 0 {
		return fmtPercent(ratio) + " (no floor)"
	}
	met := "met"
	if ratio < floor {
		met = "not met"
	}
	return fmt.Sprintf("%s ≥ %.0f%%: %s", fmtPercent(ratio), 100*floor, met)
}
