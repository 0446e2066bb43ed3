package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/internal/golden"
	"github.com/switchyard/gateway/sdk"
)

// testKey is the deployment key of the golden cases; it must never show in a golden file.
const testKey = "AIzaSyTestKey-0123456789abcdefghijklmnop"

// fixed is a translator with a fixed clock and ids, so that answers are reproducible.
func fixed() *Translator {
	return &Translator{Codec: Codec{
		Now:   func() time.Time { return time.Unix(1750000000, 0) },
		NewID: func() string { return "chatcmpl-fixed" },
	}}
}

// goldenCase is a testdata/chat or testdata/embed input: the deployment and the client's request.
type goldenCase struct {
	Target struct {
		Model                string         `json:"model"`
		APIBase              string         `json:"api_base"`
		APIVersion           string         `json:"api_version"`
		Params               map[string]any `json:"params"`
		DropParams           bool           `json:"drop_params"`
		AdditionalDropParams []string       `json:"additional_drop_params"`
	} `json:"target"`
	Request json.RawMessage `json:"request"`
}

func (g *goldenCase) target(t *testing.T) *sdk.Target {
	t.Helper()
	tg := &sdk.Target{Provider: "gemini", Model: g.Target.Model, APIBase: g.Target.APIBase, APIVersion: g.Target.APIVersion,
		APIKey: testKey, Params: g.Target.Params, DropParams: g.Target.DropParams,
		AdditionalDropParams: g.Target.AdditionalDropParams}
	if tg.APIBase == "" {
		tg.APIBase = DefaultBase
	}
	if err := New().PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	return tg
}

// checkGolden compares got with the golden file, or rewrites it under -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if bytes.Contains(got, []byte(testKey)) {
		t.Fatalf("%s: the deployment key leaked into the output", path)
	}
	golden.Bytes(t, path, got)
}

func indent(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	out.WriteByte('\n')
	return out.Bytes()
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

func inputs(t *testing.T, dir, ext string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"+ext))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/%s/*%s: %v", dir, ext, err)
	}
	return files
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
			var g goldenCase
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			var req sdk.ChatRequest
			if err := json.Unmarshal(g.Request, &req); err != nil {
				t.Fatal(err)
			}
			tg := g.target(t)
			out, err := fixed().BuildChat(tg, &req)
			if err != nil {
				t.Fatal(err)
			}
			if out.Header.Get("X-Goog-Api-Key") != testKey || out.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("headers = %v", out.Header)
			}
			got := append([]byte(out.Method+" "+out.URL+"\n"), indent(t, out.Body)...)
			checkGolden(t, filepath.Join("testdata", "chat", name+".golden"), got)
		})
	}
}

// The chat completion made of each testdata/responses answer (or the error it is).
func TestParseChatGolden(t *testing.T) {
	t.Parallel()
	for _, in := range inputs(t, "responses", ".json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			tg := &sdk.Target{Provider: "gemini", Model: "gemini-2.5-flash", APIKey: testKey}
			req := &sdk.ChatRequest{Model: "gemini", Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("hi")}}}
			resp, err := fixed().ParseChat(tg, req, &sdk.HTTPResponse{Status: 200, Body: body})
			var got []byte
			if err != nil {
				got = errorText(err)
			} else {
				got = encode(t, resp)
			}
			checkGolden(t, filepath.Join("testdata", "responses", name+".golden"), got)
		})
	}
}

// sseEvents cuts a text/event-stream body into the data of its events, as the gateway's framing reader does.
func sseEvents(body []byte) [][]byte {
	body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	var events [][]byte
	for _, block := range bytes.Split(body, []byte("\n\n")) {
		var data [][]byte
		for _, line := range bytes.Split(block, []byte("\n")) {
			if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				data = append(data, bytes.TrimPrefix(v, []byte(" ")))
			}
		}
		if data != nil {
			events = append(events, bytes.Join(data, []byte("\n")))
		}
	}
	return events
}

