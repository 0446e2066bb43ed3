package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard/gateway/bench/internal/workload"
	"github.com/switchyard/gateway/core/cache"
	"github.com/switchyard/gateway/core/pipeline"
)

// cacheSettings turns the response cache on, with the given cache_params.
func cacheSettings(params string) string {
	return "litellm_settings:\n  cache: true\n  cache_params: " + params + "\n"
}

// runCall drives one call through a pipeline as the edge does, draining a stream, and reports whether it was a
// cache hit.
func runCall(b *testing.B, p *pipeline.Pipeline, body []byte) bool {
	call := &pipeline.Call{ID: pipeline.NewCallID(), Type: pipeline.CallChat, Start: time.Now(), Body: body,
		Credential: masterKey}
	p.Run(context.Background(), call)
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
	return call.CacheHit
}

// BenchmarkCacheHitPipeline is a cache hit through the whole pipeline in-process (log, metrics, auth, decode,
// limit, cache), for the in-memory store and, when Redis is on 127.0.0.1:6379, for Redis: the plain answer is
// the stored bytes as they are; the stream variant replays the stored answer as chunks. Compare with
// BenchmarkPipelineMockChat, the same request answered by the mock provider without a cache.
func BenchmarkCacheHitPipeline(b *testing.B) {
	stores := []struct{ name, params string }{{"memory", "{type: local}"}}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:6379", 200*time.Millisecond); err == nil {
		c.Close()
		stores = append(stores, struct{ name, params string }{"redis", fmt.Sprintf(
			"{type: redis, host: 127.0.0.1, port: 6379, ttl: 60, namespace: bench-%d}", time.Now().UnixNano())})
	}
	for _, st := range stores {
		gw := newGateway(b, mockConfig+cacheSettings(st.params))
		p := gw.Pipeline()
		for _, c := range []struct {
			name string
			body []byte
		}{{"plain", plainBody}, {"stream", streamBody}} {
			b.Run(st.name+"/"+c.name, func(b *testing.B) {
				runCall(b, p, c.body) // store the answer (or find it stored)
				if !runCall(b, p, c.body) {
					b.Fatal("the second call was not a hit")
				}
				b.ReportAllocs()
				for b.Loop() {
					runCall(b, p, c.body)
				}
			})
		}
		gw.Close()
	}
}

// BenchmarkCacheKey is the key of the benchmark's ~300-byte chat request: the canonical form of the body
// (members sorted, strings unescaped, numbers spelled one way) and its SHA-256.
func BenchmarkCacheKey(b *testing.B) {
	c := &pipeline.Call{Type: pipeline.CallChat, Model: workload.Model, Chat: decodeChat(b, plainBody)}
	b.ReportAllocs()
	b.SetBytes(int64(len(plainBody)))
	for b.Loop() {
		if _, err := cache.Key(c, "key:abc"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTTPCacheHit is a full non-streamed round trip over loopback HTTP answered from the in-memory
// cache, next to the same request going through to the fake upstream (BenchmarkHTTPChat/gateway).
func BenchmarkHTTPCacheHit(b *testing.B) {
	_, gwURL := servers(b, func(fakeURL string) string { return openaiConfig(fakeURL) + cacheSettings("{type: local}") })
	buf := make([]byte, 32<<10)
	post(b, gwURL, masterKey, plainBody, buf) // stored
	b.ReportAllocs()
	for b.Loop() {
		post(b, gwURL, masterKey, plainBody, buf)
	}
}

// BenchmarkCacheMissPipeline is what the cache adds to a call it cannot answer: the key, a lookup that misses
// and the store of the mock's answer, against the same calls with the cache off. Every call asks something
// new, so the in-memory store fills up and evicts as it would in service. The mock's answer is a typed
// response, which the cache encodes to store it (most of the difference) and hands on encoded, so the edge,
// outside this benchmark, no longer encodes it; an OpenAI-compatible upstream's answer is stored as received.
func BenchmarkCacheMissPipeline(b *testing.B) {
	for _, c := range []struct{ name, settings string }{{"off", ""}, {"memory", cacheSettings("{type: local}")}} {
		b.Run(c.name, func(b *testing.B) {
			gw := newGateway(b, mockConfig+c.settings)
			defer gw.Close()
			p := gw.Pipeline()
			bodies := make([][]byte, 4096)
			for i := range bodies {
				bodies[i] = fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"user","content":"question number %d"}],"temperature":0.2}`,
					workload.Model, i)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if runCall(b, p, bodies[i%len(bodies)]) {
					b.Fatal("a hit")
				}
				i++
				if i%len(bodies) == 0 { // start over with a cleared cache: a fresh gateway is too slow to make here
					b.StopTimer()
					for k := range bodies {
						bodies[k] = fmt.Appendf(bodies[k][:0], `{"model":%q,"messages":[{"role":"user","content":"question %d of round %d"}],"temperature":0.2}`,
							workload.Model, k, i)
					}
					b.StartTimer()
				}
			}
		})
	}
}
