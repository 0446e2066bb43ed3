package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// jsonToolName is the tool a JSON-mode request forces the model to call: its input is the JSON answer, returned
// to the client as message content. LiteLLM names it after the json_schema; a fixed name lets answers (and
// streamed fragments) be recognised without remembering the request, and never shows to the client.
const jsonToolName = "json_tool_call"

// anyObjectSchema is the input schema of the JSON tool for response_format json_object, and of tools declared
// without parameters.
var anyObjectSchema = json.RawMessage(`{"type":"object","properties":{},"additionalProperties":true}`)

// thinkingBudgets are the Anthropic thinking budgets for reasoning_effort, as LiteLLM maps them.
var thinkingBudgets = map[string]int{"minimal": 1024, "low": 1024, "medium": 2048, "high": 4096}

// thinkingHeadroom is added to a thinking budget to make maxTokens when the request sets none: Anthropic needs
// room for the answer after the thinking.
const thinkingHeadroom = 4096

// topLevelFields are Converse request members a client may send in the body (as extra members), passed through.
var topLevelFields = map[string]bool{"guardrailConfig": true, "performanceConfig": true, "requestMetadata": true,
	"additionalModelResponseFieldPaths": true, "promptVariables": true, "outputConfig": true, "serviceTier": true}

// openAIOnly are OpenAI request members with no Converse equivalent; anything else unknown is a model-specific
// parameter and goes to additionalModelRequestFields, as in LiteLLM.
var openAIOnly = map[string]bool{"store": true, "service_tier": true, "modalities": true, "prediction": true,
	"audio": true, "web_search_options": true, "verbosity": true, "functions": true, "function_call": true,
	"safety_identifier": true, "prompt_cache_key": true, "prompt_cache_retention": true}

// BuildChat returns the Converse (or ConverseStream) request for a chat completion.
func (tr *Translator) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	// No Accept header, as the AWS SDKs send none: the operation decides the answer's type.
	op := "converse"
	if req.Stream {
		op = "converse-stream"
	}
	u, err := tr.endpoint(t, op)
	if err != nil {
		return nil, err
	}
	body, err := buildConverse(t, req)
	if err != nil {
		return nil, err
	}
	b, err := body.marshal()
	if err != nil {
		return nil, err
	}
	return &sdk.HTTPRequest{Method: http.MethodPost, URL: u, Header: header(t, ""), Body: b}, nil
}

func header(t *sdk.Target, accept string) http.Header {
	h := make(http.Header, 2+len(t.Headers))
	h["Content-Type"] = []string{"application/json"}
	if accept != "" {
		h["Accept"] = []string{accept}
	}
	for k, v := range t.Headers {
		h.Set(k, v)
	}
	return h
}

// marshal encodes the request with its passthrough members.
func (r *converseRequest) marshal() ([]byte, error) {
	type plain converseRequest
	b, ok := appendConverseFast(make([]byte, 0, r.sizeHint()), r)
	var err error
	if !ok {
		b, err = json.Marshal((*plain)(r))
	}
	if err != nil || len(r.Passthrough) == 0 {
		return b, err
	}
	set := make([]rawjson.Member, 0, len(r.Passthrough))
	for _, k := range sortedKeys(r.Passthrough) {
		set = append(set, rawjson.Member{Key: []byte(k), Value: r.Passthrough[k]})
	}
	return rawjson.Patch(b, set, nil)
}

// builder holds what converting one request needs along the way.
type builder struct {
	t        *sdk.Target
	drop     map[string]bool
	rejected []string
	family   string
}

// unsupported notes a parameter Converse cannot take: dropped when the deployment drops parameters, else
// reported.
func (b *builder) unsupported(name string) {
	if !b.drop[name] && !b.t.DropParams {
		b.rejected = append(b.rejected, name)
	}
}

