package geminifake_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/gemini/geminifake"
)

const key = "AIzaFakeKeyForTests0123456789abcdefghij"

// client returns Google's official Go SDK pointed at a fresh fake.
func client(t *testing.T, apiKey string) (*genai.Client, *geminifake.Server) {
	t.Helper()
	fake := geminifake.New(geminifake.Options{Key: key})
	srv := newServer(t, fake)
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{APIKey: apiKey, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: srv}})
	if err != nil {
		t.Fatal(err)
	}
	return c, fake
}

func newServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPlainAnswerWithSystemInstructionAndUsage(t *testing.T) {
	t.Parallel()
	c, fake := client(t, key)
	resp, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hello there"),
		&genai.GenerateContentConfig{SystemInstruction: genai.NewContentFromText("be brief", genai.RoleUser)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := resp.Text(), "[be brief] "+providertest.EchoPrefix+"hello there"; got != want {
		t.Fatalf("text = %q, want %q", got, want)
	}
	if resp.Candidates[0].FinishReason != genai.FinishReasonStop {
		t.Fatalf("finish = %q", resp.Candidates[0].FinishReason)
	}
	u := resp.UsageMetadata
	if u.PromptTokenCount != providertest.PromptTokens || u.CachedContentTokenCount != providertest.CachedTokens ||
		u.ThoughtsTokenCount != providertest.ReasoningTokens ||
		u.CandidatesTokenCount+u.ThoughtsTokenCount != providertest.CompletionTokens {
		t.Fatalf("usage = %+v", u)
	}
	req, _ := fake.LastRequest()
	if req.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || req.Header.Get("x-goog-api-key") != key {
		t.Fatalf("request %s with key %q", req.Path, req.Header.Get("x-goog-api-key"))
	}
}

func TestStreamComesInPieces(t *testing.T) {
	t.Parallel()
	c, fake := client(t, key)
	var text strings.Builder
	events, finish := 0, genai.FinishReason("")
	var usage *genai.GenerateContentResponseUsageMetadata
	for resp, err := range c.Models.GenerateContentStream(context.Background(), "gemini-2.5-flash",
		genai.Text("tell me a story"), &genai.GenerateContentConfig{CandidateCount: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		events++
		if len(resp.Candidates) != 2 || resp.Candidates[1].Index != 1 {
			t.Fatalf("candidates = %+v", resp.Candidates)
		}
		text.WriteString(resp.Text())
		if r := resp.Candidates[0].FinishReason; r != "" {
			finish = r
		}
		usage = resp.UsageMetadata
	}
	if got, want := text.String(), providertest.EchoPrefix+"tell me a story"; got != want || events < 2 {
		t.Fatalf("text = %q in %d events, want %q in at least 2", got, events, want)
	}
	if finish != genai.FinishReasonStop || usage.TotalTokenCount != providertest.PromptTokens+providertest.CompletionTokens {
		t.Fatalf("finish %q, usage %+v", finish, usage)
	}
	req, _ := fake.LastRequest()
	if req.Path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" || req.Query != "alt=sse" {
		t.Fatalf("request %s?%s", req.Path, req.Query)
	}
}

func TestFunctionCallingRoundTrip(t *testing.T) {
	t.Parallel()
	c, _ := client(t, key)
	weather := &genai.FunctionDeclaration{Name: "get_weather", Description: "Weather in a city",
		Parameters: &genai.Schema{Type: genai.TypeObject, Properties: map[string]*genai.Schema{
			"location": {Type: genai.TypeString}}, Required: []string{"location"}}}
	time := &genai.FunctionDeclaration{Name: "get_time", ParametersJsonSchema: map[string]any{"type": "object"}}
	cfg := &genai.GenerateContentConfig{Tools: []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{weather, time}}}}
	ctx := context.Background()
	history := genai.Text("weather and time in Paris?")
	resp, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", history, cfg)
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.FunctionCalls()
	if len(calls) != 2 || calls[0].Name != "get_weather" || calls[1].Name != "get_time" || calls[0].Args["location"] != "Paris" {
		t.Fatalf("calls = %+v", calls)
	}

	// The stream carries the calls whole, in one event.
	var streamed []*genai.FunctionCall
	for r, err := range c.Models.GenerateContentStream(ctx, "gemini-2.5-flash", history, cfg) {
		if err != nil {
			t.Fatal(err)
		}
		streamed = append(streamed, r.FunctionCalls()...)
	}
	if len(streamed) != 2 || streamed[1].Name != "get_time" {
		t.Fatalf("streamed calls = %+v", streamed)
	}

	history = append(history, resp.Candidates[0].Content,
		genai.NewContentFromParts([]*genai.Part{
			genai.NewPartFromFunctionResponse("get_weather", map[string]any{"output": "sunny"}),
			genai.NewPartFromFunctionResponse("get_time", map[string]any{"output": "noon"}),
		}, genai.RoleUser))
	resp, err = c.Models.GenerateContent(ctx, "gemini-2.5-flash", history, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Text(); got != providertest.ToolResultPrefix+"sunny" {
		t.Fatalf("text after the tool results = %q", got)
	}

	// One answer for two calls is refused, as Gemini refuses it.
	short := append(history[:2:2], genai.NewContentFromParts([]*genai.Part{
		genai.NewPartFromFunctionResponse("get_weather", map[string]any{"output": "sunny"})}, genai.RoleUser))
	_, err = c.Models.GenerateContent(ctx, "gemini-2.5-flash", short, cfg)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 400 || apiErr.Status != "INVALID_ARGUMENT" {
		t.Fatalf("err = %v", err)
	}
}

