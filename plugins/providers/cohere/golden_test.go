package cohere

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/internal/golden"
	"github.com/switchyard/gateway/sdk"
)

// update rewrites the golden files: go test ./plugins/providers/cohere -run Golden -update

const testKey = "co-test-key-0123456789"

// fixed is the clock of the golden tests.
var fixed = time.Unix(1_700_000_000, 0)

func newTest() *Translator { return &Translator{now: func() time.Time { return fixed }} }

// target returns a prepared deployment of model.
func target(model string) *sdk.Target {
	return &sdk.Target{Provider: "cohere", Model: model, APIBase: DefaultBase, APIKey: testKey, Params: map[string]any{}}
}

// targetFor picks the deployment a golden case runs against from its file name.
func targetFor(name string) *sdk.Target {
	switch {
	case strings.HasPrefix(name, "embed"):
		return target("embed-english-v3.0")
	case strings.HasPrefix(name, "rerank"):
		return target("rerank-v3.5")
	}
	return target("command-r-plus-08-2024")
}

// inputs returns the input files of a testdata directory (golden files excluded).
func inputs(t *testing.T, dir, ext string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".golden.json") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no inputs in testdata/%s", dir)
	}
	return out
}

func goldenPath(input string) string {
	return strings.TrimSuffix(input, filepath.Ext(input)) + ".golden.json"
}

// errorView is how an error appears in golden files: what the client would get.
type errorView struct {
	Kind    string `json:"kind"`
	Status  int    `json:"status"`
	Type    string `json:"type"`
	Code    string `json:"code"`
	Param   string `json:"param,omitempty"`
	Message string `json:"message"`
}

func viewError(err error) *errorView {
	if err == nil {
		return nil
	}
	e := sdk.AsError(err)
	return &errorView{Kind: e.Kind.String(), Status: e.HTTPStatus(), Type: e.Type(), Code: e.ErrorCode(),
		Param: e.Param, Message: e.Message}
}

// requestView is an upstream request as golden files show it.
type requestView struct {
	Method string            `json:"method,omitempty"`
	URL    string            `json:"url,omitempty"`
	Header map[string]string `json:"header,omitempty"`
	Body   json.RawMessage   `json:"body,omitempty"`
	Error  *errorView        `json:"error,omitempty"`
}

func viewRequest(r *sdk.HTTPRequest, err error) requestView {
	if err != nil {
		return requestView{Error: viewError(err)}
	}
	h := map[string]string{}
	for k := range r.Header {
		h[k] = r.Header.Get(k)
	}
	return requestView{Method: r.Method, URL: r.URL, Header: h, Body: r.Body}
}

// Requests out: each OpenAI-shaped request in testdata/requests becomes the Cohere request in its golden file.
func TestGoldenRequests(t *testing.T) {
	t.Parallel()
	tr := newTest()
	for _, in := range inputs(t, "requests", ".json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			tg := targetFor(name)
			var out *sdk.HTTPRequest
			switch {
			case strings.HasPrefix(name, "chat"):
				var req sdk.ChatRequest
				if err := json.Unmarshal(body, &req); err != nil {
					t.Fatal(err)
				}
				out, err = tr.BuildChat(tg, &req)
			case strings.HasPrefix(name, "embed"):
				var req sdk.EmbeddingRequest
				if err := json.Unmarshal(body, &req); err != nil {
					t.Fatal(err)
				}
				out, err = tr.BuildEmbedding(tg, &req)
			case strings.HasPrefix(name, "rerank"):
				var req sdk.RerankRequest
				if err := json.Unmarshal(body, &req); err != nil {
					t.Fatal(err)
				}
				out, err = tr.BuildRerank(tg, &req)
			default:
				t.Fatalf("%s: name must start with chat, embed or rerank", in)
			}
			if strings.Contains(name, "_error_") != (err != nil) {
				t.Errorf("err = %v; only the _error_ cases must fail", err)
			}
			golden.JSON(t, goldenPath(in), viewRequest(out, err))
		})
	}
}

// responseCase is an input of testdata/responses: the client's request and the upstream's answer.
type responseCase struct {
	Request  json.RawMessage `json:"request"`
	Status   int             `json:"status"`
	Response json.RawMessage `json:"response"`
}

// body returns the answer's bytes: a JSON string stands for a body that is not JSON.
func (c responseCase) body() []byte {
	var s string
	if json.Unmarshal(c.Response, &s) == nil {
		return []byte(s)
	}
	return c.Response
}

