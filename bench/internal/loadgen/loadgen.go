// Package loadgen drives HTTP load at a chat-completions endpoint and measures it: per-request latency
// (every sample is kept, so percentiles are exact), throughput, errors and, for streamed answers, the time to
// the first content event and to the end of the stream.
//
// It is written for a 2-core machine where the load generator shares the CPU with the servers it measures, so
// its own cost per request must stay small: by default each connection is a raw keep-alive TCP connection that
// writes one prebuilt HTTP/1.1 request and parses the answer in place (see rawConn); the net/http client is
// available for comparison (Options.Client = "nethttp").
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options describe one load run.
type Options struct {
	// URL is the endpoint, http://host:port/path (plain HTTP only).
	URL string
	// Header holds extra request headers (Authorization, ...), name → value.
	Header map[string]string
	// Body is the request body (sent with Content-Type: application/json).
	Body []byte
	// Stream makes the answers parsed as server-sent events: TTFT and event counts are measured and a stream
	// that does not end with [DONE] counts as an error.
	Stream bool
	// Conns is the number of concurrent keep-alive connections, each with one request in flight.
	Conns int
	// Requests, when > 0, is the number of measured requests (count mode); otherwise the run lasts Duration.
	Requests int
	// Duration is the measured window of a duration-mode run.
	Duration time.Duration
	// WarmupRequests (count mode) and Warmup (duration mode) run first on the same connections and are not
	// measured, so that connections, upstream pools and heaps are in their steady state.
	WarmupRequests int
	Warmup         time.Duration
	// Timeout bounds one request (default 30 s).
	Timeout time.Duration
	// Client is "raw" (default) or "nethttp".
	Client string
	// OnWindow, when set, is called with true when the measured part of the run starts (after the warm-up) and
	// with false when it ends, so that a caller can read counters of other processes (their CPU time) over
	// exactly the window the results cover. It runs on a load goroutine: it must be quick.
	OnWindow func(open bool)
}

// Summary is a latency distribution, in microseconds.
type Summary struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean_us"`
	P50  float64 `json:"p50_us"`
	P90  float64 `json:"p90_us"`
	P99  float64 `json:"p99_us"`
	Max  float64 `json:"max_us"`
}

// Result is the outcome of a run.
type Result struct {
	URL    string `json:"url"`
	Stream bool   `json:"stream"`
	Conns  int    `json:"conns"`
	Client string `json:"client"`
	// Requests counts the successful measured requests; Errors the failed ones (non-200 status, broken
	// connection, stream without [DONE]). FirstError is an example.
	Requests   int64  `json:"requests"`
	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// Seconds is the measured wall time: the window of a duration run, or first to last request of a count
	// run.
	Seconds float64 `json:"seconds"`
	RPS     float64 `json:"rps"`
	// Latency is request start (first byte written) to the last byte of the answer; for streams, the total
	// stream time.
	Latency Summary `json:"latency"`
	// TTFT is request start to the first event whose delta has non-empty content (streams only).
	TTFT *Summary `json:"ttft,omitempty"`
	// BytesPerResponse is the mean size of an answer's body (after de-chunking); EventsPerStream the mean
	// number of data events before [DONE].
	BytesPerResponse float64 `json:"bytes_per_response"`
	EventsPerStream  float64 `json:"events_per_stream,omitempty"`
	// ChunksPerResponse is the mean number of HTTP chunks of a chunked answer (raw client only). For a stream it
	// shows whether a proxy forwards each event as it comes (one chunk per event) or coalesces events that
	// arrived together (fewer chunks, fewer system calls).
	ChunksPerResponse float64 `json:"chunks_per_response,omitempty"`
	// ClientCPUSeconds is the CPU time (user+system) this process used during the run, all of it counted
	// against the load generator (this package is meant to run alone in its process, or in a harness that does
	// little else meanwhile).
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
}

