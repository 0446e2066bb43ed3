package mistral_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/mistral"
	"github.com/switchyard/gateway/plugins/providers/openai/openaitest"
	"github.com/switchyard/gateway/sdk"
)

const hi = `"messages":[{"role":"user","content":"hi"}]`

var provider = openaitest.Provider{
	Name: "mistral",
	Target: sdk.Target{Provider: "mistral", Model: "mistral-large-latest", APIBase: "https://api.mistral.ai",
		APIKey: "test-key-0123456789"},
	WantBase:  "https://api.mistral.ai/v1",
	WantModel: "mistral-large-latest",
}

// Mistral's parameter differences from OpenAI, through the module the gateway loads.
func TestSpec(t *testing.T) {
	t.Parallel()
	openaitest.Run(t, provider, []openaitest.Case{
		{Name: "seed becomes random_seed", Op: "chat", Body: `{"model":"m",` + hi + `,"seed":7}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"random_seed":7}`},
		{Name: "max_completion_tokens becomes max_tokens", Op: "chat", Body: `{"model":"m",` + hi + `,"max_completion_tokens":9}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"max_tokens":9}`},
		{Name: "max_tokens is kept", Op: "chat", Body: `{"model":"m",` + hi + `,"max_tokens":9}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"max_tokens":9}`},
		{Name: "tool_choice required becomes any", Op: "chat", Body: `{"model":"m",` + hi + `,"tool_choice":"required"}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"tool_choice":"any"}`},
		{Name: "tool_choice auto is kept", Op: "chat", Body: `{"model":"m",` + hi + `,"tool_choice":"auto"}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"tool_choice":"auto"}`},
		{Name: "tool_choice naming a function is kept", Op: "chat",
			Body: `{"model":"m",` + hi + `,"tool_choice":{"type":"function","function":{"name":"f"}}}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"tool_choice":{"type":"function","function":{"name":"f"}}}`},
		{Name: "json_schema response_format is sent as OpenAI's", Op: "chat",
			Body: `{"model":"m",` + hi + `,"response_format":{"type":"json_schema","json_schema":{"name":"w","schema":{"type":"object"},"strict":true}}}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"response_format":{"type":"json_schema","json_schema":{"name":"w","schema":{"type":"object"},"strict":true}}}`},
		{Name: "n is supported", Op: "chat", Body: `{"model":"m",` + hi + `,"n":2}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"n":2}`},
		{Name: "user is rejected", Op: "err", Body: `{"model":"m",` + hi + `,"user":"u"}`, WantParam: "user"},
		{Name: "logprobs is rejected", Op: "err", Body: `{"model":"m",` + hi + `,"logprobs":true}`, WantParam: "logprobs"},
		{Name: "service_tier is rejected", Op: "err", Body: `{"model":"m",` + hi + `,"service_tier":"auto"}`, WantParam: "service_tier"},
		{Name: "no stream usage is asked", Op: "chat", Body: `{"model":"m",` + hi + `,"stream":true}`,
			Want: `{"model":"mistral-large-latest",` + hi + `,"stream":true}`},
		{Name: "embeddings", Op: "embed", Body: `{"model":"m","input":"a","input_type":"query"}`,
			Want: `{"model":"mistral-large-latest","input":"a"}`},
	})
}

