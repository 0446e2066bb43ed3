package bedrock

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/internal/golden"
	"github.com/switchyard/gateway/sdk"
)

// testTranslator returns a translator with a fixed clock and ids and an empty environment.
func testTranslator(env map[string]string) *Translator {
	tr := New()
	tr.now = func() time.Time { return time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC) }
	tr.newID = func() string { return "test" }
	tr.getenv = func(k string) string { return env[k] }
	return tr
}

const testModel = "anthropic.claude-3-5-sonnet-20240620-v1:0"

// caseTarget is the deployment a test case runs against: the Claude model in us-east-1 unless it says otherwise.
type caseTarget struct {
	Model      string            `json:"model"`
	Params     map[string]any    `json:"params"`
	DropParams bool              `json:"drop_params"`
	Drop       []string          `json:"additional_drop_params"`
	Headers    map[string]string `json:"headers"`
}

func (c caseTarget) target(t *testing.T, tr *Translator) *sdk.Target {
	t.Helper()
	tg := &sdk.Target{Provider: Name, Model: c.Model, Params: c.Params, DropParams: c.DropParams,
		AdditionalDropParams: c.Drop, Headers: c.Headers}
	if tg.Model == "" {
		tg.Model = testModel
	}
	if tg.Params == nil {
		tg.Params = map[string]any{"aws_region_name": "us-east-1"}
	}
	if err := tr.PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	return tg
}

func cases(t *testing.T, dir, suffix string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"+suffix))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test cases in testdata/%s: %v", dir, err)
	}
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".golden.json") {
			out = append(out, f)
		}
	}
	return out
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func goldenPath(path string) string {
	return strings.TrimSuffix(strings.TrimSuffix(path, filepath.Ext(path)), ".json") + ".golden.json"
}

// errorView is how an error appears in golden files.
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
	var e *sdk.Error
	if !errors.As(err, &e) {
		return &errorView{Kind: "not an sdk.Error", Message: err.Error()}
	}
	return &errorView{Kind: e.Kind.String(), Status: e.HTTPStatus(), Type: e.Type(), Code: e.ErrorCode(),
		Param: e.Param, Message: e.Message}
}

// chatCase reads a request case of testdata/chat: the deployment (a target of tr) and the OpenAI request.
func chatCase(t *testing.T, tr *Translator, path string) (*sdk.Target, *sdk.ChatRequest) {
	t.Helper()
	var c struct {
		caseTarget
		Request json.RawMessage `json:"request"`
	}
	readJSON(t, path, &c)
	tg := c.target(t, tr)
	var req sdk.ChatRequest
	if err := json.Unmarshal(c.Request, &req); err != nil {
		t.Fatal(err)
	}
	return tg, &req
}

// Requests out: testdata/chat/<case>.json holds the deployment and the OpenAI request; the golden file the
// Converse request built from them (or the error).
func TestBuildChatGolden(t *testing.T) {
	t.Parallel()
	for _, path := range cases(t, "chat", ".json") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			tr := testTranslator(nil)
			tg, req := chatCase(t, tr, path)
			out, err := tr.BuildChat(tg, req)
			type view struct {
				URL    string          `json:"url,omitempty"`
				Header http.Header     `json:"header,omitempty"`
				Body   json.RawMessage `json:"body,omitempty"`
				Error  *errorView      `json:"error,omitempty"`
			}
			v := view{Error: viewError(err)}
			if err == nil {
				if !json.Valid(out.Body) {
					t.Fatalf("the body is not JSON: %s", out.Body)
				}
				v.URL, v.Header, v.Body = out.URL, out.Header, out.Body
			}
			golden.JSON(t, goldenPath(path), v)
		})
	}
}

// Answers in: testdata/response/<case>.json holds the OpenAI request and Bedrock's answer; the golden file the
// chat completion.
func TestParseChatGolden(t *testing.T) {
	t.Parallel()
	for _, path := range cases(t, "response", ".json") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			var c struct {
				caseTarget
				Request json.RawMessage   `json:"request"`
				Header  map[string]string `json:"header"`
				Body    json.RawMessage   `json:"body"`
			}
			readJSON(t, path, &c)
			tr := testTranslator(nil)
			tg := c.target(t, tr)
			var req sdk.ChatRequest
			if err := json.Unmarshal(c.Request, &req); err != nil {
				t.Fatal(err)
			}
			h := http.Header{}
			for k, v := range c.Header {
				h.Set(k, v)
			}
			resp, err := tr.ParseChat(tg, &req, &sdk.HTTPResponse{Status: 200, Header: h, Body: c.Body})
			if err != nil {
				golden.JSON(t, goldenPath(path), map[string]any{"error": err.Error()})
				return
			}
			golden.JSON(t, goldenPath(path), resp)
		})
	}
}