func buildConverse(t *sdk.Target, req *sdk.ChatRequest) (*converseRequest, error) {
	b := &builder{t: t, drop: map[string]bool{}, family: family(t.Model)}
	for _, p := range t.AdditionalDropParams {
		b.drop[p] = true
	}
	out := &converseRequest{}

	system, msgs, err := convertMessages(req.Messages)
	if err != nil {
		return nil, err
	}
	out.System, out.Messages = system, msgs

	// Parameters Converse has no place for.
	if req.PresencePenalty != nil {
		b.unsupported("presence_penalty")
	}
	if req.FrequencyPenalty != nil {
		b.unsupported("frequency_penalty")
	}
	if len(req.LogitBias) > 0 {
		b.unsupported("logit_bias")
	}
	if req.Logprobs != nil && *req.Logprobs {
		b.unsupported("logprobs")
	}
	if req.TopLogprobs != nil {
		b.unsupported("top_logprobs")
	}
	if req.Seed != nil {
		b.unsupported("seed")
	}
	if req.N != nil && *req.N > 1 {
		b.unsupported("n")
	}
	// Converse models call tools in parallel when they see fit; there is no switch to forbid it.
	if req.ParallelToolCalls != nil && !*req.ParallelToolCalls {
		b.unsupported("parallel_tool_calls")
	}
	// user has no Converse equivalent; it only labels the request, so it is not sent rather than refused.

	additional := map[string]json.RawMessage{}
	extra := map[string]json.RawMessage{}
	for k, v := range req.Extra {
		extra[k] = v
	}
	if eb, ok := t.Params["extra_body"].(map[string]any); ok {
		for k, v := range eb {
			if _, set := extra[k]; set {
				continue
			}
			raw, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("litellm_params.extra_body.%s: %w", k, err)
			}
			extra[k] = raw
		}
	}
	if _, ok := extra["top_k"]; !ok {
		if v, ok := t.Params["top_k"]; ok {
			if raw, err := json.Marshal(v); err == nil {
				extra["top_k"] = raw
			}
		}
	}
	for _, k := range sortedKeys(extra) {
		v := extra[k]
		switch {
		case b.drop[k] || bytes.Equal(bytes.TrimSpace(v), []byte("null")):
		case topLevelFields[k]:
			if out.Passthrough == nil {
				out.Passthrough = map[string]json.RawMessage{}
			}
			out.Passthrough[k] = v
		case k == "additionalModelRequestFields":
			if err := rawjson.Each(v, func(key, value []byte) bool {
				additional[string(key)] = value
				return true
			}); err != nil {
				return nil, sdk.NewError(sdk.KindBadRequest, "additionalModelRequestFields: must be a JSON object").
					WithParam("additionalModelRequestFields")
			}
		case k == "top_k":
			switch b.family {
			case "anthropic", "mistral":
				additional["top_k"] = v
			case "nova":
				additional["inferenceConfig"] = append(append([]byte(`{"topK":`), v...), '}')
			default:
				b.unsupported("top_k")
			}
		case openAIOnly[k]:
			b.unsupported(k)
		default:
			// thinking, anthropic_beta, reasoning_config and other model-specific parameters.
			additional[k] = v
		}
	}

	inf, err := inference(t, req)
	if err != nil {
		return nil, err
	}

	thinkingBudget := 0
	if effort := req.ReasoningEffort; effort != "" && effort != "none" && !b.drop["reasoning_effort"] {
		_, hasThinking := additional["thinking"]
		_, hasReasoning := additional["reasoningConfig"]
		switch {
		case hasThinking || hasReasoning:
		case b.family == "anthropic":
			budget, ok := thinkingBudgets[effort]
			if !ok {
				return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("reasoning_effort: %q is not one of "+
					"minimal, low, medium, high", effort)).WithParam("reasoning_effort")
			}
			additional["thinking"] = json.RawMessage(`{"type":"enabled","budget_tokens":` + strconv.Itoa(budget) + `}`)
			thinkingBudget = budget
		case b.family == "nova":
			if effort == "minimal" {
				effort = "low"
			}
			additional["reasoningConfig"] = json.RawMessage(`{"type":"enabled","maxReasoningEffort":` +
				string(rawjson.String(effort)) + `}`)
		case b.family == "openai":
			additional["reasoning_effort"] = rawjson.String(effort)
		default:
			b.unsupported("reasoning_effort")
		}
	}
	thinking := thinkingEnabled(additional["thinking"])
	if thinking && thinkingBudget == 0 {
		thinkingBudget = thinkingBudgetOf(additional["thinking"])
	}
	if thinking && inf.MaxTokens == nil && thinkingBudget > 0 {
		n := thinkingBudget + thinkingHeadroom
		inf.MaxTokens = &n
	}
	if inf.MaxTokens != nil || inf.Temperature != nil || inf.TopP != nil || len(inf.StopSequences) > 0 {
		out.InferenceConfig = inf
	}

	tc, err := b.tools(req, msgs, thinking)
	if err != nil {
		return nil, err
	}
	out.ToolConfig = tc

	if len(b.rejected) > 0 {
		sort.Strings(b.rejected)
		return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("bedrock does not support the parameters %s; "+
			"remove them, or set drop_params: true to drop them automatically", strings.Join(b.rejected, ", "))).
			WithParam(b.rejected[0]).WithCode("unsupported_params")
	}
	if len(additional) > 0 {
		out.AdditionalModelRequestFields = additional
	}
	return out, nil
}

