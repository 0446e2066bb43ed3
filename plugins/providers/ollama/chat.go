package ollama

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// chatRequest is the body of POST /api/chat.
type chatRequest struct {
	Model    string     `json:"model"`
	Messages []message  `json:"messages"`
	Tools    []sdk.Tool `json:"tools,omitempty"`
	// Stream is always written: Ollama streams unless told not to.
	Stream bool `json:"stream"`
	// Format is "json" for JSON mode or a JSON schema for structured output.
	Format    json.RawMessage            `json:"format,omitempty"`
	Options   map[string]json.RawMessage `json:"options,omitempty"`
	KeepAlive json.RawMessage            `json:"keep_alive,omitempty"`
	// Think is true, false, or a level ("low", "medium", "high") for models that take one.
	Think json.RawMessage `json:"think,omitempty"`
}

// message is a chat message as Ollama has it, in requests and answers.
type message struct {
	Role     string `json:"role"`
	Content  string `json:"content"`
	Thinking string `json:"thinking,omitempty"`
	// Images are base64, without a data: prefix.
	Images    []string   `json:"images,omitempty"`
	ToolCalls []toolCall `json:"tool_calls,omitempty"`
	// ToolName names the function a "tool" message answers.
	ToolName string `json:"tool_name,omitempty"`
}

// toolCall is a call of a function; its arguments are a JSON object, not a string as in OpenAI's API. Recent
// Ollama versions give calls an id; older ones do not.
type toolCall struct {
	ID       string       `json:"id,omitempty"`
	Function toolFunction `json:"function"`
}

