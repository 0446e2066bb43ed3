package bedrock

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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/bedrock/bedrockfake"
	"github.com/switchyard/gateway/sdk"
)

// These tests drive the translator against the fake the way the gateway does (build, authorize, send, parse),
// decoding streamed answers with the AWS SDK's event stream decoder. The fake checks signatures with the known
// secret and refuses what Bedrock refuses, so they show that the requests are ones the service takes.

const (
	testAccessKey = "AKIATESTTESTTEST0001"
	testSecret    = "test/Secret+Key0123456789abcdefghijklmn"
)

type fakeEnv struct {
	tr   *Translator
	fake *bedrockfake.Server
	url  string
}

func newFakeEnv(t *testing.T, o bedrockfake.Options) *fakeEnv {
	t.Helper()
	fake := bedrockfake.New(o)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	tr := testTranslator(nil)
	tr.now = time.Now // signatures carry the time; the fake does not check skew, but keep it real
	return &fakeEnv{tr: tr, fake: fake, url: srv.URL}
}

func (e *fakeEnv) target(model string, params map[string]any) *sdk.Target {
	if params == nil {
		params = map[string]any{"aws_region_name": bedrockfake.DefaultRegion, "aws_access_key_id": testAccessKey,
			"aws_secret_access_key": testSecret}
	}
	t := &sdk.Target{Provider: Name, Model: model, APIBase: e.url, Params: params}
	_ = e.tr.PrepareTarget(t)
	return t
}

// send authorizes and sends a built request, returning the answer or the error the translator makes of it.
func (e *fakeEnv) send(t *testing.T, tg *sdk.Target, req *sdk.HTTPRequest) (*http.Response, []byte, *sdk.Error) {
	t.Helper()
	if err := e.tr.Authorize(context.Background(), tg, req, http.DefaultClient); err != nil {
		var se *sdk.Error
		if errors.As(err, &se) {
			return nil, nil, se
		}
		t.Fatal(err)
	}
	hr, err := http.NewRequest(req.Method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header = req.Header
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return resp, body, e.tr.ParseError(tg, &sdk.HTTPResponse{Status: resp.StatusCode, Header: resp.Header, Body: body})
	}
	return resp, body, nil
}

func (e *fakeEnv) chat(t *testing.T, tg *sdk.Target, body string) (*sdk.ChatResponse, *sdk.Error) {
	t.Helper()
	var req sdk.ChatRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	hreq, err := e.tr.BuildChat(tg, &req)
	if err != nil {
		t.Fatal(err)
	}
	resp, raw, se := e.send(t, tg, hreq)
	if se != nil {
		return nil, se
	}
	out, err := e.tr.ParseChat(tg, &req, &sdk.HTTPResponse{Status: resp.StatusCode, Header: resp.Header, Body: raw})
	if err != nil {
		t.Fatal(err)
	}
	return out, nil
}