// Tool-call ids of other shapes are rewritten, the same way in the assistant's calls and the tool messages; tool
// messages get the function's name; other messages lose theirs.
func TestMessages(t *testing.T) {
	t.Parallel()
	a, b := mistral.ToolCallID("call_abc123"), mistral.ToolCallID("toolu_01XYZ")
	assistant := func(id1, id2 string) string {
		return `{"role":"assistant","content":null,"tool_calls":[` +
			`{"id":"` + id1 + `","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}},` +
			`{"id":"` + id2 + `","type":"function","function":{"name":"get_time","arguments":"{}"}}]}`
	}
	openaitest.Run(t, provider, []openaitest.Case{
		{Name: "foreign ids are rewritten consistently and tool names filled", Op: "chat",
			Body: `{"model":"m","messages":[{"role":"user","content":"w?"},` + assistant("call_abc123", "toolu_01XYZ") + `,` +
				`{"role":"tool","tool_call_id":"toolu_01XYZ","content":"noon"},` +
				`{"role":"tool","tool_call_id":"call_abc123","content":"sunny"}]}`,
			Want: `{"model":"mistral-large-latest","messages":[{"role":"user","content":"w?"},` + assistant(a, b) + `,` +
				`{"role":"tool","tool_call_id":"` + b + `","content":"noon","name":"get_time"},` +
				`{"role":"tool","tool_call_id":"` + a + `","content":"sunny","name":"get_weather"}]}`},
		{Name: "Mistral's own ids are kept and the body is untouched", Op: "chat",
			Body: `{"model":"m","messages":[` + assistant("D681PevKs", "a1b2C3d4E") + `,` +
				`{"role":"tool","tool_call_id":"D681PevKs","name":"get_weather","content":"sunny"}]}`,
			Want: `{"model":"mistral-large-latest","messages":[` + assistant("D681PevKs", "a1b2C3d4E") + `,` +
				`{"role":"tool","tool_call_id":"D681PevKs","name":"get_weather","content":"sunny"}]}`},
		{Name: "a tool message's own name is kept", Op: "chat",
			Body: `{"model":"m","messages":[{"role":"tool","tool_call_id":"call_abc123","name":"mine","content":"x"}]}`,
			Want: `{"model":"mistral-large-latest","messages":[{"role":"tool","tool_call_id":"` + a + `","name":"mine","content":"x"}]}`},
		{Name: "a tool message without a matching call gets no name", Op: "chat",
			Body: `{"model":"m","messages":[{"role":"tool","tool_call_id":"call_abc123","content":"x"}]}`,
			Want: `{"model":"mistral-large-latest","messages":[{"role":"tool","tool_call_id":"` + a + `","content":"x"}]}`},
		{Name: "names of other messages are removed", Op: "chat",
			Body: `{"model":"m","messages":[{"role":"system","name":"s","content":"be brief"},{"role":"user","name":"ann","content":"hi"}]}`,
			Want: `{"model":"mistral-large-latest","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}]}`},
		{Name: "text that merely mentions tool calls is untouched", Op: "chat",
			Body: `{"model":"m","messages":[{"role":"user","content":"what is a \"tool_call_id\"?"}]}`,
			Want: `{"model":"mistral-large-latest","messages":[{"role":"user","content":"what is a \"tool_call_id\"?"}]}`},
	})
}

func TestToolCallID(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[a-zA-Z0-9]{9}$`)
	seen := map[string]string{}
	for _, id := range []string{"call_abc123", "call_abc124", "toolu_01XYZ", "x", "call_" + strings.Repeat("z", 40),
		"ABCDEFGH!", "abcdefghij", "日本語のid"} {
		got := mistral.ToolCallID(id)
		if !valid.MatchString(got) {
			t.Errorf("ToolCallID(%q) = %q, not 9 characters of [a-zA-Z0-9]", id, got)
		}
		if again := mistral.ToolCallID(id); again != got {
			t.Errorf("ToolCallID(%q) is not deterministic: %q then %q", id, got, again)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("ToolCallID(%q) = ToolCallID(%q) = %q", id, other, got)
		}
		seen[got] = id
	}
	for _, id := range []string{"D681PevKs", "123456789", ""} {
		if got := mistral.ToolCallID(id); got != id {
			t.Errorf("ToolCallID(%q) = %q, want it kept", id, got)
		}
	}
}

// Requests built in code (without Raw) are patched too, and the refusal of a malformed message names where it is.
func TestBuiltInCodeAndMalformed(t *testing.T) {
	t.Parallel()
	info, _ := sdk.LookupModule("providers.mistral")
	tr := info.New().(sdk.Translator)
	tg := provider.Target
	var req sdk.ChatRequest
	req.Model = "m"
	req.Messages = []sdk.Message{{Role: "assistant", ToolCalls: []sdk.ToolCall{{ID: "call_1", Type: "function",
		Function: sdk.FunctionCall{Name: "f", Arguments: "{}"}}}}}
	out, err := tr.BuildChat(&tg, &req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out.Body), `"id":"`+mistral.ToolCallID("call_1")+`"`) {
		t.Errorf("a request built in code (no Raw) was not patched: %s", out.Body)
	}
	var e *sdk.Error
	_, err = tr.BuildChat(&tg, &sdk.ChatRequest{Model: "m", Raw: []byte(`{"model":"m","messages":[{"role":"assistant","tool_calls":"x"}]}`)})
	if !errors.As(err, &e) || e.Kind != sdk.KindBadRequest || e.Param != "messages[0]" {
		t.Fatalf("err = %v, want a bad request about messages[0]", err)
	}
}
