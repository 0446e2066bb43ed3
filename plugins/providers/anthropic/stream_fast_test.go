package anthropic

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

// The fast path for text deltas gives chunks whose JSON says exactly what the typed chunk says, for plain texts,
// escaped ones (newlines, quotes, unicode escapes) and HTML-like ones.
func TestFastTextDeltaMatchesTypedChunk(t *testing.T) {
	p := NewStreamParser(&sdk.ChatRequest{}, 1700000000)
	var out []*sdk.Chunk
	var err error
	for _, ev := range []string{
		`{"type":"message_start","message":{"id":"msg_01\"x","model":"claude-x","usage":{"input_tokens":3,"output_tokens":0}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"line\nbreak \"quoted\" \u00e9\/"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"<b>&</b> 世界"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}`,
	} {
		if out, _, err = p.Parse(sdk.StreamEvent{Data: []byte(ev)}, out); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"Hello", "line\nbreak \"quoted\" é/", "<b>&</b> 世界"}
	var texts []*sdk.Chunk
	for _, c := range out {
		if len(c.Choices) == 1 && c.Choices[0].Delta.Content != "" {
			texts = append(texts, c)
		}
	}
	if len(texts) != len(want) {
		t.Fatalf("%d text chunks, want %d", len(texts), len(want))
	}
	for i, c := range texts {
		if c.Raw == nil {
			t.Fatalf("chunk %d took the slow path", i)
		}
		var fromRaw sdk.Chunk
		if err := json.Unmarshal(c.Raw, &fromRaw); err != nil {
			t.Fatalf("chunk %d: invalid JSON %s: %v", i, c.Raw, err)
		}
		typed := *c
		typed.Raw = nil
		if !reflect.DeepEqual(fromRaw, typed) || fromRaw.Choices[0].Delta.Content != want[i] {
			t.Errorf("chunk %d: raw says %+v, typed %+v", i, fromRaw, typed)
		}
	}
	// An invalid string escape is not forwarded: the full path refuses the event.
	p2 := NewStreamParser(&sdk.ChatRequest{}, 1)
	p2.Parse(sdk.StreamEvent{Data: []byte(`{"type":"message_start","message":{"id":"m","model":"c"}}`)}, nil)
	if _, _, err := p2.Parse(sdk.StreamEvent{Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"bad \q"}}`)}, nil); err == nil {
		t.Fatal("an invalid escape was accepted")
	}
}

// BenchmarkStreamTextDelta is the parser on the commonest event of a stream, a text delta.
func BenchmarkStreamTextDelta(b *testing.B) {
	p := NewStreamParser(&sdk.ChatRequest{}, 1700000000)
	p.Parse(sdk.StreamEvent{Data: []byte(`{"type":"message_start","message":{"id":"msg_01","model":"claude-x"}}`)}, nil)
	ev := sdk.StreamEvent{Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there, "}}`)}
	out := make([]*sdk.Chunk, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		out, _, _ = p.Parse(ev, out[:0])
	}
}
