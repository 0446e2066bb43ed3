package sdk_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/switchyard/gateway/sdk"
)

func ptr[T any](v T) *T { return &v }

func decodeChat(t *testing.T, body string) *sdk.ChatRequest {
	t.Helper()
	var r sdk.ChatRequest
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return &r
}

func TestChatRequestKeepsUnknownMembersInExtra(t *testing.T) {
	t.Parallel()
	// Unknown members keep their exact bytes (spacing, number spelling, key order) because OpenAI-compatible
	// upstreams get them as they came.
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],` +
		`"web_search_options" : { "search_context_size" : "low" },"top_k":40,"weird_num":1.50e+2,"flag":true,` +
		`"nothing":null,"list":[ 1 , "two" ],"text":"a \"quoted\" }"}`
	r := decodeChat(t, body)
	want := map[string]string{
		"web_search_options": `{ "search_context_size" : "low" }`,
		"top_k":              "40",
		"weird_num":          "1.50e+2",
		"flag":               "true",
		"nothing":            "null",
		"list":               `[ 1 , "two" ]`,
		"text":               `"a \"quoted\" }"`,
	}
	if len(r.Extra) != len(want) {
		t.Errorf("Extra has %d members, want %d: %q", len(r.Extra), len(want), r.Extra)
	}
	for k, v := range want {
		if got, ok := r.Extra[k]; !ok || string(got) != v {
			t.Errorf("Extra[%q] = %q (present %v), want %q", k, got, ok, v)
		}
	}
	if string(r.Raw) != body {
		t.Errorf("Raw = %s, want the body", r.Raw)
	}
	if r.Model != "gpt-4o" || len(r.Messages) != 1 {
		t.Errorf("typed fields not decoded: %+v", r)
	}
}

func TestChatRequestWithoutUnknownMembersHasNilExtra(t *testing.T) {
	t.Parallel()
	r := decodeChat(t, `{"model":"m","messages":[],"stream":true,"metadata":{"a":1}}`)
	if r.Extra != nil {
		t.Errorf("Extra = %q, want nil", r.Extra)
	}
}

func TestChatRequestControlsAreParsedAndNotExtra(t *testing.T) {
	t.Parallel()
	r := decodeChat(t, `{"model":"m","messages":[{"role":"user","content":"x"}],
		"metadata":{"trace_id":"t1","n":2},"tags":["a","b"],"mock_response":"hello","fallbacks":["g2","g3"],
		"num_retries":3,"timeout":12.5,"cache":{"no-cache":true,"ttl":60}}`)
	want := sdk.Controls{
		Metadata:     map[string]any{"trace_id": "t1", "n": 2.0},
		Tags:         []string{"a", "b"},
		MockResponse: ptr("hello"),
		Fallbacks:    []string{"g2", "g3"},
		NumRetries:   ptr(3),
		Timeout:      ptr(12.5),
		Cache:        map[string]any{"no-cache": true, "ttl": 60.0},
	}
	if !reflect.DeepEqual(r.Controls, want) {
		t.Errorf("Controls = %+v\nwant %+v", r.Controls, want)
	}
	for k := range r.Extra {
		if sdk.IsControlField([]byte(k)) {
			t.Errorf("control field %q is in Extra", k)
		}
	}
	if len(r.Extra) != 0 {
		t.Errorf("Extra = %q, want none", r.Extra)
	}
}

func TestIsControlField(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"metadata", "tags", "mock_response", "fallbacks", "num_retries", "timeout", "cache"} {
		if !sdk.IsControlField([]byte(name)) {
			t.Errorf("IsControlField(%q) = false", name)
		}
	}
	for _, name := range []string{"model", "messages", "stream", "user", "tools", "Metadata", "", "extra"} {
		if sdk.IsControlField([]byte(name)) {
			t.Errorf("IsControlField(%q) = true", name)
		}
	}
}

// A json.Decoder hands UnmarshalJSON a slice of its own buffer, which it reuses for the next value; Raw and
// Extra must not change when it does.
func TestRequestsOwnTheirRawBytes(t *testing.T) {
	t.Parallel()
	first := `{"model":"a","messages":[],"x_first":{"k":"first"}}`
	second := `{"model":"` + strings.Repeat("b", 100) + `","messages":[],"x_second":"` + strings.Repeat("z", 200) + `"}`
	t.Run("chat", func(t *testing.T) {
		t.Parallel()
		dec := json.NewDecoder(iotest.OneByteReader(strings.NewReader(first + "\n" + second)))
		var a, b sdk.ChatRequest
		if err := dec.Decode(&a); err != nil {
			t.Fatal(err)
		}
		if err := dec.Decode(&b); err != nil {
			t.Fatal(err)
		}
		if string(a.Raw) != first || string(a.Extra["x_first"]) != `{"k":"first"}` {
			t.Errorf("after the next Decode: Raw = %s, Extra = %q", a.Raw, a.Extra)
		}
	})
	t.Run("completion", func(t *testing.T) {
		t.Parallel()
		in := `{"model":"a","prompt":"p","x":[1]}`
		dec := json.NewDecoder(iotest.OneByteReader(strings.NewReader(in + second)))
		var a, b sdk.CompletionRequest
		if err := dec.Decode(&a); err != nil {
			t.Fatal(err)
		}
		if err := dec.Decode(&b); err != nil {
			t.Fatal(err)
		}
		if string(a.Raw) != in || string(a.Extra["x"]) != `[1]` {
			t.Errorf("after the next Decode: Raw = %s, Extra = %q", a.Raw, a.Extra)
		}
	})
	t.Run("embedding", func(t *testing.T) {
		t.Parallel()
		in := `{"model":"a","input":"p","x":[1]}`
		dec := json.NewDecoder(iotest.OneByteReader(strings.NewReader(in + second)))
		var a, b sdk.EmbeddingRequest
		if err := dec.Decode(&a); err != nil {
			t.Fatal(err)
		}
		if err := dec.Decode(&b); err != nil {
			t.Fatal(err)
		}
		if string(a.Raw) != in || string(a.Extra["x"]) != `[1]` {
			t.Errorf("after the next Decode: Raw = %s, Extra = %q", a.Raw, a.Extra)
		}
	})
}

func TestChatRequestMarshalAppendsExtraInNameOrder(t *testing.T) {
	t.Parallel()
	r := sdk.ChatRequest{
		Model:    "m",
		Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("hi")}},
		Extra:    map[string]json.RawMessage{"z_last": json.RawMessage(`"x"`), "a_first": json.RawMessage(`{"k":[1]}`)},
		Raw:      json.RawMessage(`{"ignored":true}`),
	}
	got, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"model":"m","messages":[{"role":"user","content":"hi"}],"a_first":{"k":[1]},"z_last":"x"}`
	if string(got) != want {
		t.Errorf("Marshal =\n%s\nwant\n%s", got, want)
	}
}

