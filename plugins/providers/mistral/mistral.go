// Package mistral is the provider for Mistral's La Plateforme API, which speaks OpenAI's chat format with a few
// differences, handled here:
//
//   - Mistral rejects fields it does not know, so unsupported parameters are refused with a clear error (or
//     dropped under drop_params).
//   - seed is sent as random_seed, max_completion_tokens as max_tokens, tool_choice "required" as "any".
//   - Tool-call ids must be 9 characters of [a-zA-Z0-9]: ids of other shapes in the conversation history (OpenAI's
//     "call_...", another provider's) are rewritten, in assistant tool_calls and in the tool messages answering
//     them alike, to a stable hash of the original id. Ids Mistral issued are already of that shape and are kept.
//   - Tool messages carry the name of the function they answer: it is filled in from the matching tool call when
//     the client left it out. Other messages cannot carry a name, so theirs is removed, as LiteLLM does.
//
// response_format json_schema needs no change: Mistral takes OpenAI's {"type":"json_schema","json_schema":{"name",
// "schema","description","strict"}} as it is.
package mistral

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// Spec is the provider's OpenAI-compatible spec.
var Spec = openai.Spec{
	Name:               "mistral",
	DefaultBase:        "https://api.mistral.ai/v1",
	BaseEnv:            []string{"MISTRAL_API_BASE"},
	KeyEnv:             []string{"MISTRAL_API_KEY"},
	HostOnlyBaseGetsV1: true,
	// Not in Mistral's chat completion request schema (which has n, presence_penalty, frequency_penalty,
	// parallel_tool_calls, prediction and safe_prompt besides the usual ones).
	Unsupported: []string{"logit_bias", "logprobs", "top_logprobs", "user", "service_tier"},
	Renames:     map[string]string{"seed": "random_seed", "max_completion_tokens": "max_tokens"},
	ToolChoice:  map[string]string{"required": "any"},
	// Mistral reports usage in the last chunk by default and rejects stream_options.
	StreamUsage: false,
	Embeddings:  true,
	PatchBody:   patchBody,
}

func init() { sdk.Register(openai.Module(Spec)) }

// patchBody rewrites the messages of a chat request where Mistral differs from OpenAI (see the package comment).
func patchBody(_ *sdk.Target, op string, body []byte) ([]byte, error) {
	if op != "chat/completions" {
		return body, nil
	}
	msgs := rawjson.Get(body, "messages")
	// Only tool calls and names need work; most conversations have neither, and are sent without a decode.
	if msgs == nil || !bytes.Contains(msgs, []byte(`"tool_call`)) && !bytes.Contains(msgs, []byte(`"name"`)) {
		return body, nil
	}
	out, changed, err := patchMessages(msgs)
	if err != nil || !changed {
		return body, err
	}
	return rawjson.Patch(body, []rawjson.Member{{Key: []byte("messages"), Value: out}}, nil)
}

// message is what the rewrite reads of a message; the message itself is edited as raw JSON, so that what is not
// read here reaches Mistral untouched.
type message struct {
	Role       string            `json:"role"`
	Name       *string           `json:"name"`
	ToolCallID *string           `json:"tool_call_id"`
	ToolCalls  []json.RawMessage `json:"tool_calls"`
}

type toolCall struct {
	ID       *string `json:"id"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

// patchMessages rewrites a messages array, reporting whether anything changed.
func patchMessages(raw []byte) ([]byte, bool, error) {
	var msgs []json.RawMessage
	if err := json.Unmarshal(raw, &msgs); err != nil {
		return nil, false, sdk.NewError(sdk.KindBadRequest, "messages: must be an array of objects").WithParam("messages")
	}
	parsed := make([]message, len(msgs))
	names := map[string]string{} // original tool-call id → function name
	for i, m := range msgs {
		if err := json.Unmarshal(m, &parsed[i]); err != nil {
			return nil, false, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("messages[%d]: %v", i, err)).
				WithParam(fmt.Sprintf("messages[%d]", i))
		}
		for _, c := range parsed[i].ToolCalls {
			var tc toolCall
			if json.Unmarshal(c, &tc) == nil && tc.ID != nil {
				names[*tc.ID] = tc.Function.Name
			}
		}
	}

	changed := false
	for i, m := range parsed {
		var set []rawjson.Member
		dropName := false
		switch m.Role {
		case "tool":
			if m.ToolCallID != nil {
				if id := ToolCallID(*m.ToolCallID); id != *m.ToolCallID {
					set = append(set, rawjson.Member{Key: []byte("tool_call_id"), Value: rawjson.String(id)})
				}
				if name := names[*m.ToolCallID]; name != "" && (m.Name == nil || *m.Name == "") {
					set = append(set, rawjson.Member{Key: []byte("name"), Value: rawjson.String(name)})
				}
			}
		case "function": // legacy; its name is the function's
		default:
			dropName = m.Name != nil
			if len(m.ToolCalls) > 0 {
				calls, callsChanged, err := patchToolCalls(m.ToolCalls)
				if err != nil {
					return nil, false, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("messages[%d].tool_calls: %v", i, err)).
						WithParam(fmt.Sprintf("messages[%d].tool_calls", i))
				}
				if callsChanged {
					set = append(set, rawjson.Member{Key: []byte("tool_calls"), Value: calls})
				}
			}
		}
		if len(set) == 0 && !dropName {
			continue
		}
		var drop func([]byte) bool
		if dropName {
			drop = func(k []byte) bool { return string(k) == "name" }
		}
		patched, err := rawjson.Patch(msgs[i], set, drop)
		if err != nil {
			return nil, false, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("messages[%d]: not a JSON object", i)).
				WithParam(fmt.Sprintf("messages[%d]", i))
		}
		msgs[i] = patched
		changed = true
	}
	if !changed {
		return nil, false, nil
	}
	return joinArray(msgs), true, nil
}

// patchToolCalls rewrites the ids of an assistant message's tool calls.
func patchToolCalls(calls []json.RawMessage) ([]byte, bool, error) {
	changed := false
	for j, c := range calls {
		var tc toolCall
		if err := json.Unmarshal(c, &tc); err != nil {
			return nil, false, fmt.Errorf("[%d]: %w", j, err)
		}
		if tc.ID == nil {
			continue
		}
		if id := ToolCallID(*tc.ID); id != *tc.ID {
			patched, err := rawjson.Patch(c, []rawjson.Member{{Key: []byte("id"), Value: rawjson.String(id)}}, nil)
			if err != nil {
				return nil, false, fmt.Errorf("[%d]: not a JSON object", j)
			}
			calls[j] = patched
			changed = true
		}
	}
	if !changed {
		return nil, false, nil
	}
	return joinArray(calls), true, nil
}

// joinArray writes raw values as a JSON array, as they are (json.Marshal would re-escape their strings).
func joinArray(items []json.RawMessage) []byte {
	n := 2
	for _, it := range items {
		n += len(it) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, '[')
	for i, it := range items {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, it...)
	}
	return append(out, ']')
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// ToolCallID returns the id Mistral accepts for a tool-call id: the id itself when it is already 9 characters of
// [a-zA-Z0-9], else 9 such characters derived from a SHA-256 of it, so that the same id always gets the same
// replacement (an assistant's call and the tool message answering it stay paired, across requests too). The empty
// id is kept.
func ToolCallID(id string) string {
	if id == "" || validID(id) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	out := make([]byte, 9)
	for i := range out {
		out[i] = idAlphabet[int(sum[i])%len(idAlphabet)]
	}
	return string(out)
}

func validID(id string) bool {
	if len(id) != 9 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
