package sdk_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

func TestCompletionRequestExtraRawAndControls(t *testing.T) {
	t.Parallel()
	body := `{"model":"davinci","prompt":"once upon","max_tokens":5,"echo":false,"top_k": 20 ,` +
		`"tags":["a"],"num_retries":2,"vendor":{"x":[1, 2]}}`
	var r sdk.CompletionRequest
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if string(r.Raw) != body {
		t.Errorf("Raw = %s", r.Raw)
	}
	wantExtra := map[string]json.RawMessage{"top_k": json.RawMessage("20"), "vendor": json.RawMessage(`{"x":[1, 2]}`)}
	if !reflect.DeepEqual(r.Extra, wantExtra) {
		t.Errorf("Extra = %q, want %q", r.Extra, wantExtra)
	}
	if !reflect.DeepEqual(r.Tags, []string{"a"}) || r.NumRetries == nil || *r.NumRetries != 2 {
		t.Errorf("Controls = %+v", r.Controls)
	}
	if r.Prompt.Len() != 1 || r.Prompt.Texts[0] != "once upon" || *r.MaxTokens != 5 {
		t.Errorf("typed fields = %+v", r)
	}

	enc, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back sdk.CompletionRequest
	if err := json.Unmarshal(enc, &back); err != nil {
		t.Fatal(err)
	}
	back.Raw, r.Raw = nil, nil
	r.Extra["vendor"] = json.RawMessage(`{"x":[1,2]}`) // encoding/json compacts what MarshalJSON returns
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip via %s\n= %+v\nwant %+v", enc, back, r)
	}
}

func TestInputForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want sdk.Input
		len  int
		// out is the encoding of the decoded input; "" means the input itself.
		out string
	}{
		{"one string", `"hello"`, sdk.Input{Texts: []string{"hello"}, Single: true}, 1, ""},
		{"strings", `["a","b"]`, sdk.Input{Texts: []string{"a", "b"}}, 2, ""},
		{"one string in an array", `["a"]`, sdk.Input{Texts: []string{"a"}}, 1, ""},
		{"token ids", `[1,2,3]`, sdk.Input{Tokens: [][]int{{1, 2, 3}}, Single: true}, 1, ""},
		{"token id arrays", `[[1,2],[3]]`, sdk.Input{Tokens: [][]int{{1, 2}, {3}}}, 2, ""},
		{"spaces", ` [ "a" , "b" ] `, sdk.Input{Texts: []string{"a", "b"}}, 2, `["a","b"]`},
		{"empty array", `[]`, sdk.Input{}, 0, ""},
		{"null", `null`, sdk.Input{}, 0, `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := sdk.TextInput("stale", "values")
			if err := json.Unmarshal([]byte(tt.in), &in); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, tt.want) || in.Len() != tt.len {
				t.Errorf("decoded %+v (Len %d), want %+v (Len %d)", in, in.Len(), tt.want, tt.len)
			}
			out := tt.out
			if out == "" {
				out = tt.in
			}
			if b, err := json.Marshal(in); err != nil || string(b) != out {
				t.Errorf("Marshal = %s, %v; want %s", b, err, out)
			}
		})
	}
}

func TestInputRejectsOtherTypes(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`5`, `true`, `{"text":"a"}`, `["a",1]`, `[[1],"a"]`, `[1,"a"]`, `[1.5]`} {
		var got sdk.Input
		if err := json.Unmarshal([]byte(in), &got); err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want an error", in, got)
		}
	}
	var te *json.UnmarshalTypeError
	var got sdk.Input
	if err := json.Unmarshal([]byte(`{}`), &got); !errors.As(err, &te) {
		t.Errorf("Unmarshal({}) = %v, want a type error", err)
	}
}

func TestTextInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   sdk.Input
		want string
	}{
		{sdk.TextInput("a"), `"a"`},
		{sdk.TextInput("a", "b"), `["a","b"]`},
		{sdk.TextInput(), `[]`},
	}
	for _, tt := range tests {
		if b, err := json.Marshal(tt.in); err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.in, b, err, tt.want)
		}
	}
}

func TestCompletionRequestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		req   sdk.CompletionRequest
		param string
	}{
		{sdk.CompletionRequest{Prompt: sdk.TextInput("p")}, "model"},
		{sdk.CompletionRequest{Model: "m"}, "prompt"},
		{sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("p")}, ""},
		{sdk.CompletionRequest{Model: "m", Prompt: sdk.Input{Tokens: [][]int{{1}}}}, ""},
	}
	for _, tt := range tests {
		err := tt.req.Validate()
		if tt.param == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v", tt.req, err)
			}
			continue
		}
		var e *sdk.Error
		if !errors.As(err, &e) || e.Kind != sdk.KindBadRequest || e.Param != tt.param {
			t.Errorf("Validate(%+v) = %v, want a bad request about %s", tt.req, err, tt.param)
		}
	}
}

func TestChatFromCompletion(t *testing.T) {
	t.Parallel()
	so := &sdk.StreamOptions{IncludeUsage: true}
	r := &sdk.CompletionRequest{
		Model: "m", Prompt: sdk.TextInput("Say hi"), MaxTokens: ptr(7), Temperature: ptr(0.5), TopP: ptr(0.9),
		N: ptr(2), Stream: true, StreamOptions: so, Stop: sdk.Stop{"\n"}, PresencePenalty: ptr(0.1),
		FrequencyPenalty: ptr(0.2), LogitBias: map[string]float64{"1": 2}, User: "u", Seed: ptr(int64(3)),
		Controls: sdk.Controls{Tags: []string{"t"}},
		Extra:    map[string]json.RawMessage{"x": json.RawMessage("1")},
		Raw:      json.RawMessage(`{}`),
	}
	got, err := sdk.ChatFromCompletion(r)
	if err != nil {
		t.Fatal(err)
	}
	want := &sdk.ChatRequest{
		Model: "m", Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("Say hi")}},
		MaxTokens: ptr(7), Temperature: ptr(0.5), TopP: ptr(0.9), N: ptr(2), Stream: true, StreamOptions: so,
		Stop: sdk.Stop{"\n"}, PresencePenalty: ptr(0.1), FrequencyPenalty: ptr(0.2),
		LogitBias: map[string]float64{"1": 2}, User: "u", Seed: ptr(int64(3)),
		Controls: sdk.Controls{Tags: []string{"t"}},
	}
	// Raw must stay nil: the completion body is no chat body a translator could forward.
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ChatFromCompletion =\n%+v\nwant\n%+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("the chat request is invalid: %v", err)
	}

	rejected := []struct {
		name  string
		req   sdk.CompletionRequest
		param string
	}{
		{"several prompts", sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("a", "b")}, "prompt"},
		{"no prompt", sdk.CompletionRequest{Model: "m"}, "prompt"},
		{"token prompt", sdk.CompletionRequest{Model: "m", Prompt: sdk.Input{Tokens: [][]int{{1, 2}}, Single: true}}, "prompt"},
		{"echo", sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("a"), Echo: true}, ""},
		{"suffix", sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("a"), Suffix: "end"}, ""},
		{"best_of", sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("a"), BestOf: ptr(2)}, ""},
		{"logprobs", sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("a"), Logprobs: ptr(0)}, ""},
	}
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := sdk.ChatFromCompletion(&tt.req)
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != sdk.KindBadRequest || e.Param != tt.param || c != nil {
				t.Errorf("ChatFromCompletion = %v, %v; want a bad request about %q", c, err, tt.param)
			}
		})
	}
}

func TestCompletionFromChat(t *testing.T) {
	t.Parallel()
	usage := &sdk.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}
	c := &sdk.ChatResponse{ID: "x", Object: "chat.completion", Created: 4, Model: "m", SystemFingerprint: "fp",
		Usage: usage, Choices: []sdk.Choice{
			{Index: 0, FinishReason: "stop", Message: sdk.Message{Role: "assistant", Content: sdk.TextContent("hello")}},
			{Index: 1, FinishReason: "length", Message: sdk.Message{Role: "assistant",
				Content: sdk.PartsContent(sdk.ContentPart{Type: "text", Text: "a"}, sdk.ContentPart{Type: "text", Text: "b"})}},
		}}
	want := &sdk.CompletionResponse{ID: "x", Object: "text_completion", Created: 4, Model: "m",
		SystemFingerprint: "fp", Usage: usage, Choices: []sdk.CompletionChoice{
			{Text: "hello", Index: 0, FinishReason: ptr("stop")},
			{Text: "a\nb", Index: 1, FinishReason: ptr("length")},
		}}
	if got := sdk.CompletionFromChat(c); !reflect.DeepEqual(got, want) {
		t.Errorf("CompletionFromChat = %+v, want %+v", got, want)
	}
	// Clients of the legacy API index choices, so it is an array even when there are none.
	b, _ := json.Marshal(sdk.CompletionFromChat(&sdk.ChatResponse{ID: "x"}))
	if want := `{"id":"x","object":"text_completion","created":0,"model":"","choices":[]}`; string(b) != want {
		t.Errorf("Marshal = %s, want %s", b, want)
	}
}

func TestCompletionChunkFromChat(t *testing.T) {
	t.Parallel()
	chunks := sdk.ChunksFromResponse(&sdk.ChatResponse{ID: "x", Created: 4, Model: "m",
		Usage:   &sdk.Usage{TotalTokens: 3},
		Choices: []sdk.Choice{{Message: sdk.Message{Content: sdk.TextContent("hi")}, FinishReason: "length"}}})
	var texts []string
	var reasons []string
	for _, ch := range chunks {
		out := sdk.CompletionChunkFromChat(ch)
		if out.ID != "x" || out.Object != "text_completion" || out.Created != 4 || out.Model != "m" {
			t.Errorf("chunk header = %+v", out)
		}
		for _, c := range out.Choices {
			texts = append(texts, c.Text)
			if c.FinishReason != nil {
				reasons = append(reasons, *c.FinishReason)
			}
		}
		if ch.Usage != nil && out.Usage != ch.Usage {
			t.Errorf("usage not carried over")
		}
	}
	if strings.Join(texts, "") != "hi" || !reflect.DeepEqual(reasons, []string{"length"}) {
		t.Errorf("texts %q, finish reasons %q", texts, reasons)
	}
	b, _ := json.Marshal(sdk.CompletionChunkFromChat(chunks[0]))
	if want := `{"id":"x","object":"text_completion","created":4,"model":"m","choices":[{"text":"hi","index":0,"logprobs":null,"finish_reason":null}]}`; string(b) != want {
		t.Errorf("Marshal = %s\nwant %s", b, want)
	}
}