func TestChatRequestRoundTrip(t *testing.T) {
	t.Parallel()
	// Compact input, because encoding/json compacts what a MarshalJSON returns.
	bodies := []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"gpt-4o","messages":[{"role":"system","content":"be brief"},` +
			`{"role":"user","content":[{"type":"text","text":"what?","cache_control":{"type":"ephemeral"}},` +
			`{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]},` +
			`{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",` +
			`"function":{"name":"f","arguments":"{\"a\":1}"}}]},` +
			`{"role":"tool","content":"42","tool_call_id":"c1"}],` +
			`"stream":true,"stream_options":{"include_usage":true},"temperature":0.2,"top_p":0.9,"n":2,` +
			`"stop":["\n\n","END"],"max_tokens":100,"max_completion_tokens":120,"presence_penalty":0.5,` +
			`"frequency_penalty":-0.5,"logit_bias":{"50256":-100},"logprobs":true,"top_logprobs":3,"seed":7,` +
			`"user":"u1","tools":[{"type":"function","function":{"name":"f","description":"d",` +
			`"parameters":{"type":"object","properties":{"a":{"type":"integer"}}},"strict":true}}],` +
			`"tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":false,` +
			`"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"},"strict":true}},` +
			`"reasoning_effort":"low","metadata":{"k":"v"},"tags":["t"],"mock_response":"ok","fallbacks":["g"],` +
			`"num_retries":1,"timeout":3,"cache":{"ttl":5},"top_k":40,"vendor_thing":{"nested":[true,null]}}`,
	}
	for _, body := range bodies {
		first := decodeChat(t, body)
		enc, err := json.Marshal(first)
		if err != nil {
			t.Fatal(err)
		}
		second := decodeChat(t, string(enc))
		first.Raw, second.Raw = nil, nil
		if !reflect.DeepEqual(first, second) {
			t.Errorf("round trip of %s\nencoded as %s\ndecodes to %+v\nwant %+v", body, enc, second, first)
		}
		var in, out any
		_ = json.Unmarshal([]byte(body), &in)
		_ = json.Unmarshal(enc, &out)
		if !reflect.DeepEqual(in, out) {
			t.Errorf("encoding of %s means something else: %s", body, enc)
		}
	}
}

func TestContent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		json     string
		want     sdk.Content
		text     string
		reencode string
	}{
		{"string", `"hello"`, sdk.Content{Text: "hello"}, "hello", `"hello"`},
		{"empty string", `""`, sdk.Content{}, "", `""`},
		{"null", `null`, sdk.Content{Null: true}, "", `null`},
		{"empty parts", `[]`, sdk.Content{IsParts: true, Parts: []sdk.ContentPart{}}, "", `[]`},
		{"text parts joined by newlines", `[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"u"}},{"type":"text","text":"b"}]`,
			sdk.PartsContent(
				sdk.ContentPart{Type: "text", Text: "a"},
				sdk.ContentPart{Type: "image_url", ImageURL: &sdk.ImageURL{URL: "u"}},
				sdk.ContentPart{Type: "text", Text: "b"}),
			"a\nb",
			`[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"u"}},{"type":"text","text":"b"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var c sdk.Content
			if err := json.Unmarshal([]byte(tt.json), &c); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, tt.want) {
				t.Errorf("decoded %+v, want %+v", c, tt.want)
			}
			if s := c.String(); s != tt.text {
				t.Errorf("String() = %q, want %q", s, tt.text)
			}
			b, err := json.Marshal(c)
			if err != nil || string(b) != tt.reencode {
				t.Errorf("Marshal = %s, %v; want %s", b, err, tt.reencode)
			}
		})
	}
}

func TestContentRejectsOtherTypes(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`5`, `true`, `{"type":"text"}`} {
		var m sdk.Message
		err := json.Unmarshal([]byte(`{"role":"user","content":`+in+`}`), &m)
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			t.Errorf("content %s: err = %v, want a *json.UnmarshalTypeError", in, err)
		}
	}
}

func TestContentBuiltInCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c    sdk.Content
		want string
	}{
		{sdk.TextContent("x"), `"x"`},
		{sdk.PartsContent(), `[]`},
		{sdk.Content{}, `""`},
		{sdk.Content{Null: true}, `null`},
		{sdk.Content{Null: true, Text: "set later"}, `"set later"`},
	}
	for _, tt := range tests {
		if b, err := json.Marshal(tt.c); err != nil || string(b) != tt.want {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.c, b, err, tt.want)
		}
	}
}

func TestContentParts(t *testing.T) {
	t.Parallel()
	body := `{"role":"user","cache_control":{"type":"ephemeral"},"content":[
		{"type":"text","text":"describe","cache_control":{"type":"ephemeral","ttl":"5m"}},
		{"type":"image_url","image_url":{"url":"https://x/cat.png","detail":"high","format":"image/png"}},
		{"type":"image_url","image_url":"data:image/png;base64,iVBORw0KGgo="},
		{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},
		{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}},
		{"type":"file","file":{"file_id":"file-abc"}}]}`
	var m sdk.Message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	want := sdk.Message{
		Role:         "user",
		CacheControl: json.RawMessage(`{"type":"ephemeral"}`),
		Content: sdk.PartsContent(
			sdk.ContentPart{Type: "text", Text: "describe", CacheControl: json.RawMessage(`{"type":"ephemeral","ttl":"5m"}`)},
			sdk.ContentPart{Type: "image_url", ImageURL: &sdk.ImageURL{URL: "https://x/cat.png", Detail: "high", Format: "image/png"}},
			sdk.ContentPart{Type: "image_url", ImageURL: &sdk.ImageURL{URL: "data:image/png;base64,iVBORw0KGgo="}},
			sdk.ContentPart{Type: "input_audio", InputAudio: &sdk.InputAudio{Data: "UklGRg==", Format: "wav"}},
			sdk.ContentPart{Type: "file", File: &sdk.File{FileData: "data:application/pdf;base64,JVBERi0=", Filename: "a.pdf"}},
			sdk.ContentPart{Type: "file", File: &sdk.File{FileID: "file-abc"}},
		),
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", m, want)
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{
		`"cache_control":{"type":"ephemeral"}`,
		`"cache_control":{"type":"ephemeral","ttl":"5m"}`,
		// The bare-string image form is written in the object form every provider reads.
		`"image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}`,
	} {
		if !bytes.Contains(b, []byte(frag)) {
			t.Errorf("Marshal = %s, missing %s", b, frag)
		}
	}
	var back sdk.Message
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

func TestImageURLForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want sdk.ImageURL
	}{
		{`"https://x/a.png"`, sdk.ImageURL{URL: "https://x/a.png"}},
		{` "https://x/a.png" `, sdk.ImageURL{URL: "https://x/a.png"}},
		{`{"url":"u","detail":"auto"}`, sdk.ImageURL{URL: "u", Detail: "auto"}},
	}
	for _, tt := range tests {
		var u sdk.ImageURL
		if err := json.Unmarshal([]byte(tt.in), &u); err != nil || u != tt.want {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", tt.in, u, err, tt.want)
		}
	}
	var u sdk.ImageURL
	if err := json.Unmarshal([]byte(`5`), &u); err == nil {
		t.Error("Unmarshal(5) succeeded")
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    sdk.Stop
		wantErr bool
	}{
		{`"END"`, sdk.Stop{"END"}, false},
		{`""`, sdk.Stop{""}, false},
		{`["a","\n"]`, sdk.Stop{"a", "\n"}, false},
		{`[]`, sdk.Stop{}, false},
		{`null`, nil, false},
		{`5`, nil, true},
		{`true`, nil, true},
		{`{"a":1}`, nil, true},
		{`[1,2]`, nil, true},
		{`["a",null,3]`, nil, true},
	}
	for _, tt := range tests {
		s := sdk.Stop{"stale"}
		err := json.Unmarshal([]byte(tt.in), &s)
		if tt.wantErr {
			var te *json.UnmarshalTypeError
			if !errors.As(err, &te) {
				t.Errorf("Unmarshal(%s) = %v, want a type error", tt.in, err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(s, tt.want) {
			t.Errorf("Unmarshal(%s) = %#v, %v; want %#v", tt.in, s, err, tt.want)
		}
	}
}

func TestStopInRequest(t *testing.T) {
	t.Parallel()
	r := decodeChat(t, `{"model":"m","messages":[],"stop":"\n"}`)
	if !reflect.DeepEqual(r.Stop, sdk.Stop{"\n"}) {
		t.Errorf("Stop = %q", r.Stop)
	}
	if r = decodeChat(t, `{"model":"m","messages":[],"stop":null}`); r.Stop != nil {
		t.Errorf("Stop = %q, want nil", r.Stop)
	}
	var bad sdk.ChatRequest
	if err := json.Unmarshal([]byte(`{"model":"m","messages":[],"stop":7}`), &bad); err == nil {
		t.Error("a numeric stop was accepted")
	}
	// One stop string is sent as an array, which every provider that takes stop sequences accepts.
	b, _ := json.Marshal(sdk.ChatRequest{Model: "m", Stop: sdk.Stop{"x"}})
	if !bytes.Contains(b, []byte(`"stop":["x"]`)) {
		t.Errorf("Marshal = %s", b)
	}
}

func TestToolChoice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want sdk.ToolChoice
	}{
		{`"auto"`, sdk.ToolChoice{Mode: "auto"}},
		{`"none"`, sdk.ToolChoice{Mode: "none"}},
		{`"required"`, sdk.ToolChoice{Mode: "required"}},
		{`{"type":"function","function":{"name":"get_weather"}}`, sdk.ToolChoice{Mode: "function", Function: "get_weather"}},
	}
	for _, tt := range tests {
		tc := sdk.ToolChoice{Function: "stale"}
		if err := json.Unmarshal([]byte(tt.in), &tc); err != nil || tc != tt.want {
			t.Errorf("Unmarshal(%s) = %+v, %v; want %+v", tt.in, tc, err, tt.want)
			continue
		}
		if b, err := json.Marshal(tc); err != nil || string(b) != tt.in {
			t.Errorf("Marshal(%+v) = %s, %v; want %s", tc, b, err, tt.in)
		}
	}
	for _, bad := range []string{`5`, `["auto"]`, `{"type":"function","function":"f"}`} {
		var tc sdk.ToolChoice
		if err := json.Unmarshal([]byte(bad), &tc); err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want an error", bad, tc)
		}
	}
	r := decodeChat(t, `{"model":"m","messages":[],"tool_choice":null}`)
	if r.ToolChoice != nil {
		t.Errorf("tool_choice null gave %+v", r.ToolChoice)
	}
}