func TestJSONModeAndThoughts(t *testing.T) {
	t.Parallel()
	c, _ := client(t, key)
	budget := int32(1024)
	resp, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hi"),
		&genai.GenerateContentConfig{ResponseMIMEType: "application/json",
			ThinkingConfig: &genai.ThinkingConfig{IncludeThoughts: true, ThinkingBudget: &budget}})
	if err != nil {
		t.Fatal(err)
	}
	parts := resp.Candidates[0].Content.Parts
	if len(parts) != 2 || !parts[0].Thought || parts[0].Text != geminifake.Thought || parts[1].Text != `{"echo":"hi"}` {
		t.Fatalf("parts = %+v", parts)
	}
}

func TestMaxTokensAndImages(t *testing.T) {
	t.Parallel()
	c, _ := client(t, key)
	ctx := context.Background()
	resp, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("long"),
		&genai.GenerateContentConfig{MaxOutputTokens: providertest.MaxTokensTruncate})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != providertest.EchoPrefix || resp.Candidates[0].FinishReason != genai.FinishReasonMaxTokens {
		t.Fatalf("answer %q, finish %q", resp.Text(), resp.Candidates[0].FinishReason)
	}
	img := []*genai.Content{genai.NewContentFromParts([]*genai.Part{genai.NewPartFromText("what is this?"),
		genai.NewPartFromBytes([]byte("\x89PNG"), "image/png")}, genai.RoleUser)}
	resp, err = c.Models.GenerateContent(ctx, "gemini-2.5-flash", img, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := providertest.EchoPrefix + "what is this? (images: 1 image/png)"; resp.Text() != want {
		t.Fatalf("text = %q, want %q", resp.Text(), want)
	}
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	c, fake := client(t, key)
	dims := int32(4)
	resp, err := c.Models.EmbedContent(context.Background(), "text-embedding-004",
		[]*genai.Content{genai.NewContentFromText("a", genai.RoleUser), genai.NewContentFromText("b", genai.RoleUser)},
		&genai.EmbedContentConfig{OutputDimensionality: &dims, TaskType: "RETRIEVAL_DOCUMENT"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Embeddings) != 2 || len(resp.Embeddings[1].Values) != 4 || resp.Embeddings[1].Values[2] != 2.02 {
		t.Fatalf("embeddings = %+v", resp.Embeddings)
	}
	req, _ := fake.LastRequest()
	if req.Path != "/v1beta/models/text-embedding-004:batchEmbedContents" {
		t.Fatalf("path = %s", req.Path)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		model, key string
		code       int
		status     string
	}{
		{"gemini-" + providertest.FailRateLimit, key, 429, "RESOURCE_EXHAUSTED"},
		{"gemini-" + providertest.FailOverloaded, key, 503, "UNAVAILABLE"},
		{"gemini-" + providertest.FailServer, key, 500, "INTERNAL"},
		{"gemini-" + providertest.FailContextWindow, key, 400, "INVALID_ARGUMENT"},
		{"gemini-" + providertest.FailAuth, key, 400, "INVALID_ARGUMENT"},
		{"gemini-2.5-flash", "AIzaWrongKey", 400, "INVALID_ARGUMENT"},
	}
	for _, tc := range cases {
		t.Run(tc.model+"/"+tc.key, func(t *testing.T) {
			t.Parallel()
			c, _ := client(t, tc.key)
			_, err := c.Models.GenerateContent(context.Background(), tc.model, genai.Text("hi"), nil)
			var apiErr genai.APIError
			if !errors.As(err, &apiErr) || apiErr.Code != tc.code || apiErr.Status != tc.status {
				t.Fatalf("err = %#v", err)
			}
		})
	}

	// A blocked prompt is an answer without candidates, not an HTTP error.
	c, _ := client(t, key)
	resp, err := c.Models.GenerateContent(context.Background(), "gemini-"+providertest.FailContentPolicy,
		genai.Text("hi"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Candidates) != 0 || resp.PromptFeedback == nil || resp.PromptFeedback.BlockReason != genai.BlockedReasonSafety {
		t.Fatalf("blocked answer = %+v", resp)
	}
}

// The fake refuses what Gemini refuses, so that a translator bug cannot pass.
func TestRefusesWhatGeminiRefuses(t *testing.T) {
	t.Parallel()
	srv := newServer(t, geminifake.New(geminifake.Options{}))
	cases := map[string]string{
		"unknown member":        `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"temperature":1}`,
		"schema member":         `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","additionalProperties":false,"properties":{"a":{"type":"STRING"}}}}]}]}`,
		"empty properties":      `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{}}}]}]}`,
		"bad role":              `{"contents":[{"role":"assistant","parts":[{"text":"hi"}]}]}`,
		"empty part":            `{"contents":[{"role":"user","parts":[{}]}]}`,
		"bad base64":            `{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"image/png","data":"%%%"}}]}]}`,
		"no contents":           `{"contents":[]}`,
		"schema without json":   `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"responseSchema":{"type":"STRING"}}}`,
		"snake_case generation": `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generation_config":{}}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, err := http.Post(srv+"/v1beta/models/gemini-2.5-flash:generateContent", "application/json",
				strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			var e struct {
				Error struct {
					Status string `json:"status"`
				} `json:"error"`
			}
			if resp.StatusCode != 400 || json.Unmarshal(b, &e) != nil || e.Error.Status != "INVALID_ARGUMENT" {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		})
	}
}

func TestStreamWithoutSSEIsOneJSONArray(t *testing.T) {
	t.Parallel()
	srv := newServer(t, geminifake.New(geminifake.Options{}))
	resp, err := http.Post(srv+"/v1beta/models/gemini-2.5-flash:streamGenerateContent", "application/json",
		strings.NewReader(`{"contents":[{"role":"user","parts":[{"text":"two words"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var events []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&events); err != nil || len(events) < 2 {
		t.Fatalf("events = %v, %v", events, err)
	}
}
