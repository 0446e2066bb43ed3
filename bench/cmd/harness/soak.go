package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/gateway/bench/internal/loadgen"
)

// The soak scenario is issue 9's "no growth after a 10-minute soak": each target serves a steady mixed load
// (plain requests and streams, in front of the 20 ms upstream, so the rate is a busy production one rather than
// all the machine can do) for --soak, while its memory, goroutines and open files are sampled. Growth is judged
// on the samples after the first fifth of the run (heaps, pools, caches and the ledger's pages fill up first).

const (
	soakPlainConns  = 24
	soakStreamConns = 8
)

// soakEvery is how often a soak of length d samples its target: 60 times, at most once a second.
func soakEvery(d time.Duration) time.Duration { return max(d/60, time.Second) }

// soakSample is one reading of a target during a soak.
type soakSample struct {
	Seconds float64 `json:"seconds"`
	RSSKiB  int64   `json:"rss_kib"`
	FDs     int     `json:"fds"`
	// HeapInUse, HeapLive and Goroutines come from the gateway's /metrics (Go collector); -1 when it has
	// none. The live heap is what the last collection kept; in use also counts the garbage made since.
	HeapInUseKiB int64 `json:"heap_in_use_kib"`
	HeapLiveKiB  int64 `json:"heap_live_kib"`
	Goroutines   int   `json:"goroutines"`
}

// soakRecord is what a soak adds to its run record: the samples and the streams' own result (the run's Result
// is the plain requests').
type soakRecord struct {
	Samples []soakSample    `json:"samples"`
	Streams *loadgen.Result `json:"streams"`
}

// soak runs the soak load against one target and samples it every soakEvery.
func (h *harness) soak(ctx context.Context, rec *runRecord, sc scenario, ep endpoint, watched []int,
	onWindow func(bool)) error {
	every := soakEvery(sc.duration)
	start := time.Now()
	sample := func() soakSample {
		s := soakSample{Seconds: time.Since(start).Seconds(), RSSKiB: rssOfPids(watched), HeapInUseKiB: -1,
			HeapLiveKiB: -1, Goroutines: -1}
		for _, pid := range watched {
			if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
				s.FDs += len(ents)
			}
		}
		if ep.gateway {
			s.HeapInUseKiB, s.HeapLiveKiB, s.Goroutines = goMetrics(ctx, ep.url)
		}
		return s
	}
	sr := &soakRecord{Samples: []soakSample{sample()}}
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				sr.Samples = append(sr.Samples, sample())
			case <-done:
				return
			}
		}
	}()

	plain := h.loadOptions(ep, false)
	plain.Conns, plain.Duration, plain.OnWindow = soakPlainConns, sc.duration, onWindow
	streams := h.loadOptions(ep, true)
	streams.Conns, streams.Duration = soakStreamConns, sc.duration
	var (
		wg   sync.WaitGroup
		sres *loadgen.Result
		serr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		sres, serr = loadgen.Run(ctx, streams)
	}()
	plainRes, err := loadgen.Run(ctx, plain)
	wg.Wait()
	close(done)
	<-sampled
	// A last reading once the load is gone: what the process keeps.
	sr.Samples = append(sr.Samples, sample())
	if err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	rec.Result, rec.Soak, sr.Streams = plainRes, sr, sres
	for _, s := range sr.Samples {
		rec.PeakRSSKiB = max(rec.PeakRSSKiB, s.RSSKiB)
	}
	return nil
}

// goMetrics reads go_memstats_heap_inuse_bytes, go_gc_heap_live_bytes and go_goroutines from a gateway's
// /metrics, -1 each when they cannot be read.
func goMetrics(ctx context.Context, base string) (heapKiB, liveKiB int64, goroutines int) {
	heapKiB, liveKiB, goroutines = -1, -1, -1
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+masterKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return
	}
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		name, value, ok := strings.Cut(s.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_memstats_heap_inuse_bytes":
			heapKiB = int64(v) / 1024
		case "go_gc_heap_live_bytes":
			liveKiB = int64(v) / 1024
		case "go_goroutines":
			goroutines = int(v)
		}
	}
	return
}

// soakGrowth fits a line through the samples taken under load after the first fifth of the run and returns
// its rise over that stretch, with the first fitted value, for the figure picked.
func soakGrowth(samples []soakSample, pick func(soakSample) float64) (rise, base float64) {
	if len(samples) < 3 {
		return math.NaN(), math.NaN()
	}
	under := samples[:len(samples)-1] // the last one is taken after the load
	end := under[len(under)-1].Seconds
	var xs, ys []float64
	for _, s := range under {
		if s.Seconds >= end/5 {
			xs, ys = append(xs, s.Seconds), append(ys, pick(s))
		}
	}
	if len(xs) < 2 {
		return math.NaN(), math.NaN()
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(xs))
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return 0, my
	}
	slope := sxy / sxx
	return slope * (xs[len(xs)-1] - xs[0]), my + slope*(xs[0]-mx)
}

