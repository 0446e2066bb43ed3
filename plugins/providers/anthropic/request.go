package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// DefaultMaxTokens is the max_tokens sent when neither the request nor the deployment gives one (Anthropic
// requires it). It is LiteLLM's default and within the output limit of every Claude model.
const DefaultMaxTokens = 4096

// JSONToolName is the tool through which response_format is served, as LiteLLM names it.
const JSONToolName = "json_tool_call"

// Thinking budgets for reasoning_effort, as LiteLLM sets them; 1024 is Anthropic's smallest budget.
const (
	BudgetLow    = 1024
	BudgetMedium = 2048
	BudgetHigh   = 4096
)

// BodyOptions say how a Messages body is built for where it is sent.
type BodyOptions struct {
	// OmitModel leaves "model" out (Vertex AI names the model in the URL).
	OmitModel bool
	// AnthropicVersion, when set, is sent as the body member "anthropic_version" (VertexVersion for Vertex AI,
	// "bedrock-2023-05-31" for Bedrock); the Anthropic API takes the version as a header instead.
	AnthropicVersion string
}

// messagesBody is the Messages API request.
type messagesBody struct {
	AnthropicVersion string          `json:"anthropic_version,omitempty"`
	Model            string          `json:"model,omitempty"`
	Messages         []wireMessage   `json:"messages"`
	System           []block         `json:"system,omitempty"`
	MaxTokens        int             `json:"max_tokens"`
	Metadata         *wireMetadata   `json:"metadata,omitempty"`
	StopSequences    []string        `json:"stop_sequences,omitempty"`
	Stream           bool            `json:"stream,omitempty"`
	Temperature      *float64        `json:"temperature,omitempty"`
	TopP             *float64        `json:"top_p,omitempty"`
	Thinking         json.RawMessage `json:"thinking,omitempty"`
	Tools            []wireTool      `json:"tools,omitempty"`
	ToolChoice       *wireToolChoice `json:"tool_choice,omitempty"`
}

type wireMessage struct {
	Role    string  `json:"role"`
	Content []block `json:"content"`
}

type wireMetadata struct {
	UserID string `json:"user_id"`
}

type wireTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type wireToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse *bool  `json:"disable_parallel_tool_use,omitempty"`
}

// block is one content block of a message or of the system prompt.
type block interface {
	setCacheControl(json.RawMessage)
}

