package sdk

import (
	"encoding/json"
	"strconv"

	"github.com/switchyard/gateway/sdk/rawjson"
)

// decodeChatFast decodes the common shape of a chat request (model, text messages, sampling numbers, stream
// options, unknown members kept in Extra) member by member, in one pass over raw, without encoding/json's
// reflection: decoding was the largest share of the gateway's own CPU per request after the network. It reports
// false, leaving r as it found it, whenever encoding/json might decide otherwise than it would: a member it does
// not read here (tools, content parts, stop, metadata...), a malformed string, a number encoding/json would
// refuse for its field, a key in another case (encoding/json matches keys case-insensitively), a repeated
// member, any malformed value. The caller then decodes with encoding/json, so results and errors are the same
// as before; a fuzz test holds the two to that.
//
// raw must be the request's own copy: strings and Extra values are taken from it.
func decodeChatFast(raw []byte, r *ChatRequest) bool {
	if !chatIsZero(r) {
		return false // encoding/json would merge into the existing values
	}
	var out ChatRequest
	if !rawjson.EachOnce(raw, func(k, v []byte) (uint64, bool) {
		f, known := chatFastFields[string(k)]
		if !known {
			if _, modeled := chatFields[string(k)]; modeled || !rawjson.Unread(k, v) {
				return 0, false
			}
			if out.Extra == nil {
				out.Extra = make(map[string]json.RawMessage, 4)
			}
			out.Extra[string(k)] = v
			return 0, true
		}
		var ok bool
		switch f {
		case fModel:
			ok = rawjson.ReadString(&out.Model, v)
		case fMessages:
			ok = fastMessages(&out.Messages, v)
		case fStream:
			ok = fastBool(&out.Stream, v)
		case fStreamOptions:
			ok = fastStreamOptions(&out.StreamOptions, v)
		case fTemperature:
			ok = fastFloat(&out.Temperature, v)
		case fTopP:
			ok = fastFloat(&out.TopP, v)
		case fPresencePenalty:
			ok = fastFloat(&out.PresencePenalty, v)
		case fFrequencyPenalty:
			ok = fastFloat(&out.FrequencyPenalty, v)
		case fN:
			ok = rawjson.ReadIntPtr(&out.N, v)
		case fMaxTokens:
			ok = rawjson.ReadIntPtr(&out.MaxTokens, v)
		case fMaxCompletionTokens:
			ok = rawjson.ReadIntPtr(&out.MaxCompletionTokens, v)
		case fTopLogprobs:
			ok = rawjson.ReadIntPtr(&out.TopLogprobs, v)
		case fSeed:
			ok = rawjson.ReadIntPtr(&out.Seed, v)
		case fUser:
			ok = rawjson.ReadString(&out.User, v)
		case fReasoningEffort:
			ok = rawjson.ReadString(&out.ReasoningEffort, v)
		case fLogprobs:
			ok = fastBoolPtr(&out.Logprobs, v)
		case fParallelToolCalls:
			ok = fastBoolPtr(&out.ParallelToolCalls, v)
		}
		return 1 << f, ok
	}) {
		return false
	}
	out.Raw = raw
	*r = out
	return true
}

// The members decodeChatFast reads, numbered for its repeated-member check.
const (
	fModel = iota
	fMessages
	fStream
	fStreamOptions
	fTemperature
	fTopP
	fPresencePenalty
	fFrequencyPenalty
	fN
	fMaxTokens
	fMaxCompletionTokens
	fTopLogprobs
	fSeed
	fUser
	fReasoningEffort
	fLogprobs
	fParallelToolCalls
)

var chatFastFields = map[string]uint{
	"model": fModel, "messages": fMessages, "stream": fStream, "stream_options": fStreamOptions,
	"temperature": fTemperature, "top_p": fTopP, "presence_penalty": fPresencePenalty,
	"frequency_penalty": fFrequencyPenalty, "n": fN, "max_tokens": fMaxTokens,
	"max_completion_tokens": fMaxCompletionTokens, "top_logprobs": fTopLogprobs, "seed": fSeed, "user": fUser,
	"reasoning_effort": fReasoningEffort, "logprobs": fLogprobs, "parallel_tool_calls": fParallelToolCalls,
}

