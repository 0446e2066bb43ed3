package bedrock

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

var textDeltaCases = []string{
	`{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"abcdefghijkl"}`,
	`{"delta":{"text":"caf\u00e9 \"quoted\"\n\ud83d\ude00"},"contentBlockIndex":3}`,
	`{"contentBlockIndex":0,"delta":{"text":""}}`,
	`{"contentBlockIndex":0,"delta":{"text":"<b>&amp;</b> \u2028"}}`,
	`{"contentBlockIndex":0,"delta":{"text":null}}`,
	`{"contentBlockIndex":0,"delta":{"text":"a","text":"b"}}`,
	`{"contentBlockIndex":0,"delta":{"Text":"a"}}`,
	`{"contentBlockIndex":0,"delta":{"toolUse":{"input":"{\"a\":"}}}`,
	`{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"hm"}}}`,
	`{"contentBlockIndex":0.5,"delta":{"text":"a"}}`,
	`{"contentBlockIndex":0,"delta":{"text":"a"},"Delta":{"text":"b"}}`,
	`{"contentBlockIndex":0,"delta":{"text":"a"},"delta":{"text":"b"}}`,
	`{"contentBlockIndex":0,"delta":{"text":"\ud800"}}`,
	"{\"contentBlockIndex\":0,\"delta\":{\"text\":\"\xff\"}}",
	`{"contentBlockIndex":0,"delta":{"text":"a"}`,
	`{"contentBlockIndex":0,"delta":{"text":5}}`,
}

// checkTextDelta holds the fast path to the full one: the same typed chunk, or none, and a Raw that says the
// same as the typed chunk.
func checkTextDelta(t *testing.T, data []byte) {
	t.Helper()
	tr := New()
	tr.now = func() time.Time { return time.Unix(1700000000, 0) }
	tr.newID = func() string { return "abc" }
	p := tr.NewChatStream(&sdk.Target{Model: "anthropic.claude-x"}, &sdk.ChatRequest{}).(*streamParser)
	got, ok := p.fastTextDelta(data, nil)
	if !ok {
		return
	}
	var e contentBlockDeltaEvent
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("%q: taken by the fast path, refused by encoding/json: %v", data, err)
	}
	if e.Delta.Text == nil || e.Delta.ToolUse != nil || e.Delta.ReasoningContent != nil {
		t.Fatalf("%q: taken by the fast path, not a text delta to encoding/json", data)
	}
	if *e.Delta.Text == "" {
		if len(got) != 0 {
			t.Fatalf("%q: an empty text gave chunks %+v", data, got)
		}
		return
	}
	if len(got) != 1 || got[0].Choices[0].Delta.Content != *e.Delta.Text {
		t.Fatalf("%q: chunks %+v, want one with %q", data, got, *e.Delta.Text)
	}
	var fromRaw sdk.Chunk
	if err := json.Unmarshal(got[0].Raw, &fromRaw); err != nil {
		t.Fatalf("%q: Raw %s: %v", data, got[0].Raw, err)
	}
	typed := *got[0]
	typed.Raw = nil
	if !reflect.DeepEqual(fromRaw, typed) {
		t.Fatalf("%q: Raw says %+v, the chunk %+v", data, fromRaw, typed)
	}
}

func TestFastTextDeltaMatchesFullPath(t *testing.T) {
	t.Parallel()
	for _, c := range textDeltaCases {
		checkTextDelta(t, []byte(c))
	}
	for i, c := range textDeltaCases {
		tr := New()
		p := tr.NewChatStream(&sdk.Target{Model: "m"}, &sdk.ChatRequest{}).(*streamParser)
		_, ok := p.fastTextDelta([]byte(c), nil)
		// A lone surrogate escape is copied as Bedrock sent it: to encoding/json (and so to the typed chunk) it
		// is U+FFFD either way.
		if want := i < 4 || i == 12; ok != want {
			t.Errorf("%s: taken %v, want %v", c, ok, want)
		}
	}
}

func FuzzFastTextDelta(f *testing.F) {
	for _, c := range textDeltaCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkTextDelta(t, data) })
}
