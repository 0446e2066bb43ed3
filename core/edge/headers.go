package edge

import (
	"unsafe"

	"github.com/valyala/fasthttp"
)

// knownHeaders are the response headers the gateway sets on most answers, by the lower-case name the
// pipeline uses, with the canonical form fasthttp writes ("x-litellm-call-id" → "X-Litellm-Call-Id").
// fasthttp's Set copies and normalizes the name on every call; SetCanonical with the name already in
// canonical form skips that, which halves the cost of the dozen headers of a governed answer.
var knownHeaders = func() map[string][]byte {
	m := map[string][]byte{}
	for _, n := range []string{
		"x-litellm-call-id", "x-litellm-version", "x-litellm-model-id", "x-litellm-model-group",
		"x-litellm-attempted-retries", "x-litellm-attempted-fallbacks", "x-litellm-response-cost",
		"x-litellm-cache-key",
		"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
		"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
	} {
		m[n] = canonicalHeader(n)
	}
	return m
}()

// canonicalHeader is name as fasthttp normalizes a header name: upper case at the start and after each '-',
// lower case elsewhere.
func canonicalHeader(name string) []byte {
	b := []byte(name)
	up := true
	for i, c := range b {
		switch {
		case up && 'a' <= c && c <= 'z':
			b[i] = c - 'a' + 'A'
		case !up && 'A' <= c && c <= 'Z':
			b[i] = c - 'A' + 'a'
		}
		up = c == '-'
	}
	return b
}

// setHeader sets a response header, through SetCanonical when its name is one of knownHeaders.
func setHeader(h *fasthttp.ResponseHeader, name, value string) {
	k, ok := knownHeaders[name]
	if !ok {
		h.Set(name, value)
		return
	}
	// SetCanonical copies the value (and strips line breaks from it) before the call returns: the bytes are
	// only read.
	h.SetCanonical(k, unsafe.Slice(unsafe.StringData(value), len(value)))
}
