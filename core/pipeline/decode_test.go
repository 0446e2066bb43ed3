package pipeline

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

func TestDecodeJSONMessages(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		message    string // exact when it does not end with "…", else a prefix
		param      string
	}{
		{"empty", ``, "The request body is empty: send a JSON object.", ""},
		{"blank", " \n\t ", "The request body is empty: send a JSON object.", ""},
		{"null", `null`, "The request body must be a JSON object.", ""},
		{"array", `[{"model":"x"}]`, "The request body must be a JSON object.", ""},
		{"string", `"hello"`, "The request body must be a JSON object.", ""},
		{"not JSON at all", `model=x`, "The request body is not valid JSON.", ""},
		{"truncated", `{"model":`, "The request body is not valid JSON: unexpected end of JSON input (at byte 9).", ""},
		{"trailing comma", `{"model":"a",}`, "The request body is not valid JSON: invalid character '}' …", ""},
		{"string expected", `{"model":5}`, "Invalid type for 'model': expected a string, got a number.", "model"},
		{"array expected", `{"messages":"hi"}`, "Invalid type for 'messages': expected an array, got a string.", "messages"},
		{"nested field", `{"messages":[{"role":1}]}`, "Invalid type for 'messages.role': expected a string, got a number.", "messages.role"},
		{"content", `{"messages":[{"role":"user","content":5}]}`,
			"Invalid type for 'messages.content': expected a string or an array of content parts, got a number.", "messages.content"},
		{"number expected", `{"temperature":"hot"}`, "Invalid type for 'temperature': expected a number, got a string.", "temperature"},
		{"integer expected", `{"n":1.5}`, "Invalid type for 'n': expected an integer, got a number.", "n"},
		{"boolean expected", `{"stream":"yes"}`, "Invalid type for 'stream': expected a boolean, got a string.", "stream"},
		{"object expected", `{"stream_options":[]}`, "Invalid type for 'stream_options': expected an object, got an array.", "stream_options"},
		// Controls are embedded in the request types: the client must see the wire name, not the Go path.
		{"control field", `{"timeout":"soon"}`, "Invalid type for 'timeout': expected a number, got a string.", "timeout"},
		{"control object", `{"metadata":true}`, "Invalid type for 'metadata': expected an object, got a boolean.", "metadata"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var req sdk.ChatRequest
			err := DecodeJSON([]byte(tc.body), &req)
			var e *sdk.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want an *sdk.Error", err)
			}
			if e.Kind != sdk.KindBadRequest {
				t.Errorf("kind = %v, want BadRequestError", e.Kind)
			}
			if prefix, ok := strings.CutSuffix(tc.message, "…"); ok {
				if !strings.HasPrefix(e.Message, prefix) {
					t.Errorf("message = %q, want it to start with %q", e.Message, prefix)
				}
			} else if e.Message != tc.message {
				t.Errorf("message = %q, want %q", e.Message, tc.message)
			}
			if e.Param != tc.param {
				t.Errorf("param = %q, want %q", e.Param, tc.param)
			}
		})
	}
}

func TestDecodeJSONAcceptsObjects(t *testing.T) {
	t.Parallel()
	var req sdk.ChatRequest
	if err := DecodeJSON([]byte(" {\"model\":\"m\",\"messages\":[]}\n"), &req); err != nil {
		t.Fatal(err)
	}
	if req.Model != "m" {
		t.Fatalf("model = %q", req.Model)
	}
}

