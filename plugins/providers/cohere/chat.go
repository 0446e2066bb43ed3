package cohere

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// chatRequest is the body of POST /v2/chat.
type chatRequest struct {
	Model            string          `json:"model"`
	Messages         []message       `json:"messages"`
	Stream           bool            `json:"stream,omitempty"`
	Tools            []tool          `json:"tools,omitempty"`
	StrictTools      *bool           `json:"strict_tools,omitempty"`
	ToolChoice       string          `json:"tool_choice,omitempty"`
	ResponseFormat   *responseFormat `json:"response_format,omitempty"`
	MaxTokens        *int            `json:"max_tokens,omitempty"`
	StopSequences    []string        `json:"stop_sequences,omitempty"`
	Temperature      *float64        `json:"temperature,omitempty"`
	P                *float64        `json:"p,omitempty"`
	Seed             *int64          `json:"seed,omitempty"`
	FrequencyPenalty *float64        `json:"frequency_penalty,omitempty"`
	PresencePenalty  *float64        `json:"presence_penalty,omitempty"`
	Thinking         *thinking       `json:"thinking,omitempty"`
}

// message is one Cohere chat message. Content is a string or a list of parts (textPart, imagePart); nil leaves
// it out, as for an assistant message that only calls tools.
type message struct {
	Role       string     `json:"role"`
	Content    any        `json:"content,omitempty"`
	ToolPlan   string     `json:"tool_plan,omitempty"`
	ToolCalls  []toolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

type textPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type imagePart struct {
	Type     string   `json:"type"`
	ImageURL imageURL `json:"image_url"`
}

type imageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type tool struct {
	Type     string       `json:"type"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

type toolCall struct {
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function functionCall `json:"function"`
}

type functionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type responseFormat struct {
	Type       string          `json:"type"`
	JSONSchema json.RawMessage `json:"json_schema,omitempty"`
}

type thinking struct {
	Type string `json:"type"`
}

// nativeParams are Cohere chat parameters with no OpenAI counterpart, passed through from the request body or,
// as defaults, from litellm_params (or its extra_body).
var nativeParams = []string{"k", "safety_mode", "documents", "citation_options", "thinking", "strict_tools", "priority"}

// unsupportedParams are OpenAI chat parameters Cohere has no equivalent for. A request using one fails, unless
// drop_params is set.
var unsupportedParams = []string{"n", "logit_bias", "logprobs", "top_logprobs"}

// emptyParameters is the schema sent for a function declared without parameters.
var emptyParameters = json.RawMessage(`{"type":"object","properties":{}}`)

// BuildChat translates a chat completion request into a /v2/chat request.
func (tr *Translator) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	body, err := buildChatBody(t, req)
	if err != nil {
		return nil, err
	}
	return request(t, "chat", body, req.Stream)
}

func buildChatBody(t *sdk.Target, req *sdk.ChatRequest) ([]byte, error) {
	drop := dropSet(t)
	if err := checkUnsupported(t, req, drop); err != nil {
		return nil, err
	}
	out := chatRequest{Model: t.Model, Stream: req.Stream}
	var err error
	if out.Messages, err = messages(req.Messages); err != nil {
		return nil, err
	}
	if err := setTools(&out, req, drop); err != nil {
		return nil, err
	}
	if rf := req.ResponseFormat; rf != nil && !drop["response_format"] {
		switch rf.Type {
		case "", "text":
		case "json_object":
			out.ResponseFormat = &responseFormat{Type: "json_object"}
		case "json_schema":
			out.ResponseFormat = &responseFormat{Type: "json_object"}
			if rf.JSONSchema != nil && len(rf.JSONSchema.Schema) > 0 {
				out.ResponseFormat.JSONSchema = rf.JSONSchema.Schema
			}
		default:
			return nil, badRequest("response_format", "response_format.type: %q is not one of text, json_object, "+
				"json_schema", rf.Type)
		}
	}

	out.MaxTokens = req.MaxCompletionTokens
	if out.MaxTokens == nil {
		out.MaxTokens = req.MaxTokens
	}
	if drop["max_tokens"] || drop["max_completion_tokens"] {
		out.MaxTokens = nil
	}
	if out.MaxTokens == nil && !drop["max_tokens"] {
		out.MaxTokens = defaultParam[int](t, "max_tokens")
	}
	if !drop["stop"] {
		out.StopSequences = req.Stop
		if out.StopSequences == nil {
			if v := defaultParam[sdk.Stop](t, "stop"); v != nil {
				out.StopSequences = *v
			}
		}
	}
	out.Temperature = param(t, drop, "temperature", req.Temperature)
	out.P = param(t, drop, "top_p", req.TopP)
	out.Seed = param(t, drop, "seed", req.Seed)
	out.FrequencyPenalty = param(t, drop, "frequency_penalty", req.FrequencyPenalty)
	out.PresencePenalty = param(t, drop, "presence_penalty", req.PresencePenalty)
	effort := req.ReasoningEffort
	if effort == "" {
		effort = t.Param("reasoning_effort")
	}
	switch {
	case effort == "" || drop["reasoning_effort"]:
	case effort == "none":
		out.Thinking = &thinking{Type: "disabled"}
	default:
		out.Thinking = &thinking{Type: "enabled"}
	}

	body, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("encoding the cohere request: %w", err)
	}
	return patchNative(t, body, req.Extra, drop)
}

// dropSet returns the parameters the deployment always drops.
func dropSet(t *sdk.Target) map[string]bool {
	drop := make(map[string]bool, len(t.AdditionalDropParams))
	for _, p := range t.AdditionalDropParams {
		drop[p] = true
	}
	return drop
}

// checkUnsupported refuses OpenAI parameters Cohere cannot honour, unless they are to be dropped.
func checkUnsupported(t *sdk.Target, req *sdk.ChatRequest, drop map[string]bool) error {
	used := map[string]bool{
		"n":            req.N != nil && *req.N > 1,
		"logit_bias":   len(req.LogitBias) > 0,
		"logprobs":     req.Logprobs != nil && *req.Logprobs,
		"top_logprobs": req.TopLogprobs != nil,
	}
	var rejected []string
	for _, p := range unsupportedParams {
		if used[p] && !drop[p] && !t.DropParams {
			rejected = append(rejected, p)
		}
	}
	if len(rejected) == 0 {
		return nil
	}
	return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("cohere does not support the parameters %s; remove them, "+
		"or set drop_params: true to drop them automatically", strings.Join(rejected, ", "))).
		WithParam(rejected[0]).WithCode("unsupported_params")
}

// defaultParam reads a litellm_params default into a T, nil when there is none or it does not fit.
func defaultParam[T any](t *sdk.Target, name string) *T {
	v, ok := t.Params[name]
	if !ok || v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out T
	if json.Unmarshal(b, &out) != nil {
		return nil
	}
	return &out
}

// param returns the request's value of an OpenAI parameter, else the deployment's default, nil when dropped.
func param[T any](t *sdk.Target, drop map[string]bool, name string, v *T) *T {
	if drop[name] {
		return nil
	}
	if v != nil {
		return v
	}
	return defaultParam[T](t, name)
}

// patchNative adds the Cohere-only parameters found in the request's extra members or the deployment's params.
func patchNative(t *sdk.Target, body []byte, extra map[string]json.RawMessage, drop map[string]bool) ([]byte, error) {
	extraBody, _ := t.Params["extra_body"].(map[string]any)
	var set []rawjson.Member
	for _, name := range nativeParams {
		if drop[name] {
			continue
		}
		v := extra[name]
		if len(v) == 0 || bytes.Equal(v, []byte("null")) {
			v = nil
			def, ok := t.Params[name]
			if !ok {
				def, ok = extraBody[name]
			}
			if ok && def != nil {
				b, err := json.Marshal(def)
				if err != nil {
					return nil, fmt.Errorf("litellm_params.%s: %w", name, err)
				}
				v = b
			}
		}
		if v != nil {
			set = append(set, rawjson.Member{Key: []byte(name), Value: v})
		}
	}
	if len(set) == 0 {
		return body, nil
	}
	return rawjson.Patch(body, set, nil)
}

// setTools translates tools and tool_choice.
func setTools(out *chatRequest, req *sdk.ChatRequest, drop map[string]bool) error {
	if drop["tools"] {
		return nil
	}
	strict := false
	for i, tl := range req.Tools {
		if tl.Type != "" && tl.Type != "function" {
			return badRequest(fmt.Sprintf("tools[%d].type", i), "tools[%d].type: cohere only takes function tools, "+
				"not %q", i, tl.Type)
		}
		params := tl.Function.Parameters
		if len(params) == 0 || bytes.Equal(params, []byte("null")) {
			params = emptyParameters
		}
		out.Tools = append(out.Tools, tool{Type: "function", Function: toolFunction{Name: tl.Function.Name,
			Description: tl.Function.Description, Parameters: params}})
		strict = strict || (tl.Function.Strict != nil && *tl.Function.Strict)
	}
	if strict {
		out.StrictTools = &strict
	}
	tc := req.ToolChoice
	if tc == nil || drop["tool_choice"] {
		return nil
	}
	switch tc.Mode {
	case "", "auto":
	case "none":
		if len(out.Tools) > 0 {
			out.ToolChoice = "NONE"
		}
	case "required":
		out.ToolChoice = "REQUIRED"
	case "function":
		// Cohere cannot name the tool to call: offer only that one, and require a call.
		var only []tool
		for _, tl := range out.Tools {
			if tl.Function.Name == tc.Function {
				only = append(only, tl)
			}
		}
		if len(only) == 0 {
			return badRequest("tool_choice", "tool_choice: the function %q is not among the tools", tc.Function)
		}
		out.Tools, out.ToolChoice = only, "REQUIRED"
	default:
		return badRequest("tool_choice", "tool_choice: %q is not one of auto, none, required or a function", tc.Mode)
	}
	return nil
}

// messages translates the conversation.
func messages(in []sdk.Message) ([]message, error) {
	out := make([]message, 0, len(in))
	for i := range in {
		m := &in[i]
		where := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer":
			text, err := textOnly(m.Content, where)
			if err != nil {
				return nil, err
			}
			out = append(out, message{Role: "system", Content: text})
		case "user":
			content, err := userContent(m.Content, where)
			if err != nil {
				return nil, err
			}
			out = append(out, message{Role: "user", Content: content})
		case "assistant":
			text, err := textOnly(m.Content, where)
			if err != nil {
				return nil, err
			}
			am := message{Role: "assistant"}
			if len(m.ToolCalls) > 0 {
				// Cohere takes the text that comes with tool calls as the tool plan.
				am.ToolPlan = text
				for _, tc := range m.ToolCalls {
					args := tc.Function.Arguments
					if args == "" {
						args = "{}"
					}
					am.ToolCalls = append(am.ToolCalls, toolCall{ID: tc.ID, Type: "function",
						Function: functionCall{Name: tc.Function.Name, Arguments: args}})
				}
			} else {
				am.Content = text
			}
			out = append(out, am)
		case "tool":
			if m.ToolCallID == "" {
				return nil, badRequest(where+".tool_call_id", "%s.tool_call_id: required for a tool message", where)
			}
			text, err := textOnly(m.Content, where)
			if err != nil {
				return nil, err
			}
			out = append(out, message{Role: "tool", ToolCallID: m.ToolCallID, Content: text})
		default:
			return nil, badRequest(where+".role", "%s.role: cohere does not take %q messages; use tool messages "+
				"for tool results", where, m.Role)
		}
	}
	return out, nil
}

// textOnly returns the text of a content that may only hold text.
func textOnly(c sdk.Content, where string) (string, error) {
	for j, p := range c.Parts {
		if p.Type != "text" {
			return "", badRequest(fmt.Sprintf("%s.content[%d]", where, j), "%s.content[%d]: only text parts are "+
				"accepted in this message, not %q", where, j, p.Type)
		}
	}
	return c.String(), nil
}

// userContent translates a user message's content: a string, or text and image parts.
func userContent(c sdk.Content, where string) (any, error) {
	if !c.IsParts {
		return c.Text, nil
	}
	parts := make([]any, 0, len(c.Parts))
	for j, p := range c.Parts {
		switch p.Type {
		case "text":
			parts = append(parts, textPart{Type: "text", Text: p.Text})
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, badRequest(fmt.Sprintf("%s.content[%d].image_url", where, j),
					"%s.content[%d].image_url.url: required", where, j)
			}
			parts = append(parts, imagePart{Type: "image_url",
				ImageURL: imageURL{URL: p.ImageURL.URL, Detail: p.ImageURL.Detail}})
		default:
			return nil, badRequest(fmt.Sprintf("%s.content[%d]", where, j), "%s.content[%d]: cohere does not "+
				"accept %q parts; use text and image_url", where, j, p.Type)
		}
	}
	return parts, nil
}

// chatResponse is the answer of POST /v2/chat.
type chatResponse struct {
	ID           string `json:"id"`
	FinishReason string `json:"finish_reason"`
	Message      struct {
		Content   []contentItem `json:"content"`
		ToolPlan  string        `json:"tool_plan"`
		ToolCalls []toolCall    `json:"tool_calls"`
	} `json:"message"`
	Usage *usage `json:"usage"`
}

type contentItem struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Thinking string `json:"thinking"`
}

// usage is Cohere's usage report: what is billed, and the tokens the model saw (the latter include the prompt
// template Cohere adds).
type usage struct {
	BilledUnits *units `json:"billed_units"`
	Tokens      *units `json:"tokens"`
}

type units struct {
	InputTokens  float64 `json:"input_tokens"`
	OutputTokens float64 `json:"output_tokens"`
}

// toUsage returns the billed units, or the token counts when nothing is billed.
func (u *usage) toUsage() *sdk.Usage {
	if u == nil {
		return nil
	}
	src := u.BilledUnits
	if src == nil || src.InputTokens+src.OutputTokens == 0 {
		src = u.Tokens
	}
	if src == nil {
		return nil
	}
	in, out := int(src.InputTokens), int(src.OutputTokens)
	return &sdk.Usage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out}
}

// ParseChat translates a /v2/chat answer.
func (tr *Translator) ParseChat(t *sdk.Target, req *sdk.ChatRequest, resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	var r chatResponse
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, fmt.Errorf("the cohere chat answer: %w", err)
	}
	finish, err := finishReason(r.FinishReason, "")
	if err != nil {
		return nil, err
	}
	var text, reasoning strings.Builder
	for _, c := range r.Message.Content {
		switch c.Type {
		case "text":
			text.WriteString(c.Text)
		case "thinking":
			reasoning.WriteString(c.Thinking)
		}
	}
	msg := sdk.Message{Role: "assistant", ReasoningContent: reasoning.String()}
	switch {
	case text.Len() > 0:
		msg.Content = sdk.TextContent(text.String())
	case r.Message.ToolPlan != "":
		msg.Content = sdk.TextContent(r.Message.ToolPlan)
	case len(r.Message.ToolCalls) > 0:
		msg.Content = sdk.Content{Null: true}
	}
	for _, tc := range r.Message.ToolCalls {
		msg.ToolCalls = append(msg.ToolCalls, sdk.ToolCall{ID: tc.ID, Type: "function",
			Function: sdk.FunctionCall{Name: tc.Function.Name, Arguments: tc.Function.Arguments}})
	}
	return &sdk.ChatResponse{
		ID: r.ID, Object: "chat.completion", Created: tr.now().Unix(), Model: t.Model,
		Choices: []sdk.Choice{{Index: 0, Message: msg, FinishReason: finish}},
		Usage:   r.Usage.toUsage(),
	}, nil
}

// finishReason maps Cohere's finish reason to OpenAI's. ERROR (and TIMEOUT) are errors: OpenAI has no finish
// reason for an answer the provider gave up on.
func finishReason(reason, detail string) (string, error) {
	switch reason {
	case "COMPLETE", "STOP_SEQUENCE", "":
		return sdk.FinishStop, nil
	case "MAX_TOKENS", "ERROR_LIMIT":
		return sdk.FinishLength, nil
	case "TOOL_CALL":
		return sdk.FinishToolCalls, nil
	case "ERROR_TOXIC":
		return sdk.FinishContentFilter, nil
	case "TIMEOUT":
		return "", &sdk.Error{Kind: sdk.KindTimeout, Message: "cohere stopped the answer: it took too long"}
	case "ERROR":
		msg := "cohere stopped the answer with an error"
		if detail != "" {
			msg += ": " + sdk.Redact(detail)
		}
		return "", &sdk.Error{Kind: sdk.KindAPIConnection, Message: msg}
	}
	return sdk.FinishStop, nil
}
