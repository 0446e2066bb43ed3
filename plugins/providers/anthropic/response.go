package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchyard/gateway/sdk"
)

// wireResponse is a Messages API answer.
type wireResponse struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Model        string         `json:"model"`
	Content      []contentBlock `json:"content"`
	StopReason   string         `json:"stop_reason"`
	Usage        *WireUsage     `json:"usage"`
	Error        *wireError     `json:"error"`
	StopSequence *string        `json:"stop_sequence"`
}

// contentBlock is the part of an answer's content block this translator reads.
type contentBlock struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Input    json.RawMessage `json:"input"`
	Thinking string          `json:"thinking"`
}

// WireUsage is Anthropic's usage object. Counts are pointers so that a message_delta that leaves one out does
// not reset it.
type WireUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
	OutputTokensDetails      *struct {
		ThinkingTokens *int `json:"thinking_tokens"`
	} `json:"output_tokens_details"`
}

// merge takes the counts u reports over those of prev (a message_delta's cumulative counts over
// message_start's).
func (u *WireUsage) merge(prev WireUsage) WireUsage {
	out := prev
	if u == nil {
		return out
	}
	if u.InputTokens != nil {
		out.InputTokens = u.InputTokens
	}
	if u.OutputTokens != nil {
		out.OutputTokens = u.OutputTokens
	}
	if u.CacheCreationInputTokens != nil {
		out.CacheCreationInputTokens = u.CacheCreationInputTokens
	}
	if u.CacheReadInputTokens != nil {
		out.CacheReadInputTokens = u.CacheReadInputTokens
	}
	if u.OutputTokensDetails != nil && u.OutputTokensDetails.ThinkingTokens != nil {
		out.OutputTokensDetails = u.OutputTokensDetails
	}
	return out
}