type toolFunction struct {
	Index     *int            `json:"index,omitempty"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// optionNames are Ollama's model options (the Modelfile parameters) taken from a deployment's litellm_params and
// from top-level members of a client's request, as LiteLLM passes them.
var optionNames = []string{"num_ctx", "num_predict", "num_keep", "num_batch", "num_gpu", "main_gpu", "num_thread",
	"top_k", "min_p", "typical_p", "repeat_last_n", "repeat_penalty", "mirostat", "mirostat_tau", "mirostat_eta",
	"penalize_newline", "use_mmap", "use_mlock", "low_vram", "vocab_only", "numa"}

// openAIOptions maps OpenAI parameters to the Ollama options that carry them.
var openAIOptions = []struct{ param, option string }{
	{"temperature", "temperature"}, {"top_p", "top_p"}, {"max_tokens", "num_predict"},
	{"max_completion_tokens", "num_predict"}, {"stop", "stop"}, {"seed", "seed"},
	{"frequency_penalty", "frequency_penalty"}, {"presence_penalty", "presence_penalty"},
}

// BuildChat converts a chat request to POST /api/chat.
func (Translator) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	if err := checkUnsupported(t, req); err != nil {
		return nil, err
	}
	body := chatRequest{Model: t.Model, Stream: req.Stream}
	var err error
	if body.Messages, err = messages(req.Messages); err != nil {
		return nil, err
	}
	if len(req.Tools) > 0 && (req.ToolChoice == nil || req.ToolChoice.Mode != "none") {
		// Ollama has no tool_choice: "none" is honoured by offering no tools; the others leave the choice to the
		// model, as they do with LiteLLM.
		body.Tools = make([]sdk.Tool, len(req.Tools))
		for i, tool := range req.Tools {
			if tool.Type == "" {
				tool.Type = "function"
			}
			body.Tools[i] = tool
		}
	}
	if body.Format, err = format(req.ResponseFormat); err != nil {
		return nil, err
	}
	if body.Options, err = options(t, req); err != nil {
		return nil, err
	}
	body.KeepAlive = firstRaw(req.Extra["keep_alive"], param(t, "keep_alive"))
	body.Think = think(t, req)
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding the Ollama request: %w", err)
	}
	return post(t, "/api/chat", b), nil
}

// checkUnsupported refuses OpenAI parameters Ollama cannot honour, unless the deployment drops them.
func checkUnsupported(t *sdk.Target, req *sdk.ChatRequest) error {
	var used []string
	if req.N != nil && *req.N > 1 {
		used = append(used, "n")
	}
	if len(req.LogitBias) > 0 {
		used = append(used, "logit_bias")
	}
	if req.Logprobs != nil && *req.Logprobs {
		used = append(used, "logprobs")
	}
	if req.TopLogprobs != nil && *req.TopLogprobs > 0 {
		used = append(used, "top_logprobs")
	}
	used = slices.DeleteFunc(used, func(p string) bool { return t.DropParams || slices.Contains(t.AdditionalDropParams, p) })
	if len(used) == 0 {
		return nil
	}
	return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("ollama does not support the parameters %s; remove them, "+
		"or set drop_params: true to drop them automatically", strings.Join(used, ", "))).
		WithParam(used[0]).WithCode("unsupported_params")
}

// messages converts the conversation. Tool results name the function they answer, found from the call's id.
func messages(in []sdk.Message) ([]message, error) {
	names := map[string]string{}
	for _, m := range in {
		for _, tc := range m.ToolCalls {
			names[tc.ID] = tc.Function.Name
		}
	}
	out := make([]message, 0, len(in))
	for i, m := range in {
		om := message{Role: m.Role}
		switch m.Role {
		case "developer":
			om.Role = "system"
		case "tool":
			om.ToolName = names[m.ToolCallID]
			if om.ToolName == "" {
				om.ToolName = m.Name
			}
		case "function": // the legacy form of a tool result
			om.Role, om.ToolName = "tool", m.Name
		case "assistant":
			om.Thinking = m.ReasoningContent
			for j, tc := range m.ToolCalls {
				args, err := argumentsObject(tc.Function.Arguments)
				if err != nil {
					return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf(
						"messages[%d].tool_calls[%d].function.arguments: %v", i, j, err)).
						WithParam(fmt.Sprintf("messages[%d].tool_calls[%d].function.arguments", i, j))
				}
				om.ToolCalls = append(om.ToolCalls, toolCall{Function: toolFunction{Name: tc.Function.Name, Arguments: args}})
			}
		}
		if !m.Content.IsParts {
			om.Content = m.Content.Text
		} else {
			var text []string
			for j, p := range m.Content.Parts {
				path := fmt.Sprintf("messages[%d].content[%d]", i, j)
				switch p.Type {
				case "text":
					text = append(text, p.Text)
				case "image_url":
					if p.ImageURL == nil {
						return nil, sdk.NewError(sdk.KindBadRequest, path+".image_url: required").WithParam(path + ".image_url")
					}
					img, err := imageData(p.ImageURL.URL)
					if err != nil {
						return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s.image_url: %v", path, err)).
							WithParam(path + ".image_url")
					}
					om.Images = append(om.Images, img)
				case "refusal":
				default:
					return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s: ollama takes text and image_url parts, "+
						"not %q", path, p.Type)).WithParam(path)
				}
			}
			om.Content = strings.Join(text, "\n")
		}
		out = append(out, om)
	}
	return out, nil
}

// argumentsObject turns OpenAI's arguments text into the JSON object Ollama wants.
func argumentsObject(s string) (json.RawMessage, error) {
	b := bytes.TrimSpace([]byte(s))
	if len(b) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(b) || b[0] != '{' {
		return nil, errors.New("must be a JSON object")
	}
	return b, nil
}

var errImageURL = errors.New("ollama takes image bytes only, and the gateway did not fetch this http(s) URL; " +
	"send the image as a data: URL (data:image/png;base64,...)")

// imageData returns the base64 of an image given as a data: URL (or as bare base64, which LiteLLM accepts too).
// http(s) URLs are fetched and inlined by the gateway before BuildChat (Capabilities.FetchImages); one that
// still arrives here cannot be sent.
func imageData(u string) (string, error) {
	switch lower := strings.ToLower(u[:min(len(u), 8)]); {
	case strings.HasPrefix(lower, "data:"):
		meta, payload, ok := strings.Cut(u[len("data:"):], ",")
		if !ok {
			return "", errors.New("malformed data: URL (no comma)")
		}
		if strings.HasSuffix(strings.ToLower(meta), ";base64") {
			if payload == "" {
				return "", errors.New("the data: URL holds no image")
			}
			return payload, nil
		}
		raw, err := url.PathUnescape(payload)
		if err != nil {
			return "", fmt.Errorf("malformed data: URL: %w", err)
		}
		return base64.StdEncoding.EncodeToString([]byte(raw)), nil
	case strings.HasPrefix(lower, "http://"), strings.HasPrefix(lower, "https://"):
		return "", errImageURL
	}
	if u != "" && strings.Trim(u, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") == "" {
		return u, nil
	}
	return "", errors.New("must be a data: URL with the image's bytes")
}

// format maps response_format to Ollama's format: "json" for JSON mode, the schema for structured output.
func format(rf *sdk.ResponseFormat) (json.RawMessage, error) {
	if rf == nil {
		return nil, nil
	}
	switch rf.Type {
	case "", "text":
		return nil, nil
	case "json_object":
		return json.RawMessage(`"json"`), nil
	case "json_schema":
		if rf.JSONSchema == nil || len(bytes.TrimSpace(rf.JSONSchema.Schema)) == 0 {
			return json.RawMessage(`"json"`), nil
		}
		return rf.JSONSchema.Schema, nil
	}
	return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("response_format.type: %q is not one of text, json_object, "+
		"json_schema", rf.Type)).WithParam("response_format.type")
}

// options gathers the model options: the deployment's defaults, then the client's Ollama options (an "options"
// object or top-level option names), then the OpenAI parameters of the request.
func options(t *sdk.Target, req *sdk.ChatRequest) (map[string]json.RawMessage, error) {
	opts := map[string]json.RawMessage{}
	setOption := func(name string, v json.RawMessage) {
		if name == "stop" && len(v) > 0 && v[0] == '"' {
			v = append(append(json.RawMessage{'['}, v...), ']') // Ollama takes only a list
		}
		opts[name] = v
	}
	for _, p := range openAIOptions {
		if v := param(t, p.param); v != nil {
			setOption(p.option, v)
		}
	}
	for _, name := range optionNames {
		if v := param(t, name); v != nil {
			setOption(name, v)
		}
	}
	if raw, ok := req.Extra["options"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		var client map[string]json.RawMessage
		if err := json.Unmarshal(raw, &client); err != nil {
			return nil, sdk.NewError(sdk.KindBadRequest, "options: must be an object of Ollama model options").
				WithParam("options")
		}
		for k, v := range client {
			setOption(k, v)
		}
	}
	for _, name := range optionNames {
		if v, ok := req.Extra[name]; ok {
			setOption(name, v)
		}
	}
	set := func(name string, v any) {
		if b, err := json.Marshal(v); err == nil {
			opts[name] = b
		}
	}
	if req.Temperature != nil {
		set("temperature", *req.Temperature)
	}
	if req.TopP != nil {
		set("top_p", *req.TopP)
	}
	if req.MaxTokens != nil {
		set("num_predict", *req.MaxTokens)
	}
	if req.MaxCompletionTokens != nil {
		set("num_predict", *req.MaxCompletionTokens)
	}
	if len(req.Stop) > 0 {
		set("stop", []string(req.Stop))
	}
	if req.Seed != nil {
		set("seed", *req.Seed)
	}
	if req.FrequencyPenalty != nil {
		set("frequency_penalty", *req.FrequencyPenalty)
	}
	if req.PresencePenalty != nil {
		set("presence_penalty", *req.PresencePenalty)
	}
	if len(opts) == 0 {
		return nil, nil
	}
	return opts, nil
}

// think returns the think member: the client's own, else one made from reasoning_effort, else the deployment's.
// gpt-oss models take a level; the others take a boolean.
func think(t *sdk.Target, req *sdk.ChatRequest) json.RawMessage {
	if v, ok := req.Extra["think"]; ok {
		return v
	}
	switch effort := req.ReasoningEffort; effort {
	case "":
	case "none":
		return json.RawMessage("false")
	default:
		if !strings.Contains(strings.ToLower(t.Model), "gpt-oss") {
			return json.RawMessage("true")
		}
		if effort == "minimal" {
			effort = "low"
		}
		return rawString(effort)
	}
	return param(t, "think")
}

// param returns a litellm_params entry as JSON, or nil.
func param(t *sdk.Target, name string) json.RawMessage {
	v, ok := t.Params[name]
	if !ok || v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

func firstRaw(vs ...json.RawMessage) json.RawMessage {
	for _, v := range vs {
		if len(v) > 0 {
			return v
		}
	}
	return nil
}

func rawString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// chatResponse is an answer of /api/chat, or one line of a streamed one.
type chatResponse struct {
	Model           string          `json:"model"`
	CreatedAt       string          `json:"created_at"`
	Message         message         `json:"message"`
	Done            bool            `json:"done"`
	DoneReason      string          `json:"done_reason"`
	PromptEvalCount int             `json:"prompt_eval_count"`
	EvalCount       int             `json:"eval_count"`
	Error           json.RawMessage `json:"error"`
}

// ParseChat converts a whole answer.
func (Translator) ParseChat(t *sdk.Target, req *sdk.ChatRequest, resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	var r chatResponse
	if err := json.Unmarshal(resp.Body, &r); err != nil {
		return nil, fmt.Errorf("the Ollama answer is not a chat response: %w", err)
	}
	if hasError(r.Error) {
		return nil, errorFrom(t, resp.Status, resp.Body)
	}
	out := &sdk.ChatResponse{ID: responseID(r), Object: "chat.completion", Created: created(r.CreatedAt),
		Model: r.Model}
	if out.Model == "" {
		out.Model = t.Model
	}
	msg := sdk.Message{Role: "assistant", Content: sdk.TextContent(r.Message.Content),
		ReasoningContent: r.Message.Thinking}
	for i, tc := range r.Message.ToolCalls {
		c, err := openAICall(tc, i)
		if err != nil {
			return nil, err
		}
		msg.ToolCalls = append(msg.ToolCalls, c)
	}
	if r.Message.Content == "" && len(msg.ToolCalls) > 0 {
		msg.Content = sdk.Content{Null: true}
	}
	out.Choices = []sdk.Choice{{Message: msg, FinishReason: finishReason(r.DoneReason, len(msg.ToolCalls) > 0)}}
	out.Usage = usage(r)
	return out, nil
}

// openAICall converts a tool call, giving it the id "call_<index>" when Ollama gave none: an OpenAI client
// needs one to answer the call, and the same answer always gets the same ids.
func openAICall(tc toolCall, index int) (sdk.ToolCall, error) {
	id := tc.ID
	if id == "" {
		id = "call_" + strconv.Itoa(index)
	}
	args, err := argumentsText(tc.Function.Arguments)
	if err != nil {
		return sdk.ToolCall{}, fmt.Errorf("the arguments of tool call %q: %w", tc.Function.Name, err)
	}
	return sdk.ToolCall{ID: id, Type: "function", Function: sdk.FunctionCall{Name: tc.Function.Name, Arguments: args}}, nil
}

// argumentsText turns Ollama's arguments object into OpenAI's arguments text, keeping the members' order.
func argumentsText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || bytes.Equal(raw, []byte("null")):
		return "{}", nil
	case raw[0] == '"': // some servers in front of Ollama send the text already
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// finishReason maps done_reason to OpenAI's finish reasons. Ollama reports "stop" when the model called tools.
func finishReason(doneReason string, toolCalls bool) string {
	switch {
	case toolCalls:
		return sdk.FinishToolCalls
	case doneReason == "length":
		return sdk.FinishLength
	}
	return sdk.FinishStop
}

func usage(r chatResponse) *sdk.Usage {
	return &sdk.Usage{PromptTokens: r.PromptEvalCount, CompletionTokens: r.EvalCount,
		TotalTokens: r.PromptEvalCount + r.EvalCount}
}

// responseID derives a completion id from what identifies an answer (Ollama gives none), so that the same
// answer always gets the same id.
func responseID(r chatResponse) string {
	h := fnv.New64a()
	h.Write([]byte(r.Model))
	h.Write([]byte{0})
	h.Write([]byte(r.CreatedAt))
	return "chatcmpl-" + strconv.FormatUint(h.Sum64(), 36)
}

// created reads created_at as Unix seconds (0 when absent or malformed).
func created(s string) int64 {
	if s == "" {
		return 0
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0
	}
	return tm.Unix()
}

func hasError(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && !bytes.Equal(raw, []byte("null")) && !bytes.Equal(raw, []byte(`""`))
}