type textBlock struct {
	Type         string          `json:"type"`
	Text         string          `json:"text"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

type source struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

// mediaBlock is an image or a document.
type mediaBlock struct {
	Type         string          `json:"type"`
	Source       source          `json:"source"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

type toolUseBlock struct {
	Type         string          `json:"type"`
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Input        json.RawMessage `json:"input"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

type toolResultBlock struct {
	Type         string          `json:"type"`
	ToolUseID    string          `json:"tool_use_id"`
	Content      any             `json:"content,omitempty"`
	CacheControl json.RawMessage `json:"cache_control,omitempty"`
}

// rawBlock is a block sent as the client gave it (a thinking block with its signature).
type rawBlock json.RawMessage

func (b *textBlock) setCacheControl(c json.RawMessage)       { b.CacheControl = c }
func (b *mediaBlock) setCacheControl(c json.RawMessage)      { b.CacheControl = c }
func (b *toolUseBlock) setCacheControl(c json.RawMessage)    { b.CacheControl = c }
func (b *toolResultBlock) setCacheControl(c json.RawMessage) { b.CacheControl = c }
func (rawBlock) setCacheControl(json.RawMessage)             {}

// MarshalJSON writes the block as it was given.
func (b rawBlock) MarshalJSON() ([]byte, error) { return b, nil }

// BuildMessagesBody returns the Messages API body for req: the translation described in the package
// documentation, without the transport (URL, headers). t supplies the model, the defaults from litellm_params
// and the drop_params settings.
func BuildMessagesBody(t *sdk.Target, req *sdk.ChatRequest, o BodyOptions) ([]byte, error) {
	req = withDefaults(t, req)
	drop := map[string]bool{}
	for _, p := range t.AdditionalDropParams {
		drop[p] = true
	}
	if err := checkUnsupported(t, req, drop); err != nil {
		return nil, err
	}

	body := messagesBody{AnthropicVersion: o.AnthropicVersion, Stream: req.Stream}
	if !o.OmitModel {
		body.Model = t.Model
	}
	var err error
	if body.System, body.Messages, err = convertMessages(req); err != nil {
		return nil, err
	}

	if !drop["temperature"] {
		body.Temperature = req.Temperature
	}
	if !drop["top_p"] {
		body.TopP = req.TopP
	}
	if !drop["stop"] {
		for _, s := range req.Stop {
			if strings.TrimSpace(s) == "" && t.DropParams {
				continue // Anthropic refuses whitespace-only stop sequences
			}
			body.StopSequences = append(body.StopSequences, s)
		}
	}
	if !drop["user"] {
		if u := req.User; u != "" && validUserID(u) {
			body.Metadata = &wireMetadata{UserID: u}
		}
	}

	// Thinking: an explicit "thinking" member wins over reasoning_effort.
	if th := req.Extra["thinking"]; len(th) > 0 && !bytes.Equal(th, []byte("null")) && !drop["thinking"] {
		body.Thinking = th
	} else if req.ReasoningEffort != "" && !drop["reasoning_effort"] {
		if body.Thinking, err = thinkingFor(req.ReasoningEffort); err != nil {
			return nil, err
		}
	}
	thinkingOn, budget := thinkingState(body.Thinking)

	switch {
	case req.MaxCompletionTokens != nil && !drop["max_completion_tokens"]:
		body.MaxTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil && !drop["max_tokens"]:
		body.MaxTokens = *req.MaxTokens
	default:
		body.MaxTokens = DefaultMaxTokens + budget
	}

	if !drop["tools"] {
		for i, tl := range req.Tools {
			if tl.Type != "" && tl.Type != "function" {
				return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("tools[%d].type: %q is not supported by "+
					"anthropic; only function tools are", i, tl.Type)).WithParam(fmt.Sprintf("tools[%d].type", i))
			}
			schema := tl.Function.Parameters
			if len(bytes.TrimSpace(schema)) == 0 || bytes.Equal(bytes.TrimSpace(schema), []byte("null")) {
				schema = json.RawMessage(`{"type":"object","properties":{}}`)
			}
			body.Tools = append(body.Tools, wireTool{Name: tl.Function.Name, Description: tl.Function.Description,
				InputSchema: schema})
		}
	}
	if len(body.Tools) > 0 && !drop["tool_choice"] {
		body.ToolChoice = toolChoice(req.ToolChoice)
	}
	if p := req.ParallelToolCalls; p != nil && !*p && len(body.Tools) > 0 && !drop["parallel_tool_calls"] {
		if body.ToolChoice == nil {
			body.ToolChoice = &wireToolChoice{Type: "auto"}
		}
		if body.ToolChoice.Type != "none" {
			yes := true
			body.ToolChoice.DisableParallelToolUse = &yes
		}
	}
	if rf := req.ResponseFormat; rf != nil && !drop["response_format"] {
		tool, err := jsonTool(rf)
		if err != nil {
			return nil, err
		}
		if tool != nil {
			body.Tools = append(body.Tools, *tool)
			if !thinkingOn {
				// Force the tool, as LiteLLM does; Anthropic refuses forced tool use while thinking.
				tc := &wireToolChoice{Type: "tool", Name: JSONToolName}
				if body.ToolChoice != nil {
					tc.DisableParallelToolUse = body.ToolChoice.DisableParallelToolUse
				}
				body.ToolChoice = tc
			}
		}
	}

	out, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding the anthropic request: %w", err)
	}
	var set []rawjson.Member
	for _, name := range passThrough {
		if v := req.Extra[name]; len(v) > 0 && !bytes.Equal(v, []byte("null")) && !drop[name] {
			set = append(set, rawjson.Member{Key: []byte(name), Value: v})
		}
	}
	if extra, ok := t.Params["extra_body"].(map[string]any); ok {
		keys := make([]string, 0, len(extra))
		for k := range extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			taken := slices.ContainsFunc(set, func(m rawjson.Member) bool { return string(m.Key) == k })
			if taken || rawjson.Get(out, k) != nil {
				continue
			}
			v, err := json.Marshal(extra[k])
			if err != nil {
				return nil, fmt.Errorf("litellm_params.extra_body.%s: %w", k, err)
			}
			set = append(set, rawjson.Member{Key: []byte(k), Value: v})
		}
	}
	if len(set) == 0 {
		return out, nil
	}
	return rawjson.Patch(out, set, nil)
}

// passThrough are Anthropic request members a client may add to its OpenAI-shaped request; they are sent as
// they are. ("thinking" is handled above.)
var passThrough = []string{"top_k", "container", "mcp_servers", "context_management", "output_config"}

// defaultParams are the request parameters litellm_params may give defaults for.
var defaultParams = []string{"temperature", "top_p", "top_k", "stop", "max_tokens", "max_completion_tokens",
	"user", "reasoning_effort", "thinking", "response_format", "tool_choice", "parallel_tool_calls"}

// withDefaults returns req with the deployment's parameter defaults filled in where the request has none; req
// itself when there are none to fill.
func withDefaults(t *sdk.Target, req *sdk.ChatRequest) *sdk.ChatRequest {
	if t == nil || len(t.Params) == 0 {
		return req
	}
	vals := map[string]any{}
	for _, p := range defaultParams {
		if v, ok := t.Params[p]; ok && v != nil {
			vals[p] = v
		}
	}
	if len(vals) == 0 {
		return req
	}
	b, err := json.Marshal(vals)
	if err != nil {
		return req
	}
	var d sdk.ChatRequest
	if json.Unmarshal(b, &d) != nil {
		return req
	}
	c := *req
	if c.Temperature == nil {
		c.Temperature = d.Temperature
	}
	if c.TopP == nil {
		c.TopP = d.TopP
	}
	if len(c.Stop) == 0 {
		c.Stop = d.Stop
	}
	if c.MaxTokens == nil && c.MaxCompletionTokens == nil {
		c.MaxTokens, c.MaxCompletionTokens = d.MaxTokens, d.MaxCompletionTokens
	}
	if c.User == "" {
		c.User = d.User
	}
	if c.ReasoningEffort == "" {
		c.ReasoningEffort = d.ReasoningEffort
	}
	if c.ResponseFormat == nil {
		c.ResponseFormat = d.ResponseFormat
	}
	if c.ToolChoice == nil {
		c.ToolChoice = d.ToolChoice
	}
	if c.ParallelToolCalls == nil {
		c.ParallelToolCalls = d.ParallelToolCalls
	}
	for _, name := range []string{"top_k", "thinking"} {
		if _, has := c.Extra[name]; !has && d.Extra[name] != nil {
			extra := make(map[string]json.RawMessage, len(c.Extra)+1)
			for k, v := range c.Extra {
				extra[k] = v
			}
			extra[name] = d.Extra[name]
			c.Extra = extra
		}
	}
	return &c
}

// checkUnsupported refuses the OpenAI parameters Anthropic has no equivalent of, unless they are to be dropped.
func checkUnsupported(t *sdk.Target, req *sdk.ChatRequest, drop map[string]bool) error {
	used := []struct {
		name string
		set  bool
	}{
		{"n", req.N != nil && *req.N > 1},
		{"presence_penalty", req.PresencePenalty != nil},
		{"frequency_penalty", req.FrequencyPenalty != nil},
		{"logit_bias", len(req.LogitBias) > 0},
		{"logprobs", req.Logprobs != nil && *req.Logprobs},
		{"top_logprobs", req.TopLogprobs != nil},
		{"seed", req.Seed != nil},
	}
	for _, u := range used {
		if u.set && !t.DropParams && !drop[u.name] {
			return unsupportedParam(u.name)
		}
	}
	return nil
}

func toolChoice(tc *sdk.ToolChoice) *wireToolChoice {
	if tc == nil {
		return nil
	}
	switch tc.Mode {
	case "auto":
		return &wireToolChoice{Type: "auto"}
	case "none":
		return &wireToolChoice{Type: "none"}
	case "required":
		return &wireToolChoice{Type: "any"}
	case "function":
		return &wireToolChoice{Type: "tool", Name: tc.Function}
	}
	return nil
}

// thinkingFor maps reasoning_effort to a thinking parameter; nil for "none".
func thinkingFor(effort string) (json.RawMessage, error) {
	budget := 0
	switch effort {
	case "none":
		return nil, nil
	case "minimal", "low":
		budget = BudgetLow
	case "medium":
		budget = BudgetMedium
	case "high":
		budget = BudgetHigh
	default:
		return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("reasoning_effort: %q is not one of none, "+
			"minimal, low, medium, high", effort)).WithParam("reasoning_effort")
	}
	return json.RawMessage(fmt.Sprintf(`{"type":"enabled","budget_tokens":%d}`, budget)), nil
}

// thinkingState reads whether a thinking parameter turns thinking on, and its budget.
func thinkingState(th json.RawMessage) (on bool, budget int) {
	if len(th) == 0 {
		return false, 0
	}
	var p struct {
		Type         string `json:"type"`
		BudgetTokens int    `json:"budget_tokens"`
	}
	if json.Unmarshal(th, &p) != nil {
		return false, 0
	}
	return p.Type == "enabled" || p.Type == "adaptive", max(p.BudgetTokens, 0)
}

// JSONModeRequested reports whether req asks for JSON output, which is served through the JSONToolName tool.
func JSONModeRequested(req *sdk.ChatRequest) bool {
	rf := req.ResponseFormat
	return rf != nil && (rf.Type == "json_object" || rf.Type == "json_schema")
}

// jsonTool returns the tool serving response_format; nil for "text".
func jsonTool(rf *sdk.ResponseFormat) (*wireTool, error) {
	switch rf.Type {
	case "", "text":
		return nil, nil
	case "json_object", "json_schema":
	default:
		return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("response_format.type: %q is not one of text, "+
			"json_object, json_schema", rf.Type)).WithParam("response_format")
	}
	tool := &wireTool{Name: JSONToolName,
		InputSchema: json.RawMessage(`{"type":"object","additionalProperties":true,"properties":{}}`)}
	if js := rf.JSONSchema; js != nil {
		tool.Description = js.Description
		if s := bytes.TrimSpace(js.Schema); len(s) > 0 && s[0] == '{' {
			schema := []byte(s)
			if rawjson.Get(schema, "type") == nil {
				var err error
				typ := []rawjson.Member{{Key: []byte("type"), Value: []byte(`"object"`)}}
				if schema, err = rawjson.Patch(schema, typ, nil); err != nil {
					return nil, sdk.NewError(sdk.KindBadRequest, "response_format.json_schema.schema: not a JSON object").
						WithParam("response_format")
				}
			}
			tool.InputSchema = schema
		}
	}
	return tool, nil
}

var (
	emailLike = regexp.MustCompile(`^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$`)
	phoneLike = regexp.MustCompile(`^\+?[\d\s()-]{7,}$`)
)

// validUserID reports a user id Anthropic may receive: not an e-mail address or phone number.
func validUserID(u string) bool { return !emailLike.MatchString(u) && !phoneLike.MatchString(u) }

// convertMessages splits the conversation into the system prompt and Anthropic's alternating messages.
func convertMessages(req *sdk.ChatRequest) ([]block, []wireMessage, error) {
	thinking := thinkingBlocks(req.Raw, len(req.Messages))
	var system []block
	var msgs []wireMessage
	add := func(role string, blocks []block) {
		if len(blocks) == 0 {
			return
		}
		if n := len(msgs); n > 0 && msgs[n-1].Role == role {
			msgs[n-1].Content = append(msgs[n-1].Content, blocks...)
			return
		}
		msgs = append(msgs, wireMessage{Role: role, Content: blocks})
	}
	for i := range req.Messages {
		m := &req.Messages[i]
		where := fmt.Sprintf("messages[%d]", i)
		switch m.Role {
		case "system", "developer":
			blocks, err := textBlocks(m, where)
			if err != nil {
				return nil, nil, err
			}
			system = append(system, blocks...)
		case "user":
			blocks, err := userBlocks(m.Content, where)
			if err != nil {
				return nil, nil, err
			}
			if len(blocks) == 0 {
				blocks = []block{&textBlock{Type: "text", Text: ""}} // let the API say what is wrong with it
			}
			withCache(blocks, m.CacheControl)
			add("user", blocks)
		case "assistant":
			var blocks []block
			if thinking != nil {
				for _, tb := range thinking[i] {
					blocks = append(blocks, rawBlock(tb))
				}
			}
			text, err := textBlocks(m, where)
			if err != nil {
				return nil, nil, err
			}
			blocks = append(blocks, text...)
			for j, tc := range m.ToolCalls {
				input, err := toolInput(tc.Function.Arguments)
				if err != nil {
					return nil, nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s.tool_calls[%d].function.arguments: %v",
						where, j, err)).WithParam(fmt.Sprintf("%s.tool_calls[%d].function.arguments", where, j))
				}
				blocks = append(blocks, &toolUseBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
			}
			withCache(blocks, m.CacheControl)
			add("assistant", blocks)
		case "tool":
			res := &toolResultBlock{Type: "tool_result", ToolUseID: m.ToolCallID, CacheControl: m.CacheControl}
			if m.Content.IsParts {
				blocks, err := userBlocks(m.Content, where)
				if err != nil {
					return nil, nil, err
				}
				if len(blocks) > 0 {
					res.Content = blocks
				}
			} else if m.Content.Text != "" {
				res.Content = m.Content.Text
			}
			add("user", []block{res})
		default:
			return nil, nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s.role: %q messages are not supported "+
				"by anthropic; use tool messages", where, m.Role)).WithParam(where + ".role")
		}
	}
	for i := range msgs {
		if msgs[i].Role == "user" {
			// Tool results must open the message that answers the tool calls.
			slices.SortStableFunc(msgs[i].Content, func(a, b block) int {
				_, ra := a.(*toolResultBlock)
				_, rb := b.(*toolResultBlock)
				switch {
				case ra && !rb:
					return -1
				case rb && !ra:
					return 1
				}
				return 0
			})
		}
	}
	// A final assistant message is a prefill of the answer, which Anthropic refuses with trailing whitespace.
	if n := len(msgs); n > 0 && msgs[n-1].Role == "assistant" {
		c := msgs[n-1].Content
		if tb, ok := c[len(c)-1].(*textBlock); ok {
			tb.Text = strings.TrimRight(tb.Text, " \t\r\n")
			if tb.Text == "" {
				msgs[n-1].Content = c[:len(c)-1]
				if len(msgs[n-1].Content) == 0 {
					msgs = msgs[:n-1]
				}
			}
		}
	}
	return system, msgs, nil
}

// withCache puts a message's cache_control on its last block, which is how Anthropic marks a cache breakpoint.
func withCache(blocks []block, cc json.RawMessage) {
	if len(cc) > 0 && len(blocks) > 0 {
		blocks[len(blocks)-1].setCacheControl(cc)
	}
}

// textBlocks returns the text of a system or assistant message as blocks, without empty ones.
func textBlocks(m *sdk.Message, where string) ([]block, error) {
	var blocks []block
	if !m.Content.IsParts {
		if m.Content.Text != "" {
			blocks = append(blocks, &textBlock{Type: "text", Text: m.Content.Text})
		}
	} else {
		for j, p := range m.Content.Parts {
			if p.Type != "text" {
				return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s.content[%d].type: %q parts are not "+
					"supported in %s messages", where, j, p.Type, m.Role)).WithParam(fmt.Sprintf("%s.content[%d]", where, j))
			}
			if p.Text != "" {
				blocks = append(blocks, &textBlock{Type: "text", Text: p.Text, CacheControl: p.CacheControl})
			}
		}
	}
	withCache(blocks, m.CacheControl)
	return blocks, nil
}

// userBlocks returns the blocks of user (or tool result) content: text, images and documents.
func userBlocks(c sdk.Content, where string) ([]block, error) {
	if !c.IsParts {
		if c.Text == "" {
			return nil, nil
		}
		return []block{&textBlock{Type: "text", Text: c.Text}}, nil
	}
	blocks := make([]block, 0, len(c.Parts))
	for j, p := range c.Parts {
		param := fmt.Sprintf("%s.content[%d]", where, j)
		var b block
		var err error
		switch p.Type {
		case "text":
			if p.Text == "" {
				continue
			}
			b = &textBlock{Type: "text", Text: p.Text}
		case "image_url":
			if p.ImageURL == nil {
				return nil, sdk.NewError(sdk.KindBadRequest, param+".image_url: required").WithParam(param)
			}
			b, err = mediaFromURL(p.ImageURL.URL, p.ImageURL.Format)
		case "file":
			switch {
			case p.File == nil || (p.File.FileData == "" && p.File.FileID == ""):
				return nil, sdk.NewError(sdk.KindBadRequest, param+".file: file_data required").WithParam(param)
			case p.File.FileData == "":
				return nil, sdk.NewError(sdk.KindBadRequest, param+".file.file_id: uploaded files are not supported "+
					"by anthropic; send file_data").WithParam(param)
			}
			b, err = mediaFromURL(p.File.FileData, "")
		default:
			return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s.type: %q parts are not supported by "+
				"anthropic", param, p.Type)).WithParam(param)
		}
		if err != nil {
			return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("%s: %v", param, err)).WithParam(param)
		}
		b.setCacheControl(p.CacheControl)
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// mediaFromURL makes an image or document block from a data: or http(s) URL. format, when set, overrides the
// media type.
func mediaFromURL(u, format string) (block, error) {
	if strings.HasPrefix(u, "data:") {
		mime, data, err := parseDataURL(u)
		if err != nil {
			return nil, err
		}
		if format != "" {
			mime = format
		}
		switch {
		case mime == "application/pdf":
			return &mediaBlock{Type: "document", Source: source{Type: "base64", MediaType: mime, Data: data}}, nil
		case mime == "text/plain":
			text, err := base64.StdEncoding.DecodeString(data)
			if err != nil {
				return nil, fmt.Errorf("the data: URL is not valid base64")
			}
			return &mediaBlock{Type: "document", Source: source{Type: "text", MediaType: mime, Data: string(text)}}, nil
		case strings.HasPrefix(mime, "image/"):
			return &mediaBlock{Type: "image", Source: source{Type: "base64", MediaType: mime, Data: data}}, nil
		}
		return nil, fmt.Errorf("media type %q is not supported by anthropic (images, application/pdf and "+
			"text/plain are)", mime)
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return nil, fmt.Errorf("the URL must be a data: URL or an http(s) URL")
	}
	if format == "application/pdf" || strings.HasSuffix(strings.ToLower(p.Path), ".pdf") {
		return &mediaBlock{Type: "document", Source: source{Type: "url", URL: u}}, nil
	}
	return &mediaBlock{Type: "image", Source: source{Type: "url", URL: u}}, nil
}

// parseDataURL splits a base64 data: URL into its media type and data.
func parseDataURL(u string) (mime, data string, err error) {
	head, data, ok := strings.Cut(strings.TrimPrefix(u, "data:"), ",")
	if !ok {
		return "", "", fmt.Errorf("malformed data: URL")
	}
	params := strings.Split(head, ";")
	mime = strings.ToLower(strings.TrimSpace(params[0]))
	if !slices.Contains(params[1:], "base64") {
		return "", "", fmt.Errorf("the data: URL must be base64-encoded")
	}
	if mime == "image/jpg" {
		mime = "image/jpeg"
	}
	return mime, data, nil
}

// toolInput turns a tool call's arguments (a JSON text) into a tool_use input object.
func toolInput(args string) (json.RawMessage, error) {
	s := strings.TrimSpace(args)
	if s == "" {
		return json.RawMessage(`{}`), nil
	}
	if !json.Valid([]byte(s)) || s[0] != '{' {
		return nil, fmt.Errorf("not a JSON object")
	}
	return json.RawMessage(s), nil
}

// thinkingBlocks reads the thinking_blocks of the request's messages from its raw body, by message index. They
// are LiteLLM's extension of the message, which the typed request does not hold.
func thinkingBlocks(raw []byte, n int) map[int][]json.RawMessage {
	if len(raw) == 0 || !bytes.Contains(raw, []byte(`"thinking_blocks"`)) {
		return nil
	}
	var body struct {
		Messages []struct {
			ThinkingBlocks []json.RawMessage `json:"thinking_blocks"`
		} `json:"messages"`
	}
	if json.Unmarshal(raw, &body) != nil || len(body.Messages) != n {
		return nil
	}
	out := map[int][]json.RawMessage{}
	for i, m := range body.Messages {
		for _, tb := range m.ThinkingBlocks {
			var head struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(tb, &head) == nil && (head.Type == "thinking" || head.Type == "redacted_thinking") {
				out[i] = append(out[i], tb)
			}
		}
	}
	return out
}
