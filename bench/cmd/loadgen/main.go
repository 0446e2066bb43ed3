// Command loadgen sends chat completion requests over N keep-alive connections and reports latency
// percentiles, throughput, errors and (with --stream) time to first token, as one JSON document on stdout and
// one human line on stderr.
//
//	loadgen --url http://127.0.0.1:4000/v1/chat/completions --key sk-1234 --conns 32 --duration 5s
//	loadgen --url ... --conns 1 --requests 3000 --stream
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/switchyard/gateway/bench/internal/loadgen"
	"github.com/switchyard/gateway/bench/internal/workload"
)

func main() {
	var o loadgen.Options
	flag.StringVar(&o.URL, "url", "http://127.0.0.1:4000/v1/chat/completions", "endpoint")
	key := flag.String("key", "", "API key, sent as Authorization: Bearer")
	model := flag.String("model", workload.Model, "model of the request body")
	bodyFile := flag.String("body", "", "file holding the request body (default: a ~300-byte chat request)")
	flag.BoolVar(&o.Stream, "stream", false, "ask for and measure a streamed answer")
	flag.IntVar(&o.Conns, "conns", 1, "concurrent keep-alive connections")
	flag.IntVar(&o.Requests, "requests", 0, "measured requests (0: run for --duration)")
	flag.DurationVar(&o.Duration, "duration", 5*time.Second, "measured time when --requests is 0")
	flag.IntVar(&o.WarmupRequests, "warmup-requests", 200, "unmeasured requests first (with --requests)")
	flag.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured time first (with --duration)")
	flag.DurationVar(&o.Timeout, "timeout", 30*time.Second, "per-request timeout")
	flag.StringVar(&o.Client, "client", "raw", "raw (hand-written HTTP/1.1, cheapest) or nethttp")
	flag.Parse()

	o.Body = workload.ChatBody(*model, o.Stream)
	if *bodyFile != "" {
		b, err := os.ReadFile(*bodyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		o.Body = b
	}
	if *key != "" {
		o.Header = map[string]string{"Authorization": "Bearer " + *key}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	r, err := loadgen.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(r)
	fmt.Fprintln(os.Stderr, r)
	if r.Errors > 0 {
		os.Exit(1)
	}
}
