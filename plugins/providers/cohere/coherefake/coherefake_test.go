package coherefake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	cohere "github.com/cohere-ai/cohere-go/v2"
	"github.com/cohere-ai/cohere-go/v2/core"
	"github.com/cohere-ai/cohere-go/v2/option"
	cohereclient "github.com/cohere-ai/cohere-go/v2/v2"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/cohere/coherefake"
)

const key = "co-test-key-0123456789"

// client returns Cohere's official v2 client pointed at a fresh fake.
func client(t *testing.T) (*cohereclient.Client, *coherefake.Server) {
	t.Helper()
	fake := coherefake.New(coherefake.Options{Key: key})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	return cohereclient.NewClient(option.WithBaseURL(srv.URL), option.WithToken(key), option.WithMaxAttempts(1),
		option.WithHTTPClient(&http.Client{Transport: wholeBody{}})), fake
}

// wholeBody reads each answer whole before handing it to the SDK. The SDK's stream reader cuts events wrongly
// when a read ends between an event's data line and the blank line after it (it then decodes "\n" and fails,
// cohere-go issue #103), which happens at random with a live stream; with the body in memory the test sees
// what the SDK makes of the bytes, not of their timing.
type wholeBody struct{}

func (wholeBody) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// decode reads a request written as JSON into the SDK's type, the way the SDK itself would read it.
func decode[T any](t *testing.T, text string) *T {
	t.Helper()
	v := new(T)
	if err := json.Unmarshal([]byte(text), v); err != nil {
		t.Fatalf("decoding %s: %v", text, err)
	}
	return v
}

const weatherTools = `"tools":[
	{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}},
	{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]`

func text(m *cohere.AssistantMessageResponse) string {
	var b strings.Builder
	for _, c := range m.Content {
		if c.Text != nil {
			b.WriteString(c.Text.Text)
		}
	}
	return b.String()
}

func TestChat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
		finish           cohere.ChatFinishReason
	}{
		{"system prompt", `{"model":"command-a-03-2025","messages":[{"role":"system","content":"be brief"},
			{"role":"user","content":"hello"}]}`, "[be brief] echo: hello", cohere.ChatFinishReasonComplete},
		{"image", `{"model":"command-a-vision-07-2025","messages":[{"role":"user","content":[
			{"type":"text","text":"what is it?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`,
			"echo: what is it? (images: 1 image/png)", cohere.ChatFinishReasonComplete},
		{"json mode", `{"model":"command-r-plus","messages":[{"role":"user","content":"give json"}],
			"response_format":{"type":"json_object","json_schema":{"type":"object"}}}`, `{"echo":"give json"}`,
			cohere.ChatFinishReasonComplete},
		{"max tokens", `{"model":"command-r","messages":[{"role":"user","content":"long"}],"max_tokens":3}`,
			providertest.EchoPrefix, cohere.ChatFinishReasonMaxTokens},
		{"stop sequences", `{"model":"command-r","messages":[{"role":"user","content":"x"}],"stop_sequences":["."]}`,
			"echo: x", cohere.ChatFinishReasonStopSequence},
		{"tool result", `{"model":"command-r","messages":[{"role":"user","content":"weather?"},
			{"role":"assistant","tool_plan":"I will look","tool_calls":[{"id":"c1","type":"function","function":{"name":"get_weather","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"c1","content":"sunny"}],` + weatherTools + `}`,
			"tool said: sunny", cohere.ChatFinishReasonComplete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := client(t)
			resp, err := c.Chat(context.Background(), decode[cohere.V2ChatRequest](t, tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if got := text(resp.Message); got != tc.want || resp.FinishReason != tc.finish {
				t.Errorf("answer = %q (%s), want %q (%s)", got, resp.FinishReason, tc.want, tc.finish)
			}
			if u := resp.Usage; u == nil || *u.BilledUnits.InputTokens != providertest.PromptTokens ||
				*u.Tokens.OutputTokens != providertest.CompletionTokens {
				t.Errorf("usage = %v", u)
			}
		})
	}
}

func TestChatThinking(t *testing.T) {
	t.Parallel()
	c, _ := client(t)
	const body = `{"model":"command-a-reasoning-08-2025","messages":[{"role":"user","content":"2+2?"}],"thinking":{"type":"enabled"}}`
	resp, err := c.Chat(context.Background(), decode[cohere.V2ChatRequest](t, body))
	if err != nil {
		t.Fatal(err)
	}
	items := resp.Message.Content
	if len(items) != 2 || items[0].Thinking == nil || items[0].Thinking.Thinking != coherefake.ThinkingPrefix+"2+2?" ||
		text(resp.Message) != "echo: 2+2?" {
		t.Fatalf("answer = %s", resp)
	}
	thinking := ""
	for _, ev := range stream(t, body) {
		if d := ev.ContentDelta; d != nil && d.Delta.Message.Content.Thinking != nil {
			thinking += *d.Delta.Message.Content.Thinking
		}
	}
	if thinking != coherefake.ThinkingPrefix+"2+2?" {
		t.Fatalf("streamed thinking %q", thinking)
	}
}