// String is the human summary line.
func (r *Result) String() string {
	s := fmt.Sprintf("%s conns=%d ok=%d err=%d %.0f req/s latency p50=%s p90=%s p99=%s max=%s",
		r.URL, r.Conns, r.Requests, r.Errors, r.RPS, us(r.Latency.P50), us(r.Latency.P90), us(r.Latency.P99),
		us(r.Latency.Max))
	if r.TTFT != nil {
		s += fmt.Sprintf(" ttft p50=%s p99=%s", us(r.TTFT.P50), us(r.TTFT.P99))
	}
	if r.Requests > 0 {
		s += fmt.Sprintf(" client-cpu=%.1fµs/req", r.ClientCPUSeconds*1e6/float64(r.Requests))
	}
	if r.FirstError != "" {
		s += " first-error=" + r.FirstError
	}
	return s
}

func us(v float64) string {
	if v >= 10000 {
		return fmt.Sprintf("%.1fms", v/1000)
	}
	return fmt.Sprintf("%.0fµs", v)
}

// sample is what one request reports.
type sample struct {
	latency time.Duration
	ttft    time.Duration // streams: 0 when no content event came
	bytes   int
	events  int
	chunks  int // HTTP chunks of a chunked answer (raw client only)
}

// doer sends one request on one connection.
type doer interface {
	do(ctx context.Context, stream bool, deadline time.Time) (sample, error)
	close()
}

// worker is one connection's loop and its records.
type worker struct {
	d        doer
	lat      []time.Duration
	ttft     []time.Duration
	bytes    int64
	events   int64
	chunks   int64
	errors   int64
	firstErr string
	first    time.Time // count mode: start of the first measured request
	last     time.Time // count mode: end of the last measured request
}