func TestResponseFormatJSONSchema(t *testing.T) {
	t.Parallel()
	schema := `{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer"}},"required":["b"]}`
	r := decodeChat(t, `{"model":"m","messages":[],"response_format":{"type":"json_schema","json_schema":`+
		`{"name":"answer","description":"d","schema":`+schema+`,"strict":true}}}`)
	want := &sdk.ResponseFormat{Type: "json_schema", JSONSchema: &sdk.JSONSchema{
		Name: "answer", Description: "d", Schema: json.RawMessage(schema), Strict: ptr(true)}}
	if !reflect.DeepEqual(r.ResponseFormat, want) {
		t.Errorf("ResponseFormat = %+v, want %+v", r.ResponseFormat, want)
	}
	b, _ := json.Marshal(r.ResponseFormat)
	// The schema's key order matters to strict structured output, so it must come back as it was.
	if !bytes.Contains(b, []byte(`"schema":`+schema)) {
		t.Errorf("Marshal = %s", b)
	}
	r = decodeChat(t, `{"model":"m","messages":[],"response_format":{"type":"json_object"}}`)
	if r.ResponseFormat.Type != "json_object" || r.ResponseFormat.JSONSchema != nil {
		t.Errorf("json_object gave %+v", r.ResponseFormat)
	}
}

