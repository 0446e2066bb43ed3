package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/switchyard/gateway/bench/internal/loadgen"
)

// metric reads one figure of a run.
type metric func(r *runRecord) float64

func p50(r *runRecord) float64  { return r.Result.Latency.P50 }
func p90(r *runRecord) float64  { return r.Result.Latency.P90 }
func p99(r *runRecord) float64  { return r.Result.Latency.P99 }
func pmax(r *runRecord) float64 { return r.Result.Latency.Max }
func rps(r *runRecord) float64  { return r.Result.RPS }

func ttft(pick func(loadgen.Summary) float64) metric {
	return func(r *runRecord) float64 {
		if r.Result.TTFT == nil {
			return math.NaN()
		}
		return pick(*r.Result.TTFT)
	}
}

// cpuPerRequest is the CPU time of a role (target, fake, loadgen) per measured request, in µs: the same number
// as milliseconds per 1,000 requests.
func cpuPerRequest(role string) metric {
	return func(r *runRecord) float64 {
		n := float64(r.Result.Requests + r.Result.Errors)
		if n == 0 {
			return math.NaN()
		}
		if role == "loadgen" {
			return r.Result.ClientCPUSeconds * 1e6 / n
		}
		v, ok := r.CPUSeconds[role]
		if !ok {
			return math.NaN()
		}
		return v * 1e6 / n
	}
}

// runsOf returns the runs of a scenario against a target, by round.
func (h *harness) runsOf(sc, target string) []*runRecord {
	var out []*runRecord
	for _, r := range h.runs {
		if r.Scenario == sc && r.Target == target {
			out = append(out, r)
		}
	}
	return out
}

// median of a figure over rounds; NaN when there is none.
func (h *harness) median(sc, target string, m metric) float64 {
	var xs []float64
	for _, r := range h.runsOf(sc, target) {
		if v := m(r); !math.IsNaN(v) {
			xs = append(xs, v)
		}
	}
	return median(xs)
}

// extra is the median over rounds of (target − direct) for a figure: each round's difference pairs two runs
// made seconds apart, which cancels slow drifts of the machine better than subtracting two medians.
func (h *harness) extra(sc, target string, m metric) float64 {
	return h.paired(sc, target, "direct", m, func(t, b float64) float64 { return t - b })
}

// ratio is the median over rounds of target ÷ base for a figure, each round's runs paired as in extra.
func (h *harness) ratio(sc, target, base string, m metric) float64 {
	return h.paired(sc, target, base, m, func(t, b float64) float64 { return t / b })
}

// paired is the median over rounds of f(target's figure, base's figure) in the same round.
func (h *harness) paired(sc, target, base string, m metric, f func(t, b float64) float64) float64 {
	bases := h.runsOf(sc, base)
	var xs []float64
	for _, r := range h.runsOf(sc, target) {
		for _, b := range bases {
			if b.Round == r.Round {
				if v := f(m(r), m(b)); !math.IsNaN(v) && !math.IsInf(v, 0) {
					xs = append(xs, v)
				}
			}
		}
	}
	return median(xs)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtUS(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case math.Abs(v) >= 10000:
		return fmt.Sprintf("%.1f ms", v/1000)
	}
	return fmt.Sprintf("%.0f µs", v)
}

func fmtExtra(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	if v >= 0 {
		return "+" + fmtUS(v)
	}
	return "−" + fmtUS(-v)
}