// Run runs the load described by o until it is done or ctx ends.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Conns <= 0 {
		o.Conns = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Requests <= 0 && o.Duration <= 0 {
		return nil, errors.New("loadgen: give Requests or Duration")
	}
	if o.Client == "" {
		o.Client = "raw"
	}
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("loadgen: %q is not an http:// URL", o.URL)
	}
	newDoer := func() (doer, error) { return newRawConn(u, o.Header, o.Body) }
	switch o.Client {
	case "raw":
	case "nethttp":
		hc := newNetHTTP(o.Conns)
		newDoer = func() (doer, error) { return hc.doer(o.URL, o.Header, o.Body), nil }
	default:
		return nil, fmt.Errorf("loadgen: unknown client %q (raw or nethttp)", o.Client)
	}

	workers := make([]*worker, o.Conns)
	for i := range workers {
		d, err := newDoer()
		if err != nil {
			for _, w := range workers[:i] {
				w.d.close()
			}
			return nil, err
		}
		w := &worker{d: d}
		if o.Requests > 0 {
			w.lat = make([]time.Duration, 0, o.Requests/o.Conns+1)
		} else {
			w.lat = make([]time.Duration, 0, 4096)
		}
		workers[i] = w
	}
	defer func() {
		for _, w := range workers {
			w.d.close()
		}
	}()

	var (
		wg           sync.WaitGroup
		measureStart time.Time
		measureEnd   time.Time
		next         atomic.Int64 // count mode: sequence numbers handed out
		total        = int64(o.WarmupRequests + o.Requests)
		cpuOpen      time.Duration
		opened       sync.Once
	)
	// open marks the start of the measured window: the CPU used during warm-up is left out.
	open := func() {
		opened.Do(func() {
			cpuOpen = processCPU()
			if o.OnWindow != nil {
				o.OnWindow(true)
			}
		})
	}
	start := time.Now()
	if o.Requests <= 0 {
		measureStart = start.Add(o.Warmup)
		measureEnd = measureStart.Add(o.Duration)
	}
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				measured := true
				if o.Requests > 0 {
					seq := next.Add(1) - 1
					if seq >= total {
						return
					}
					measured = seq >= int64(o.WarmupRequests)
					if measured {
						open()
					}
				} else if time.Now().After(measureEnd) {
					return
				}
				t0 := time.Now()
				s, err := w.d.do(ctx, o.Stream, t0.Add(o.Timeout))
				t1 := time.Now()
				if o.Requests <= 0 {
					measured = !t1.Before(measureStart) && !t1.After(measureEnd)
				}
				if !measured {
					continue
				}
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					w.errors++
					if w.firstErr == "" {
						w.firstErr = err.Error()
					}
					continue
				}
				if w.first.IsZero() {
					w.first = t0
				}
				w.last = t1
				w.lat = append(w.lat, s.latency)
				if o.Stream {
					w.ttft = append(w.ttft, s.ttft)
					w.events += int64(s.events)
				}
				w.bytes += int64(s.bytes)
				w.chunks += int64(s.chunks)
			}
		}()
	}
	var cpuClose time.Duration
	if o.Requests <= 0 {
		// The window is wall-clock time; requests still in flight when it closes are not counted, nor is
		// the CPU spent finishing them.
		select {
		case <-time.After(time.Until(measureStart)):
			open()
		case <-ctx.Done():
		}
		select {
		case <-time.After(time.Until(measureEnd)):
		case <-ctx.Done():
		}
		cpuClose = processCPU()
		if o.OnWindow != nil {
			o.OnWindow(false)
		}
		wg.Wait()
	} else {
		wg.Wait()
		cpuClose = processCPU()
		if o.OnWindow != nil {
			o.OnWindow(false)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	r := &Result{URL: o.URL, Stream: o.Stream, Conns: o.Conns, Client: o.Client,
		ClientCPUSeconds: (cpuClose - cpuOpen).Seconds()}
	var lat, ttft []time.Duration
	var bytes, events, chunks int64
	var first, last time.Time
	for _, w := range workers {
		lat = append(lat, w.lat...)
		ttft = append(ttft, w.ttft...)
		bytes += w.bytes
		events += w.events
		chunks += w.chunks
		r.Errors += w.errors
		if r.FirstError == "" {
			r.FirstError = w.firstErr
		}
		if !w.first.IsZero() && (first.IsZero() || w.first.Before(first)) {
			first = w.first
		}
		if w.last.After(last) {
			last = w.last
		}
	}
	r.Requests = int64(len(lat))
	if o.Requests > 0 {
		r.Seconds = last.Sub(first).Seconds()
	} else {
		r.Seconds = o.Duration.Seconds()
	}
	if r.Seconds > 0 {
		r.RPS = float64(r.Requests) / r.Seconds
	}
	r.Latency = Summarize(lat)
	if o.Stream {
		// A stream with no content event has no TTFT; leave it out rather than count it as zero.
		ttft = slices.DeleteFunc(ttft, func(d time.Duration) bool { return d == 0 })
		s := Summarize(ttft)
		r.TTFT = &s
	}
	if r.Requests > 0 {
		r.BytesPerResponse = float64(bytes) / float64(r.Requests)
		r.ChunksPerResponse = float64(chunks) / float64(r.Requests)
		if o.Stream {
			r.EventsPerStream = float64(events) / float64(r.Requests)
		}
	}
	return r, nil
}

// Summarize computes the distribution of samples (sorting them in place). Percentiles are nearest-rank: the
// smallest sample that at least p% of the samples do not exceed, so p99 of 3,000 samples is the 2,970th.
func Summarize(samples []time.Duration) Summary {
	n := len(samples)
	if n == 0 {
		return Summary{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, d := range samples {
		sum += d
	}
	rank := func(p float64) float64 {
		i := int(p/100*float64(n)+0.999999) - 1
		i = min(max(i, 0), n-1)
		return micro(samples[i])
	}
	return Summary{N: n, Mean: micro(sum / time.Duration(n)), P50: rank(50), P90: rank(90), P99: rank(99),
		Max: micro(samples[n-1])}
}

func micro(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

// processCPU returns the user+system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