func TestWantsUsageInStream(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]bool{
		`{"model":"m","messages":[]}`:                                         false,
		`{"model":"m","messages":[],"stream_options":{}}`:                     false,
		`{"model":"m","messages":[],"stream_options":{"include_usage":true}}`: true,
	} {
		if got := decodeChat(t, body).WantsUsageInStream(); got != want {
			t.Errorf("%s: WantsUsageInStream = %v", body, got)
		}
	}
}

func TestChatRequestValidate(t *testing.T) {
	t.Parallel()
	user := sdk.Message{Role: "user", Content: sdk.TextContent("hi")}
	tests := []struct {
		name      string
		req       sdk.ChatRequest
		param     string
		inMessage string
	}{
		{"missing model", sdk.ChatRequest{Messages: []sdk.Message{user}}, "model", "model"},
		{"nil messages", sdk.ChatRequest{Model: "m"}, "messages", "messages"},
		{"empty messages", sdk.ChatRequest{Model: "m", Messages: []sdk.Message{}}, "messages", "messages"},
		{"missing role", sdk.ChatRequest{Model: "m", Messages: []sdk.Message{user, {Content: sdk.TextContent("x")}}},
			"messages[1].role", "messages[1].role: required"},
		{"unknown role", sdk.ChatRequest{Model: "m", Messages: []sdk.Message{user, user, {Role: "robot"}}},
			"messages[2].role", `messages[2].role: "robot"`},
		{"n zero", sdk.ChatRequest{Model: "m", Messages: []sdk.Message{user}, N: ptr(0)}, "n", "n:"},
		{"n negative", sdk.ChatRequest{Model: "m", Messages: []sdk.Message{user}, N: ptr(-1)}, "n", "n:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.req.Validate()
			var e *sdk.Error
			if !errors.As(err, &e) {
				t.Fatalf("Validate() = %v, want an *sdk.Error", err)
			}
			if e.Kind != sdk.KindBadRequest || e.HTTPStatus() != 400 || e.Param != tt.param ||
				!strings.Contains(e.Message, tt.inMessage) {
				t.Errorf("Validate() = %+v, want a bad request about %q mentioning %q", e, tt.param, tt.inMessage)
			}
		})
	}
	ok := sdk.ChatRequest{Model: "m", N: ptr(1)}
	for _, role := range []string{"system", "developer", "user", "assistant", "tool", "function"} {
		ok.Messages = append(ok.Messages, sdk.Message{Role: role})
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("Validate() = %v for a valid request", err)
	}
}

