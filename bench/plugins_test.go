package bench

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/pluginhost"
	"github.com/switchyard/gateway/core/upstream"
	"github.com/switchyard/gateway/internal/fakeupstream"
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/plugins/routing/shuffle"
	"github.com/switchyard/gateway/sdk"
)

// The plugin transport benchmarks measure what loading a plugin out of process adds per request: the same
// OpenAI translator (and simple-shuffle router) in-process, as a go-plugin binary and as a WASM module, driven
// through the core's backend (no HTTP edge) against an in-process fake upstream. Read each transport against
// "inprocess".

var (
	pluginBuildOnce sync.Once
	pluginBin       string
	pluginWASM      string
	pluginBuildErr  error
)

func buildPlugins(b *testing.B) (string, string) {
	b.Helper()
	pluginBuildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bench-plugins-")
		if err != nil {
			pluginBuildErr = err
			return
		}
		pluginBin, pluginWASM = filepath.Join(dir, "firstparty"), filepath.Join(dir, "firstparty.wasm")
		if out, err := exec.Command("go", "build", "-o", pluginBin, "../plugins/build/goplugin").CombinedOutput(); err != nil {
			pluginBuildErr = &buildError{err, out}
			return
		}
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", pluginWASM, "../plugins/build/wasm")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			pluginBuildErr = &buildError{err, out}
		}
	})
	if pluginBuildErr != nil {
		b.Fatal(pluginBuildErr)
	}
	return pluginBin, pluginWASM
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + string(e.out) }

// transports returns the provider module of each transport.
func transports(b *testing.B, client *upstream.Client) map[string]sdk.Module {
	bin, wasm := buildPlugins(b)
	log := slog.New(slog.DiscardHandler)
	gp, err := pluginhost.LoadExec(pluginhost.Spec{Name: "bench", Kind: "provider", Path: bin, Logger: log}, client.NewBackend)
	if err != nil {
		b.Fatal(err)
	}
	wm, err := pluginhost.LoadWASM(context.Background(), pluginhost.Spec{Name: "bench", Kind: "provider", Path: wasm,
		Logger: log}, client.NewBackend)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = gp.(sdk.CleanerUpper).Cleanup()
		_ = wm.(sdk.CleanerUpper).Cleanup()
	})
	return map[string]sdk.Module{"inprocess": openai.NewModule(openai.OpenAI), "goplugin": gp, "wasm": wm}
}

// BenchmarkPluginProvider: one op is one chat request (plain, ~1 KB answer) or one whole 500-chunk stream.
func BenchmarkPluginProvider(b *testing.B) {
	for _, shape := range []struct {
		name   string
		chunks int
		stream bool
	}{{"plain", 0, false}, {"stream500", 500, true}} {
		fake := fakeupstream.New(fakeupstream.Options{Key: upstreamKey, Answer: longAnswer(600),
			StreamChunks: max(shape.chunks, 1)})
		srv := httptest.NewServer(fake)
		client := upstream.NewClient(upstream.Options{})
		for _, name := range []string{"inprocess", "goplugin", "wasm"} {
			m := transports(b, client)[name]
			t := &sdk.Target{ID: "d", Provider: "openai", Model: "gpt-4o", APIBase: srv.URL + "/v1", APIKey: upstreamKey,
				Params: map[string]any{}}
			backend, err := client.NewBackend(m, t)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(shape.name+"/"+name, func(b *testing.B) {
				req := &sdk.ChatRequest{Model: "gpt-4o", Messages: []sdk.Message{{Role: "user",
					Content: sdk.TextContent("benchmark me")}}, Stream: shape.stream}
				run(b, backend, req, shape.stream, shape.chunks)
			})
		}
		srv.Close()
	}
}

func longAnswer(words int) string {
	out := make([]byte, 0, words*6)
	for i := 0; i < words; i++ {
		out = append(out, "word "...)
	}
	return string(out[:len(out)-1])
}

func run(b *testing.B, backend pipeline.Backend, req *sdk.ChatRequest, stream bool, chunks int) {
	ctx := context.Background()
	// One warm-up call starts the plugin and fills the pools.
	if _, err := backend.Chat(ctx, &sdk.ChatRequest{Model: req.Model, Messages: req.Messages}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if !stream {
			if _, err := backend.Chat(ctx, req); err != nil {
				b.Fatal(err)
			}
			continue
		}
		s, err := backend.ChatStream(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		s.Close()
		if n < chunks {
			b.Fatalf("%d chunks, want at least %d", n, chunks)
		}
	}
}

// BenchmarkPluginRouterPick: one op is one pick among four candidates.
func BenchmarkPluginRouterPick(b *testing.B) {
	bin, wasm := buildPlugins(b)
	log := slog.New(slog.DiscardHandler)
	gp, err := pluginhost.LoadExec(pluginhost.Spec{Name: "r", Kind: "router", Path: bin, Logger: log}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer gp.(sdk.CleanerUpper).Cleanup()
	wm, err := pluginhost.LoadWASM(context.Background(), pluginhost.Spec{Name: "r", Kind: "router", Path: wasm, Logger: log}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer wm.(sdk.CleanerUpper).Cleanup()
	cands := []sdk.Candidate{{ID: "a", Weight: 1}, {ID: "b", Weight: 2}, {ID: "c", Weight: 3}, {ID: "d", Weight: 4}}
	for _, r := range []struct {
		name string
		r    sdk.Router
	}{{"inprocess", shuffle.Router{}}, {"goplugin", gp.(sdk.Router)}, {"wasm", wm.(sdk.Router)}} {
		b.Run(r.name, func(b *testing.B) {
			ctx := context.Background()
			req := &sdk.RouteRequest{Group: "g"}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := r.r.Pick(ctx, req, cands); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