func fmtNum(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtRatio(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", v)
}

func fmtMiB(kib int64) string {
	if kib <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", float64(kib)/1024)
}

// row is one line of the report's table: a label and a cell per target.
type row struct {
	label string
	cell  func(target string) string
}

// report renders the results as markdown: one table with a column per target and a section per scenario,
// then every round's key figure, so that the spread behind each median is visible.
func (h *harness) report(scs []scenario, tgts []targetSpec) string {
	var b strings.Builder
	m := h.machine
	f := h.flags
	fmt.Fprintf(&b, "# Switchyard load benchmark\n\n")
	fmt.Fprintf(&b, "%s · %s · %d cores · Linux %s · %s · load average before %s, after %s · CPU steal "+
		"%.1f%% · %.1f min\n\n", m.Date, m.CPU, m.Cores, m.Kernel, m.Go, m.LoadBefore, m.LoadAfter, m.StealPercent,
		m.Minutes)
	fmt.Fprintf(&b, "Median of %d rounds (target order rotated each round). Fake upstream: %s server, "+
		"~1.1 KB answers, 50-chunk streams, no delay unless stated. Load generator: %s client, in the harness "+
		"process. Every server and the load generator share the same cores.\n\n", f.rounds, f.fakeServer, f.client)
	for _, t := range tgts {
		fmt.Fprintf(&b, "- **%s**: %s\n", t.name, t.about)
	}
	for _, t := range h.missing {
		fmt.Fprintf(&b, "- **%s**: missing from this run: %s\n", t.Name, t.Reason)
	}
	b.WriteString("\n")

	has := func(name string) bool {
		return slices.ContainsFunc(tgts, func(t targetSpec) bool { return t.name == name })
	}
	header := "| |"
	sep := "|---|"
	for _, t := range tgts {
		header += " " + t.name + " |"
		sep += "---:|"
	}
	b.WriteString(header + "\n" + sep + "\n")
	write := func(rows []row) {
		for _, r := range rows {
			line := "| " + r.label + " |"
			for _, t := range tgts {
				line += " " + r.cell(t.name) + " |"
			}
			b.WriteString(line + "\n")
		}
	}
	us := func(sc string, m metric) func(string) string {
		return func(t string) string { return fmtUS(h.median(sc, t, m)) }
	}
	pair := func(sc string, a, c metric) func(string) string {
		return func(t string) string { return fmtUS(h.median(sc, t, a)) + " / " + fmtUS(h.median(sc, t, c)) }
	}
	over := func(sc string, m metric) func(string) string {
		return func(t string) string {
			if t == "direct" || !has("direct") {
				return "—"
			}
			return fmtExtra(h.extra(sc, t, m))
		}
	}
	cpu := func(sc string) func(string) string {
		return func(t string) string {
			parts := []string{}
			if t != "direct" {
				parts = append(parts, fmtNum(h.median(sc, t, cpuPerRequest("target"))))
			} else {
				parts = append(parts, "—")
			}
			parts = append(parts, fmtNum(h.median(sc, t, cpuPerRequest("fake"))),
				fmtNum(h.median(sc, t, cpuPerRequest("loadgen"))))
			return strings.Join(parts, " / ")
		}
	}
	errs := func(sc string) func(string) string {
		return func(t string) string {
			var n int64
			for _, r := range h.runsOf(sc, t) {
				n += r.Result.Errors
			}
			return fmt.Sprint(n)
		}
	}
	section := func(title string) row {
		return row{label: "**" + title + "**", cell: func(string) string { return "" }}
	}
	const cpuLabel = "CPU µs/request (= ms per 1k): target / fake / loadgen"
	for _, sc := range scs {
		write([]row{section(sc.title)})
		switch {
		case sc.stream:
			write([]row{
				{"time to first token p50 / p99", pair(sc.name, ttft(func(s loadgen.Summary) float64 { return s.P50 }),
					ttft(func(s loadgen.Summary) float64 { return s.P99 }))},
				{"TTFT p50 over direct", over(sc.name, ttft(func(s loadgen.Summary) float64 { return s.P50 }))},
				{"TTFT p99 over direct", over(sc.name, ttft(func(s loadgen.Summary) float64 { return s.P99 }))},
				{"total stream time p50 / p99", pair(sc.name, p50, p99)},
				{"total p50 over direct", over(sc.name, p50)},
				{"total p99 over direct", over(sc.name, p99)},
				{"events per stream", func(t string) string {
					return fmtNum(h.median(sc.name, t, func(r *runRecord) float64 { return r.Result.EventsPerStream }))
				}},
				{"HTTP chunks per stream (fewer: events coalesced)", func(t string) string {
					return fmtNum(h.median(sc.name, t, func(r *runRecord) float64 { return r.Result.ChunksPerResponse }))
				}},
				{"CPU µs/stream: target / fake / loadgen", cpu(sc.name)},
				{"errors (all rounds)", errs(sc.name)},
			})
		case sc.requests > 0:
			write([]row{
				{"p50 / p90", pair(sc.name, p50, p90)},
				{"p99 / max", pair(sc.name, p99, pmax)},
				{"p50 over direct", over(sc.name, p50)},
				{"p99 over direct", over(sc.name, p99)},
				{cpuLabel, cpu(sc.name)},
				{"errors (all rounds)", errs(sc.name)},
			})
		default:
			rows := []row{
				{"requests/s", func(t string) string { return fmtNum(h.median(sc.name, t, rps)) }},
			}
			for _, floor := range []string{"goproxy", "nginx"} {
				if !has(floor) {
					continue
				}
				rows = append(rows, row{"requests/s relative to " + floor, func(t string) string {
					return fmtRatio(h.ratio(sc.name, t, floor, rps))
				}})
			}
			rows = append(rows,
				row{"latency p50 / p99", pair(sc.name, p50, p99)},
				row{"latency max", us(sc.name, pmax)},
				row{cpuLabel, cpu(sc.name)},
				row{"errors (all rounds)", errs(sc.name)},
			)
			write(rows)
		}
	}
	write([]row{section("memory of the target process, VmRSS (direct: the fake)")})
	for _, up := range upstreams {
		mem := func(pick func(*memRecord) int64) func(string) string {
			return func(t string) string {
				rec := h.memory[t+"/"+up.name]
				if rec == nil {
					return "—"
				}
				return fmtMiB(pick(rec))
			}
		}
		if !slices.ContainsFunc(scs, func(s scenario) bool { return s.upstream == up.name }) {
			continue
		}
		suffix := ""
		if len(upstreams) > 1 && up.name != "0ms" {
			suffix = " (" + up.name + " upstream)"
		}
		write([]row{
			{"idle, after start" + suffix, mem(func(m *memRecord) int64 { return m.idle })},
			{"largest sample under load" + suffix, mem(func(m *memRecord) int64 { return m.peak })},
			{"1 s after the last run" + suffix, mem(func(m *memRecord) int64 { return m.after })},
		})
	}

	// The soak's load is paced by its upstream and mixed: it has a section of its own, not a place in the
	// throughput comparisons.
	h.writeTargets(&b, slices.DeleteFunc(slices.Clone(scs), func(s scenario) bool { return s.name == "soak" }), has)
	h.writeSoak(&b, scs, tgts)

	// Every round's key figure.
	fmt.Fprintf(&b, "\n### Per round\n\n")
	header = "| scenario | figure | target |"
	sep = "|---|---|---|"
	for i := 1; i <= f.rounds; i++ {
		header += fmt.Sprintf(" round %d |", i)
		sep += "---:|"
	}
	b.WriteString(header + "\n" + sep + "\n")
	for _, sc := range scs {
		name, m, format := "p50", metric(p50), fmtUS
		switch {
		case sc.stream:
			name, m = "TTFT p50", ttft(func(s loadgen.Summary) float64 { return s.P50 })
		case sc.requests == 0:
			name, m, format = "req/s", rps, fmtNum
		}
		for _, t := range tgts {
			line := fmt.Sprintf("| %s | %s | %s |", sc.name, name, t.name)
			for _, r := range h.runsOf(sc.name, t.name) {
				line += " " + format(m(r)) + " |"
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func (h *harness) writeJSON(path string) error {
	out := struct {
		Machine machineInfo                 `json:"machine"`
		Rounds  int                         `json:"rounds"`
		Runs    []*runRecord                `json:"runs"`
		Memory  map[string]map[string]int64 `json:"memory_kib"`
		Missing []missingTarget             `json:"missing_targets,omitempty"`
	}{Machine: h.machine, Rounds: h.flags.rounds, Runs: h.runs, Memory: map[string]map[string]int64{},
		Missing: h.missing}
	for k, m := range h.memory {
		out.Memory[k] = map[string]int64{"idle_kib": m.idle, "peak_sampled_kib": m.peak, "hwm_kib": m.hwm,
			"after_kib": m.after}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