func TestChatTools(t *testing.T) {
	t.Parallel()
	c, _ := client(t)
	resp, err := c.Chat(context.Background(), decode[cohere.V2ChatRequest](t,
		`{"model":"command-r","messages":[{"role":"user","content":"weather?"}],`+weatherTools+`}`))
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.Message.ToolCalls
	if resp.FinishReason != cohere.ChatFinishReasonToolCall || len(calls) != 2 || *calls[0].Function.Name != "get_weather" ||
		*calls[1].Function.Name != "get_time" || *calls[0].Function.Arguments != providertest.ToolArguments ||
		*calls[0].Id == *calls[1].Id || resp.Message.ToolPlan == nil || *resp.Message.ToolPlan == "" {
		t.Fatalf("answer = %s", resp)
	}
}

// stream reads a whole stream through the SDK, which must end it cleanly (io.EOF) after message-end.
func stream(t *testing.T, body string) (events []*cohere.V2ChatStreamResponse) {
	t.Helper()
	c, _ := client(t)
	s, err := c.ChatStream(context.Background(), decode[cohere.V2ChatStreamRequest](t, body))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for {
		ev, err := s.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d events: %v", len(events), err)
		}
		events = append(events, &ev)
	}
	if len(events) == 0 || events[0].Type != "message-start" || events[len(events)-1].Type != "message-end" {
		t.Fatalf("events do not run from message-start to message-end: %d events", len(events))
	}
	return events
}

func TestChatStream(t *testing.T) {
	t.Parallel()
	events := stream(t, `{"model":"command-r","messages":[{"role":"user","content":"streamed words"}]}`)
	var text []string
	for _, ev := range events {
		if ev.ContentDelta != nil {
			text = append(text, *ev.ContentDelta.Delta.Message.Content.Text)
		}
	}
	end := events[len(events)-1].MessageEnd.Delta
	if len(text) < 2 || strings.Join(text, "") != "echo: streamed words" || *end.FinishReason != cohere.ChatFinishReasonComplete ||
		*end.Usage.BilledUnits.OutputTokens != providertest.CompletionTokens {
		t.Fatalf("deltas %q, end %s", text, end)
	}
}

func TestChatStreamTools(t *testing.T) {
	t.Parallel()
	events := stream(t, `{"model":"command-r","messages":[{"role":"user","content":"weather?"}],`+weatherTools+`}`)
	type call struct {
		name   string
		args   []string
		closed bool
	}
	calls := map[int]*call{}
	plan := ""
	for _, ev := range events {
		switch {
		case ev.ToolPlanDelta != nil:
			plan += *ev.ToolPlanDelta.Delta.Message.ToolPlan
		case ev.ToolCallStart != nil:
			calls[*ev.ToolCallStart.Index] = &call{name: *ev.ToolCallStart.Delta.Message.ToolCalls.Function.Name}
		case ev.ToolCallDelta != nil:
			c := calls[*ev.ToolCallDelta.Index]
			c.args = append(c.args, *ev.ToolCallDelta.Delta.Message.ToolCalls.Function.Arguments)
		case ev.ToolCallEnd != nil:
			calls[*ev.ToolCallEnd.Index].closed = true
		}
	}
	if plan == "" || len(calls) != 2 || calls[0].name != "get_weather" || calls[1].name != "get_time" {
		t.Fatalf("plan %q, calls %+v", plan, calls)
	}
	for i, c := range calls {
		if len(c.args) < 2 || strings.Join(c.args, "") != providertest.ToolArguments || !c.closed {
			t.Errorf("call %d: %+v", i, c)
		}
	}
	if end := events[len(events)-1].MessageEnd.Delta; *end.FinishReason != cohere.ChatFinishReasonToolCall {
		t.Errorf("finish = %s", *end.FinishReason)
	}
}

