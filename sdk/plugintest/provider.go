package plugintest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/gateway"
	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/sdk"
)

// The convention a provider's fake upstream follows so that the scenarios can check answers whatever the wire
// format (the same one the gateway's own provider matrix uses): the fake answers EchoPrefix + the last user
// message's text; with tools offered it calls each offered tool (up to two) with ToolArguments; it reports
// PromptTokens and CompletionTokens; and an upstream model name containing a Fail* marker gets the provider's
// own error for that case.
const (
	EchoPrefix        = providertest.EchoPrefix
	ToolArguments     = providertest.ToolArguments
	PromptTokens      = providertest.PromptTokens
	CompletionTokens  = providertest.CompletionTokens
	FailRateLimit     = providertest.FailRateLimit
	FailAuth          = providertest.FailAuth
	FailOverloaded    = providertest.FailOverloaded
	FailServer        = providertest.FailServer
	FailContextWindow = providertest.FailContextWindow
	FailContentPolicy = providertest.FailContentPolicy
)

// Provider describes a provider plugin under test.
type Provider struct {
	// Name is the model prefix the plugin serves in the scenarios ("myprov" serves "myprov/<Model>").
	Name string
	// New returns the plugin in-process (a Translator or a Provider).
	New func() sdk.Module
	// Binary and WASM are the plugin built as a go-plugin binary and as a WASM module ("" skips that mode).
	Binary, WASM string
	// Config is the plugin's config map.
	Config map[string]any
	// Upstream is the fake upstream, following the convention above.
	Upstream http.Handler
	// Model is the upstream model name; Params are extra litellm_params (credentials, region...). api_base is
	// set to the fake's URL unless Params sets it (use "{{UPSTREAM}}" in a string to place the URL).
	Model  string
	Params map[string]any
	// NoTools skips the tool scenario (providers without tool calling).
	NoTools bool
	// Errors lists the failure markers to check (default: all six).
	Errors []string
}

const masterKey = "sk-plugintest"

// RunProvider runs the provider scenarios in every mode the description allows.
func RunProvider(t *testing.T, p Provider) {
	t.Helper()
	if p.Name == "" || p.Model == "" || p.Upstream == nil {
		t.Fatal("plugintest.Provider needs Name, Model and Upstream")
	}
	up := httptest.NewServer(p.Upstream)
	t.Cleanup(up.Close)
	for _, mode := range modes(p.Binary, p.WASM) {
		t.Run(string(mode), func(t *testing.T) {
			gw := startProviderGateway(t, p, mode, up.URL)
			t.Run("plain", func(t *testing.T) { plain(t, gw) })
			t.Run("stream", func(t *testing.T) { stream(t, gw) })
			if !p.NoTools {
				t.Run("tools", func(t *testing.T) { tools(t, gw) })
			}
			t.Run("errors", func(t *testing.T) { failures(t, gw, p.Errors) })
		})
	}
}

var failures6 = []string{FailRateLimit, FailAuth, FailOverloaded, FailServer, FailContextWindow, FailContentPolicy}

func startProviderGateway(t *testing.T, p Provider, mode Mode, upstream string) string {
	t.Helper()
	entry := func(group, model string) string {
		params := map[string]any{"model": p.Name + "/" + model, "api_base": upstream, "api_key": "plugintest-key"}
		for k, v := range p.Params {
			if s, ok := v.(string); ok {
				v = strings.ReplaceAll(s, "{{UPSTREAM}}", upstream)
			}
			params[k] = v
		}
		b, _ := json.Marshal(params)
		return fmt.Sprintf("  - model_name: %q\n    litellm_params: %s\n", group, b)
	}
	cfg := "model_list:\n" + entry("plain", p.Model)
	for _, f := range failures6 {
		cfg += entry(f, p.Model+"-"+f)
	}
	var opts gateway.Options
	pluginCfg, _ := json.Marshal(p.Config)
	switch mode {
	case InProcess:
		opts.Modules = []sdk.ModuleInfo{{ID: sdk.KindProviders + "." + p.Name, New: p.New}}
		cfg += fmt.Sprintf("plugins:\n  - {name: %q, kind: provider, source: builtin, config: %s}\n", p.Name, pluginCfg)
	case GoPlugin:
		cfg += fmt.Sprintf("plugins:\n  - {name: %q, kind: provider, source: %q, config: %s}\n", p.Name, "exec:"+p.Binary, pluginCfg)
	case WASM:
		cfg += fmt.Sprintf("plugins:\n  - {name: %q, kind: provider, source: %q, config: %s}\n", p.Name, "wasm:"+p.WASM, pluginCfg)
	}
	cfg += "router_settings: {num_retries: 0}\ngeneral_settings: {master_key: " + masterKey + "}\n"
	return startGateway(t, cfg, opts)
}

