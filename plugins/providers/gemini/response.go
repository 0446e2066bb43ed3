package gemini

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// Response turns a GenerateContentResponse body into a chat completion: one choice per candidate, text parts
// joined into the content, thought parts into reasoning_content, functionCall parts into tool calls. A prompt
// the safety filters blocked (promptFeedback.blockReason, no candidates) is a content policy error.
func (c Codec) Response(t *sdk.Target, req *sdk.ChatRequest, body []byte) (*sdk.ChatResponse, error) {
	var r generateContentResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("the gemini answer: %w", err)
	}
	if len(r.Error) > 0 && !bytes.Equal(r.Error, []byte("null")) {
		return nil, ErrorFromBody(t, 0, body)
	}
	if len(r.Candidates) == 0 {
		if e := blocked(r.PromptFeedback); e != nil {
			return nil, e
		}
		return nil, errors.New("the gemini answer has no candidates")
	}
	id := c.id(r.ResponseID)
	out := &sdk.ChatResponse{
		ID:      id,
		Object:  "chat.completion",
		Created: c.now().Unix(),
		Model:   modelName(t, r.ModelVersion),
		Usage:   usageFrom(r.UsageMetadata),
	}
	calls := 0
	for _, cand := range r.Candidates {
		var text, reasoning strings.Builder
		var toolCalls []sdk.ToolCall
		if cand.Content != nil {
			for _, p := range cand.Content.Parts {
				switch {
				case p.FunctionCall != nil:
					toolCalls = append(toolCalls, toolCall(id, calls, p))
					calls++
				case p.Thought:
					reasoning.WriteString(p.Text)
				default:
					text.WriteString(p.Text)
				}
			}
		}
		msg := sdk.Message{Role: "assistant", ToolCalls: toolCalls, ReasoningContent: reasoning.String()}
		reason := FinishReason(cand.FinishReason, len(toolCalls) > 0)
		if text.Len() == 0 && (len(toolCalls) > 0 || reason == sdk.FinishContentFilter) {
			msg.Content = sdk.Content{Null: true}
		} else {
			msg.Content = sdk.TextContent(text.String())
		}
		if reason == "" {
			reason = sdk.FinishStop
		}
		out.Choices = append(out.Choices, sdk.Choice{Index: cand.Index, Message: msg, FinishReason: reason})
	}
	return out, nil
}

// blocked returns the error for a prompt Gemini's filters refused, or nil.
func blocked(pf *promptFeedback) *sdk.Error {
	if pf == nil || pf.BlockReason == "" {
		return nil
	}
	msg := "gemini blocked the prompt (blockReason " + pf.BlockReason + ")"
	if pf.BlockReasonMessage != "" {
		msg += ": " + pf.BlockReasonMessage
	}
	return &sdk.Error{Kind: sdk.KindContentPolicy, Message: msg}
}

// FinishReason maps a Gemini finishReason to OpenAI's: STOP is stop (tool_calls when the candidate called
// functions, Gemini having no reason of its own for that), MAX_TOKENS length, the safety, recitation, blocklist,
// prohibited-content and personal-data stops content_filter, anything else stop. "" (not finished) stays "".
func FinishReason(reason string, toolCalls bool) string {
	switch reason {
	case "":
		return ""
	case "MAX_TOKENS":
		return sdk.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
		"IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return sdk.FinishContentFilter
	}
	if toolCalls {
		return sdk.FinishToolCalls
	}
	return sdk.FinishStop
}

// toolCall converts a functionCall part. Gemini gives calls no ids (the Gemini API may, Vertex does not), so
// they are numbered within the answer, under the answer's id, which makes them unique across the turns of a
// conversation and the same in a stream as in a whole answer. A thought signature rides in the id (see
// signatureSep).
func toolCall(respID string, n int, p part) sdk.ToolCall {
	args := "{}"
	if a := bytes.TrimSpace(p.FunctionCall.Args); len(a) > 0 && !bytes.Equal(a, []byte("null")) {
		var buf bytes.Buffer
		if json.Compact(&buf, a) == nil {
			args = buf.String()
		}
	}
	id := "call_" + strings.TrimPrefix(respID, "chatcmpl-") + "_" + strconv.Itoa(n)
	if p.ThoughtSignature != "" {
		id += signatureSep + p.ThoughtSignature
	}
	return sdk.ToolCall{ID: id, Type: "function", Function: sdk.FunctionCall{Name: p.FunctionCall.Name, Arguments: args}}
}

// usageFrom converts usageMetadata. Prompt tokens include those of tool results fed back by server-side tools;
// completion tokens include the thoughts, which are billed as output (as LiteLLM counts them), and are also
// reported as reasoning_tokens; cachedContentTokenCount, a part of the prompt, is cached_tokens.
func usageFrom(u *usageMetadata) *sdk.Usage {
	if u == nil {
		return nil
	}
	out := &sdk.Usage{
		PromptTokens:     u.PromptTokenCount + u.ToolUsePromptTokenCount,
		CompletionTokens: u.CandidatesTokenCount + u.ThoughtsTokenCount,
	}
	out.TotalTokens = out.PromptTokens + out.CompletionTokens
	if u.CachedContentTokenCount > 0 {
		out.PromptTokensDetails = &sdk.PromptTokensDetails{CachedTokens: u.CachedContentTokenCount}
	}
	if u.ThoughtsTokenCount > 0 {
		out.CompletionTokensDetails = &sdk.CompletionTokensDetails{ReasoningTokens: u.ThoughtsTokenCount}
	}
	return out
}

// modelName returns the model an answer names: the version Gemini reports, else the deployment's model.
func modelName(t *sdk.Target, version string) string {
	if version != "" {
		return version
	}
	return baseModel(t.Model)
}

func (c Codec) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// id returns an answer's id: Gemini's responseId when it gave one.
func (c Codec) id(responseID string) string {
	if responseID != "" {
		return responseID
	}
	if c.NewID != nil {
		return c.NewID()
	}
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return "chatcmpl-" + hex.EncodeToString(b[:])
}
