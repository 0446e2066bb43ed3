package vertex_ai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/internal/golden"
	"github.com/switchyard/gateway/plugins/providers/gemini"
	"github.com/switchyard/gateway/sdk"
)

// testToken is the access token of the golden cases; it must never show in a golden file.
const testToken = "ya29.golden-token-0123456789abcdef"

// fixed is a translator with a fixed clock and ids, so that answers are reproducible.
func fixed() *Translator {
	now := func() time.Time { return time.Unix(1750000000, 0) }
	return &Translator{Now: now, Gemini: gemini.Codec{Now: now, NewID: func() string { return "chatcmpl-fixed" }}}
}

// goldenCase is a testdata/chat or testdata/embed input: the deployment and the client's request.
type goldenCase struct {
	Target struct {
		Model      string            `json:"model"`
		APIBase    string            `json:"api_base"`
		APIVersion string            `json:"api_version"`
		Headers    map[string]string `json:"headers"`
		Params     map[string]any    `json:"params"`
		DropParams bool              `json:"drop_params"`
	} `json:"target"`
	Request json.RawMessage `json:"request"`
}

func (g *goldenCase) target(t *testing.T) *sdk.Target {
	t.Helper()
	tg := &sdk.Target{Provider: "vertex_ai", Model: g.Target.Model, APIBase: g.Target.APIBase,
		APIVersion: g.Target.APIVersion, APIKey: testToken, Headers: g.Target.Headers, Params: g.Target.Params,
		DropParams: g.Target.DropParams}
	if tg.Params == nil {
		tg.Params = map[string]any{}
	}
	if _, ok := tg.Params["vertex_project"]; !ok {
		tg.Params["vertex_project"] = "golden-project"
	}
	if _, ok := tg.Params["vertex_location"]; !ok {
		tg.Params["vertex_location"] = "us-east5"
	}
	if err := New().PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	return tg
}

func readCase(t *testing.T, path string) goldenCase {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var g goldenCase
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return g
}

// checkGolden compares got with the golden file, or rewrites it under -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if bytes.Contains(got, []byte(testToken)) {
		t.Fatalf("%s: the access token leaked into the output", path)
	}
	golden.Bytes(t, path, got)
}

func inputs(t *testing.T, dir, ext string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"+ext))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/%s/*%s: %v", dir, ext, err)
	}
	return files
}

// requestText renders an upstream request: method and URL, the headers in order, the indented body.
func requestText(t *testing.T, r *sdk.HTTPRequest) []byte {
	t.Helper()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(r.Header[k], ", "))
	}
	b.WriteByte('\n')
	if err := json.Indent(&b, r.Body, "", "  "); err != nil {
		t.Fatalf("%v in %s", err, r.Body)
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func errorText(err error) []byte {
	e := sdk.AsError(err)
	return []byte(fmt.Sprintf("error: %s (status %d, type %s, code %s, param %q, retry after %s)\n", e.Message,
		e.HTTPStatus(), e.Type(), e.ErrorCode(), e.Param, e.RetryAfter))
}

// The upstream request built for each testdata/chat case: method, URL, headers and body.
func TestBuildChatGolden(t *testing.T) {
	t.Parallel()
	for _, in := range inputs(t, "chat", ".json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := readCase(t, in)
			var req sdk.ChatRequest
			if err := json.Unmarshal(g.Request, &req); err != nil {
				t.Fatal(err)
			}
			out, err := fixed().BuildChat(g.target(t), &req)
			var got []byte
			if err != nil {
				got = errorText(err)
			} else {
				got = requestText(t, out)
			}
			checkGolden(t, filepath.Join("testdata", "chat", name+".golden"), got)
		})
	}
}

// The predict request built for each testdata/embed case.
func TestBuildEmbeddingGolden(t *testing.T) {
	t.Parallel()
	for _, in := range inputs(t, "embed", ".json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := readCase(t, in)
			var req sdk.EmbeddingRequest
			if err := json.Unmarshal(g.Request, &req); err != nil {
				t.Fatal(err)
			}
			out, err := fixed().BuildEmbedding(g.target(t), &req)
			var got []byte
			if err != nil {
				got = errorText(err)
			} else {
				got = requestText(t, out)
			}
			checkGolden(t, filepath.Join("testdata", "embed", name+".golden"), got)
		})
	}
}

// answerCase is a testdata/responses or testdata/errors input: the model, the request (for Claude's JSON
// mode), and the upstream's status and body.
type answerCase struct {
	Model    string            `json:"model"`
	Request  json.RawMessage   `json:"request"`
	Status   int               `json:"status"`
	Header   map[string]string `json:"header"`
	Body     json.RawMessage   `json:"body"`
	Embed    bool              `json:"embed"`
	EmbedReq json.RawMessage   `json:"embedding_request"`
}

func (c answerCase) target() *sdk.Target {
	return &sdk.Target{Provider: "vertex_ai", Model: c.Model, APIKey: testToken,
		Params: map[string]any{"vertex_project": "golden-project", "vertex_location": "us-east5"}}
}

