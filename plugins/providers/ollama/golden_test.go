package ollama_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/switchyard/gateway/internal/golden"
	"github.com/switchyard/gateway/plugins/providers/ollama"
	"github.com/switchyard/gateway/sdk"
)

// go test ./plugins/providers/ollama -update rewrites the golden files from what the translator does now; review
// the diff before committing it.

// buildCase is a request through the translator: testdata/build/<name>.json in, <name>.golden.json out.
type buildCase struct {
	Op     string `json:"op"` // "chat" (the default) or "embed"
	Target struct {
		Model      string            `json:"model"`
		APIKey     string            `json:"api_key"`
		Headers    map[string]string `json:"headers"`
		Params     map[string]any    `json:"params"`
		DropParams bool              `json:"drop_params"`
	} `json:"target"`
	Request json.RawMessage `json:"request"`
}

type goldenRequest struct {
	Method string            `json:"method,omitempty"`
	URL    string            `json:"url,omitempty"`
	Header map[string]string `json:"header,omitempty"`
	Body   json.RawMessage   `json:"body,omitempty"`
	Error  *goldenError      `json:"error,omitempty"`
}

type goldenError struct {
	Class   string `json:"class"`
	Status  int    `json:"status"`
	Type    string `json:"type"`
	Code    string `json:"code"`
	Param   string `json:"param,omitempty"`
	Message string `json:"message"`
}

func errorGolden(err error) *goldenError {
	var e *sdk.Error
	if !errors.As(err, &e) {
		return &goldenError{Class: "not an *sdk.Error", Message: err.Error()}
	}
	return &goldenError{Class: e.Kind.String(), Status: e.HTTPStatus(), Type: e.Type(), Code: e.ErrorCode(),
		Param: e.Param, Message: e.Message}
}

func target(model string) *sdk.Target {
	if model == "" {
		model = "llama3.1"
	}
	return &sdk.Target{Provider: "ollama_chat", Model: model, APIBase: "http://ollama.test:11434", Params: map[string]any{}}
}

func TestGoldenBuild(t *testing.T) {
	t.Parallel()
	eachGolden(t, "testdata/build/*.json", func(t *testing.T, in []byte) any {
		var c buildCase
		mustDecode(t, in, &c)
		tg := target(c.Target.Model)
		tg.APIKey, tg.Headers, tg.DropParams = c.Target.APIKey, c.Target.Headers, c.Target.DropParams
		if c.Target.Params != nil {
			tg.Params = c.Target.Params
		}
		var out *sdk.HTTPRequest
		var err error
		switch c.Op {
		case "", "chat":
			var req sdk.ChatRequest
			mustDecode(t, c.Request, &req)
			out, err = ollama.Translator{}.BuildChat(tg, &req)
		case "embed":
			var req sdk.EmbeddingRequest
			mustDecode(t, c.Request, &req)
			out, err = ollama.Translator{}.BuildEmbedding(tg, &req)
		default:
			t.Fatalf("unknown op %q", c.Op)
		}
		if err != nil {
			return goldenRequest{Error: errorGolden(err)}
		}
		h := map[string]string{}
		for k := range out.Header {
			h[k] = out.Header.Get(k)
		}
		if !json.Valid(out.Body) {
			t.Fatalf("the body is not JSON: %s", out.Body)
		}
		return goldenRequest{Method: out.Method, URL: out.URL, Header: h, Body: out.Body}
	})
}

func TestGoldenParseChat(t *testing.T) {
	t.Parallel()
	eachGolden(t, "testdata/parse/*.json", func(t *testing.T, in []byte) any {
		return parseChat(t, in)
	})
}

func parseChat(t *testing.T, body []byte) any {
	resp, err := ollama.Translator{}.ParseChat(target(""), &sdk.ChatRequest{Model: "llama"},
		&sdk.HTTPResponse{Status: 200, Body: body})
	if err != nil {
		return map[string]any{"error": errorGolden(err)}
	}
	return resp
}

func TestGoldenStream(t *testing.T) {
	t.Parallel()
	eachGolden(t, "testdata/stream/*.ndjson", func(t *testing.T, in []byte) any {
		return parseStream(t, in)
	})
}

