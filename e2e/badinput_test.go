package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// Malformed requests get an OpenAI-shaped 4xx and send nothing upstream.
func TestBadInput(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig+"  max_request_size_mb: 0.01\n")
	big := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("x", 20000) + `"}]}`
	cases := []struct {
		name, path, body string
		header           []string
		status           int
		inMessage        string
		param            string
	}{
		{"malformed JSON", "/v1/chat/completions", `{"model":"gpt-4o","messages":[`, nil, 400, "not valid JSON", ""},
		{"not an object", "/v1/chat/completions", `["gpt-4o"]`, nil, 400, "must be a JSON object", ""},
		{"empty body", "/v1/chat/completions", ``, nil, 400, "empty", ""},
		{"temperature as text", "/v1/chat/completions",
			`{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, nil, 400,
			"Invalid type for 'temperature'", "temperature"},
		{"messages as text", "/v1/chat/completions", `{"model":"gpt-4o","messages":"hi"}`, nil, 400,
			"Invalid type for 'messages'", "messages"},
		{"content as number", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":5}]}`,
			nil, 400, "content", ""},
		{"stream as text", "/v1/chat/completions",
			`{"model":"gpt-4o","stream":"yes","messages":[{"role":"user","content":"x"}]}`, nil, 400, "'stream'", "stream"},
		{"missing model", "/v1/chat/completions", `{"messages":[{"role":"user","content":"x"}]}`, nil, 400,
			"model: required", "model"},
		{"missing messages", "/v1/chat/completions", `{"model":"gpt-4o"}`, nil, 400, "messages: required", "messages"},
		{"empty messages", "/v1/chat/completions", `{"model":"gpt-4o","messages":[]}`, nil, 400, "messages", "messages"},
		{"bad role", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"wizard","content":"x"}]}`, nil,
			400, "messages[0].role", "messages[0].role"},
		{"n zero", "/v1/chat/completions", `{"model":"gpt-4o","n":0,"messages":[{"role":"user","content":"x"}]}`, nil,
			400, "n:", "n"},
		{"unknown model", "/v1/chat/completions", `{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}`, nil,
			404, "does not exist", "model"},
		{"oversized body", "/v1/chat/completions", big, nil, 413, "larger than", ""},
		{"embeddings without input", "/v1/embeddings", `{"model":"text-embedding-3-small"}`, nil, 400, "input", "input"},
		{"embeddings bad format", "/v1/embeddings", `{"model":"text-embedding-3-small","input":"x","encoding_format":"hex"}`,
			nil, 400, "encoding_format", "encoding_format"},
		{"completions without prompt", "/v1/completions", `{"model":"instruct"}`, nil, 400, "prompt", "prompt"},
		{"negative timeout", "/v1/chat/completions",
			`{"model":"gpt-4o","timeout":-1,"messages":[{"role":"user","content":"x"}]}`, nil, 400, "timeout", "timeout"},
		{"no key", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`,
			[]string{"Authorization", ""}, 401, "no API key", ""},
		{"wrong key", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`,
			[]string{"Authorization", "Bearer sk-nope"}, 401, "not valid", ""},
		{"auth before validation", "/v1/chat/completions", `{"model":`, []string{"Authorization", ""}, 401, "no API key", ""},
		{"unknown route", "/v1/nothing-here", `{}`, nil, 404, "Unknown route", ""},
	}
	for _, c := range cases {
		resp, body := e.post(c.path, c.body, c.header...)
		if resp.StatusCode != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, resp.StatusCode, c.status, body)
			continue
		}
		var eb struct {
			Error struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Param   *string `json:"param"`
				Code    *string `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Error.Type == "" || eb.Error.Code == nil {
			t.Errorf("%s: not an OpenAI error body: %s", c.name, body)
			continue
		}
		if !strings.Contains(eb.Error.Message, c.inMessage) {
			t.Errorf("%s: message %q does not say %q", c.name, eb.Error.Message, c.inMessage)
		}
		if c.param != "" && (eb.Error.Param == nil || *eb.Error.Param != c.param) {
			t.Errorf("%s: param = %v, want %q", c.name, eb.Error.Param, c.param)
		}
		if resp.Header.Get("x-litellm-call-id") == "" {
			t.Errorf("%s: no call id", c.name)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: content type %q", c.name, ct)
		}
	}
	if n := e.fake.Calls(); n != 0 {
		t.Fatalf("bad requests reached the upstream %d times", n)
	}
}

// The official client sees gateway errors as the typed errors it knows.
func TestBadInputWithOfficialClient(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	_, err := e.client(option.WithAPIKey("sk-nope")).Chat.Completions.New(context.Background(),
		openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: userMsg("x")})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusUnauthorized || apiErr.Type != "authentication_error" {
		t.Fatalf("err = %v", err)
	}
	_, err = e.client().Chat.Completions.New(context.Background(),
		openai.ChatCompletionNewParams{Model: "no-such-model", Messages: userMsg("x")})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound || apiErr.Code != "model_not_found" {
		t.Fatalf("err = %v", err)
	}
	if e.fake.Calls() != 0 {
		t.Fatal("the upstream was called")
	}
}

func TestAlternativeKeyHeaders(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`
	for _, h := range []string{"x-api-key", "api-key", "x-litellm-api-key"} {
		resp, out := e.post("/v1/chat/completions", body, "Authorization", "", h, masterKey)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", h, resp.StatusCode, out)
		}
	}
}

func TestMaxParallelRequests(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: slow
    litellm_params: {model: openai/slow-300, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}"}
general_settings:
  master_key: sk-master-test
  max_parallel_requests: 1
`)
	done := make(chan int)
	go func() {
		resp, _ := e.post("/v1/chat/completions", `{"model":"slow","messages":[{"role":"user","content":"x"}]}`)
		done <- resp.StatusCode
	}()
	for e.fake.InFlight() == 0 {
		select {
		case s := <-done:
			t.Fatalf("first request finished early with %d", s)
		case <-time.After(2 * time.Millisecond):
		}
	}
	resp, body := e.post("/v1/chat/completions", `{"model":"slow","messages":[{"role":"user","content":"x"}]}`)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second request: %d %s", resp.StatusCode, body)
	}
	if s := <-done; s != 200 {
		t.Fatalf("first request: %d", s)
	}
	// The slot is released once a request finishes.
	if resp, body := e.post("/v1/chat/completions", `{"model":"slow","messages":[{"role":"user","content":"x"}]}`); resp.StatusCode != 200 {
		t.Fatalf("third request: %d %s", resp.StatusCode, body)
	}
}

// A client that sends its request too slowly is cut off, not left holding a connection.
func TestSlowClientIsCutOff(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1024)
	n, err := conn.Read(buf)
	for err == nil { // whatever the gateway answers, the connection must then close
		_, err = conn.Read(buf[n:])
	}
	if elapsed := time.Since(begin); elapsed < readTimeout/2 || elapsed > readTimeout+5*time.Second {
		t.Fatalf("connection closed after %v (%v), read timeout %v", elapsed, err, readTimeout)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the gateway kept the connection open")
	}
}

func TestEveryResponseHasACallID(t *testing.T) {
	t.Parallel()
	e := start(t, openAIConfig)
	for _, path := range []string{"/health/liveliness", "/v1/models", "/nowhere"} {
		req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+masterKey)
		req.Header.Set("x-litellm-call-id", "trace-42")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("x-litellm-call-id"); got != "trace-42" {
			t.Errorf("%s: call id %q", path, got)
		}
	}
}
