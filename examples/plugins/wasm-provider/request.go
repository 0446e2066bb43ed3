package tgi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/switchyard/gateway/sdk"
)

// generateRequest is the body of POST /generate and POST /generate_stream.
type generateRequest struct {
	Inputs     string     `json:"inputs"`
	Parameters parameters `json:"parameters"`
}

// parameters are TGI's generation parameters; unset ones take the server's defaults.
type parameters struct {
	MaxNewTokens     *int     `json:"max_new_tokens,omitempty"`
	Temperature      *float64 `json:"temperature,omitempty"`
	TopP             *float64 `json:"top_p,omitempty"`
	Stop             []string `json:"stop,omitempty"`
	Seed             *int64   `json:"seed,omitempty"`
	FrequencyPenalty *float64 `json:"frequency_penalty,omitempty"`
	// Details asks for the finish reason and the token counts, which the answer needs.
	Details bool `json:"details"`
}

// BuildChat returns the TGI request of a chat completion: /generate, or /generate_stream when streaming.
func (tr *Translator) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	if err := checkUnsupported(t, req); err != nil {
		return nil, err
	}
	prompt, err := Prompt(tr.cfg.Template, req.Messages)
	if err != nil {
		return nil, err
	}
	p := parameters{Details: true, Stop: req.Stop, Seed: req.Seed, FrequencyPenalty: req.FrequencyPenalty}
	switch {
	case req.MaxCompletionTokens != nil:
		p.MaxNewTokens = req.MaxCompletionTokens
	case req.MaxTokens != nil:
		p.MaxNewTokens = req.MaxTokens
	case tr.cfg.MaxNewTokens > 0:
		n := tr.cfg.MaxNewTokens
		p.MaxNewTokens = &n
	}
	// TGI refuses a temperature of 0 ("must be strictly positive"): greedy decoding is its default, which is
	// what 0 asks for.
	if v := req.Temperature; v != nil {
		switch {
		case *v < 0:
			return nil, sdk.NewError(sdk.KindBadRequest, "temperature: must not be negative").WithParam("temperature")
		case *v > 0:
			p.Temperature = v
		}
	}
	// TGI takes top_p strictly between 0 and 1; 1 (no truncation) is the same as leaving it out.
	if v := req.TopP; v != nil {
		switch {
		case *v <= 0:
			return nil, sdk.NewError(sdk.KindBadRequest, "top_p: TGI needs a value greater than 0").WithParam("top_p")
		case *v < 1:
			p.TopP = v
		}
	}
	body, err := json.Marshal(generateRequest{Inputs: prompt, Parameters: p})
	if err != nil {
		return nil, fmt.Errorf("encoding the TGI request: %w", err)
	}
	path := "/generate"
	h := make(http.Header, 3+len(t.Headers))
	h.Set("Content-Type", "application/json")
	h.Set("Accept", "application/json")
	if req.Stream {
		path = "/generate_stream"
		h.Set("Accept", "text/event-stream")
	}
	if t.APIKey != "" {
		h.Set("Authorization", "Bearer "+t.APIKey)
	}
	for k, v := range t.Headers {
		h.Set(k, v)
	}
	return &sdk.HTTPRequest{Method: http.MethodPost, URL: baseURL(t) + path, Header: h, Body: body}, nil
}

// baseURL returns the deployment's api_base (or DefaultBase) with {model} replaced by the model name, each of
// its path segments escaped.
func baseURL(t *sdk.Target) string {
	base := t.APIBase
	if base == "" {
		base = DefaultBase
	}
	if strings.Contains(base, "{model}") {
		segs := strings.Split(t.Model, "/")
		for i, s := range segs {
			segs[i] = url.PathEscape(s)
		}
		base = strings.ReplaceAll(base, "{model}", strings.Join(segs, "/"))
	}
	return strings.TrimRight(base, "/")
}

// checkUnsupported refuses OpenAI parameters TGI's native API cannot honour, unless the deployment drops them
// (drop_params, additional_drop_params). user is ignored: it only labels the request.
func checkUnsupported(t *sdk.Target, req *sdk.ChatRequest) error {
	var used []string
	add := func(set bool, name string) {
		if set && !t.DropParams && !slices.Contains(t.AdditionalDropParams, name) {
			used = append(used, name)
		}
	}
	add(req.N != nil && *req.N > 1, "n")
	add(req.PresencePenalty != nil, "presence_penalty")
	add(len(req.LogitBias) > 0, "logit_bias")
	add(req.Logprobs != nil && *req.Logprobs, "logprobs")
	add(req.TopLogprobs != nil, "top_logprobs")
	add(len(req.Tools) > 0, "tools")
	add(req.ToolChoice != nil && req.ToolChoice.Mode != "none", "tool_choice")
	add(req.ResponseFormat != nil && req.ResponseFormat.Type != "text", "response_format")
	add(req.ReasoningEffort != "", "reasoning_effort")
	if len(used) == 0 {
		return nil
	}
	return sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("tgi does not support the parameters %s; remove them, "+
		"or set drop_params: true to drop them", strings.Join(used, ", "))).WithParam(used[0]).WithCode("unsupported_params")
}