func TestChunksFromResponse(t *testing.T) {
	t.Parallel()
	head := func() sdk.Chunk {
		return sdk.Chunk{ID: "id1", Object: "chat.completion.chunk", Created: 99, Model: "m", SystemFingerprint: "fp"}
	}
	with := func(c sdk.Chunk, choices []sdk.ChunkChoice, u *sdk.Usage) *sdk.Chunk {
		c.Choices, c.Usage = choices, u
		return &c
	}
	resp := func(u *sdk.Usage, choices ...sdk.Choice) *sdk.ChatResponse {
		return &sdk.ChatResponse{ID: "id1", Object: "chat.completion", Created: 99, Model: "m",
			SystemFingerprint: "fp", Choices: choices, Usage: u}
	}
	calls := []sdk.ToolCall{
		{ID: "c1", Type: "function", Function: sdk.FunctionCall{Name: "f", Arguments: `{}`}},
		{ID: "c2", Type: "function", Function: sdk.FunctionCall{Name: "g", Arguments: `{"x":1}`}},
	}
	indexed := []sdk.ToolCall{calls[0], calls[1]}
	indexed[0].Index, indexed[1].Index = ptr(0), ptr(1)
	usage := &sdk.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7}

	tests := []struct {
		name string
		resp *sdk.ChatResponse
		want []*sdk.Chunk
	}{
		{
			name: "one choice, defaults for role and finish reason, no usage",
			resp: resp(nil, sdk.Choice{Message: sdk.Message{Content: sdk.TextContent("hi")}}),
			want: []*sdk.Chunk{
				with(head(), []sdk.ChunkChoice{{Delta: sdk.Delta{Role: "assistant", Content: "hi"}}}, nil),
				with(head(), []sdk.ChunkChoice{{FinishReason: ptr("stop")}}, nil),
			},
		},
		{
			name: "several choices with tool calls, reasoning and usage",
			resp: resp(usage,
				sdk.Choice{Index: 0, FinishReason: "tool_calls", Logprobs: json.RawMessage(`{"content":[]}`),
					Message: sdk.Message{Role: "assistant", Content: sdk.Content{Null: true}, ToolCalls: calls,
						ReasoningContent: "thinking"}},
				sdk.Choice{Index: 1, FinishReason: "length", Message: sdk.Message{Role: "assistant",
					Content: sdk.PartsContent(sdk.ContentPart{Type: "text", Text: "a"}, sdk.ContentPart{Type: "text", Text: "b"}),
					Refusal: "no"}}),
			want: []*sdk.Chunk{
				with(head(), []sdk.ChunkChoice{{Index: 0, Logprobs: json.RawMessage(`{"content":[]}`),
					Delta: sdk.Delta{Role: "assistant", ToolCalls: indexed, ReasoningContent: "thinking"}}}, nil),
				with(head(), []sdk.ChunkChoice{{Index: 1, Delta: sdk.Delta{Role: "assistant", Content: "a\nb", Refusal: "no"}}}, nil),
				with(head(), []sdk.ChunkChoice{{Index: 0, FinishReason: ptr("tool_calls")}, {Index: 1, FinishReason: ptr("length")}}, nil),
				with(head(), []sdk.ChunkChoice{}, usage),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := sdk.ChunksFromResponse(tt.resp)
			if !reflect.DeepEqual(got, tt.want) {
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(tt.want)
				t.Errorf("chunks\n%s\nwant\n%s", gb, wb)
			}
		})
	}
	// The usage chunk must say "choices":[] (clients index choices[0] only when it is non-empty, but they do
	// expect the array).
	last := sdk.ChunksFromResponse(resp(usage, sdk.Choice{}))
	if b, _ := json.Marshal(last[len(last)-1]); !bytes.Contains(b, []byte(`"choices":[]`)) {
		t.Errorf("usage chunk = %s", b)
	}
	if calls[0].Index != nil {
		t.Error("ChunksFromResponse changed the response's tool calls")
	}
}

