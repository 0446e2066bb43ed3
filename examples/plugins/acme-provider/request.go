package acme

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/switchyard/gateway/sdk"
)

// generateRequest is the body of POST /v1/generate. The API takes a prompt or messages; the translator always
// sends messages, which carry the roles.
type generateRequest struct {
	Model       string    `json:"model"`
	Messages    []message `json:"messages"`
	MaxTokens   *int      `json:"max_tokens,omitempty"`
	Temperature *float64  `json:"temperature,omitempty"`
	Stream      bool      `json:"stream,omitempty"`
}

// message is one message of an Acme conversation: role is "system", "user" or "assistant"; content is text.
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// BuildChat returns the Acme request of a chat completion.
func (tr *Translator) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	if t.APIKey == "" {
		return nil, sdk.NewError(sdk.KindAuthentication, "no api_key is configured for this Acme deployment "+
			"(litellm_params.api_key, e.g. os.environ/ACME_API_KEY)")
	}
	if err := checkUnsupported(t, req); err != nil {
		return nil, err
	}
	msgs, err := messages(req.Messages)
	if err != nil {
		return nil, err
	}
	body := generateRequest{Model: t.Model, Messages: msgs, Temperature: req.Temperature, Stream: req.Stream}
	switch {
	case req.MaxCompletionTokens != nil:
		body.MaxTokens = req.MaxCompletionTokens
	case req.MaxTokens != nil:
		body.MaxTokens = req.MaxTokens
	case tr.cfg.DefaultMaxTokens > 0:
		n := tr.cfg.DefaultMaxTokens
		body.MaxTokens = &n
	}
	if v := body.Temperature; v != nil && (*v < 0 || *v > 2) {
		return nil, sdk.NewError(sdk.KindBadRequest, "temperature: must be between 0 and 2").WithParam("temperature")
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding the Acme request: %w", err)
	}
	h := make(http.Header, 3+len(t.Headers))
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	if req.Stream {
		h.Set("Accept", "application/x-ndjson")
	}
	h.Set("Authorization", "Bearer "+t.APIKey)
	for k, v := range t.Headers {
		h.Set(k, v)
	}
	base := t.APIBase
	if base == "" {
		base = DefaultBase
	}
	return &sdk.HTTPRequest{Method: http.MethodPost, URL: strings.TrimRight(base, "/") + "/v1/generate", Header: h,
		Body: b}, nil
}

// messages converts the conversation: system and developer messages become "system"; text parts are joined.
// Acme has no tools and no images.
func messages(in []sdk.Message) ([]message, error) {
	out := make([]message, 0, len(in))
	for i, m := range in {
		role := m.Role
		switch role {
		case "system", "developer":
			role = "system"
		case "user", "assistant":
		default:
			return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("messages[%d]: Acme has no %q messages "+
				"(it has no tool calling)", i, m.Role)).WithParam(fmt.Sprintf("messages[%d].role", i))
		}
		if len(m.ToolCalls) > 0 {
			return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("messages[%d]: Acme has no tool calls", i)).
				WithParam(fmt.Sprintf("messages[%d].tool_calls", i))
		}
		for _, p := range m.Content.Parts {
			if p.Type != "text" {
				return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("messages[%d].content: Acme takes text "+
					"only, not %q parts", i, p.Type)).WithParam(fmt.Sprintf("messages[%d].content", i))
			}
		}
		out = append(out, message{Role: role, Content: m.Content.String()})
	}
	return out, nil
}

// checkUnsupported refuses OpenAI parameters Acme cannot honour, unless the deployment drops them (drop_params,
// additional_drop_params). user is ignored: it only labels the request.
func checkUnsupported(t *sdk.Target, req *sdk.ChatRequest) error {
	var used []string
	add := func(set bool, name string) {
		if set && !t.DropParams && !slices.Contains(t.AdditionalDropParams, name) {
			used = append(used, name)
		}
	}
	add(req.N != nil && *req.N > 1, "n")
	add(len(req.Stop) > 0, "stop")
	add(req.TopP != nil, "top_p")
	add(req.PresencePenalty != nil, "presence_penalty")
	add(req.FrequencyPenalty != nil, "frequency_penalty")
	add(len(req.LogitBias) > 0, "logit_bias")
	add(req.Logprobs != nil && *req.Logprobs, "logprobs")
	add(req.TopLogprobs != nil, "top_logprobs")
	add(req.Seed != nil, "seed")
	add(len(req.Tools) > 0, "tools")
	add(req.ToolChoice != nil && req.ToolChoice.Mode != "none", "tool_choice")
	add(req.ResponseFormat != nil && req.ResponseFormat.Type != "text", "response_format")
	add(req.ReasoningEffort != "", "reasoning_effort")
	if len(used) == 0 {
		return nil
	}
	return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("acme does not support the parameters %s; remove them, "+
		"or set drop_params: true to drop them", strings.Join(used, ", "))).WithParam(used[0]).WithCode("unsupported_params")
}
