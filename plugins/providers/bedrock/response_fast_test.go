package bedrock

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

var converseCases = []string{
	`{"output":{"message":{"role":"assistant","content":[{"text":"Hi \"there\"\n"},{"text":"!"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":4,"totalTokens":7},"metrics":{"latencyMs":120}}`,
	`{"output":{"message":{"role":"assistant","content":[{"text":"x"}]}},"stopReason":"max_tokens","usage":{"inputTokens":3,"outputTokens":4,"totalTokens":7,"cacheReadInputTokens":5,"cacheWriteInputTokens":null}}`,
	`{"output":{"message":null},"usage":null}`,
	`{"output":null,"stopReason":null,"usage":{"inputTokens":null}}`,
	`{"output":{"message":{"content":null,"role":"assistant"}}}`,
	`{"output":{"message":{"content":[{"text":null}]}}}`,
	`{"output":{"message":{"content":[{"toolUse":{"toolUseId":"t","name":"f","input":{"a":1}}}]}},"stopReason":"tool_use"}`,
	`{"output":{"message":{"content":[{"reasoningContent":{"reasoningText":{"text":"hm","signature":"s"}}},{"text":"ok"}]}}}`,
	`{"output":{"message":{"content":[{"text":"a","tooluse":{}}]}}}`,
	`{"output":{"message":{"content":[{"text":"a","text":"b"}]}}}`,
	`{"output":{"message":{"content":[{"TEXT":"a"}]}}}`,
	`{"output":{},"stopreason":"end_turn"}`,
	`{"output":{},"StopReason":"end_turn"}`,
	`{"output":{},"output":{}}`,
	`{"output":{"message":{"content":[1]}}}`,
	`{"output":{"message":{"content":{}}}}`,
	`{"usage":{"inputTokens":1.5}}`,
	`{"usage":{"inputTokens":"1"}}`,
	`{"usage":{"inputTokens":01}}`,
	`{"usage":{"inputTokens":-0,"outputTokens":99999999999999999999}}`,
	`{"usage":{"cacheReadInputTokens":2147483648}}`,
	`{"usage":{"cacheDetails":[]}}`,
	`{"usage":{"inputtokens":1}}`,
	`{"metrics":{"latencyMs":}}`,
	`{"x":[1,}`,
	`{"stopReason":"\ud83d\ude00 \u00e9"}`,
	`{"stopReason":"end_turn"} x`,
	`{"stopReason":5}`,
	`{"message":"ValidationException"}`,
}

// The fast decoder gives what encoding/json gives, or hands the answer to it.
func checkConverseDecoding(t *testing.T, body []byte) {
	t.Helper()
	var want converseResponse
	wantErr := json.Unmarshal(body, &want)
	var got converseResponse
	if !decodeConverseFast(body, &got) {
		return
	}
	if wantErr != nil {
		t.Fatalf("%q: taken by the fast decoder, refused by encoding/json: %v", body, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", body, got, want)
	}
}

func TestDecodeConverseFastMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range converseCases {
		checkConverseDecoding(t, []byte(c))
	}
	// The usual answers are taken; tool and reasoning blocks, and keys that encoding/json would fold onto a
	// field, are left to encoding/json.
	for _, c := range converseCases[:6] {
		var cr converseResponse
		if !decodeConverseFast([]byte(c), &cr) {
			t.Errorf("%s: not taken by the fast decoder", c)
		}
	}
	for _, c := range append(converseCases[6:16:16], converseCases[22]) {
		var cr converseResponse
		if decodeConverseFast([]byte(c), &cr) {
			t.Errorf("%s: taken by the fast decoder", c)
		}
	}
}

func FuzzConverseDecoding(f *testing.F) {
	for _, c := range converseCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkConverseDecoding(t, body) })
}

func BenchmarkParseConverse(b *testing.B) {
	body := []byte(`{"output":{"message":{"role":"assistant","content":[{"text":"` +
		strings.Repeat("The quick brown fox jumps over the lazy dog. ", 22) + `"}]}},"stopReason":"end_turn",` +
		`"usage":{"inputTokens":19,"outputTokens":150,"totalTokens":169},"metrics":{"latencyMs":412}}`)
	tr := New()
	target := &sdk.Target{Model: "anthropic.claude-3-haiku-20240307-v1:0"}
	req := &sdk.ChatRequest{Model: "claude"}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := tr.ParseChat(target, req, &sdk.HTTPResponse{Body: body}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestJoined checks the text of an answer's blocks against strings.Join, for none, one and several parts.
func TestJoined(t *testing.T) {
	for _, parts := range [][]string{nil, {""}, {"Hello"}, {"Hello", " there."}, {"a", "", "bc", "def"}} {
		var j joined
		for _, p := range parts {
			j.add(p)
		}
		want := strings.Join(parts, "")
		if j.String() != want || j.len() != len(want) {
			t.Errorf("%q: %q (len %d), want %q", parts, j.String(), j.len(), want)
		}
	}
}
