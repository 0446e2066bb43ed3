package anthropic

import (
	"encoding/json"

	"github.com/switchyard/gateway/sdk/rawjson"
)

// decodeAnswerFast decodes a Messages API answer of the usual shape (text, tool_use and thinking blocks, usage
// counts) member by member, in one pass and without reflection, into w, which must be zero. It reports false
// whenever encoding/json might decide otherwise: an error answer, a repeated member, a key in another case
// (encoding/json matches keys case-insensitively), a malformed value, a member it does not read that is not
// valid JSON; the caller then decodes with encoding/json. A fuzz test holds the two to the same result.
func decodeAnswerFast(body []byte, w *wireResponse) bool {
	return rawjson.EachOnce(body, func(k, v []byte) (uint64, bool) {
		switch string(k) {
		case "id":
			return 1, rawjson.ReadString(&w.ID, v)
		case "type":
			return 2, rawjson.ReadString(&w.Type, v)
		case "model":
			return 4, rawjson.ReadString(&w.Model, v)
		case "stop_reason":
			return 8, rawjson.ReadString(&w.StopReason, v)
		case "stop_sequence":
			if string(v) == "null" {
				w.StopSequence = nil
				return 16, true
			}
			var s string
			ok := rawjson.ReadString(&s, v)
			w.StopSequence = &s
			return 16, ok
		case "content":
			return 32, blocks(&w.Content, v)
		case "usage":
			return 64, usage(&w.Usage, v)
		case "error":
			return 0, false
		}
		return 0, rawjson.Unread(k, v)
	})
}

func blocks(dst *[]contentBlock, v []byte) bool {
	return rawjson.ReadObjects(dst, v, func(b *contentBlock, k, v []byte) (uint64, bool) {
		switch string(k) {
		case "type":
			return 1, rawjson.ReadString(&b.Type, v)
		case "text":
			return 2, rawjson.ReadString(&b.Text, v)
		case "id":
			return 4, rawjson.ReadString(&b.ID, v)
		case "name":
			return 8, rawjson.ReadString(&b.Name, v)
		case "thinking":
			return 16, rawjson.ReadString(&b.Thinking, v)
		case "input":
			if !json.Valid(v) {
				return 32, false
			}
			b.Input = append(json.RawMessage(nil), v...) // null too, as encoding/json keeps it
			return 32, true
		}
		return 0, rawjson.Unread(k, v)
	})
}

func usage(dst **WireUsage, v []byte) bool {
	if string(v) == "null" {
		*dst = nil
		return true
	}
	u := &WireUsage{}
	if !rawjson.EachOnce(v, func(k, v []byte) (uint64, bool) {
		switch string(k) {
		case "input_tokens":
			return 1, rawjson.ReadIntPtr(&u.InputTokens, v)
		case "output_tokens":
			return 2, rawjson.ReadIntPtr(&u.OutputTokens, v)
		case "cache_creation_input_tokens":
			return 4, rawjson.ReadIntPtr(&u.CacheCreationInputTokens, v)
		case "cache_read_input_tokens":
			return 8, rawjson.ReadIntPtr(&u.CacheReadInputTokens, v)
		case "output_tokens_details":
			return 16, outputTokensDetails(u, v)
		}
		return 0, rawjson.Unread(k, v)
	}) {
		return false
	}
	*dst = u
	return true
}

func outputTokensDetails(u *WireUsage, v []byte) bool {
	if string(v) == "null" {
		u.OutputTokensDetails = nil
		return true
	}
	d := &struct {
		ThinkingTokens *int `json:"thinking_tokens"`
	}{}
	u.OutputTokensDetails = d
	return rawjson.EachOnce(v, func(k, v []byte) (uint64, bool) {
		if string(k) == "thinking_tokens" {
			return 1, rawjson.ReadIntPtr(&d.ThinkingTokens, v)
		}
		return 0, rawjson.Unread(k, v)
	})
}