func TestEmbed(t *testing.T) {
	t.Parallel()
	c, fake := client(t)
	dims := 4
	resp, err := c.Embed(context.Background(), &cohere.V2EmbedRequest{Model: "embed-v4.0", Texts: []string{"a", "b"},
		InputType: cohere.EmbedInputTypeSearchQuery, EmbeddingTypes: []cohere.EmbeddingType{cohere.EmbeddingTypeFloat},
		OutputDimension: &dims})
	if err != nil {
		t.Fatal(err)
	}
	f := resp.Embeddings.Float
	if len(f) != 2 || len(f[1]) != dims || f[1][2] != 2.02 || *resp.Meta.BilledUnits.InputTokens != 2*providertest.PromptTokens {
		t.Fatalf("embeddings = %v, meta %s", f, resp.Meta)
	}
	if body := fake.LastBody("/v2/embed"); !strings.Contains(string(body), `"input_type":"search_query"`) {
		t.Errorf("recorded body %s", body)
	}
}

func TestRerank(t *testing.T) {
	t.Parallel()
	c, _ := client(t)
	top := 2
	resp, err := c.Rerank(context.Background(), &cohere.V2RerankRequest{Model: "rerank-v3.5", Query: "q",
		Documents: []string{"a", "b", "c"}, TopN: &top})
	if err != nil {
		t.Fatal(err)
	}
	r := resp.Results
	if len(r) != 2 || r[0].Index != 0 || r[0].RelevanceScore != 1 || r[1].Index != 1 || r[1].RelevanceScore != 0.5 {
		t.Fatalf("results = %v", r)
	}
}

// Each failure marker gives the SDK's error for the status, with Cohere's message.
func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model  string
		status int
		as     func(error) bool
	}{
		{providertest.FailRateLimit, 429, func(err error) bool { var e *cohere.TooManyRequestsError; return errors.As(err, &e) }},
		{providertest.FailAuth, 401, func(err error) bool { var e *cohere.UnauthorizedError; return errors.As(err, &e) }},
		{providertest.FailOverloaded, 503, func(err error) bool { var e *cohere.ServiceUnavailableError; return errors.As(err, &e) }},
		{providertest.FailServer, 500, func(err error) bool { var e *cohere.InternalServerError; return errors.As(err, &e) }},
		{providertest.FailContextWindow, 400, func(err error) bool { var e *cohere.BadRequestError; return errors.As(err, &e) }},
		{providertest.FailContentPolicy, 400, func(err error) bool { var e *cohere.BadRequestError; return errors.As(err, &e) }},
	}
	for _, tc := range tests {
		t.Run(tc.model, func(t *testing.T) {
			t.Parallel()
			c, _ := client(t)
			_, err := c.Chat(context.Background(), decode[cohere.V2ChatRequest](t,
				`{"model":"command-r-`+tc.model+`","messages":[{"role":"user","content":"hi"}]}`))
			var api *core.APIError
			if !tc.as(err) || !errors.As(err, &api) || api.StatusCode != tc.status {
				t.Fatalf("err = %v, want status %d", err, tc.status)
			}
			_, err = c.Embed(context.Background(), &cohere.V2EmbedRequest{Model: "embed-" + tc.model,
				Texts: []string{"a"}, InputType: cohere.EmbedInputTypeSearchDocument})
			if !tc.as(err) {
				t.Errorf("embed err = %v", err)
			}
		})
	}
}

func TestRequestsAreChecked(t *testing.T) {
	t.Parallel()
	fake := coherefake.New(coherefake.Options{Key: key})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	tests := []struct{ name, path, body, auth, want string }{
		{"wrong key", "/v2/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "Bearer nope", "invalid api token"},
		{"unknown member", "/v2/chat", `{"model":"m","messages":[{"role":"user","content":"hi"}],"n":2}`, "", `unknown field "n"`},
		{"OpenAI role", "/v2/chat", `{"model":"m","messages":[{"role":"developer","content":"hi"}]}`, "", "role must be one of"},
		{"tool without id", "/v2/chat", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "", "tool_call_id"},
		{"lower-case tool_choice", "/v2/chat", `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"required"}`, "", "tool_choice"},
		{"json_schema format", "/v2/chat", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}}`, "", "response_format"},
		{"no input_type", "/v2/embed", `{"model":"m","texts":["a"]}`, "", "input_type"},
		{"document objects", "/v2/rerank", `{"model":"m","query":"q","documents":[{"text":"a"}]}`, "", "invalid request"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(http.MethodPost, srv.URL+tc.path, strings.NewReader(tc.body))
			auth := tc.auth
			if auth == "" {
				auth = "Bearer " + key
			}
			req.Header.Set("Authorization", auth)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Message string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode/100 != 4 || !strings.Contains(body.Message, tc.want) {
				t.Fatalf("%d %q, want a 4xx about %q", resp.StatusCode, body.Message, tc.want)
			}
		})
	}
}
