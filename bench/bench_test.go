package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/bench/internal/workload"
	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/gateway"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/internal/fakeupstream"
	_ "github.com/switchyard/gateway/plugins/all"
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Every benchmark reports allocations; one op is one request (or one stream event where the name says so).
// The in-process HTTP benchmarks run the client, the gateway and the fake upstream in this one process, so
// their allocations and times include the client's and the fake's: read them against the "direct"
// sub-benchmark, which is the same exchange without the gateway.

const (
	masterKey   = "sk-bench-master-key"
	upstreamKey = "sk-fake-upstream-key"
)

var (
	plainBody  = workload.ChatBody(workload.Model, false)
	streamBody = workload.ChatBody(workload.Model, true)
)

func newFake() *fakeupstream.Server {
	return fakeupstream.New(fakeupstream.Options{Key: upstreamKey, Answer: workload.Answer(workload.AnswerChars),
		StreamChunks: workload.StreamChunks})
}

// fakeEvents returns the data of the fake's streamed answer, one element per event, [DONE] left out.
func fakeEvents(tb testing.TB) [][]byte {
	tb.Helper()
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(streamBody))
	r.Header.Set("Authorization", "Bearer "+upstreamKey)
	w := httptest.NewRecorder()
	newFake().ServeHTTP(w, r)
	var events [][]byte
	for ev := range strings.SplitSeq(w.Body.String(), "\n\n") {
		data, ok := strings.CutPrefix(ev, "data: ")
		if ok && data != "[DONE]" {
			events = append(events, []byte(data))
		}
	}
	if len(events) < workload.StreamChunks {
		tb.Fatalf("the fake streamed %d events", len(events))
	}
	return events
}

func decodeChat(tb testing.TB, body []byte) *sdk.ChatRequest {
	tb.Helper()
	var req sdk.ChatRequest
	if err := pipeline.DecodeJSON(body, &req); err != nil {
		tb.Fatal(err)
	}
	return &req
}

// BenchmarkDecodeChatRequest is the decode stage's work on the benchmark's ~300-byte request: encoding/json
// into sdk.ChatRequest, plus the copy of the raw body and the scan for unknown members it keeps.
func BenchmarkDecodeChatRequest(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(plainBody)))
	for b.Loop() {
		var req sdk.ChatRequest
		if err := pipeline.DecodeJSON(plainBody, &req); err != nil {
			b.Fatal(err)
		}
	}
}

func openaiTarget() *sdk.Target {
	return &sdk.Target{ID: "bench", Provider: "openai", Model: workload.Model, APIBase: "http://127.0.0.1:1/v1",
		APIKey: upstreamKey, Params: map[string]any{}}
}