// startGateway runs a gateway for cfg and returns its URL.
func startGateway(t *testing.T, cfg string, opts gateway.Options) string {
	t.Helper()
	loaded, err := config.Parse([]byte(cfg), config.Options{Environ: []string{},
		LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatalf("config: %v\n%s", err, cfg)
	}
	opts.Config = loaded.Config
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Version = "plugintest"
	gw, err := gateway.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

func post(t *testing.T, gw string, body any) (*http.Response, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, gw+"/v1/chat/completions", strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+masterKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}

type chatAnswer struct {
	Choices []struct {
		Message struct {
			Content   string `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *sdk.Usage `json:"usage"`
}

func userMessage(text string) []map[string]any {
	return []map[string]any{{"role": "user", "content": text}}
}

func plain(t *testing.T, gw string) {
	resp, body := post(t, gw, map[string]any{"model": "plain", "messages": userMessage("hello")})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var a chatAnswer
	if err := json.Unmarshal(body, &a); err != nil || len(a.Choices) == 0 {
		t.Fatalf("answer %s: %v", body, err)
	}
	if got := a.Choices[0].Message.Content; got != EchoPrefix+"hello" {
		t.Errorf("content = %q, want %q", got, EchoPrefix+"hello")
	}
	if a.Choices[0].FinishReason != "stop" {
		t.Errorf("finish_reason = %q, want stop", a.Choices[0].FinishReason)
	}
	if a.Usage == nil || a.Usage.PromptTokens != PromptTokens || a.Usage.CompletionTokens != CompletionTokens {
		t.Errorf("usage = %+v, want %d prompt and %d completion tokens", a.Usage, PromptTokens, CompletionTokens)
	}
}

func stream(t *testing.T, gw string) {
	resp, body := post(t, gw, map[string]any{"model": "plain", "messages": userMessage("hello stream"),
		"stream": true, "stream_options": map[string]any{"include_usage": true}})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var text strings.Builder
	var finish string
	var usage *sdk.Usage
	done := false
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var c sdk.Chunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("chunk %s: %v", data, err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
			if ch.FinishReason != nil {
				finish = *ch.FinishReason
			}
		}
		if c.Usage != nil {
			usage = c.Usage
		}
	}
	if !done {
		t.Error("the stream did not end with data: [DONE]")
	}
	if text.String() != EchoPrefix+"hello stream" {
		t.Errorf("streamed text = %q", text.String())
	}
	if finish != "stop" {
		t.Errorf("finish_reason = %q, want stop", finish)
	}
	if usage == nil || usage.PromptTokens != PromptTokens {
		t.Errorf("usage = %+v", usage)
	}
}

func tools(t *testing.T, gw string) {
	tool := func(name string) map[string]any {
		return map[string]any{"type": "function", "function": map[string]any{"name": name, "description": name,
			"parameters": map[string]any{"type": "object", "properties": map[string]any{
				"location": map[string]any{"type": "string"}}, "required": []string{"location"}}}}
	}
	resp, body := post(t, gw, map[string]any{"model": "plain", "messages": userMessage("weather and time in Paris?"),
		"tools": []any{tool("get_weather"), tool("get_time")}})
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	var a chatAnswer
	if err := json.Unmarshal(body, &a); err != nil || len(a.Choices) == 0 {
		t.Fatalf("answer %s: %v", body, err)
	}
	calls := a.Choices[0].Message.ToolCalls
	if len(calls) != 2 || calls[0].Function.Name != "get_weather" || calls[1].Function.Name != "get_time" {
		t.Fatalf("tool calls = %+v, want get_weather and get_time", calls)
	}
	for _, c := range calls {
		var args, want map[string]any
		_ = json.Unmarshal([]byte(ToolArguments), &want)
		if err := json.Unmarshal([]byte(c.Function.Arguments), &args); err != nil || fmt.Sprint(args) != fmt.Sprint(want) {
			t.Errorf("arguments of %s = %q", c.Function.Name, c.Function.Arguments)
		}
		if c.ID == "" || c.Type != "function" {
			t.Errorf("tool call %+v lacks an id or type", c)
		}
	}
	if a.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("finish_reason = %q, want tool_calls", a.Choices[0].FinishReason)
	}
}

// failures checks each failure marker's status, error type and code as the gateway renders them.
func failures(t *testing.T, gw string, markers []string) {
	want := map[string]struct {
		status    int
		typ, code string
	}{
		FailRateLimit:     {429, "rate_limit_error", ""},
		FailAuth:          {401, "authentication_error", ""},
		FailOverloaded:    {503, "", ""},
		FailServer:        {500, "", ""},
		FailContextWindow: {400, "invalid_request_error", "context_length_exceeded"},
		FailContentPolicy: {400, "invalid_request_error", "content_policy_violation"},
	}
	if markers == nil {
		markers = failures6
	}
	for _, m := range markers {
		t.Run(m, func(t *testing.T) {
			resp, body := post(t, gw, map[string]any{"model": m, "messages": userMessage("x")})
			var e struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
					Code    any    `json:"code"`
				} `json:"error"`
			}
			_ = json.Unmarshal(body, &e)
			w := want[m]
			if resp.StatusCode != w.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, w.status, body)
			}
			if w.typ != "" && e.Error.Type != w.typ {
				t.Errorf("type = %q, want %q", e.Error.Type, w.typ)
			}
			if w.code != "" && fmt.Sprint(e.Error.Code) != w.code {
				t.Errorf("code = %v, want %q", e.Error.Code, w.code)
			}
			if e.Error.Message == "" {
				t.Error("the error has no message")
			}
		})
	}
}
