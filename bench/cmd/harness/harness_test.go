package main

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/switchyard/gateway/bench/internal/loadgen"
)

func TestProcReaders(t *testing.T) {
	t.Parallel()
	deadline := time.Now().Add(30 * time.Millisecond)
	for time.Now().Before(deadline) { // burn a little CPU so that there is some to read
	}
	cpu, err := cpuTime(os.Getpid())
	if err != nil || cpu < 0 {
		t.Fatalf("cpuTime = %v, %v", cpu, err)
	}
	rss, hwm, err := memory(os.Getpid())
	if err != nil || rss <= 0 || hwm <= 0 {
		t.Fatalf("memory = %d, %d, %v", rss, hwm, err)
	}
	if _, err := cpuTime(-1); err == nil {
		t.Fatal("cpuTime of no process")
	}
}

// extra pairs each round's target run with the direct run of the same round, and takes the median.
func TestMedianAndExtra(t *testing.T) {
	t.Parallel()
	h := &harness{}
	for round, v := range [][2]float64{{100, 400}, {30, 360}, {120, 500}} {
		for i, target := range []string{"direct", "gateway"} {
			h.runs = append(h.runs, &runRecord{Round: round + 1, Scenario: "latency", Target: target,
				Result: &loadgen.Result{Latency: loadgen.Summary{P50: v[i]}}})
		}
	}
	if got := h.median("latency", "gateway", p50); got != 400 {
		t.Fatalf("median = %v", got)
	}
	if got := h.extra("latency", "gateway", p50); got != 330 { // 300, 330, 380
		t.Fatalf("extra = %v", got)
	}
	if !math.IsNaN(h.median("latency", "nginx", p50)) || median([]float64{1, 3}) != 2 {
		t.Fatal("median of nothing, or of an even count")
	}
}