// stream sends a streamed request and runs the frames through the parser, naming events as the gateway's frame
// reader does (":event-type", or ":exception-type" for exceptions).
func (e *fakeEnv) stream(t *testing.T, tg *sdk.Target, body string) streamResult {
	t.Helper()
	var req sdk.ChatRequest
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	req.Stream = true
	hreq, err := e.tr.BuildChat(tg, &req)
	if err != nil {
		t.Fatal(err)
	}
	resp, raw, se := e.send(t, tg, hreq)
	if se != nil {
		return streamResult{Error: viewError(se)}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.amazon.eventstream" {
		t.Fatalf("content type %q", ct)
	}
	var events []sdk.StreamEvent
	dec := eventstream.NewDecoder()
	r := bytes.NewReader(raw)
	for r.Len() > 0 {
		m, err := dec.Decode(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		typ := ""
		if v := m.Headers.Get(":event-type"); v != nil {
			typ = v.String()
		}
		if v := m.Headers.Get(":message-type"); v != nil && v.String() == "exception" {
			typ = m.Headers.Get(":exception-type").String()
		}
		events = append(events, sdk.StreamEvent{Type: typ, Data: m.Payload})
	}
	return runStream(e.tr, tg, &req, events)
}

// accumulate joins streamed chunks into what a client would assemble.
func accumulate(t *testing.T, res streamResult) (text, reasoning, finish string, calls []sdk.ToolCall, usage *sdk.Usage) {
	t.Helper()
	if res.Error != nil {
		t.Fatalf("stream error: %+v", res.Error)
	}
	for _, c := range res.Chunks {
		if c.Usage != nil {
			usage = c.Usage
		}
		for _, ch := range c.Choices {
			text += ch.Delta.Content
			reasoning += ch.Delta.ReasoningContent
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
			for _, tc := range ch.Delta.ToolCalls {
				for len(calls) <= *tc.Index {
					calls = append(calls, sdk.ToolCall{})
				}
				c := &calls[*tc.Index]
				if tc.ID != "" {
					c.ID, c.Function.Name = tc.ID, tc.Function.Name
				}
				c.Function.Arguments += tc.Function.Arguments
			}
		}
	}
	return
}

const weatherTools = `"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}},{"type":"function","function":{"name":"get_time"}}]`

func TestTranslatorAgainstFake(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t, bedrockfake.Options{AccessKeyID: testAccessKey, SecretAccessKey: testSecret})
	tg := e.target(testModel, nil)

	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		resp, err := e.chat(t, tg, `{"model":"m","messages":[{"role":"system","content":"sys"},{"role":"user","content":"hello"}],"stop":["x"]}`)
		if err != nil {
			t.Fatal(err)
		}
		c := resp.Choices[0]
		if c.Message.Content.String() != "[sys] "+providertest.EchoPrefix+"hello" || c.FinishReason != sdk.FinishStop {
			t.Fatalf("answer %q finish %q", c.Message.Content.String(), c.FinishReason)
		}
		u := resp.Usage
		if u.PromptTokens != providertest.PromptTokens || u.CompletionTokens != providertest.CompletionTokens ||
			u.PromptTokensDetails.CachedTokens != providertest.CachedTokens || resp.ID != "chatcmpl-fake-request-id" {
			t.Fatalf("usage %+v, id %q", u, resp.ID)
		}
	})
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		res := e.stream(t, tg, `{"model":"m","messages":[{"role":"user","content":"stream this"}]}`)
		text, _, finish, _, usage := accumulate(t, res)
		if text != providertest.EchoPrefix+"stream this" || finish != sdk.FinishStop || usage == nil ||
			usage.TotalTokens != providertest.PromptTokens+providertest.CompletionTokens || !res.Done {
			t.Fatalf("text %q finish %q usage %+v done %v", text, finish, usage, res.Done)
		}
	})
	t.Run("tools", func(t *testing.T) {
		t.Parallel()
		body := `{"model":"m","messages":[{"role":"user","content":"weather?"}],` + weatherTools + `}`
		resp, err := e.chat(t, tg, body)
		if err != nil {
			t.Fatal(err)
		}
		calls := resp.Choices[0].Message.ToolCalls
		if len(calls) != 2 || calls[1].Function.Name != "get_time" || calls[0].Function.Arguments != providertest.ToolArguments ||
			resp.Choices[0].FinishReason != sdk.FinishToolCalls {
			t.Fatalf("calls %+v", resp.Choices[0])
		}
		_, _, finish, scalls, _ := accumulate(t, e.stream(t, tg, body))
		if len(scalls) != 2 || scalls[0].ID == "" || scalls[1].Function.Arguments != providertest.ToolArguments ||
			finish != sdk.FinishToolCalls {
			t.Fatalf("streamed calls %+v finish %q", scalls, finish)
		}
		// The round trip: the calls and their results go back, and the fake answers from the result.
		round := `{"model":"m","messages":[{"role":"user","content":"weather?"},` +
			`{"role":"assistant","content":null,"tool_calls":[{"id":"` + calls[0].ID + `","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}},` +
			`{"id":"` + calls[1].ID + `","type":"function","function":{"name":"get_time","arguments":"{}"}}]},` +
			`{"role":"tool","tool_call_id":"` + calls[0].ID + `","content":"sunny"},` +
			`{"role":"tool","tool_call_id":"` + calls[1].ID + `","content":"noon"}],` + weatherTools + `}`
		resp, err = e.chat(t, tg, round)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content.String(); got != providertest.ToolResultPrefix+"noon" {
			t.Fatalf("after the tool results: %q", got)
		}
	})
	t.Run("json mode", func(t *testing.T) {
		t.Parallel()
		body := `{"model":"m","messages":[{"role":"user","content":"json please"}],"response_format":{"type":"json_object"}}`
		resp, err := e.chat(t, tg, body)
		if err != nil {
			t.Fatal(err)
		}
		want := `{"echo":"json please"}`
		if got := resp.Choices[0].Message.Content.String(); got != want || resp.Choices[0].FinishReason != sdk.FinishStop ||
			len(resp.Choices[0].Message.ToolCalls) != 0 {
			t.Fatalf("answer %+v", resp.Choices[0])
		}
		text, _, finish, calls, _ := accumulate(t, e.stream(t, tg, body))
		if text != want || finish != sdk.FinishStop || len(calls) != 0 {
			t.Fatalf("streamed %q finish %q calls %v", text, finish, calls)
		}
	})
	t.Run("vision", func(t *testing.T) {
		t.Parallel()
		resp, err := e.chat(t, tg, `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"what?"},`+
			`{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Choices[0].Message.Content.String(); got != providertest.EchoPrefix+"what? (images: 1 image/png)" {
			t.Fatalf("answer %q", got)
		}
	})
	t.Run("reasoning and max tokens", func(t *testing.T) {
		t.Parallel()
		resp, err := e.chat(t, tg, `{"model":"m","messages":[{"role":"user","content":"think"}],"reasoning_effort":"low"}`)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].Message.ReasoningContent != bedrockfake.ReasoningText {
			t.Fatalf("reasoning %q", resp.Choices[0].Message.ReasoningContent)
		}
		_, reasoning, _, _, _ := accumulate(t, e.stream(t, tg, `{"model":"m","messages":[{"role":"user","content":"think"}],"reasoning_effort":"high"}`))
		if reasoning != bedrockfake.ReasoningText {
			t.Fatalf("streamed reasoning %q", reasoning)
		}
		resp, err = e.chat(t, tg, `{"model":"m","messages":[{"role":"user","content":"long"}],"max_tokens":3}`)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Choices[0].FinishReason != sdk.FinishLength {
			t.Fatalf("finish %q", resp.Choices[0].FinishReason)
		}
	})
	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		for marker, kind := range map[string]sdk.ErrorKind{
			providertest.FailRateLimit:     sdk.KindRateLimit,
			providertest.FailAuth:          sdk.KindAuthentication,
			providertest.FailOverloaded:    sdk.KindServiceUnavailable,
			providertest.FailServer:        sdk.KindInternal,
			providertest.FailContextWindow: sdk.KindContextWindowExceeded,
			providertest.FailContentPolicy: sdk.KindContentPolicy,
		} {
			_, err := e.chat(t, e.target(testModel+"-"+marker, nil), `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
			if err == nil || err.Kind != kind {
				t.Errorf("%s: err = %v, want %v", marker, err, kind)
			}
			res := e.stream(t, e.target(testModel+"-"+marker, nil), `{"model":"m","messages":[{"role":"user","content":"x"}]}`)
			if res.Error == nil || res.Error.Kind != kind.String() {
				t.Errorf("%s streamed: err = %+v, want %v", marker, res.Error, kind)
			}
		}
		res := e.stream(t, e.target(testModel+"-"+bedrockfake.MidStreamThrottle, nil),
			`{"model":"m","messages":[{"role":"user","content":"two words"}]}`)
		if res.Error == nil || res.Error.Kind != sdk.KindRateLimit.String() || len(res.Chunks) != 2 {
			t.Errorf("mid-stream throttling: %d chunks, err %+v", len(res.Chunks), res.Error)
		}
	})
	t.Run("embeddings", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			model, body string
			n, dims     int
		}{
			{"amazon.titan-embed-text-v2:0", `{"model":"m","input":"one","dimensions":4}`, 1, 4},
			{"cohere.embed-english-v3", `{"model":"m","input":["a","b","c"],"encoding_format":"base64"}`, 3, providertest.EmbeddingDims},
		} {
			tg := e.target(tc.model, nil)
			var req sdk.EmbeddingRequest
			if err := json.Unmarshal([]byte(tc.body), &req); err != nil {
				t.Fatal(err)
			}
			hreq, err := e.tr.BuildEmbedding(tg, &req)
			if err != nil {
				t.Fatal(err)
			}
			resp, raw, se := e.send(t, tg, hreq)
			if se != nil {
				t.Fatalf("%s: %v", tc.model, se)
			}
			out, err := e.tr.ParseEmbedding(tg, &req, &sdk.HTTPResponse{Status: 200, Header: resp.Header, Body: raw})
			if err != nil {
				t.Fatal(err)
			}
			last, err := out.Data[tc.n-1].Embedding.Vector()
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Data) != tc.n || len(last) != tc.dims || last[0] != float32(tc.n) ||
				out.Usage.PromptTokens != providertest.PromptTokens*tc.n {
				t.Fatalf("%s: %d vectors, last %v, usage %+v", tc.model, len(out.Data), last, out.Usage)
			}
		}
	})
}

