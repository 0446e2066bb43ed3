package gateway

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/switchyard/gateway/core/cache"
)

// The cache stage sits between the limit stage and routing, and only when litellm_settings.cache is on.
func TestCacheStagePlacement(t *testing.T) {
	t.Parallel()
	names := func(g *Gateway) string {
		var out []string
		for _, s := range g.Pipeline().Stages() {
			out = append(out, s.Name())
		}
		return strings.Join(out, ",")
	}
	off, err := New(context.Background(), Options{Logger: slog.New(slog.DiscardHandler), Config: parse(t, `
model_list:
  - model_name: demo
    litellm_params: {model: mock/demo}
`)})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close()
	if got := names(off); strings.Contains(got, "cache") || !strings.Contains(got, "limit,route,call") ||
		off.Cache() != nil {
		t.Fatalf("caching off: stages %s, cache %v", got, off.Cache())
	}
	on, err := New(context.Background(), Options{Logger: slog.New(slog.DiscardHandler), Config: parse(t, `
model_list:
  - model_name: demo
    litellm_params: {model: mock/demo}
litellm_settings:
  cache: true
`), LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	defer on.Close()
	if got := names(on); !strings.Contains(got, "decode,limit,cache,route,call") {
		t.Fatalf("caching on: stages %s", got)
	}
	if _, ok := on.Cache().Store().(*cache.Memory); !ok {
		t.Fatalf("cache: true with no type and no Redis in sight made a %T, want the in-memory store", on.Cache().Store())
	}
}

func TestCacheConfig(t *testing.T) {
	t.Parallel()
	// A listener that is never served stands for a Redis that does not answer: the store starts degraded,
	// which is all these cases need.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cases := []struct {
		name    string
		params  string
		env     map[string]string
		store   string // "memory" or "redis"
		err     string
		warning string
	}{
		{name: "local", params: `{type: local, max_entries: 10, max_bytes: 1000}`, store: "memory"},
		{name: "redis host", params: `{type: redis, host: 127.0.0.1, port: ` + port + `}`, store: "redis"},
		{name: "redis from the environment", params: `{type: redis}`, store: "redis",
			env: map[string]string{"REDIS_HOST": "127.0.0.1", "REDIS_PORT": port, "REDIS_PASSWORD": "pw"}},
		{name: "no type, Redis in the environment", params: `{ttl: 5}`, store: "redis",
			env: map[string]string{"REDIS_URL": "redis://127.0.0.1:" + port + "/0"}},
		{name: "redis without an address", params: `{type: redis}`, err: "cache_params.host"},
		{name: "bad REDIS_PORT", params: `{type: redis}`, env: map[string]string{"REDIS_HOST": "h", "REDIS_PORT": "x"},
			err: "REDIS_PORT"},
		{name: "bad mode", params: `{type: local, mode: sometimes}`, err: "cache_params.mode"},
		{name: "negative bound", params: `{type: local, max_entries: -1}`, err: "cache_params.max_entries"},
		{name: "unknown type", params: `{type: s3}`, store: "memory", warning: `"s3" caches are not available`},
		{name: "uncached call types", params: `{type: local, supported_call_types: [acompletion, rerank]}`,
			store: "memory", warning: `"rerank" calls are not cached`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, err := New(context.Background(), Options{Logger: slog.New(slog.DiscardHandler), Config: parse(t, `
model_list:
  - model_name: demo
    litellm_params: {model: mock/demo}
litellm_settings:
  cache: true
  cache_params: `+tc.params+`
`), LookupEnv: func(name string) (string, bool) { v, ok := tc.env[name]; return v, ok }})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one naming %s", err, tc.err)
				}
				if strings.Contains(err.Error(), "pw") {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			switch st := g.Cache().Store().(type) {
			case *cache.Memory:
				if tc.store != "memory" {
					t.Fatalf("store %T, want %s", st, tc.store)
				}
			case *cache.Redis:
				if tc.store != "redis" {
					t.Fatalf("store %T, want %s", st, tc.store)
				}
			default:
				t.Fatalf("store %T", st)
			}
			if tc.warning != "" && !strings.Contains(strings.Join(g.Warnings, "\n"), tc.warning) {
				t.Fatalf("no warning says %s: %q", tc.warning, g.Warnings)
			}
		})
	}
}
