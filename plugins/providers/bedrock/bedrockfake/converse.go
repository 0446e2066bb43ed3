package bedrockfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/switchyard/gateway/internal/providertest"
)

// The Converse request as the fake reads it. Blobs are []byte, so base64 that is not valid is refused as the
// service would.
type converseRequest struct {
	Messages []struct {
		Role    string  `json:"role"`
		Content []block `json:"content"`
	} `json:"messages"`
	System []struct {
		Text       *string         `json:"text"`
		CachePoint json.RawMessage `json:"cachePoint"`
	} `json:"system"`
	InferenceConfig *struct {
		MaxTokens     *int     `json:"maxTokens"`
		Temperature   *float64 `json:"temperature"`
		TopP          *float64 `json:"topP"`
		StopSequences []string `json:"stopSequences"`
	} `json:"inferenceConfig"`
	ToolConfig *struct {
		Tools []struct {
			ToolSpec *struct {
				Name        string `json:"name"`
				InputSchema struct {
					JSON json.RawMessage `json:"json"`
				} `json:"inputSchema"`
			} `json:"toolSpec"`
		} `json:"tools"`
		ToolChoice *struct {
			Auto *struct{} `json:"auto"`
			Any  *struct{} `json:"any"`
			Tool *struct {
				Name string `json:"name"`
			} `json:"tool"`
		} `json:"toolChoice"`
	} `json:"toolConfig"`
	AdditionalModelRequestFields map[string]json.RawMessage `json:"additionalModelRequestFields"`
	OutputConfig                 *struct {
		TextFormat *struct {
			Type string `json:"type"`
		} `json:"textFormat"`
	} `json:"outputConfig"`
}

type block struct {
	Text  *string `json:"text"`
	Image *struct {
		Format string `json:"format"`
		Source struct {
			Bytes []byte `json:"bytes"`
		} `json:"source"`
	} `json:"image"`
	Document *struct {
		Format string `json:"format"`
		Name   string `json:"name"`
		Source struct {
			Bytes []byte `json:"bytes"`
		} `json:"source"`
	} `json:"document"`
	ToolUse *struct {
		ToolUseID string          `json:"toolUseId"`
		Name      string          `json:"name"`
		Input     json.RawMessage `json:"input"`
	} `json:"toolUse"`
	ToolResult *struct {
		ToolUseID string `json:"toolUseId"`
		Content   []struct {
			Text *string         `json:"text"`
			JSON json.RawMessage `json:"json"`
		} `json:"content"`
	} `json:"toolResult"`
	CachePoint json.RawMessage `json:"cachePoint"`
}

// answer is what the fake says, before it is put in Converse's shapes.
type answer struct {
	reasoning string
	text      string
	calls     []call
	stop      string
}

type call struct {
	id, name, input string
}

var imageFormats = map[string]bool{"png": true, "jpeg": true, "gif": true, "webp": true}

// validate refuses what the service refuses, in its words, so that translator mistakes show up in tests.
func validate(req *converseRequest) string {
	if len(req.Messages) == 0 {
		return "The model returned the following errors: messages: at least one message is required"
	}
	usesTools := false
	prev := ""
	for i, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			return fmt.Sprintf("1 validation error detected: Value '%s' at 'messages.%d.member.role' failed to "+
				"satisfy constraint: Member must satisfy enum value set: [user, assistant]", m.Role, i+1)
		}
		if i == 0 && m.Role != "user" {
			return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
		}
		if m.Role == prev {
			return "A conversation must alternate between user and assistant roles. Make sure the conversation " +
				"alternates between user and assistant roles and try again."
		}
		prev = m.Role
		if len(m.Content) == 0 {
			return fmt.Sprintf("The content field in the Message object at messages.%d is empty. Add a ContentBlock "+
				"object to the content field and try again.", i)
		}
		for j, c := range m.Content {
			if c.Text != nil && strings.TrimSpace(*c.Text) == "" {
				return fmt.Sprintf("The text field in the ContentBlock object at messages.%d.content.%d is blank. "+
					"Add text to the text field, and try again.", i, j)
			}
			if c.Image != nil && (!imageFormats[c.Image.Format] || len(c.Image.Source.Bytes) == 0) {
				return fmt.Sprintf("The image at messages.%d.content.%d is not a png, jpeg, gif or webp image "+
					"given as bytes.", i, j)
			}
			if c.ToolUse != nil || c.ToolResult != nil {
				usesTools = true
			}
			if c.ToolResult != nil && m.Role != "user" {
				return "toolResult blocks are only allowed in user messages."
			}
			if c.ToolUse != nil && (m.Role != "assistant" || len(c.ToolUse.Input) == 0 || c.ToolUse.Input[0] != '{') {
				return "toolUse blocks are only allowed in assistant messages, with an object input."
			}
		}
	}
	tc := req.ToolConfig
	if usesTools && (tc == nil || len(tc.Tools) == 0) {
		return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
	}
	if tc != nil {
		names := map[string]bool{}
		for _, t := range tc.Tools {
			if t.ToolSpec == nil || t.ToolSpec.Name == "" || len(t.ToolSpec.InputSchema.JSON) == 0 {
				return "Each tool needs a toolSpec with a name and an inputSchema."
			}
			names[t.ToolSpec.Name] = true
		}
		if c := tc.ToolChoice; c != nil && c.Tool != nil && !names[c.Tool.Name] {
			return "The tool named in toolChoice is not defined in tools."
		}
	}
	if ic := req.InferenceConfig; ic != nil {
		for _, s := range ic.StopSequences {
			if s == "" {
				return "stopSequences must not hold empty strings."
			}
		}
	}
	return ""
}