func val(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// UsageFrom converts Anthropic's usage: the prompt tokens are the uncached input plus the tokens read from and
// written to the prompt cache.
func UsageFrom(u WireUsage) *sdk.Usage {
	read, created := val(u.CacheReadInputTokens), val(u.CacheCreationInputTokens)
	out := &sdk.Usage{PromptTokens: val(u.InputTokens) + read + created, CompletionTokens: val(u.OutputTokens)}
	out.TotalTokens = out.PromptTokens + out.CompletionTokens
	if u.CacheReadInputTokens != nil || u.CacheCreationInputTokens != nil {
		out.PromptTokensDetails = &sdk.PromptTokensDetails{CachedTokens: read, CacheCreationTokens: created}
	}
	if d := u.OutputTokensDetails; d != nil && d.ThinkingTokens != nil {
		out.CompletionTokensDetails = &sdk.CompletionTokensDetails{ReasoningTokens: *d.ThinkingTokens}
	}
	return out
}

// FinishReason maps a stop_reason to OpenAI's finish_reason.
func FinishReason(stopReason string) string {
	switch stopReason {
	case "max_tokens", "model_context_window_exceeded":
		return sdk.FinishLength
	case "tool_use":
		return sdk.FinishToolCalls
	case "refusal":
		return sdk.FinishContentFilter
	}
	return sdk.FinishStop // end_turn, stop_sequence, pause_turn
}

// messageOut is an answer's message with LiteLLM's thinking_blocks.
type messageOut struct {
	sdk.Message
	ThinkingBlocks []json.RawMessage `json:"thinking_blocks,omitempty"`
}

type choiceOut struct {
	Index        int        `json:"index"`
	Message      messageOut `json:"message"`
	FinishReason string     `json:"finish_reason"`
}

type responseOut struct {
	ID      string      `json:"id"`
	Object  string      `json:"object"`
	Created int64       `json:"created"`
	Model   string      `json:"model"`
	Choices []choiceOut `json:"choices"`
	Usage   *sdk.Usage  `json:"usage,omitempty"`
}

// ParseMessagesResponse converts a Messages API answer to a chat completion created at the given Unix time.
// req is the chat request it answers (JSON mode changes how the answer reads). When the answer holds thinking
// blocks, Raw is set to the completion with message.thinking_blocks, which the typed response cannot hold.
func ParseMessagesResponse(body []byte, req *sdk.ChatRequest, created int64) (*sdk.ChatResponse, error) {
	// Content blocks are decoded in the same pass as the rest: a thinking block's exact bytes are kept for the
	// next turn, and only an answer that has one is read a second time for them (decoding every block from
	// kept bytes scanned a ~1 KB text answer three times, the largest part of this translator's cost).
	var w wireResponse
	if !decodeAnswerFast(body, &w) {
		w = wireResponse{}
		if err := json.Unmarshal(body, &w); err != nil {
			return nil, fmt.Errorf("the anthropic answer: %w", err)
		}
	}
	var raws []json.RawMessage
	for _, b := range w.Content {
		if b.Type == "thinking" || b.Type == "redacted_thinking" {
			var kept struct {
				Content []json.RawMessage `json:"content"`
			}
			if err := json.Unmarshal(body, &kept); err != nil {
				return nil, fmt.Errorf("the anthropic answer's content: %w", err)
			}
			raws = kept.Content
			break
		}
	}
	if w.Type == "error" || w.Error != nil {
		return nil, errorFrom(0, nil, w.Error, "")
	}
	if w.Type != "message" && w.ID == "" {
		return nil, errors.New("the anthropic answer is not a message")
	}
	msg := messageOut{Message: sdk.Message{Role: "assistant"}}
	var text, reasoning bytes.Buffer
	jsonMode := JSONModeRequested(req)
	var jsonContent []byte
	for i, b := range w.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			args, err := compactArgs(b.Input)
			if err != nil {
				return nil, fmt.Errorf("the anthropic answer's tool input: %w", err)
			}
			if jsonMode && b.Name == JSONToolName {
				if jsonContent == nil {
					jsonContent = []byte(args)
				}
				continue
			}
			msg.ToolCalls = append(msg.ToolCalls, sdk.ToolCall{ID: b.ID, Type: "function",
				Function: sdk.FunctionCall{Name: b.Name, Arguments: args}})
		case "thinking":
			reasoning.WriteString(b.Thinking)
			msg.ThinkingBlocks = append(msg.ThinkingBlocks, raws[i])
		case "redacted_thinking":
			msg.ThinkingBlocks = append(msg.ThinkingBlocks, raws[i])
		}
	}
	finish := FinishReason(w.StopReason)
	switch {
	case jsonContent != nil:
		// LiteLLM's JSON mode: the forced tool's input is the answer.
		msg.Content = sdk.TextContent(string(jsonContent))
		if finish == sdk.FinishToolCalls && len(msg.ToolCalls) == 0 {
			finish = sdk.FinishStop
		}
	case text.Len() == 0 && len(msg.ToolCalls) > 0:
		msg.Content = sdk.Content{Null: true}
	default:
		msg.Content = sdk.TextContent(text.String())
	}
	msg.ReasoningContent = reasoning.String()
	out := &sdk.ChatResponse{ID: w.ID, Object: "chat.completion", Created: created, Model: w.Model,
		Choices: []sdk.Choice{{Index: 0, Message: msg.Message, FinishReason: finish}}}
	if w.Usage != nil {
		out.Usage = UsageFrom(*w.Usage)
	}
	if len(msg.ThinkingBlocks) > 0 {
		raw, err := json.Marshal(responseOut{ID: out.ID, Object: out.Object, Created: out.Created, Model: out.Model,
			Choices: []choiceOut{{Index: 0, Message: msg, FinishReason: finish}}, Usage: out.Usage})
		if err != nil {
			return nil, fmt.Errorf("encoding the answer: %w", err)
		}
		out.Raw = raw
	}
	return out, nil
}

// compactArgs returns a tool input as a compact JSON text ("{}" when absent).
func compactArgs(in json.RawMessage) (string, error) {
	in = bytes.TrimSpace(in)
	if len(in) == 0 || bytes.Equal(in, []byte("null")) {
		return "{}", nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, in); err != nil {
		return "", err
	}
	return b.String(), nil
}