type streamGolden struct {
	Chunks []*sdk.Chunk `json:"chunks"`
	Error  *goldenError `json:"error,omitempty"`
}

// parseStream feeds a body to the stream parser line by line, as the gateway's NDJSON framing does.
func parseStream(t *testing.T, body []byte) streamGolden {
	t.Helper()
	p := ollama.Translator{}.NewChatStream(target(""), &sdk.ChatRequest{Model: "llama", Stream: true})
	if p.Framing() != sdk.FramingNDJSON {
		t.Fatalf("framing = %v", p.Framing())
	}
	var out streamGolden
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		chunks, done, err := p.Parse(sdk.StreamEvent{Data: line}, nil)
		out.Chunks = append(out.Chunks, chunks...)
		if err != nil {
			out.Error = errorGolden(err)
			return out
		}
		if done {
			return out
		}
	}
	chunks, err := p.End(nil)
	out.Chunks = append(out.Chunks, chunks...)
	if err != nil {
		out.Error = errorGolden(err)
	}
	return out
}

// errorCase is an unsuccessful answer: testdata/errors/<name>.json in, <name>.golden.json out.
type errorCase struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"` // a JSON body, or a JSON string holding a text body
}

func TestGoldenErrors(t *testing.T) {
	t.Parallel()
	eachGolden(t, "testdata/errors/*.json", func(t *testing.T, in []byte) any {
		var c errorCase
		mustDecode(t, in, &c)
		body := []byte(c.Body)
		var text string
		if json.Unmarshal(c.Body, &text) == nil {
			body = []byte(text)
		}
		tg := target("")
		tg.APIKey = "sk-ollama-secret-0123456789"
		return errorGolden(ollama.Translator{}.ParseError(tg, &sdk.HTTPResponse{Status: c.Status, Body: body}))
	})
}

// The answers of Ollama's API documentation (kept with the fake) parse into OpenAI answers.
func TestGoldenDocumentedAnswers(t *testing.T) {
	t.Parallel()
	docs := "ollamafake/testdata/docs/"
	files, _ := filepath.Glob(docs + "*.response.*")
	if len(files) < 10 {
		t.Fatalf("only %d documented answers", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var got any
			switch {
			case strings.HasSuffix(name, ".ndjson"):
				s := parseStream(t, in)
				if s.Error != nil {
					t.Fatalf("the documented stream failed: %+v", s.Error)
				}
				got = s
			case strings.HasPrefix(name, "embed"):
				var r struct {
					Embeddings []json.RawMessage `json:"embeddings"`
				}
				mustDecode(t, in, &r)
				texts := make([]string, len(r.Embeddings))
				resp, err := ollama.Translator{}.ParseEmbedding(target("all-minilm"),
					&sdk.EmbeddingRequest{Model: "all-minilm", Input: sdk.TextInput(texts...)}, &sdk.HTTPResponse{Status: 200, Body: in})
				if err != nil {
					t.Fatal(err)
				}
				got = resp
			default:
				resp, err := ollama.Translator{}.ParseChat(target(""), &sdk.ChatRequest{}, &sdk.HTTPResponse{Status: 200, Body: in})
				if err != nil {
					t.Fatal(err)
				}
				got = resp
			}
			golden.JSON(t, filepath.Join("testdata/docs", strings.TrimSuffix(name, filepath.Ext(name))+".golden.json"), got)
		})
	}
}

// eachGolden runs fn on every input matching pattern and compares its result with the input's golden file.
func eachGolden(t *testing.T, pattern string, fn func(t *testing.T, in []byte) any) {
	t.Helper()
	inputs, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	inputs = slicesDeleteGolden(inputs)
	if len(inputs) == 0 {
		t.Fatalf("no inputs match %s", pattern)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(in, filepath.Ext(in))
		t.Run(filepath.Base(name), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			golden.JSON(t, name+".golden.json", fn(t, b))
		})
	}
}

func slicesDeleteGolden(files []string) []string {
	var out []string
	for _, f := range files {
		if !strings.HasSuffix(f, ".golden.json") {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

func mustDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}