func enabled(raw json.RawMessage) bool {
	var v struct {
		Type string `json:"type"`
	}
	return len(raw) > 0 && json.Unmarshal(raw, &v) == nil && v.Type == "enabled"
}

// respond works out the answer by the convention.
func respond(req *converseRequest) answer {
	var a answer
	if enabled(req.AdditionalModelRequestFields["thinking"]) || enabled(req.AdditionalModelRequestFields["reasoningConfig"]) {
		a.reasoning = ReasoningText
	}
	last := req.Messages[len(req.Messages)-1]
	var texts []string
	var toolResult *string
	images, firstFormat := 0, ""
	for _, c := range last.Content {
		switch {
		case c.Text != nil:
			texts = append(texts, *c.Text)
		case c.Image != nil:
			if images == 0 {
				firstFormat = c.Image.Format
			}
			images++
		case c.ToolResult != nil:
			var parts []string
			for _, rc := range c.ToolResult.Content {
				switch {
				case rc.Text != nil:
					parts = append(parts, *rc.Text)
				case rc.JSON != nil:
					parts = append(parts, string(rc.JSON))
				}
			}
			s := strings.Join(parts, "\n")
			toolResult = &s
		}
	}
	userText := strings.Join(texts, "\n")
	a.stop = "end_turn"
	if ic := req.InferenceConfig; ic != nil && len(ic.StopSequences) > 0 {
		a.stop = "stop_sequence"
	}

	var forced string
	var offered []string
	if tc := req.ToolConfig; tc != nil {
		for _, t := range tc.Tools {
			offered = append(offered, t.ToolSpec.Name)
		}
		if tc.ToolChoice != nil && tc.ToolChoice.Tool != nil {
			forced = tc.ToolChoice.Tool.Name
		}
	}
	switch {
	case toolResult != nil && last.Role == "user" && len(texts) == 0:
		a.text = providertest.ToolResultPrefix + *toolResult
	case forced == JSONToolName:
		b, _ := json.Marshal(map[string]string{"echo": userText})
		a.calls = []call{{id: "tooluse_json0", name: JSONToolName, input: string(b)}}
		a.stop = "tool_use"
	case req.OutputConfig != nil && req.OutputConfig.TextFormat != nil && req.OutputConfig.TextFormat.Type == "json_schema":
		b, _ := json.Marshal(map[string]string{"echo": userText})
		a.text = string(b)
	case forced != "":
		a.calls = []call{{id: "tooluse_0", name: forced, input: providertest.ToolArguments}}
		a.stop = "tool_use"
	case len(offered) > 0:
		for i, name := range offered {
			if i == 2 {
				break
			}
			a.calls = append(a.calls, call{id: fmt.Sprintf("tooluse_%d", i), name: name, input: providertest.ToolArguments})
		}
		a.stop = "tool_use"
	case req.InferenceConfig != nil && req.InferenceConfig.MaxTokens != nil &&
		*req.InferenceConfig.MaxTokens == providertest.MaxTokensTruncate:
		a.text = providertest.EchoPrefix
		a.stop = "max_tokens"
	default:
		var sys []string
		for _, s := range req.System {
			if s.Text != nil {
				sys = append(sys, *s.Text)
			}
		}
		if len(sys) > 0 {
			a.text = "[" + strings.Join(sys, "\n") + "] "
		}
		a.text += providertest.EchoPrefix + userText
		if images > 0 {
			a.text += fmt.Sprintf(" (images: %d image/%s)", images, firstFormat)
		}
	}
	return a
}

func usage() map[string]int {
	return map[string]int{
		"inputTokens":           providertest.PromptTokens - providertest.CachedTokens,
		"cacheReadInputTokens":  providertest.CachedTokens,
		"cacheWriteInputTokens": 0,
		"outputTokens":          providertest.CompletionTokens,
		"totalTokens":           providertest.PromptTokens + providertest.CompletionTokens,
	}
}

