package edge

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// setHeader writes exactly what fasthttp's own Set writes, for every known name and for any other, whether the
// header is new or replaces one (fasthttp's Set is the oracle).
func TestSetHeaderMatchesFasthttpSet(t *testing.T) {
	names := []string{"x-custom-header", "X-Mixed-CASE", "retry-after"}
	for n := range knownHeaders {
		names = append(names, n)
	}
	for _, n := range names {
		var want, got fasthttp.ResponseHeader
		for _, h := range []*fasthttp.ResponseHeader{&want, &got} {
			h.Set("Content-Type", "application/json")
			h.Set("x-litellm-call-id", "first")
		}
		want.Set(n, "v1")
		setHeader(&got, n, "v1")
		want.Set(n, "value\r\nInjected: yes")
		setHeader(&got, n, "value\r\nInjected: yes")
		if w, g := want.String(), got.String(); w != g {
			t.Errorf("%s: setHeader wrote\n%q\nfasthttp's Set writes\n%q", n, g, w)
		}
	}
}

func BenchmarkSetHeaders(b *testing.B) {
	var h fasthttp.ResponseHeader
	names := []string{"x-litellm-call-id", "x-litellm-version", "x-litellm-model-id", "x-litellm-model-group",
		"x-litellm-attempted-retries", "x-litellm-attempted-fallbacks", "x-litellm-response-cost"}
	b.Run("Set", func(b *testing.B) {
		for b.Loop() {
			h.Reset()
			for _, n := range names {
				h.Set(n, "01a212d4-698b-7139-a359-003ce220f17c")
			}
		}
	})
	b.Run("setHeader", func(b *testing.B) {
		for b.Loop() {
			h.Reset()
			for _, n := range names {
				setHeader(&h, n, "01a212d4-698b-7139-a359-003ce220f17c")
			}
		}
	})
}