// runStream feeds a body's events to a fresh parser and returns its chunks and error.
func runStream(tr *Translator, body []byte) ([]*sdk.Chunk, error) {
	tg := &sdk.Target{Provider: "gemini", Model: "gemini-2.5-flash", APIKey: testKey}
	p := tr.NewChatStream(tg, &sdk.ChatRequest{Stream: true})
	if p.Framing() != sdk.FramingSSE {
		return nil, fmt.Errorf("framing %d", p.Framing())
	}
	var out []*sdk.Chunk
	for _, ev := range sseEvents(body) {
		var done bool
		var err error
		out, done, err = p.Parse(sdk.StreamEvent{Data: ev}, out)
		if err != nil {
			return out, err
		}
		if done {
			return out, nil
		}
	}
	return p.End(out)
}

// The chunks made of each testdata/streams body, one JSON chunk per line, then the error if there is one.
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
			chunks, err := runStream(fixed(), body)
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

// The batchEmbedContents request built for each testdata/embed case.
func TestBuildEmbeddingGolden(t *testing.T) {
	t.Parallel()
	for _, in := range inputs(t, "embed", ".json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var g goldenCase
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &g); err != nil {
				t.Fatal(err)
			}
			var req sdk.EmbeddingRequest
			if err := json.Unmarshal(g.Request, &req); err != nil {
				t.Fatal(err)
			}
			out, err := fixed().BuildEmbedding(g.target(t), &req)
			if err != nil {
				t.Fatal(err)
			}
			got := append([]byte(out.Method+" "+out.URL+"\n"), indent(t, out.Body)...)
			checkGolden(t, filepath.Join("testdata", "embed", name+".golden"), got)
		})
	}
}

// FuzzStreamParser checks that no stream body, however malformed, makes the parser panic, and that a parser
// that reports an error or the end reports nothing after.
func FuzzStreamParser(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "streams", "*.sse"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("data: {\"candidates\":[{\"index\":-1,\"content\":{\"parts\":[{\"functionCall\":null}]}}]}\n\n"))
	f.Add([]byte("data: {\"candidates\":null,\"error\":null}\n\ndata: [DONE]\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		chunks, err := runStream(New(), body)
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

// FuzzCleanSchema checks that no schema makes the cleaner panic or loop, and that what it accepts it cleans
// for good: cleaning twice changes nothing.
func FuzzCleanSchema(f *testing.F) {
	f.Add([]byte(`{"type":"object","properties":{"a":{"$ref":"#/$defs/A"}},"$defs":{"A":{"type":["string","null"]}}}`))
	f.Add([]byte(`{"$defs":{"A":{"properties":{"x":{"$ref":"#/$defs/A"}}}},"$ref":"#/$defs/A"}`))
	f.Add([]byte(`{"anyOf":[{"type":"null"},{"allOf":[{"properties":{"a":{"const":1}}}]}],"enum":[null,1,"x",true]}`))
	f.Add([]byte(`{"items":[{"type":"string"}],"type":"array","format":"uri"}`))
	f.Fuzz(func(t *testing.T, schema []byte) {
		once, err := CleanSchema(schema)
		if err != nil {
			return
		}
		twice, err := CleanSchema(once)
		if err != nil {
			t.Fatalf("the cleaned schema %s is refused: %v", once, err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("cleaning is not stable:\n once: %s\ntwice: %s", once, twice)
		}
	})
}

// A schema whose $refs multiply (each level using the next twice) is refused quickly rather than expanded.
func TestCleanSchemaBoundsRefExpansion(t *testing.T) {
	t.Parallel()
	defs := map[string]any{}
	for i := 0; i < 20; i++ {
		next := map[string]any{"$ref": fmt.Sprintf("#/$defs/D%d", i+1)}
		defs[fmt.Sprintf("D%d", i)] = map[string]any{"type": "object", "properties": map[string]any{"l": next, "r": next}}
	}
	defs["D20"] = map[string]any{"type": "string"}
	schema, _ := json.Marshal(map[string]any{"$defs": defs, "$ref": "#/$defs/D0"})
	start := time.Now()
	if _, err := CleanSchema(schema); err == nil || !strings.Contains(err.Error(), "$refs are resolved") {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("took %s", d)
	}
}
