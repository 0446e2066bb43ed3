package anthropic_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/internal/golden"
	"github.com/switchyard/gateway/plugins/providers/anthropic"
	"github.com/switchyard/gateway/sdk"
)

const testKey = "sk-ant-api03-test-key-0123456789"

// fixed is the translator with a fixed clock, so that answers are byte-stable.
func fixed() *anthropic.Translator {
	return &anthropic.Translator{Now: func() time.Time { return time.Unix(1700000000, 0) }}
}

func target() *sdk.Target {
	return &sdk.Target{Provider: "anthropic", Model: "claude-sonnet-4-5", APIBase: "https://api.anthropic.com",
		APIKey: testKey, Params: map[string]any{}}
}

func readRequest(t *testing.T, path string) *sdk.ChatRequest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var req sdk.ChatRequest
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &req
}

// requestTargets are the deployments of the request cases that need more than target().
var requestTargets = map[string]func(*sdk.Target){
	"target_defaults": func(t *sdk.Target) {
		t.DropParams = true
		t.Params = map[string]any{"max_tokens": 1000, "temperature": 0.1, "top_k": 3,
			"extra_body": map[string]any{"service_tier": "auto", "temperature": 1}}
	},
}

// The request out: each testdata/requests/NAME.openai.json (a client's body) must become
// NAME.anthropic.json.
func TestBuildGolden(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/requests/*.openai.json")
	if len(files) == 0 {
		t.Fatal("no request cases")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".openai.json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tg := target()
			if fn := requestTargets[name]; fn != nil {
				fn(tg)
			}
			hreq, err := fixed().BuildChat(tg, readRequest(t, f))
			if err != nil {
				t.Fatal(err)
			}
			golden.RawJSON(t, strings.TrimSuffix(f, ".openai.json")+".anthropic.json", hreq.Body)
		})
	}
}

// responseRequests are the requests the response cases answer.
var responseRequests = map[string]*sdk.ChatRequest{
	"json_mode": {Model: "claude", ResponseFormat: &sdk.ResponseFormat{Type: "json_object"}},
}

// The response in: each testdata/responses/NAME.anthropic.json must read as NAME.openai.json.
func TestParseGolden(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/responses/*.anthropic.json")
	if len(files) == 0 {
		t.Fatal("no response cases")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".anthropic.json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			req := responseRequests[name]
			if req == nil {
				req = &sdk.ChatRequest{Model: "claude"}
			}
			resp, err := fixed().ParseChat(target(), req, &sdk.HTTPResponse{Status: 200, Body: body})
			if err != nil {
				t.Fatal(err)
			}
			out := []byte(resp.Raw)
			if out == nil {
				if out, err = json.Marshal(resp); err != nil {
					t.Fatal(err)
				}
			} else if d, err := resp.Decoded(); err != nil || d.ID != resp.ID || d.Usage != resp.Usage {
				t.Fatalf("a response with Raw must keep its typed fields: %+v, %v", d, err)
			}
			golden.RawJSON(t, strings.TrimSuffix(f, ".anthropic.json")+".openai.json", out)
		})
	}
}

// sseEvents cuts a text/event-stream body into events, as the gateway's framing reader does.
func sseEvents(body []byte) []sdk.StreamEvent {
	var out []sdk.StreamEvent
	var typ string
	var data [][]byte
	flush := func() {
		if typ != "" || data != nil {
			out = append(out, sdk.StreamEvent{Type: typ, Data: bytes.Join(data, []byte("\n"))})
		}
		typ, data = "", nil
	}
	for _, line := range bytes.Split(body, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			flush()
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			typ = string(value)
		case "data":
			data = append(data, value)
		}
	}
	flush()
	return out
}

// runStream feeds a stream body through a parser the way the gateway does, returning the chunks and the error
// that ended it.
func runStream(p sdk.StreamParser, body []byte) ([]*sdk.Chunk, error) {
	var chunks []*sdk.Chunk
	for _, ev := range sseEvents(body) {
		var done bool
		var err error
		chunks, done, err = p.Parse(ev, chunks)
		if err != nil {
			return chunks, err
		}
		if done {
			return chunks, nil
		}
	}
	return p.End(chunks)
}

// streamRequests are the requests the stream cases answer.
var streamRequests = map[string]*sdk.ChatRequest{
	"json_mode": {Model: "claude", Stream: true, ResponseFormat: &sdk.ResponseFormat{Type: "json_schema"}},
}

// The stream in: each testdata/streams/NAME.sse must give the chunks (and error) of NAME.chunks.json, as the
// gateway writes them to the client.
func TestStreamGolden(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/streams/*.sse")
	if len(files) == 0 {
		t.Fatal("no stream cases")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".sse")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			req := streamRequests[name]
			if req == nil {
				req = &sdk.ChatRequest{Model: "claude", Stream: true}
			}
			p := fixed().NewChatStream(target(), req)
			if p.Framing() != sdk.FramingSSE {
				t.Fatalf("framing = %v", p.Framing())
			}
			chunks, streamErr := runStream(p, body)
			var out struct {
				Chunks []json.RawMessage `json:"chunks"`
				Error  *struct {
					Kind    string `json:"kind"`
					Status  int    `json:"status"`
					Message string `json:"message"`
				} `json:"error,omitempty"`
			}
			for _, c := range chunks {
				raw := []byte(c.Raw)
				if raw == nil {
					if raw, err = json.Marshal(c); err != nil {
						t.Fatal(err)
					}
				}
				out.Chunks = append(out.Chunks, raw)
			}
			if streamErr != nil {
				var e *sdk.Error
				if !errors.As(streamErr, &e) {
					t.Fatalf("stream error %v is not an *sdk.Error", streamErr)
				}
				out.Error = &struct {
					Kind    string `json:"kind"`
					Status  int    `json:"status"`
					Message string `json:"message"`
				}{e.Kind.String(), e.HTTPStatus(), e.Message}
			}
			b, err := json.Marshal(out)
			if err != nil {
				t.Fatal(err)
			}
			golden.RawJSON(t, filepath.Join("testdata/streams", name+".chunks.json"), b)
		})
	}
}

// FuzzStreamParser feeds arbitrary event streams (seeded with the golden streams) to the parser: it must never
// panic, whatever the upstream sends.
func FuzzStreamParser(f *testing.F) {
	files, _ := filepath.Glob("testdata/streams/*.sse")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
		// Each event alone, too, so that the fuzzer mutates single events.
		for _, ev := range sseEvents(b) {
			f.Add([]byte("event: "+ev.Type+"\ndata: "+string(ev.Data)+"\n\n"), false)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte, jsonMode bool) {
		req := &sdk.ChatRequest{Model: "claude", Stream: true}
		if jsonMode {
			req.ResponseFormat = &sdk.ResponseFormat{Type: "json_object"}
		}
		p := anthropic.NewStreamParser(req, 1, testKey)
		chunks, err := runStream(p, body)
		for _, c := range chunks {
			if c == nil {
				t.Fatal("nil chunk")
			}
			if _, err := json.Marshal(c); err != nil {
				t.Fatalf("chunk does not encode: %v", err)
			}
		}
		if err != nil && !errors.As(err, new(*sdk.Error)) && !strings.Contains(err.Error(), "anthropic stream event") {
			t.Fatalf("unexpected error type %T: %v", err, err)
		}
		if err != nil && strings.Contains(err.Error(), testKey) {
			t.Fatal("the key leaked into an error")
		}
	})
}