func TestDecodeStage(t *testing.T) {
	t.Parallel()
	const chat = `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]`
	cases := []struct {
		name      string
		call      Call
		model     string
		streaming bool
		timeout   time.Duration
		errParam  string // non-empty: Before must fail with this param
	}{
		{name: "chat", call: Call{Type: CallChat, Body: []byte(chat + `}`)}, model: "gpt-4o"},
		{name: "chat stream", call: Call{Type: CallChat, Body: []byte(chat + `,"stream":true}`)}, model: "gpt-4o", streaming: true},
		{name: "completion stream", call: Call{Type: CallCompletion, Body: []byte(`{"model":"c","prompt":"p","stream":true}`)},
			model: "c", streaming: true},
		{name: "embedding", call: Call{Type: CallEmbedding, Body: []byte(`{"model":"e","input":"x"}`)}, model: "e"},
		{name: "path model for chat", call: Call{Type: CallChat, PathModel: "deploy-1",
			Body: []byte(`{"messages":[{"role":"user","content":"hi"}]}`)}, model: "deploy-1"},
		{name: "path model for completion", call: Call{Type: CallCompletion, PathModel: "deploy-2",
			Body: []byte(`{"prompt":"p"}`)}, model: "deploy-2"},
		{name: "path model for embedding", call: Call{Type: CallEmbedding, PathModel: "deploy-3",
			Body: []byte(`{"input":"x"}`)}, model: "deploy-3"},
		{name: "body model beats path model", call: Call{Type: CallChat, PathModel: "deploy-1", Body: []byte(chat + `}`)},
			model: "gpt-4o"},
		{name: "timeout in seconds", call: Call{Type: CallChat, Body: []byte(chat + `,"timeout":2.5}`)},
			model: "gpt-4o", timeout: 2500 * time.Millisecond},
		{name: "a header timeout wins over the body", call: Call{Type: CallChat, TimeoutOverride: time.Second,
			Body: []byte(chat + `,"timeout":30}`)}, model: "gpt-4o", timeout: time.Second},
		{name: "zero timeout", call: Call{Type: CallChat, Body: []byte(chat + `,"timeout":0}`)}, errParam: "timeout"},
		{name: "timeout too long for a duration", call: Call{Type: CallChat, Body: []byte(chat + `,"timeout":1e300}`)},
			errParam: "timeout"},
		{name: "timeout below a millisecond", call: Call{Type: CallChat, Body: []byte(chat + `,"timeout":1e-10}`)},
			errParam: "timeout"},
		{name: "negative timeout", call: Call{Type: CallEmbedding, Body: []byte(`{"model":"e","input":"x","timeout":-1}`)},
			errParam: "timeout"},
		{name: "no model anywhere", call: Call{Type: CallChat, Body: []byte(`{"messages":[{"role":"user","content":"hi"}]}`)},
			errParam: "model"},
		{name: "invalid request", call: Call{Type: CallChat, Body: []byte(`{"model":"m","messages":[]}`)}, errParam: "messages"},
		{name: "bad JSON", call: Call{Type: CallCompletion, Body: []byte(`{"model":1}`)}, errParam: "model"},
		{name: "rerank", call: Call{Type: CallRerank,
			Body: []byte(`{"model":"r","query":"q","documents":["a",{"text":"b"}],"top_n":1,"timeout":3}`)},
			model: "r", timeout: 3 * time.Second},
		{name: "path model for rerank", call: Call{Type: CallRerank, PathModel: "deploy-4",
			Body: []byte(`{"query":"q","documents":["a"]}`)}, model: "deploy-4"},
		{name: "rerank without a query", call: Call{Type: CallRerank, Body: []byte(`{"model":"r","documents":["a"]}`)},
			errParam: "query"},
		{name: "rerank without documents", call: Call{Type: CallRerank, Body: []byte(`{"model":"r","query":"q","documents":[]}`)},
			errParam: "documents"},
		{name: "rerank with top_n 0", call: Call{Type: CallRerank,
			Body: []byte(`{"model":"r","query":"q","documents":["a"],"top_n":0}`)}, errParam: "top_n"},
		// The document decoder's own error reaches the client as it is, param and all.
		{name: "rerank document of the wrong kind", call: Call{Type: CallRerank,
			Body: []byte(`{"model":"r","query":"q","documents":[5]}`)}, errParam: "documents"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := tc.call
			err := DecodeStage{}.Before(context.Background(), &c)
			if tc.errParam != "" {
				e := sdk.AsError(err)
				if e == nil || e.Kind != sdk.KindBadRequest || e.Param != tc.errParam {
					t.Fatalf("err = %#v, want a 400 about %q", e, tc.errParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Model != tc.model || c.Streaming != tc.streaming || c.TimeoutOverride != tc.timeout {
				t.Errorf("model %q streaming %v timeout %v, want %q %v %v", c.Model, c.Streaming, c.TimeoutOverride,
					tc.model, tc.streaming, tc.timeout)
			}
			var typed string
			switch {
			case c.Chat != nil:
				typed = c.Chat.Model
			case c.Completion != nil:
				typed = c.Completion.Model
			case c.Embedding != nil:
				typed = c.Embedding.Model
			case c.Rerank != nil:
				typed = c.Rerank.Model
			}
			if typed != tc.model {
				t.Errorf("the typed request's model is %q, want %q", typed, tc.model)
			}
		})
	}
}

func TestDecodeStageLeavesTypedRequestsAlone(t *testing.T) {
	t.Parallel()
	req := &sdk.ChatRequest{Model: "in-process", Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("hi")}},
		Stream: true}
	c := &Call{Type: CallChat, Chat: req}
	if err := (DecodeStage{}).Before(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	if c.Chat != req || c.Model != "in-process" || !c.Streaming {
		t.Fatalf("chat %p (want %p), model %q, streaming %v", c.Chat, req, c.Model, c.Streaming)
	}
	if c.Chat.Raw != nil {
		t.Fatal("a typed request was given a raw body")
	}

	// Validation still applies to typed requests.
	bad := &Call{Type: CallEmbedding, Embedding: &sdk.EmbeddingRequest{Model: "e"}}
	if e := sdk.AsError((DecodeStage{}).Before(context.Background(), bad)); e == nil || e.Param != "input" {
		t.Fatalf("err = %v, want a 400 about input", e)
	}
}

func TestDecodeStageInPipeline(t *testing.T) {
	t.Parallel()
	var journal []string
	p := New(DecodeStage{}, &step{name: "answer", journal: &journal, before: complete})
	c := &Call{Type: CallChat, Body: []byte(`{"model":5}`)}
	p.Run(context.Background(), c)
	p.Finish(c)
	if c.Err == nil || c.Err.HTTPStatus() != 400 || len(journal) != 0 {
		t.Fatalf("err %v, journal %q: a decode failure must end the call before later stages", c.Err, journal)
	}
	if (DecodeStage{}).Name() != "decode" {
		t.Fatal("name")
	}
}