func readAnswer(t *testing.T, path string) answerCase {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c answerCase
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func (c answerCase) chatRequest(t *testing.T) *sdk.ChatRequest {
	t.Helper()
	req := &sdk.ChatRequest{Model: "m", Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("hi")}}}
	if len(c.Request) > 0 {
		req = &sdk.ChatRequest{}
		if err := json.Unmarshal(c.Request, req); err != nil {
			t.Fatal(err)
		}
	}
	return req
}

// The chat completion (or embeddings) made of each testdata/responses answer, or the error it is.
func TestParseGolden(t *testing.T) {
	t.Parallel()
	for _, in := range inputs(t, "responses", ".json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := readAnswer(t, in)
			resp := &sdk.HTTPResponse{Status: 200, Body: c.Body}
			var (
				out any
				err error
			)
			if c.Embed {
				var req sdk.EmbeddingRequest
				if err := json.Unmarshal(c.EmbedReq, &req); err != nil {
					t.Fatal(err)
				}
				out, err = fixed().ParseEmbedding(c.target(), &req, resp)
			} else {
				out, err = fixed().ParseChat(c.target(), c.chatRequest(t), resp)
			}
			var got []byte
			if err != nil {
				got = errorText(err)
			} else {
				got = encode(t, out)
			}
			checkGolden(t, filepath.Join("testdata", "responses", name+".golden"), got)
		})
	}
}

// The error made of each testdata/errors answer.
func TestParseErrorGolden(t *testing.T) {
	t.Parallel()
	for _, in := range inputs(t, "errors", ".json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := readAnswer(t, in)
			h := http.Header{}
			for k, v := range c.Header {
				h.Set(k, v)
			}
			e := fixed().ParseError(c.target(), &sdk.HTTPResponse{Status: c.Status, Header: h, Body: c.Body})
			checkGolden(t, filepath.Join("testdata", "errors", name+".golden"), errorText(e))
		})
	}
}

// sseEvents cuts a text/event-stream body into its events, as the gateway's framing reader does.
func sseEvents(body []byte) []sdk.StreamEvent {
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	var events []sdk.StreamEvent
	for _, block := range bytes.Split(body, []byte("\n\n")) {
		var ev sdk.StreamEvent
		var data [][]byte
		for _, line := range bytes.Split(block, []byte("\n")) {
			if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				data = append(data, bytes.TrimPrefix(v, []byte(" ")))
			} else if v, ok := bytes.CutPrefix(line, []byte("event:")); ok {
				ev.Type = string(bytes.TrimSpace(v))
			}
		}
		if data != nil {
			ev.Data = bytes.Join(data, []byte("\n"))
			events = append(events, ev)
		}
	}
	return events
}

// streamModel is the model of a stream file: its name says the family.
func streamModel(name string) string {
	if strings.HasPrefix(name, "claude") {
		return "claude-sonnet-4-5@20250929"
	}
	return "gemini-2.5-pro"
}

// runStream feeds a body's events to a fresh parser for model and returns its chunks and error.
func runStream(tr *Translator, model string, body []byte) ([]*sdk.Chunk, error) {
	tg := &sdk.Target{Provider: "vertex_ai", Model: model, APIKey: testToken}
	p := tr.NewChatStream(tg, &sdk.ChatRequest{Stream: true})
	if p.Framing() != sdk.FramingSSE {
		return nil, fmt.Errorf("framing %d", p.Framing())
	}
	var out []*sdk.Chunk
	for _, ev := range sseEvents(body) {
		var done bool
		var err error
		out, done, err = p.Parse(ev, out)
		if err != nil {
			return out, err
		}
		if done {
			return out, nil
		}
	}
	return p.End(out)
}

// The chunks made of each testdata/streams body (gemini_* or claude_*), one JSON chunk per line, then the error
// if there is one.
func TestStreamGolden(t *testing.T) {
	t.Parallel()
	for _, in := range inputs(t, "streams", ".sse") {
		name := strings.TrimSuffix(filepath.Base(in), ".sse")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			chunks, err := runStream(fixed(), streamModel(name), body)
			var got []byte
			for _, c := range chunks {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(c); err != nil {
					t.Fatal(err)
				}
				got = append(got, buf.Bytes()...)
			}
			if err != nil {
				got = append(got, errorText(err)...)
			}
			checkGolden(t, filepath.Join("testdata", "streams", name+".golden"), got)
		})
	}
}

// FuzzStreamParser checks that no stream body, however malformed, makes either family's parser panic, and that
// what they produce encodes.
func FuzzStreamParser(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "streams", "*.sse"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.HasPrefix(filepath.Base(file), "claude"), b)
	}
	f.Add(true, []byte("event: error\ndata: not json\n\n"))
	f.Add(false, []byte("data: {\"candidates\":[{\"index\":-1}],\"error\":{\"code\":429}}\n\n"))
	f.Fuzz(func(t *testing.T, claude bool, body []byte) {
		model := "gemini-2.5-pro"
		if claude {
			model = "claude-sonnet-4-5@20250929"
		}
		chunks, err := runStream(New(), model, body)
		for _, c := range chunks {
			if c == nil {
				t.Fatal("a nil chunk")
			}
			if _, err := json.Marshal(c); err != nil {
				t.Fatalf("a chunk that does not encode: %v", err)
			}
		}
		if err != nil && sdk.AsError(err).Message == "" {
			t.Fatal("an error without a message")
		}
	})
}