func TestCredentialsAgainstFake(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t, bedrockfake.Options{AccessKeyID: testAccessKey, SecretAccessKey: testSecret,
		APIKey: "ABSKbedrockapikey0123456789"})
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name   string
		apiKey string
		params map[string]any
		env    map[string]string
		want   sdk.ErrorKind // KindInternal stands for success here
	}{
		{"static keys", "", nil, nil, sdk.KindInternal},
		{"session token", "", map[string]any{"aws_region_name": "us-east-1", "aws_access_key_id": testAccessKey,
			"aws_secret_access_key": testSecret, "aws_session_token": "FwoGZXIvYXdzEXAMPLE"}, nil, sdk.KindInternal},
		{"environment keys", "", map[string]any{}, map[string]string{"AWS_REGION": "us-east-1",
			"AWS_ACCESS_KEY_ID": testAccessKey, "AWS_SECRET_ACCESS_KEY": testSecret}, sdk.KindInternal},
		{"api key", "ABSKbedrockapikey0123456789", map[string]any{}, nil, sdk.KindInternal},
		{"api key from the environment", "", map[string]any{},
			map[string]string{"AWS_BEARER_TOKEN_BEDROCK": "ABSKbedrockapikey0123456789"}, sdk.KindInternal},
		{"wrong secret", "", map[string]any{"aws_region_name": "us-east-1", "aws_access_key_id": testAccessKey,
			"aws_secret_access_key": "wrong"}, nil, sdk.KindAuthentication},
		{"wrong region", "", map[string]any{"aws_region_name": "eu-west-1", "aws_access_key_id": testAccessKey,
			"aws_secret_access_key": testSecret}, nil, sdk.KindAuthentication},
		{"no credentials", "", map[string]any{}, nil, sdk.KindAuthentication},
		{"a profile", "", map[string]any{"aws_profile_name": "dev"}, nil, sdk.KindAuthentication},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := *e
			env.tr = testTranslator(tc.env)
			tg := env.target(testModel, tc.params)
			tg.APIKey = tc.apiKey
			_, err := env.chat(t, tg, body)
			switch {
			case tc.want == sdk.KindInternal && err != nil:
				t.Fatalf("err = %v", err)
			case tc.want != sdk.KindInternal && (err == nil || err.Kind != tc.want):
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Message, testSecret) || strings.Contains(err.Message, "ABSK")) {
				t.Fatalf("a secret in the error: %q", err.Message)
			}
		})
	}
}