// fastMessages reads an array of messages with a role, a text (or null) content and a name; other members of
// a message are either ignored by encoding/json too (unknown ones, checked for validity) or send the request to
// encoding/json (tool calls and the rest).
func fastMessages(dst *[]Message, v []byte) bool {
	return rawjson.ReadObjects(dst, v, func(m *Message, k, v []byte) (uint64, bool) {
		switch string(k) {
		case "role":
			return 1, rawjson.ReadString(&m.Role, v)
		case "content":
			return 2, fastContent(&m.Content, v)
		case "name":
			return 4, rawjson.ReadString(&m.Name, v)
		}
		_, modeled := messageFields[string(k)]
		return 0, !modeled && rawjson.Unread(k, v)
	})
}

var messageFields = jsonNames(Message{})

func fastContent(dst *Content, v []byte) bool {
	if string(v) == "null" {
		*dst = Content{Null: true}
		return true
	}
	if plainString(v) {
		// As Content.UnmarshalJSON takes it (bytes as they are, invalid UTF-8 included).
		*dst = Content{Text: string(v[1 : len(v)-1])}
		return true
	}
	var s string
	if !rawjson.ReadString(&s, v) {
		return false
	}
	*dst = Content{Text: s}
	return true
}

func fastStreamOptions(dst **StreamOptions, v []byte) bool {
	if string(v) == "null" {
		*dst = nil
		return true
	}
	o := &StreamOptions{}
	if !rawjson.EachOnce(v, func(k, v []byte) (uint64, bool) {
		if string(k) == "include_usage" {
			return 1, fastBool(&o.IncludeUsage, v)
		}
		return 0, rawjson.Unread(k, v)
	}) {
		return false
	}
	*dst = o
	return true
}

func fastBool(dst *bool, v []byte) bool {
	switch string(v) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	case "null":
	default:
		return false
	}
	return true
}

func fastBoolPtr(dst **bool, v []byte) bool {
	if string(v) == "null" {
		*dst = nil
		return true
	}
	var b bool
	if !fastBool(&b, v) {
		return false
	}
	*dst = &b
	return true
}

func fastFloat(dst **float64, v []byte) bool {
	if string(v) == "null" {
		*dst = nil
		return true
	}
	if !jsonNumber(v) {
		return false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return false
	}
	*dst = &f
	return true
}

// jsonNumber reports whether v is a number as JSON spells one: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func jsonNumber(v []byte) bool {
	i := 0
	if i < len(v) && v[i] == '-' {
		i++
	}
	switch {
	case i < len(v) && v[i] == '0':
		i++
	case i < len(v) && v[i] >= '1' && v[i] <= '9':
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(v) && v[i] == '.' {
		i++
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		start := i
		for i < len(v) && v[i] >= '0' && v[i] <= '9' {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(v)
}

// chatIsZero reports whether r has no field set (a test checks that it looks at every field).
func chatIsZero(r *ChatRequest) bool {
	return r.Model == "" && r.Messages == nil && !r.Stream && r.StreamOptions == nil && r.Temperature == nil &&
		r.TopP == nil && r.N == nil && r.Stop == nil && r.MaxTokens == nil && r.MaxCompletionTokens == nil &&
		r.PresencePenalty == nil && r.FrequencyPenalty == nil && r.LogitBias == nil && r.Logprobs == nil &&
		r.TopLogprobs == nil && r.Seed == nil && r.User == "" && r.Tools == nil && r.ToolChoice == nil &&
		r.ParallelToolCalls == nil && r.ResponseFormat == nil && r.ReasoningEffort == "" && r.Metadata == nil &&
		r.Tags == nil && r.MockResponse == nil && r.Fallbacks == nil && r.NumRetries == nil && r.Timeout == nil &&
		r.Cache == nil && r.Extra == nil && r.Raw == nil
}