// streamCase reads a stream test file: one event per line as "<event type><TAB><payload>", blank lines and
// "#" comments skipped, except "#request <json>", the OpenAI request the stream answers.
func streamCase(data []byte) (req sdk.ChatRequest, events []sdk.StreamEvent) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if r, ok := bytes.CutPrefix(line, []byte("#request ")); ok {
			_ = json.Unmarshal(r, &req)
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			continue
		}
		typ, payload, _ := bytes.Cut(line, []byte("\t"))
		events = append(events, sdk.StreamEvent{Type: string(typ), Data: bytes.Clone(payload)})
	}
	return req, events
}

// streamResult runs events through a new parser the way the gateway does: Parse until done or an error, then End
// if the events ran out first.
type streamResult struct {
	Chunks []*sdk.Chunk `json:"chunks"`
	Done   bool         `json:"done"`
	Error  *errorView   `json:"error,omitempty"`
}

func runStream(tr *Translator, tg *sdk.Target, req *sdk.ChatRequest, events []sdk.StreamEvent) streamResult {
	p := tr.NewChatStream(tg, req)
	var res streamResult
	var out []*sdk.Chunk
	var err error
	for _, ev := range events {
		out, res.Done, err = p.Parse(ev, out)
		if err != nil || res.Done {
			break
		}
	}
	if err == nil && !res.Done {
		out, err = p.End(out)
	}
	res.Chunks, res.Error = out, viewError(err)
	return res
}

// Streams in: testdata/stream/<case>.events; the golden file the chunks.
func TestStreamGolden(t *testing.T) {
	t.Parallel()
	for _, path := range cases(t, "stream", ".events") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tr := testTranslator(nil)
			tg := caseTarget{}.target(t, tr)
			req, events := streamCase(data)
			golden.JSON(t, strings.TrimSuffix(path, ".events")+".golden.json", runStream(tr, tg, &req, events))
		})
	}
}

// Errors in: testdata/errors/<case>.json holds Bedrock's error answer; the golden file the gateway's error.
func TestParseErrorGolden(t *testing.T) {
	t.Parallel()
	for _, path := range cases(t, "errors", ".json") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			var c struct {
				Status int               `json:"status"`
				Header map[string]string `json:"header"`
				Body   string            `json:"body"`
			}
			readJSON(t, path, &c)
			tr := testTranslator(nil)
			tg := caseTarget{}.target(t, tr)
			h := http.Header{}
			for k, v := range c.Header {
				h.Set(k, v)
			}
			golden.JSON(t, goldenPath(path), viewError(tr.ParseError(tg, &sdk.HTTPResponse{Status: c.Status, Header: h,
				Body: []byte(c.Body)})))
		})
	}
}

// Embeddings: testdata/embed/<case>.json holds the deployment, the OpenAI request and Bedrock's answer; the
// golden file the InvokeModel request and the parsed answer.
func TestEmbeddingGolden(t *testing.T) {
	t.Parallel()
	for _, path := range cases(t, "embed", ".json") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			var c struct {
				caseTarget
				Request  json.RawMessage `json:"request"`
				Response *struct {
					Header map[string]string `json:"header"`
					Body   json.RawMessage   `json:"body"`
				} `json:"response"`
			}
			readJSON(t, path, &c)
			tr := testTranslator(nil)
			tg := c.target(t, tr)
			var req sdk.EmbeddingRequest
			if err := json.Unmarshal(c.Request, &req); err != nil {
				t.Fatal(err)
			}
			type view struct {
				URL       string                 `json:"url,omitempty"`
				Body      json.RawMessage        `json:"body,omitempty"`
				BatchSize int                    `json:"batch_size"`
				Response  *sdk.EmbeddingResponse `json:"response,omitempty"`
				Error     *errorView             `json:"error,omitempty"`
			}
			v := view{BatchSize: tr.EmbeddingBatchSize(tg)}
			out, err := tr.BuildEmbedding(tg, &req)
			if err != nil {
				v.Error = viewError(err)
				golden.JSON(t, goldenPath(path), v)
				return
			}
			v.URL, v.Body = out.URL, out.Body
			if c.Response != nil {
				h := http.Header{}
				for k, val := range c.Response.Header {
					h.Set(k, val)
				}
				resp, err := tr.ParseEmbedding(tg, &req, &sdk.HTTPResponse{Status: 200, Header: h, Body: c.Response.Body})
				if err != nil {
					v.Error = &errorView{Message: err.Error()}
				}
				v.Response = resp
			}
			golden.JSON(t, goldenPath(path), v)
		})
	}
}
