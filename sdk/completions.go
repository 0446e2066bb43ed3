package sdk

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// CompletionRequest is a legacy text completion request (`/v1/completions`) in OpenAI's wire format.
//
// Providers that only have a chat API serve it through ChatFromCompletion and CompletionFromChat.
type CompletionRequest struct {
	Model            string             `json:"model"`
	Prompt           Input              `json:"prompt"`
	Suffix           string             `json:"suffix,omitempty"`
	MaxTokens        *int               `json:"max_tokens,omitempty"`
	Temperature      *float64           `json:"temperature,omitempty"`
	TopP             *float64           `json:"top_p,omitempty"`
	N                *int               `json:"n,omitempty"`
	Stream           bool               `json:"stream,omitempty"`
	StreamOptions    *StreamOptions     `json:"stream_options,omitempty"`
	Logprobs         *int               `json:"logprobs,omitempty"`
	Echo             bool               `json:"echo,omitempty"`
	Stop             Stop               `json:"stop,omitempty"`
	PresencePenalty  *float64           `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float64           `json:"frequency_penalty,omitempty"`
	BestOf           *int               `json:"best_of,omitempty"`
	LogitBias        map[string]float64 `json:"logit_bias,omitempty"`
	User             string             `json:"user,omitempty"`
	Seed             *int64             `json:"seed,omitempty"`

	Controls

	Extra map[string]json.RawMessage `json:"-"`
	Raw   json.RawMessage            `json:"-"`
}

var completionFields = jsonNames(CompletionRequest{})

// UnmarshalJSON decodes a request, keeping unknown members in Extra and the whole body in Raw.
func (r *CompletionRequest) UnmarshalJSON(b []byte) error {
	type plain CompletionRequest
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	// b may be a decoder's buffer, reused after we return (see json.Unmarshaler), and Raw and Extra outlive it.
	r.Raw = bytes.Clone(b)
	r.Extra = collectExtra(r.Raw, completionFields)
	return nil
}

// MarshalJSON encodes the request with its Extra members.
func (r CompletionRequest) MarshalJSON() ([]byte, error) {
	type plain CompletionRequest
	return marshalWithExtra((*plain)(&r), r.Extra)
}

// Validate checks the model and the prompt.
func (r *CompletionRequest) Validate() error {
	if r.Model == "" {
		return NewError(KindBadRequest, "model: required").WithParam("model")
	}
	if r.Prompt.Len() == 0 {
		return NewError(KindBadRequest, "prompt: required").WithParam("prompt")
	}
	return nil
}

// CompletionResponse is a legacy text completion. Streamed, each chunk has this shape too.
type CompletionResponse struct {
	ID                string             `json:"id"`
	Object            string             `json:"object"`
	Created           int64              `json:"created"`
	Model             string             `json:"model"`
	Choices           []CompletionChoice `json:"choices"`
	Usage             *Usage             `json:"usage,omitempty"`
	SystemFingerprint string             `json:"system_fingerprint,omitempty"`

	Raw json.RawMessage `json:"-"`
}

// Decoded returns the response with its typed fields filled, decoding Raw when they were left empty (see
// ChatResponse.Decoded).
func (r *CompletionResponse) Decoded() (*CompletionResponse, error) {
	if r.Raw == nil || r.ID != "" || len(r.Choices) > 0 {
		return r, nil
	}
	var d CompletionResponse
	if err := json.Unmarshal(r.Raw, &d); err != nil {
		return nil, err
	}
	d.Raw = r.Raw
	if d.Usage == nil {
		d.Usage = r.Usage
	}
	return &d, nil
}

// CompletionChoice is one alternative of a text completion.
type CompletionChoice struct {
	Text         string          `json:"text"`
	Index        int             `json:"index"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

// ChatFromCompletion turns a text completion request into a chat request with one user message per prompt.
// Only a single prompt string can be served this way; token prompts and several prompts are rejected.
func ChatFromCompletion(r *CompletionRequest) (*ChatRequest, error) {
	if len(r.Prompt.Texts) != 1 || len(r.Prompt.Tokens) > 0 {
		return nil, NewError(KindBadRequest, "prompt: this model serves completions through its chat API, "+
			"which takes exactly one prompt string").WithParam("prompt")
	}
	if r.Echo || r.Suffix != "" || r.BestOf != nil || r.Logprobs != nil {
		return nil, NewError(KindBadRequest, fmt.Sprintf("model %q serves completions through its chat API, "+
			"which has no echo, suffix, best_of or logprobs", r.Model))
	}
	return &ChatRequest{
		Model:            r.Model,
		Messages:         []Message{{Role: "user", Content: TextContent(r.Prompt.Texts[0])}},
		Stream:           r.Stream,
		StreamOptions:    r.StreamOptions,
		Temperature:      r.Temperature,
		TopP:             r.TopP,
		N:                r.N,
		Stop:             r.Stop,
		MaxTokens:        r.MaxTokens,
		PresencePenalty:  r.PresencePenalty,
		FrequencyPenalty: r.FrequencyPenalty,
		LogitBias:        r.LogitBias,
		User:             r.User,
		Seed:             r.Seed,
		Controls:         r.Controls,
	}, nil
}

// CompletionFromChat turns a chat completion into a text completion.
func CompletionFromChat(c *ChatResponse) *CompletionResponse {
	out := &CompletionResponse{
		ID: c.ID, Object: "text_completion", Created: c.Created, Model: c.Model,
		Usage: c.Usage, SystemFingerprint: c.SystemFingerprint,
		Choices: make([]CompletionChoice, len(c.Choices)),
	}
	for i, ch := range c.Choices {
		reason := ch.FinishReason
		out.Choices[i] = CompletionChoice{Text: ch.Message.Content.String(), Index: ch.Index, FinishReason: &reason}
	}
	return out
}

// CompletionChunkFromChat turns a chat stream chunk into a text completion stream chunk.
func CompletionChunkFromChat(c *Chunk) *CompletionResponse {
	out := &CompletionResponse{
		ID: c.ID, Object: "text_completion", Created: c.Created, Model: c.Model,
		Usage: c.Usage, SystemFingerprint: c.SystemFingerprint,
		Choices: make([]CompletionChoice, len(c.Choices)),
	}
	for i, ch := range c.Choices {
		out.Choices[i] = CompletionChoice{Text: ch.Delta.Content, Index: ch.Index, FinishReason: ch.FinishReason}
	}
	return out
}
