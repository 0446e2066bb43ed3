package anthropic

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

// Thinking blocks are kept byte for byte, in order, whatever blocks surround them; the other blocks are read
// from the same single decoding.
func TestParseMessagesResponseKeepsThinkingBlocks(t *testing.T) {
	t.Parallel()
	thinking := `{"type":"thinking","thinking":"Let me see.","signature":"sig=="}`
	redacted := `{"type":"redacted_thinking","data":"EmwKAhgB"}`
	body := `{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[` + thinking + `,` +
		`{"type":"text","text":"Hello "},` + redacted + `,{"type":"text","text":"world"},` +
		`{"type":"tool_use","id":"toolu_1","name":"get","input":{ "a" : 1 }}],` +
		`"stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":7}}`
	resp, err := ParseMessagesResponse([]byte(body), &sdk.ChatRequest{Model: "m"}, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := resp.Choices[0].Message
	if m.Content.Text != "Hello world" || m.ReasoningContent != "Let me see." {
		t.Fatalf("content %q, reasoning %q", m.Content.Text, m.ReasoningContent)
	}
	if len(m.ToolCalls) != 1 || m.ToolCalls[0].Function.Arguments != `{"a":1}` {
		t.Fatalf("tool calls %+v", m.ToolCalls)
	}
	if !strings.Contains(string(resp.Raw), `"thinking_blocks":[`+thinking+`,`+redacted+`]`) {
		t.Fatalf("the encoded answer lacks the blocks: %s", resp.Raw)
	}
	if resp.Usage == nil || resp.Usage.TotalTokens != 12 {
		t.Fatalf("usage %+v", resp.Usage)
	}
}

func TestParseMessagesResponseRejectsMalformedContent(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"id":"msg_1","type":"message","content":[{"type":"text","text":5}]}`,
		`{"id":"msg_1","type":"message","content":{"type":"text"}}`,
		`{"id":"msg_1","type":"message","content":[{"type":"thinking","thinking":"x"}`,
	} {
		if _, err := ParseMessagesResponse([]byte(body), &sdk.ChatRequest{}, 1); err == nil {
			t.Errorf("%s: no error", body)
		}
	}
}

func BenchmarkParseMessagesResponse(b *testing.B) {
	body := []byte(`{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[{"type":"text","text":"` +
		strings.Repeat("The quick brown fox jumps over the lazy dog. ", 22) + `"}],"stop_reason":"end_turn","stop_sequence":null,` +
		`"usage":{"input_tokens":19,"output_tokens":150,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}`)
	req := &sdk.ChatRequest{Model: "claude"}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := ParseMessagesResponse(body, req, 1); err != nil {
			b.Fatal(err)
		}
	}
}

var answerCases = []string{
	`{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"Hi \"there\"\n"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":4,"cache_creation_input_tokens":null,"cache_read_input_tokens":0,"service_tier":"standard"}}`,
	`{"id":"m","content":[{"type":"tool_use","id":"t","name":"f","input":{"a":[1,2]}},{"type":"tool_use","id":"u","name":"g","input":null},{"type":"thinking","thinking":"hm","signature":"s"},{"type":"redacted_thinking","data":"d"}],"stop_sequence":"END"}`,
	`{"id":"m","content":[{"type":"text","text":"x","citations":[{"k":1}]}],"container":{"id":"c"}}`,
	`{"id":"m","content":null,"usage":null}`,
	`{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`,
	`{"id":"m","ID":"n"}`,
	`{"id":"m","id":"n"}`,
	`{"id":"m","content":[{"type":"text","type":"x"}]}`,
	`{"id":"m","content":[{"Type":"text"}]}`,
	`{"id":"m","content":[1]}`,
	`{"id":"m","content":{}}`,
	`{"id":"m","usage":{"input_tokens":1.5}}`,
	`{"id":"m","usage":{"input_tokens":"1"}}`,
	`{"id":"m","usage":{"input_tokens":01}}`,
	`{"id":"m","usage":{"input_tokens":+1}}`,
	`{"id":"m","usage":{"input_tokens":-0,"output_tokens":99999999999999999999}}`,
	`{"id":"m","usage":{"output_tokens_details":{"thinking_tokens":5}}}`,
	`{"id":"m","usage":{"output_tokens_details":{"thinking_tokens":null,"other":[1]}}}`,
	`{"id":"m","usage":{"output_tokens_details":null}}`,
	`{"id":"m","usage":{"output_tokens_details":{"thinking_tokens":1,"thinking_tokens":2}}}`,
	`{"id":"m","usage":{"output_tokens_details":{"Thinking_tokens":1}}}`,
	`{"id":"m","usage":{"output_tokens_details":[1]}}`,
	`{"id":"m","content":[{"type":"tool_use","input":{"a":}}]}`,
	`{"id":"m","x":tru}`,
	`{"id":"m","x":[1,}`,
	`{"id":"\ud83d\ude00 \u00e9","stop_reason":null}`,
	`{"id":"m"} x`,
	`{"id":5}`,
}

// The fast decoder gives what encoding/json gives, or hands the answer to it.
func checkAnswerDecoding(t *testing.T, body []byte) {
	t.Helper()
	var want wireResponse
	wantErr := json.Unmarshal(body, &want)
	var got wireResponse
	if !decodeAnswerFast(body, &got) {
		return
	}
	if wantErr != nil {
		t.Fatalf("%q: taken by the fast decoder, refused by encoding/json: %v", body, wantErr)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", body, got, want)
	}
}

func TestDecodeAnswerFastMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range answerCases {
		checkAnswerDecoding(t, []byte(c))
	}
	for _, c := range append(answerCases[:4:4], answerCases[16], answerCases[17], answerCases[18]) {
		var w wireResponse
		if !decodeAnswerFast([]byte(c), &w) {
			t.Errorf("%s: not taken by the fast decoder", c)
		}
	}
}

func FuzzDecodeAnswer(f *testing.F) {
	for _, c := range answerCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkAnswerDecoding(t, body) })
}