// Responses in: each Cohere answer in testdata/responses becomes what the gateway returns, or the error.
func TestGoldenResponses(t *testing.T) {
	t.Parallel()
	tr := newTest()
	for _, in := range inputs(t, "responses", ".json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var c responseCase
			if err := json.Unmarshal(raw, &c); err != nil {
				t.Fatal(err)
			}
			tg := targetFor(name)
			resp := &sdk.HTTPResponse{Status: c.Status, Body: c.body()}
			var out any
			switch {
			case strings.HasPrefix(name, "error"):
				e := tr.ParseError(tg, resp)
				if strings.Contains(e.Message, testKey) {
					t.Errorf("the key leaked into %q", e.Message)
				}
				out = viewError(e)
			case strings.HasPrefix(name, "chat"):
				var req sdk.ChatRequest
				if err := json.Unmarshal(c.Request, &req); err != nil {
					t.Fatal(err)
				}
				out, err = parsed(tr.ParseChat(tg, &req, resp))
			case strings.HasPrefix(name, "embed"):
				var req sdk.EmbeddingRequest
				if err := json.Unmarshal(c.Request, &req); err != nil {
					t.Fatal(err)
				}
				out, err = parsed(tr.ParseEmbedding(tg, &req, resp))
			case strings.HasPrefix(name, "rerank"):
				var req sdk.RerankRequest
				if err := json.Unmarshal(c.Request, &req); err != nil {
					t.Fatal(err)
				}
				var r *sdk.RerankResponse
				if r, err = tr.ParseRerank(tg, &req, resp); err == nil {
					// Usage is not part of the rerank answer's JSON; show it.
					out = struct {
						*sdk.RerankResponse
						Usage *sdk.Usage `json:"usage"`
					}{r, r.Usage}
				} else {
					out = map[string]any{"error": viewError(err)}
				}
			default:
				t.Fatalf("%s: name must start with chat, embed, rerank or error", in)
			}
			golden.JSON(t, goldenPath(in), out)
		})
	}
}

// parsed returns an answer, or its error in the shape the golden files show.
func parsed[T any](v T, err error) (any, error) {
	if err != nil {
		return map[string]any{"error": viewError(err)}, nil
	}
	return v, nil
}

// sseEvents cuts an event-stream body into events, as the gateway's SSE reader does.
func sseEvents(body []byte) []sdk.StreamEvent {
	var out []sdk.StreamEvent
	var typ string
	var data []byte
	hasData := false
	flush := func() {
		if hasData || typ != "" {
			out = append(out, sdk.StreamEvent{Type: typ, Data: data})
		}
		typ, data, hasData = "", nil, false
	}
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSuffix(line, "\r")
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				typ = value
			case "data":
				if hasData {
					data = append(data, '\n')
				}
				data, hasData = append(data, value...), true
			}
		}
	}
	flush()
	return out
}

// streamView is a parsed stream as golden files show it.
type streamView struct {
	Chunks []*sdk.Chunk `json:"chunks"`
	// Done tells whether the parser saw the end; Error is the error the stream ended with.
	Done  bool       `json:"done"`
	Error *errorView `json:"error,omitempty"`
}

// runStream feeds a body's events to a fresh parser, as the gateway does, then ends it if it did not end itself.
func runStream(tr *Translator, tg *sdk.Target, body []byte) streamView {
	p := tr.NewChatStream(tg, &sdk.ChatRequest{Model: "m", Stream: true})
	var v streamView
	for _, ev := range sseEvents(body) {
		var err error
		v.Chunks, v.Done, err = p.Parse(ev, v.Chunks)
		if err != nil {
			v.Error = viewError(err)
			return v
		}
		if v.Done {
			return v
		}
	}
	var err error
	v.Chunks, err = p.End(v.Chunks)
	v.Error = viewError(err)
	return v
}

// Streams in: each Cohere event stream in testdata/streams becomes the OpenAI chunks in its golden file.
func TestGoldenStreams(t *testing.T) {
	t.Parallel()
	tr := newTest()
	for _, in := range inputs(t, "streams", ".sse") {
		name := strings.TrimSuffix(filepath.Base(in), ".sse")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			golden.JSON(t, goldenPath(in), runStream(tr, targetFor(name), body))
		})
	}
}

// FuzzStreamParser feeds arbitrary event streams to the parser: it must never panic, and every chunk it gives
// must encode. The seed corpus is testdata/streams.
func FuzzStreamParser(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "streams", "*.sse"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("data: {\"type\":\"tool-call-delta\",\"index\":-5,\"delta\":{\"message\":{\"tool_calls\":{}}}}\n\n"))
	f.Add([]byte("event: message-end\ndata: {\"delta\":null}\n\n"))
	tr := newTest()
	f.Fuzz(func(t *testing.T, body []byte) {
		v := runStream(tr, target("m"), body)
		for _, c := range v.Chunks {
			if _, err := json.Marshal(c); err != nil {
				t.Fatalf("chunk does not encode: %v", err)
			}
		}
		// A stream ends in an error or with a finish reason, never silently.
		if v.Error == nil {
			finished := false
			for _, c := range v.Chunks {
				for _, ch := range c.Choices {
					finished = finished || ch.FinishReason != nil
				}
			}
			if !v.Done || !finished {
				t.Fatalf("the stream ended without a finish reason and without an error: %+v", v)
			}
		}
	})
}
