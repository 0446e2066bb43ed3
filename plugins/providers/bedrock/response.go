package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/switchyard/gateway/sdk"
)

// ParseChat turns a Converse answer into a chat completion.
func (tr *Translator) ParseChat(t *sdk.Target, req *sdk.ChatRequest, resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	var cr converseResponse
	if !decodeConverseFast(resp.Body, &cr) {
		cr = converseResponse{}
		if err := json.Unmarshal(resp.Body, &cr); err != nil {
			return nil, fmt.Errorf("the Converse answer: %w", err)
		}
	}
	jsonMode := wantsJSON(req)
	msg := sdk.Message{Role: "assistant"}
	var text joined
	var reasoning []byte
	onlyJSONTool := false
	if m := cr.Output.Message; m != nil {
		for _, c := range m.Content {
			switch {
			case c.Text != nil:
				text.add(*c.Text)
			case c.ToolUse != nil:
				args, err := toolArguments(c.ToolUse.Input)
				if err != nil {
					return nil, err
				}
				if jsonMode && c.ToolUse.Name == jsonToolName {
					text.add(args)
					onlyJSONTool = len(msg.ToolCalls) == 0
					continue
				}
				onlyJSONTool = false
				msg.ToolCalls = append(msg.ToolCalls, sdk.ToolCall{ID: c.ToolUse.ToolUseID, Type: "function",
					Function: sdk.FunctionCall{Name: c.ToolUse.Name, Arguments: args}})
			case c.ReasoningContent != nil && c.ReasoningContent.ReasoningText != nil:
				reasoning = append(reasoning, c.ReasoningContent.ReasoningText.Text...)
			}
		}
	}
	if text.len() > 0 || len(msg.ToolCalls) == 0 {
		msg.Content = sdk.TextContent(text.String())
	} else {
		msg.Content = sdk.Content{Null: true}
	}
	msg.ReasoningContent = string(reasoning)
	finish := finishReason(cr.StopReason)
	if onlyJSONTool && finish == sdk.FinishToolCalls {
		finish = sdk.FinishStop
	}
	id := resp.Header.Get("X-Amzn-Requestid")
	if id == "" {
		id = tr.newID()
	}
	return &sdk.ChatResponse{
		ID:      "chatcmpl-" + id,
		Object:  "chat.completion",
		Created: tr.now().Unix(),
		Model:   t.Model,
		Choices: []sdk.Choice{{Index: 0, Message: msg, FinishReason: finish}},
		Usage:   usage(cr.Usage),
	}, nil
}

// joined is text made of parts, joined only when there is more than one: an answer is usually one text block,
// whose string is then used as it is rather than copied twice.
type joined struct {
	first string
	more  []byte // all the parts, once there is a second
	n     int
}

func (j *joined) add(s string) {
	switch j.n {
	case 0:
		j.first = s
	case 1:
		j.more = append(append(make([]byte, 0, len(j.first)+len(s)), j.first...), s...)
	default:
		j.more = append(j.more, s...)
	}
	j.n++
}

func (j *joined) len() int {
	if j.n > 1 {
		return len(j.more)
	}
	return len(j.first)
}

func (j *joined) String() string {
	if j.n > 1 {
		return string(j.more)
	}
	return j.first
}

// toolArguments returns a tool input as the JSON text OpenAI's arguments hold.
func toolArguments(input json.RawMessage) (string, error) {
	input = bytes.TrimSpace(input)
	if len(input) == 0 || bytes.Equal(input, []byte("null")) {
		return "{}", nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, input); err != nil {
		return "", fmt.Errorf("a tool call's input: %w", err)
	}
	return buf.String(), nil
}

// finishReason maps a Converse stop reason to OpenAI's finish reason.
func finishReason(stop string) string {
	switch stop {
	case "max_tokens", "model_context_window_exceeded":
		return sdk.FinishLength
	case "tool_use":
		return sdk.FinishToolCalls
	case "guardrail_intervened", "content_filtered":
		return sdk.FinishContentFilter
	}
	// end_turn, stop_sequence, and malformed_model_output / malformed_tool_use, which end the answer too.
	return sdk.FinishStop
}

// usage maps Converse token usage. Bedrock's inputTokens leave out the tokens read from and written to the
// prompt cache; OpenAI's prompt_tokens count them, with the cached ones broken down.
func usage(u *tokenUsage) *sdk.Usage {
	if u == nil {
		return nil
	}
	out := &sdk.Usage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens}
	if u.CacheReadInputTokens != nil || u.CacheWriteInputTokens != nil {
		d := &sdk.PromptTokensDetails{}
		if u.CacheReadInputTokens != nil {
			d.CachedTokens = *u.CacheReadInputTokens
		}
		if u.CacheWriteInputTokens != nil {
			d.CacheCreationTokens = *u.CacheWriteInputTokens
		}
		out.PromptTokens += d.CachedTokens + d.CacheCreationTokens
		out.PromptTokensDetails = d
	}
	out.TotalTokens = out.PromptTokens + out.CompletionTokens
	return out
}