// family returns the model family of a Bedrock model id, inference profile or ARN: "anthropic", "nova",
// "titan", "cohere", "mistral", "meta", "openai", ...
func family(model string) string {
	m := strings.ToLower(model)
	switch {
	case strings.Contains(m, "anthropic.") || strings.Contains(m, "claude"):
		return "anthropic"
	case strings.Contains(m, "amazon.nova") || strings.Contains(m, "/nova"):
		return "nova"
	case strings.Contains(m, "amazon.titan"):
		return "titan"
	case strings.Contains(m, "cohere."):
		return "cohere"
	case strings.Contains(m, "mistral."):
		return "mistral"
	case strings.Contains(m, "meta."):
		return "meta"
	case strings.Contains(m, "openai."):
		return "openai"
	}
	return ""
}

func thinkingEnabled(raw json.RawMessage) bool {
	var th struct {
		Type string `json:"type"`
	}
	return len(raw) > 0 && json.Unmarshal(raw, &th) == nil && th.Type == "enabled"
}

func thinkingBudgetOf(raw json.RawMessage) int {
	var th struct {
		Budget int `json:"budget_tokens"`
	}
	_ = json.Unmarshal(raw, &th)
	return th.Budget
}

// inference maps the sampling parameters, with the deployment's defaults for those the request leaves out.
func inference(t *sdk.Target, req *sdk.ChatRequest) (*inferenceConfig, error) {
	inf := &inferenceConfig{Temperature: req.Temperature, TopP: req.TopP}
	inf.MaxTokens = req.MaxCompletionTokens
	if inf.MaxTokens == nil {
		inf.MaxTokens = req.MaxTokens
	}
	var err error
	if inf.MaxTokens == nil {
		if inf.MaxTokens, err = paramInt(t, "max_completion_tokens"); err != nil {
			return nil, err
		}
	}
	if inf.MaxTokens == nil {
		if inf.MaxTokens, err = paramInt(t, "max_tokens"); err != nil {
			return nil, err
		}
	}
	if inf.Temperature == nil {
		if inf.Temperature, err = paramFloat(t, "temperature"); err != nil {
			return nil, err
		}
	}
	if inf.TopP == nil {
		if inf.TopP, err = paramFloat(t, "top_p"); err != nil {
			return nil, err
		}
	}
	stop := []string(req.Stop)
	if req.Stop == nil {
		switch v := t.Params["stop"].(type) {
		case string:
			stop = []string{v}
		case []any:
			for _, s := range v {
				if s, ok := s.(string); ok {
					stop = append(stop, s)
				}
			}
		}
	}
	for _, s := range stop {
		if s != "" { // Converse refuses empty stop sequences
			inf.StopSequences = append(inf.StopSequences, s)
		}
	}
	return inf, nil
}

func paramFloat(t *sdk.Target, name string) (*float64, error) {
	if _, ok := t.Params[name]; !ok {
		return nil, nil
	}
	v, err := strconv.ParseFloat(t.Param(name), 64)
	if err != nil {
		return nil, fmt.Errorf("litellm_params.%s: not a number", name)
	}
	return &v, nil
}

func paramInt(t *sdk.Target, name string) (*int, error) {
	f, err := paramFloat(t, name)
	if f == nil || err != nil {
		return nil, err
	}
	v := int(*f)
	return &v, nil
}