// BenchmarkOpenAIBuildChat is the pass-through translator building the upstream request from the raw body
// (a patch of the model name and, for streams, stream_options).
func BenchmarkOpenAIBuildChat(b *testing.B) {
	tr := openai.New(openai.OpenAI)
	t := openaiTarget()
	for _, c := range []struct {
		name string
		body []byte
	}{{"plain", plainBody}, {"stream", streamBody}} {
		b.Run(c.name, func(b *testing.B) {
			req := decodeChat(b, c.body)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tr.BuildChat(t, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenAIParseChat is the translator reading the fake's ~1.1 KB non-streamed answer: the body is
// returned to the client as it is, and decoded for the gateway's own use (usage, for pricing and limits).
func BenchmarkOpenAIParseChat(b *testing.B) {
	tr := openai.New(openai.OpenAI)
	t := openaiTarget()
	req := decodeChat(b, plainBody)
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(plainBody))
	r.Header.Set("Authorization", "Bearer "+upstreamKey)
	w := httptest.NewRecorder()
	newFake().ServeHTTP(w, r)
	resp := &sdk.HTTPResponse{Status: http.StatusOK, Header: w.Header(), Body: w.Body.Bytes()}
	b.ReportAllocs()
	b.SetBytes(int64(len(resp.Body)))
	for b.Loop() {
		if out, err := tr.ParseChat(t, req, resp); err != nil || out.Usage == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenAIStreamParse is the translator's stream parser on one event: a content chunk (forwarded as it
// is) and the final usage chunk (whose usage is decoded for pricing).
func BenchmarkOpenAIStreamParse(b *testing.B) {
	tr := openai.New(openai.OpenAI)
	t := openaiTarget()
	events := fakeEvents(b)
	req := decodeChat(b, streamBody)
	for _, c := range []struct {
		name string
		data []byte
	}{{"content", events[1]}, {"usage", events[len(events)-1]}} {
		b.Run(c.name, func(b *testing.B) {
			p := tr.NewChatStream(t, req)
			out := make([]*sdk.Chunk, 0, 4)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				var err error
				if out, _, err = p.Parse(sdk.StreamEvent{Data: c.data}, out[:0]); err != nil || len(out) != 1 {
					b.Fatal(err, len(out))
				}
			}
		})
	}
}

func mustConfig(tb testing.TB, yaml string) *config.Config {
	tb.Helper()
	loaded, err := config.Parse([]byte(yaml), config.Options{Environ: []string{},
		LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		tb.Fatal(err)
	}
	return loaded.Config
}

func newGateway(tb testing.TB, yaml string) *gateway.Gateway {
	tb.Helper()
	gw, err := gateway.New(context.Background(), gateway.Options{Config: mustConfig(tb, yaml),
		Logger: slog.New(slog.DiscardHandler), Version: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	return gw
}

// mockConfig serves the benchmark model from the built-in mock provider, with auth on.
var mockConfig = fmt.Sprintf(`model_list:
  - model_name: %s
    litellm_params:
      model: mock/%s
      mock_response: %q
router_settings:
  num_retries: 0
general_settings:
  master_key: %s
`, workload.Model, workload.Model, workload.Answer(workload.AnswerChars), masterKey)

// BenchmarkPipelineMockChat is one call through the whole pipeline (log, auth, decode, limit, route, call) to
// the mock provider, driven in-process as the edge drives it, without HTTP: what the gateway's own logic
// costs per request. The stream variant drains the mock's stream (one chunk per word of the answer).
func BenchmarkPipelineMockChat(b *testing.B) {
	gw := newGateway(b, mockConfig)
	defer gw.Close()
	p := gw.Pipeline()
	ctx := context.Background()
	for _, c := range []struct {
		name string
		body []byte
	}{{"plain", plainBody}, {"stream", streamBody}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				call := &pipeline.Call{ID: pipeline.NewCallID(), Type: pipeline.CallChat, Start: time.Now(),
					Body: c.body, Credential: masterKey}
				p.Run(ctx, call)
				if call.Err != nil {
					b.Fatal(call.Err)
				}
				if call.Stream != nil {
					for {
						if _, err := call.Stream.Next(); err == io.EOF {
							break
						} else if err != nil {
							b.Fatal(err)
						}
					}
					call.Stream.Close()
				}
				call.Status = http.StatusOK
				p.Finish(call)
			}
		})
	}
}

// servers starts the fake upstream (net/http, in-process) and a gateway in front of it, serving HTTP on
// loopback ports like the binary does; it returns their base URLs.
func servers(b *testing.B, yaml func(fakeURL string) string) (fakeURL, gatewayURL string) {
	b.Helper()
	fake := httptest.NewServer(newFake())
	b.Cleanup(fake.Close)
	gw := newGateway(b, yaml(fake.URL))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = gw.Serve(ln) }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return fake.URL, "http://" + ln.Addr().String()
}

// openaiConfig serves the benchmark model from the fake through the OpenAI translator, as the load harness
// does, plus any extra model_list entries.
func openaiConfig(fakeURL string, extra ...string) string {
	return fmt.Sprintf(`model_list:
  - model_name: %s
    litellm_params:
      model: openai/%s
      api_base: %s/v1
      api_key: %s
%srouter_settings:
  num_retries: 0
general_settings:
  master_key: %s
`, workload.Model, workload.Model, fakeURL, upstreamKey, strings.Join(extra, ""), masterKey)
}

// client is a keep-alive HTTP client for one request at a time.
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}

// post sends one request and reads the whole answer, returning its size.
func post(b *testing.B, url, key string, body []byte, buf []byte) int {
	req, err := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("HTTP %d, %v", resp.StatusCode, err)
	}
	return int(n)
}

// BenchmarkHTTPChat is a full non-streamed round trip over loopback HTTP: client → fake ("direct") and
// client → gateway edge → fake ("gateway"). The difference is the gateway: its edge (Fiber), pipeline,
// upstream client and the extra hop.
func BenchmarkHTTPChat(b *testing.B) {
	fakeURL, gwURL := servers(b, func(fakeURL string) string { return openaiConfig(fakeURL) })
	buf := make([]byte, 32<<10)
	for _, c := range []struct{ name, url, key string }{{"direct", fakeURL, upstreamKey}, {"gateway", gwURL, masterKey}} {
		b.Run(c.name, func(b *testing.B) {
			post(b, c.url, c.key, plainBody, buf) // open the connections
			b.ReportAllocs()
			for b.Loop() {
				post(b, c.url, c.key, plainBody, buf)
			}
		})
	}
}

// BenchmarkHTTPStream is a streamed round trip of the fake's 53 events (role, 50 content chunks, finish,
// usage) plus [DONE]: direct, through the gateway passing the upstream's events through ("gateway"), and
// through the gateway from the mock provider, whose chunks the edge encodes itself ("gateway-mock", no
// upstream hop). ns/event is the time per streamed event, which is what the edge's SSE writer (unexported)
// costs per chunk plus, for the first two, reading the chunk from upstream.
func BenchmarkHTTPStream(b *testing.B) {
	fakeURL, gwURL := servers(b, func(fakeURL string) string {
		return openaiConfig(fakeURL, fmt.Sprintf(`  - model_name: mock-stream
    litellm_params:
      model: mock/mock-stream
      mock_response: %q
`, strings.TrimSpace(strings.Repeat("token ", workload.StreamChunks))))
	})
	mockBody := workload.ChatBody("mock-stream", true)
	buf := make([]byte, 32<<10)
	for _, c := range []struct {
		name, url, key string
		body           []byte
	}{
		{"direct", fakeURL, upstreamKey, streamBody},
		{"gateway", gwURL, masterKey, streamBody},
		{"gateway-mock", gwURL, masterKey, mockBody},
	} {
		b.Run(c.name, func(b *testing.B) {
			events := countEvents(b, c.url, c.key, c.body)
			b.ReportAllocs()
			for b.Loop() {
				post(b, c.url, c.key, c.body, buf)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
			b.ReportMetric(float64(events), "events/op")
		})
	}
}

// countEvents streams once and counts the data events, [DONE] included.
func countEvents(b *testing.B, url, key string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	all, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("HTTP %d, %v: %.200s", resp.StatusCode, err, all)
	}
	n := bytes.Count(all, []byte("data: "))
	if !bytes.HasSuffix(all, []byte("data: [DONE]\n\n")) || n < workload.StreamChunks {
		b.Fatalf("stream of %d events: %.300s", n, all)
	}
	return n
}