func TestChunkDecoded(t *testing.T) {
	t.Parallel()
	raw := json.RawMessage(`{"id":"c1","object":"chat.completion.chunk","created":5,"model":"m",` +
		`"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`)

	typed := &sdk.Chunk{ID: "x", Choices: []sdk.ChunkChoice{{}}, Raw: raw}
	if d, err := typed.Decoded(); err != nil || d != typed {
		t.Errorf("a typed chunk: Decoded() = %p, %v; want itself", d, err)
	}
	bare := &sdk.Chunk{}
	if d, err := bare.Decoded(); err != nil || d != bare {
		t.Errorf("a chunk without Raw: Decoded() = %p, %v; want itself", d, err)
	}

	// What an OpenAI-compatible translator sends: Raw, with only Usage typed.
	fwd := &sdk.Chunk{Raw: raw, Usage: &sdk.Usage{TotalTokens: 3}}
	d, err := fwd.Decoded()
	if err != nil {
		t.Fatal(err)
	}
	want := &sdk.Chunk{ID: "c1", Object: "chat.completion.chunk", Created: 5, Model: "m",
		Choices: []sdk.ChunkChoice{{Delta: sdk.Delta{Content: "hi"}}},
		Usage:   &sdk.Usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3}, Raw: raw}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Decoded() = %+v, want %+v", d, want)
	}
	if fwd.ID != "" || fwd.Choices != nil {
		t.Error("Decoded changed the chunk it was called on")
	}

	if _, err := (&sdk.Chunk{Raw: json.RawMessage(`{"choices":5}`)}).Decoded(); err == nil {
		t.Error("Decoded() of a bad Raw succeeded")
	}
}

func TestRequestsRejectMalformedBodies(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{"model":5}`, `[]`, `"model"`, `{"model":"m"`} {
		for name, v := range map[string]any{
			"chat":       &sdk.ChatRequest{},
			"completion": &sdk.CompletionRequest{},
			"embedding":  &sdk.EmbeddingRequest{},
		} {
			if err := json.Unmarshal([]byte(body), v); err == nil {
				t.Errorf("%s: Unmarshal(%s) succeeded", name, body)
			}
		}
	}
	var r sdk.ChatRequest
	if err := json.Unmarshal([]byte(`{"model":"m","messages":{}}`), &r); err == nil {
		t.Error("chat: an object for messages was accepted")
	}
}

func TestTypeErrorsNameTheWireKind(t *testing.T) {
	t.Parallel()
	for in, kind := range map[string]string{`5`: "number", `-1`: "number", `true`: "bool", `{}`: "object", `[1]`: "array"} {
		var s sdk.Stop
		var te *json.UnmarshalTypeError
		if err := json.Unmarshal([]byte(in), &s); !errors.As(err, &te) || te.Value != kind {
			t.Errorf("Stop from %s: %v, want a type error naming %q", in, err, kind)
		}
	}
}