// tools builds the tool configuration: the request's tools, the JSON tool of response_format, and, when the
// conversation holds tool calls but the request offers no tools, declarations of the tools it used (Converse
// refuses toolUse and toolResult blocks without a toolConfig; LiteLLM adds a placeholder tool in that case when
// modify_params is set).
func (b *builder) tools(req *sdk.ChatRequest, msgs []message, thinking bool) (*toolConfig, error) {
	tc := &toolConfig{}
	for j, tl := range req.Tools {
		if tl.Type != "" && tl.Type != "function" {
			return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("tools[%d].type: %q is not supported; "+
				"bedrock takes function tools", j, tl.Type)).WithParam(fmt.Sprintf("tools[%d].type", j))
		}
		if tl.Function.Name == "" {
			return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("tools[%d].function.name: required", j)).
				WithParam(fmt.Sprintf("tools[%d].function.name", j))
		}
		schema := tl.Function.Parameters
		if len(bytes.TrimSpace(schema)) == 0 || bytes.Equal(bytes.TrimSpace(schema), []byte("null")) {
			schema = anyObjectSchema
		}
		tc.Tools = append(tc.Tools, tool{ToolSpec: toolSpec{Name: tl.Function.Name,
			Description: tl.Function.Description, InputSchema: inputSchema{JSON: schema}}})
	}

	if c := req.ToolChoice; c != nil && !b.drop["tool_choice"] {
		switch c.Mode {
		case "auto":
			tc.ToolChoice = &toolChoice{Auto: &struct{}{}}
		case "required":
			tc.ToolChoice = &toolChoice{Any: &struct{}{}}
		case "function":
			tc.ToolChoice = &toolChoice{Tool: &toolByName{Name: c.Function}}
		case "none":
			// Converse has no "none": not offering the tools has the same effect, unless the conversation
			// already holds tool calls, which need their declarations.
			if !hasToolBlocks(msgs) {
				tc.Tools = nil
			} else {
				b.unsupported("tool_choice")
			}
		default:
			return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("tool_choice: %q is not one of auto, none, "+
				"required", c.Mode)).WithParam("tool_choice")
		}
	}

	if rf := req.ResponseFormat; rf != nil && !b.drop["response_format"] {
		switch rf.Type {
		case "", "text":
		case "json_object", "json_schema":
			schema, desc := anyObjectSchema, "Answer with a JSON object."
			if s := rf.JSONSchema; s != nil {
				if len(bytes.TrimSpace(s.Schema)) > 0 {
					schema = s.Schema
				}
				switch {
				case s.Description != "":
					desc = s.Description
				case s.Name != "":
					desc = "Answer with a JSON object: the " + s.Name + "."
				}
			}
			tc.Tools = append(tc.Tools, tool{ToolSpec: toolSpec{Name: jsonToolName, Description: desc,
				InputSchema: inputSchema{JSON: schema}}})
			// Anthropic models refuse a forced tool while thinking; the tool is then only offered.
			if !thinking {
				tc.ToolChoice = &toolChoice{Tool: &toolByName{Name: jsonToolName}}
			}
		default:
			return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("response_format.type: %q is not one of "+
				"text, json_object, json_schema", rf.Type)).WithParam("response_format")
		}
	}

	if len(tc.Tools) == 0 {
		tc.ToolChoice = nil
		for _, name := range usedTools(msgs) {
			tc.Tools = append(tc.Tools, tool{ToolSpec: toolSpec{Name: name, InputSchema: inputSchema{JSON: anyObjectSchema}}})
		}
	}
	if len(tc.Tools) == 0 {
		return nil, nil
	}
	return tc, nil
}

func hasToolBlocks(msgs []message) bool {
	for _, m := range msgs {
		for _, c := range m.Content {
			if c.ToolUse != nil || c.ToolResult != nil {
				return true
			}
		}
	}
	return false
}

// usedTools returns the names of the tools the conversation called, in order of first use.
func usedTools(msgs []message) []string {
	var names []string
	seen := map[string]bool{}
	for _, m := range msgs {
		for _, c := range m.Content {
			if c.ToolUse != nil && !seen[c.ToolUse.Name] {
				seen[c.ToolUse.Name] = true
				names = append(names, c.ToolUse.Name)
			}
		}
	}
	return names
}

// wantsJSON reports a request served through the JSON tool.
func wantsJSON(req *sdk.ChatRequest) bool {
	return req.ResponseFormat != nil && (req.ResponseFormat.Type == "json_object" || req.ResponseFormat.Type == "json_schema")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