func (s *Server) converse(w http.ResponseWriter, model string, body []byte, stream bool) {
	var req converseRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "ValidationException", "Malformed input request: "+err.Error())
		return
	}
	if msg := validate(&req); msg != "" {
		writeError(w, http.StatusBadRequest, "ValidationException", msg)
		return
	}
	a := respond(&req)
	if stream {
		s.stream(w, model, a)
		return
	}
	var content []any
	if a.reasoning != "" {
		content = append(content, map[string]any{"reasoningContent": map[string]any{
			"reasoningText": map[string]string{"text": a.reasoning, "signature": "ZmFrZS1zaWduYXR1cmU="}}})
	}
	if a.text != "" {
		content = append(content, map[string]string{"text": a.text})
	}
	for _, c := range a.calls {
		content = append(content, map[string]any{"toolUse": map[string]any{"toolUseId": c.id, "name": c.name,
			"input": json.RawMessage(c.input)}})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Requestid", "fake-request-id")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": content}},
		"stopReason": a.stop,
		"usage":      usage(),
		"metrics":    map[string]int{"latencyMs": 1},
	})
}

// halves cuts s in two at a character boundary, so that every text arrives in at least two deltas.
func halves(s string) []string {
	if utf8.RuneCountInString(s) < 2 {
		return []string{s}
	}
	mid := len(s) / 2
	for !utf8.RuneStart(s[mid]) {
		mid++
	}
	return []string{s[:mid], s[mid:]}
}

// streamWriter writes event stream messages, flushing each.
type streamWriter struct {
	w   http.ResponseWriter
	enc *eventstream.Encoder
	err error
}

func (sw *streamWriter) event(typ string, payload map[string]any) {
	payload["p"] = "abcdefghij" // Bedrock pads events with a "p" member of varying length
	b, _ := json.Marshal(payload)
	sw.write(eventstream.Message{Headers: eventstream.Headers{
		{Name: ":event-type", Value: eventstream.StringValue(typ)},
		{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		{Name: ":message-type", Value: eventstream.StringValue("event")},
	}, Payload: b})
}

func (sw *streamWriter) exception(typ, msg string) {
	b, _ := json.Marshal(map[string]string{"message": msg})
	sw.write(eventstream.Message{Headers: eventstream.Headers{
		{Name: ":exception-type", Value: eventstream.StringValue(typ)},
		{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		{Name: ":message-type", Value: eventstream.StringValue("exception")},
	}, Payload: b})
}

func (sw *streamWriter) write(m eventstream.Message) {
	if sw.err != nil {
		return
	}
	if sw.err = sw.enc.Encode(sw.w, m); sw.err == nil {
		if f, ok := sw.w.(http.Flusher); ok {
			f.Flush()
		}
	}
}

func (s *Server) stream(w http.ResponseWriter, model string, a answer) {
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.Header().Set("X-Amzn-Requestid", "fake-request-id")
	w.WriteHeader(http.StatusOK)
	sw := &streamWriter{w: w, enc: eventstream.NewEncoder()}
	sw.event("messageStart", map[string]any{"role": "assistant"})
	idx := 0
	if a.reasoning != "" {
		for _, part := range halves(a.reasoning) {
			sw.event("contentBlockDelta", map[string]any{"contentBlockIndex": idx,
				"delta": map[string]any{"reasoningContent": map[string]string{"text": part}}})
		}
		sw.event("contentBlockDelta", map[string]any{"contentBlockIndex": idx,
			"delta": map[string]any{"reasoningContent": map[string]string{"signature": "ZmFrZS1zaWduYXR1cmU="}}})
		sw.event("contentBlockStop", map[string]any{"contentBlockIndex": idx})
		idx++
	}
	if a.text != "" {
		for i, part := range halves(a.text) {
			sw.event("contentBlockDelta", map[string]any{"contentBlockIndex": idx,
				"delta": map[string]any{"text": part}})
			if i == 0 && strings.Contains(model, MidStreamThrottle) {
				sw.exception("throttlingException", "Too many tokens, please wait before trying again.")
				return
			}
		}
		sw.event("contentBlockStop", map[string]any{"contentBlockIndex": idx})
		idx++
	}
	for _, c := range a.calls {
		sw.event("contentBlockStart", map[string]any{"contentBlockIndex": idx,
			"start": map[string]any{"toolUse": map[string]string{"toolUseId": c.id, "name": c.name}}})
		for _, part := range halves(c.input) {
			sw.event("contentBlockDelta", map[string]any{"contentBlockIndex": idx,
				"delta": map[string]any{"toolUse": map[string]string{"input": part}}})
		}
		sw.event("contentBlockStop", map[string]any{"contentBlockIndex": idx})
		idx++
	}
	sw.event("messageStop", map[string]any{"stopReason": a.stop})
	sw.event("metadata", map[string]any{"usage": usage(), "metrics": map[string]int{"latencyMs": 1}})
}