// soakAllowance is how much a fitted rise may be before it counts as growth: 5% of where the line starts, and
// at least 2 MiB (the binary's file-backed pages come and go by about that much).
func soakAllowance(baseKiB float64) float64 { return max(0.05*baseKiB, 2048) }

// writeSoak writes the soak section of the report: one line per target, then its samples minute by minute.
func (h *harness) writeSoak(b *strings.Builder, scs []scenario, tgts []targetSpec) {
	var sc *scenario
	for i := range scs {
		if scs[i].name == "soak" {
			sc = &scs[i]
		}
	}
	if sc == nil {
		return
	}
	fmt.Fprintf(b, "\n### Issue 9: soak, %s\n\n", sc.duration)
	fmt.Fprintf(b, "Each target serves %d connections of plain requests and %d of streams against the 20 ms "+
		"upstream for %s, sampled every %s. Growth is the rise of a straight line fitted through the samples "+
		"under load after the first fifth of the run; it counts as growth past 5%% of the line's start (at least "+
		"2 MiB) for memory, and past 5 for goroutines and open files. The Go heap judged is the live heap (what "+
		"the last collection kept), or the heap in use where the gateway does not export it: in use also "+
		"counts the garbage made since, which swings with each collection. Target: no growth.\n\n",
		soakPlainConns, soakStreamConns, sc.duration, soakEvery(sc.duration))
	b.WriteString("| target | requests (errors) | streams (errors) | RSS: start of fit → end, fitted rise | " +
		"Go heap live (or in use): fitted rise | goroutines: first → last under load | open files: first → last | " +
		"RSS after the load | verdict |\n|---|---:|---:|---|---|---|---|---:|---|\n")
	for _, t := range tgts {
		for _, r := range h.runsOf(sc.name, t.name) {
			if r.Soak == nil || len(r.Soak.Samples) < 3 {
				continue
			}
			ss := r.Soak.Samples
			under := ss[:len(ss)-1]
			first, last := under[len(under)/5], under[len(under)-1]
			rssRise, rssBase := soakGrowth(ss, func(s soakSample) float64 { return float64(s.RSSKiB) })
			heapOf, heapName := func(s soakSample) int64 { return s.HeapLiveKiB }, "live"
			if first.HeapLiveKiB < 0 {
				heapOf, heapName = func(s soakSample) int64 { return s.HeapInUseKiB }, "in use"
			}
			heapRise, heapBase := soakGrowth(ss, func(s soakSample) float64 { return float64(heapOf(s)) })
			grew := []string{}
			if rssRise > soakAllowance(rssBase) {
				grew = append(grew, "RSS")
			}
			heap := "—"
			if heapOf(first) >= 0 {
				heap = fmt.Sprintf("%s %+.1f MiB (from %.1f)", heapName, heapRise/1024, heapBase/1024)
				if heapRise > soakAllowance(heapBase) {
					grew = append(grew, "heap")
				}
			}
			gor := "—"
			if first.Goroutines >= 0 {
				gor = fmt.Sprintf("%d → %d", first.Goroutines, last.Goroutines)
				if last.Goroutines > first.Goroutines+5 {
					grew = append(grew, "goroutines")
				}
			}
			if last.FDs > first.FDs+5 {
				grew = append(grew, "open files")
			}
			verdict := "no growth: met"
			if len(grew) > 0 {
				verdict = "grew (" + strings.Join(grew, ", ") + "): not met"
			}
			var streams, streamErrs int64
			if r.Soak.Streams != nil {
				streams, streamErrs = r.Soak.Streams.Requests, r.Soak.Streams.Errors
			}
			fmt.Fprintf(b, "| %s | %d (%d) | %d (%d) | %s → %s, %+.1f MiB | %s | %s | %d → %d | %s | %s |\n",
				t.name, r.Result.Requests, r.Result.Errors, streams, streamErrs,
				fmtMiB(int64(rssBase)), fmtMiB(last.RSSKiB), rssRise/1024, heap, gor, first.FDs, last.FDs,
				fmtMiB(ss[len(ss)-1].RSSKiB), verdict)
		}
	}
	b.WriteString("\nSamples (RSS MiB / Go heap live MiB / Go heap in use MiB / goroutines), every minute:\n\n")
	for _, t := range tgts {
		for _, r := range h.runsOf(sc.name, t.name) {
			if r.Soak == nil {
				continue
			}
			var parts []string
			next := 0.0
			for _, s := range r.Soak.Samples {
				if s.Seconds+0.5 < next {
					continue
				}
				next = s.Seconds + 60
				live := "—"
				if s.HeapLiveKiB >= 0 {
					live = fmt.Sprintf("%.1f", float64(s.HeapLiveKiB)/1024)
				}
				parts = append(parts, fmt.Sprintf("%.0f min: %.1f / %s / %.1f / %d", s.Seconds/60,
					float64(s.RSSKiB)/1024, live, float64(s.HeapInUseKiB)/1024, s.Goroutines))
			}
			fmt.Fprintf(b, "- %s: %s\n", t.name, strings.Join(parts, "; "))
		}
	}
}
