package fakeupstream

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/switchyard/gateway/internal/providertest"
)

// conventionFailure answers the error a providertest failure marker in the model name asks for, as OpenAI (or,
// for Azure paths, Azure OpenAI) words it; it reports whether it answered.
func conventionFailure(w http.ResponseWriter, model string, azure bool) bool {
	switch {
	case strings.Contains(model, providertest.FailRateLimit):
		w.Header().Set("Retry-After", "1")
		w.Header().Set("x-ratelimit-remaining-requests", "0")
		msg := "Rate limit reached for requests on " + model + ". Please try again in 1s."
		if azure {
			msg = "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 " +
				"have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 1 second."
		}
		writeError(w, 429, "requests", "rate_limit_exceeded", msg)
	case strings.Contains(model, providertest.FailAuth):
		writeError(w, 401, "invalid_request_error", "invalid_api_key",
			"Incorrect API key provided: sk-***abcd. You can find your API key at https://platform.openai.com/account/api-keys.")
	case strings.Contains(model, providertest.FailOverloaded):
		writeError(w, 503, "server_error", "", "The engine is currently overloaded, please try again later.")
	case strings.Contains(model, providertest.FailServer):
		writeError(w, 500, "server_error", "", "The server had an error while processing your request. Sorry about that!")
	case strings.Contains(model, providertest.FailContextWindow):
		writeError(w, 400, "invalid_request_error", "context_length_exceeded", "This model's maximum context length "+
			"is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.")
	case strings.Contains(model, providertest.FailContentPolicy):
		if azure {
			writeJSON(w, 400, map[string]any{"error": map[string]any{
				"message": "The response was filtered due to the prompt triggering Azure OpenAI's content management " +
					"policy. Please modify your prompt and retry.",
				"type": nil, "param": "prompt", "code": "content_filter", "status": 400,
				"innererror": map[string]any{"code": "ResponsibleAIPolicyViolation", "content_filter_result": map[string]any{
					"violence": map[string]any{"filtered": true, "severity": "high"}}}}})
			return true
		}
		writeError(w, 400, "invalid_request_error", "content_policy_violation",
			"Your request was rejected as a result of our safety system.")
	default:
		return false
	}
	return true
}

// conventionReply is the convention's answer to a chat request.
func conventionReply(req *request) reply {
	u := newUsage(providertest.PromptTokens, providertest.CompletionTokens)
	u.PromptTokensDetails.CachedTokens = providertest.CachedTokens
	u.CompletionTokensDetails.ReasoningTokens = providertest.ReasoningTokens
	rep := reply{finish: "stop", usage: u}

	var system []string
	var lastUser *message
	for i := range req.Messages {
		switch m := &req.Messages[i]; m.Role {
		case "system", "developer":
			system = append(system, m.text())
		case "user":
			lastUser = m
		}
	}
	userText := ""
	if lastUser != nil {
		userText = lastUser.text()
	}
	last := req.Messages[len(req.Messages)-1]
	maxTokens := req.MaxTokens
	if maxTokens == nil {
		maxTokens = req.MaxCompletionTokens
	}
	switch {
	case maxTokens != nil && *maxTokens == providertest.MaxTokensTruncate:
		rep.text, rep.finish = providertest.EchoPrefix, "length"
	case last.Role == "tool":
		rep.text = providertest.ToolResultPrefix + last.text()
	case len(req.Tools) > 0 && string(req.ToolChoice) != `"none"`:
		for i := 0; i < len(req.Tools) && i < 2; i++ {
			rep.calls = append(rep.calls, toolCall{ID: fmt.Sprintf("call_matrix_%d", i), Type: "function",
				Function: functionCall{Name: req.Tools[i].Function.Name, Arguments: providertest.ToolArguments}})
		}
		rep.finish = "tool_calls"
	case req.ResponseFormat != nil && (req.ResponseFormat.Type == "json_object" || req.ResponseFormat.Type == "json_schema"):
		b, _ := json.Marshal(map[string]string{"echo": userText})
		rep.text = string(b)
	default:
		rep.text = providertest.EchoPrefix + userText
		if len(system) > 0 {
			rep.text = "[" + strings.Join(system, " ") + "] " + rep.text
		}
		if lastUser != nil {
			if imgs := lastUser.images(); len(imgs) > 0 {
				rep.text += fmt.Sprintf(" (images: %d %s)", len(imgs), mediaType(imgs[0]))
			}
		}
	}
	return rep
}

// images returns the URLs of a message's image parts.
func (m message) images() []string {
	var parts []struct {
		Type     string `json:"type"`
		ImageURL struct {
			URL string `json:"url"`
		} `json:"image_url"`
	}
	if json.Unmarshal(m.Content, &parts) != nil {
		return nil
	}
	var out []string
	for _, p := range parts {
		if p.Type == "image_url" {
			out = append(out, p.ImageURL.URL)
		}
	}
	return out
}

// mediaType is the media type of an image URL: a data: URL's own, or one guessed from the path's extension.
func mediaType(u string) string {
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		mt, _, _ := strings.Cut(rest, ";")
		mt, _, _ = strings.Cut(mt, ",")
		return mt
	}
	if mt := mime.TypeByExtension(path.Ext(strings.SplitN(u, "?", 2)[0])); mt != "" {
		mt, _, _ = strings.Cut(mt, ";")
		return mt
	}
	return "application/octet-stream"
}

// ConventionVector is the embedding the convention gives input i: dims floats, element j being
// float(i+1) + float(j)/100.
func ConventionVector(i, dims int) []float32 {
	out := make([]float32, dims)
	for j := range out {
		out[j] = float32(i+1) + float32(j)/100
	}
	return out
}
