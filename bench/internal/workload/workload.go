// Package workload is what the benchmarks send and what the fake upstream answers, in one place, so that the
// load harness, the load generator, the fake and the Go benchmarks all measure the same exchange.
package workload

import (
	"fmt"
	"strings"
)

const (
	// Model is the model name clients ask for; the gateway serves it as openai/<Model>, so the upstream sees
	// the same name whichever path the request took.
	Model = "bench"
	// AnswerChars is the length of the answer text: with the fake's JSON around it, a non-streamed answer is
	// about 1.1 KB.
	AnswerChars = 600
	// StreamChunks is the number of content events of a streamed answer (the fake adds a role event, a
	// finish event and, when asked, a usage event).
	StreamChunks = 50
)

// ChatBody returns the chat completion request for model: about 300 bytes, a system and a user message and
// two sampling parameters, like a small real request. Streamed requests ask for the usage chunk
// (stream_options.include_usage), so that every target sends the same events: the gateway always asks its
// upstream for usage and would otherwise hide that chunk, sending one event fewer than a plain proxy.
func ChatBody(model string, stream bool) []byte {
	streamFields := ""
	if stream {
		streamFields = `,"stream":true,"stream_options":{"include_usage":true}`
	}
	return fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"system","content":"You are a concise assistant. `+
		`Answer in plain text."},{"role":"user","content":"Summarise the main trade-offs between latency and `+
		`throughput when putting a reverse proxy in front of a language model API."}],"temperature":0.2,`+
		`"max_tokens":256%s}`, model, streamFields)
}

// Answer returns n characters of English-like text: words of varied length, so that the answer is not a
// degenerate case for JSON encoding.
func Answer(n int) string {
	words := []string{"the", "gateway", "forwards", "each", "request", "to", "an", "upstream", "model", "and",
		"streams", "tokens", "back", "while", "it", "counts", "usage", "for", "budgets", "with", "low", "overhead"}
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[(i*7)%len(words)])
	}
	return b.String()[:n]
}
