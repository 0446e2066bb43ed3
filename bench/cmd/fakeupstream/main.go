// Command fakeupstream serves the fake OpenAI API of internal/fakeupstream for load tests: every chat
// completion gets the same fixed answer (about 1 KB of JSON, or a stream of --chunks content events), prebuilt
// once, so that the fake costs as little CPU as possible and never becomes what is measured. With the fasthttp
// server it also serves Anthropic's POST /v1/messages (see messagesReplay) and Amazon Bedrock's Converse API,
// POST /model/{modelId}/converse and /converse-stream, signed with the --aws-* credentials (see converseReplay),
// with the same answer, so that the gateway's translated paths can be measured against the same fake.
//
//	fakeupstream --addr 127.0.0.1:9100 --latency 20ms --chunks 50
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/gateway/bench/internal/workload"
	"github.com/switchyard/gateway/internal/fakeupstream"
	"github.com/switchyard/gateway/plugins/providers/bedrock/bedrockfake"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9100", "address to listen on (port 0 picks a free port)")
	latency := flag.Duration("latency", 0, "wait before every answer and before the first chunk of a stream "+
		"(0 measures overhead; 20ms models a fast real upstream)")
	chunks := flag.Int("chunks", workload.StreamChunks, "content chunks per streamed answer")
	chunkDelay := flag.Duration("chunk-delay", 0, "wait between stream chunks")
	answerChars := flag.Int("answer-chars", workload.AnswerChars, "length of the answer text (600: a ~1.1 KB JSON answer)")
	key := flag.String("key", "", "API key clients must send as Authorization: Bearer (empty accepts any)")
	awsKeyID := flag.String("aws-access-key-id", "", "AWS access key id Bedrock requests must be signed with "+
		"(empty, with an empty secret, accepts unsigned requests)")
	awsSecret := flag.String("aws-secret-access-key", "", "AWS secret access key of the signatures")
	awsRegion := flag.String("aws-region", bedrockfake.DefaultRegion, "AWS region of the signatures")
	server := flag.String("server", "fasthttp", "fasthttp (replays the fake's answers; cheapest) or nethttp "+
		"(internal/fakeupstream as it is; chat completions only, no /v1/messages nor Bedrock)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}

	opts := fakeupstream.Options{Key: *key, Latency: *latency, ChunkDelay: *chunkDelay,
		Answer: workload.Answer(*answerChars), StreamChunks: *chunks}
	fake := fakeupstream.New(opts)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("fakeupstream listening on http://%s server=%s latency=%s chunks=%d answer=%d bytes\n", ln.Addr(),
		*server, *latency, *chunks, answerSize(fake, *key))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var serve func() error
	var shutdown func()
	switch *server {
	case "nethttp":
		srv := &http.Server{
			Handler:           fake,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       5 * time.Minute, // keep-alive connections of the proxies stay open between runs
		}
		serve = func() error { return srv.Serve(ln) }
		shutdown = func() { _ = srv.Close() } // a benchmark fake needs no graceful drain
	case "fasthttp":
		noLatency := opts
		noLatency.Latency, noLatency.ChunkDelay = 0, 0
		r := newReplay(fakeupstream.New(noLatency), fake, *key, *latency, *chunkDelay)
		r.messages = newMessagesReplay(*key, opts.Answer, *chunks)
		r.converse = newConverseReplay(bedrockfake.Options{AccessKeyID: *awsKeyID, SecretAccessKey: *awsSecret,
			Region: *awsRegion}, opts.Answer, *chunks)
		srv := &fasthttp.Server{
			Handler:            r.serve,
			Name:               "fakeupstream",
			ReadTimeout:        time.Minute,
			IdleTimeout:        5 * time.Minute,
			MaxRequestBodySize: 16 << 20,
			NoDefaultDate:      true,
		}
		serve = func() error { return srv.Serve(ln) }
		shutdown = func() { _ = ln.Close() }
	default:
		log.Fatalf("--server %q: fasthttp or nethttp", *server)
	}
	go func() {
		<-ctx.Done()
		shutdown()
	}()
	if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
		log.Print(err)
	}
}

// answerSize reports the size of a non-streamed answer, asked of the handler itself, so the log line says what
// the benchmark transfers.
func answerSize(h http.Handler, key string) int {
	body := `{"model":"bench","messages":[{"role":"user","content":"size?"}]}`
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+key)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Body.Len()
}
