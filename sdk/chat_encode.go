package sdk

import (
	"strconv"
	"unicode/utf8"

	"github.com/switchyard/gateway/sdk/rawjson"
)

// AppendChatResponse appends r's JSON encoding to dst, byte for byte what encoding/json.Marshal gives, for the
// shape translated providers produce (text or null contents, usage); ok is false, with dst unchanged, for
// anything else (tool calls, content parts, logprobs, cache_control), which the caller then encodes with
// encoding/json. It exists because encoding/json encodes a translated answer's text twice over (Content's
// MarshalJSON, then the compaction of its output), which was a tenth of the Anthropic path's CPU; a test holds
// the two encodings equal, and fails when a field is added to the types without being handled here.
func AppendChatResponse(dst []byte, r *ChatResponse) ([]byte, bool) {
	for i := range r.Choices {
		c := &r.Choices[i]
		m := &c.Message
		if len(c.Logprobs) != 0 || len(m.ToolCalls) != 0 || len(m.CacheControl) != 0 || m.Content.IsParts {
			return dst, false
		}
	}
	dst = append(dst, `{"id":`...)
	dst = AppendJSONString(dst, r.ID)
	dst = append(dst, `,"object":`...)
	dst = AppendJSONString(dst, r.Object)
	dst = append(dst, `,"created":`...)
	dst = strconv.AppendInt(dst, r.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = AppendJSONString(dst, r.Model)
	dst = append(dst, `,"choices":`...)
	if r.Choices == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '[')
		for i := range r.Choices {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendChoice(dst, &r.Choices[i])
		}
		dst = append(dst, ']')
	}
	if u := r.Usage; u != nil {
		dst = append(dst, `,"usage":`...)
		dst = appendUsage(dst, u)
	}
	dst = appendOptionalString(dst, `,"system_fingerprint":`, r.SystemFingerprint)
	dst = appendOptionalString(dst, `,"service_tier":`, r.ServiceTier)
	dst = append(dst, '}')
	return dst, true
}

func appendChoice(dst []byte, c *Choice) []byte {
	dst = append(dst, `{"index":`...)
	dst = strconv.AppendInt(dst, int64(c.Index), 10)
	m := &c.Message
	dst = append(dst, `,"message":{"role":`...)
	dst = AppendJSONString(dst, m.Role)
	dst = append(dst, `,"content":`...)
	if m.Content.Null && m.Content.Text == "" {
		dst = append(dst, "null"...)
	} else {
		dst = AppendJSONString(dst, m.Content.Text)
	}
	dst = appendOptionalString(dst, `,"name":`, m.Name)
	dst = appendOptionalString(dst, `,"tool_call_id":`, m.ToolCallID)
	dst = appendOptionalString(dst, `,"reasoning_content":`, m.ReasoningContent)
	dst = appendOptionalString(dst, `,"refusal":`, m.Refusal)
	dst = append(dst, `},"finish_reason":`...)
	dst = AppendJSONString(dst, c.FinishReason)
	return append(dst, '}')
}

func appendUsage(dst []byte, u *Usage) []byte {
	dst = append(dst, `{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.TotalTokens), 10)
	if d := u.PromptTokensDetails; d != nil {
		dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
		dst = strconv.AppendInt(dst, int64(d.CachedTokens), 10)
		dst = appendOptionalInt(dst, `,"audio_tokens":`, d.AudioTokens)
		dst = appendOptionalInt(dst, `,"cache_creation_tokens":`, d.CacheCreationTokens)
		dst = append(dst, '}')
	}
	if d := u.CompletionTokensDetails; d != nil {
		dst = append(dst, `,"completion_tokens_details":{"reasoning_tokens":`...)
		dst = strconv.AppendInt(dst, int64(d.ReasoningTokens), 10)
		dst = appendOptionalInt(dst, `,"audio_tokens":`, d.AudioTokens)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

func appendOptionalString(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return AppendJSONString(append(dst, key...), s)
}

func appendOptionalInt(dst []byte, key string, n int) []byte {
	if n == 0 {
		return dst
	}
	return strconv.AppendInt(append(dst, key...), int64(n), 10)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string the way encoding/json.Marshal writes one: quotes, backslashes
// and control characters escaped, <, > and & escaped for HTML, invalid UTF-8 replaced by U+FFFD, and U+2028
// and U+2029 escaped for JavaScript.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// TextChunkPrefix is the JSON of a one-choice content chunk (what encoding/json writes for a Chunk whose only
// choice's delta has only Content) up to the content's value; AppendTextChunk completes it. Stream parsers build
// it once per stream and wrap each text delta in it, the text as the upstream escaped it.
func TextChunkPrefix(id string, created int64, model string) []byte {
	b := AppendJSONString(append(make([]byte, 0, 96+len(id)+len(model)), `{"id":`...), id)
	b = strconv.AppendInt(append(b, `,"object":"chat.completion.chunk","created":`...), created, 10)
	b = AppendJSONString(append(b, `,"model":`...), model)
	return append(b, `,"choices":[{"index":0,"delta":{"content":`...)
}

// TextChunk returns a chunk's JSON: prefix (TextChunkPrefix) and text, a JSON string literal, and what closes
// them.
func TextChunk(prefix, text []byte) []byte {
	const suffix = `},"finish_reason":null}]}`
	return append(append(append(make([]byte, 0, len(prefix)+len(text)+len(suffix)), prefix...), text...), suffix...)
}

// UpstreamText returns the text of a JSON string literal from an upstream, when the literal can be copied into
// a chunk's JSON as it is: valid (encoding/json's rules), and valid UTF-8 (which encoding/json would have
// replaced). ok is false otherwise, and the caller encodes the text itself.
func UpstreamText(lit []byte) (text string, ok bool) {
	if !utf8.Valid(lit) {
		return "", false
	}
	return rawjson.Unquote(lit)
}
