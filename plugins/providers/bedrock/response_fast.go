package bedrock

import (
	"github.com/switchyard/gateway/sdk/rawjson"
)

// decodeConverseFast decodes a Converse answer of the usual shape (text blocks, stop reason, token usage)
// member by member, in one pass and without reflection, into cr, which must be zero. It reports false whenever
// encoding/json might decide otherwise: a tool use or reasoning block, a repeated member, a key that could match
// a read one case-insensitively (encoding/json folds case, and Bedrock's names are camelCase), a malformed
// value, a member it does not read that is not valid JSON; the caller then decodes with encoding/json. A fuzz
// test holds the two to the same result. encoding/json was 13% of the Bedrock path's CPU.
func decodeConverseFast(body []byte, cr *converseResponse) bool {
	return rawjson.EachOnce(body, func(k, v []byte) (uint64, bool) {
		switch string(k) {
		case "output":
			return 1, converseOutput(cr, v)
		case "stopReason":
			return 2, rawjson.ReadString(&cr.StopReason, v)
		case "usage":
			return 4, tokenUsageFast(&cr.Usage, v)
		}
		return 0, rawjson.Unread(k, v, "output", "stopReason", "usage")
	})
}

func converseOutput(cr *converseResponse, v []byte) bool {
	if string(v) == "null" {
		return true
	}
	return rawjson.EachOnce(v, func(k, v []byte) (uint64, bool) {
		if string(k) != "message" {
			return 0, rawjson.Unread(k, v, "message")
		}
		if string(v) == "null" {
			cr.Output.Message = nil
			return 1, true
		}
		m := &struct {
			Role    string          `json:"role"`
			Content []responseBlock `json:"content"`
		}{}
		cr.Output.Message = m
		return 1, rawjson.EachOnce(v, func(k, v []byte) (uint64, bool) {
			switch string(k) {
			case "role":
				return 1, rawjson.ReadString(&m.Role, v)
			case "content":
				return 2, rawjson.ReadObjects(&m.Content, v, textBlock)
			}
			return 0, rawjson.Unread(k, v, "role", "content")
		})
	})
}

// textBlock reads a text block; any other kind of block goes to encoding/json.
func textBlock(b *responseBlock, k, v []byte) (uint64, bool) {
	if string(k) != "text" {
		return 0, rawjson.Unread(k, v, "text", "toolUse", "reasoningContent")
	}
	if string(v) == "null" {
		b.Text = nil
		return 1, true
	}
	var s string
	b.Text = &s
	return 1, rawjson.ReadString(&s, v)
}

func tokenUsageFast(dst **tokenUsage, v []byte) bool {
	if string(v) == "null" {
		*dst = nil
		return true
	}
	u := &tokenUsage{}
	*dst = u
	return rawjson.EachOnce(v, func(k, v []byte) (uint64, bool) {
		switch string(k) {
		case "inputTokens":
			return 1, readInt(&u.InputTokens, v)
		case "outputTokens":
			return 2, readInt(&u.OutputTokens, v)
		case "totalTokens":
			return 4, readInt(&u.TotalTokens, v)
		case "cacheReadInputTokens":
			return 8, rawjson.ReadIntPtr(&u.CacheReadInputTokens, v)
		case "cacheWriteInputTokens":
			return 16, rawjson.ReadIntPtr(&u.CacheWriteInputTokens, v)
		}
		return 0, rawjson.Unread(k, v, "inputTokens", "outputTokens", "totalTokens", "cacheReadInputTokens",
			"cacheWriteInputTokens")
	})
}

// readInt reads an integer literal into an int; null leaves it as it is, as encoding/json does.
func readInt(dst *int, v []byte) bool {
	if string(v) == "null" {
		return true
	}
	n, ok := rawjson.Int(v, 64)
	*dst = int(n)
	return ok
}
