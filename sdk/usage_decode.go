package sdk

import (
	"encoding/json"
	"strconv"

	"github.com/switchyard/gateway/sdk/rawjson"
)

// DecodeUsage decodes an OpenAI-shaped usage object as encoding/json would, with the same result or the same
// error. The usage object is the one part of an answer the gateway reads on every request (from the upstream's
// answer, from a cached answer), so it is read member by member without reflection: 0.3 µs instead of 2 to 4 µs
// for a typical object. Anything this reader is not sure to read exactly as encoding/json would (a number that is
// not a plain integer, a key in another case or with escapes, which encoding/json matches case-insensitively)
// goes to encoding/json instead.
func DecodeUsage(raw []byte) (*Usage, error) {
	if u, ok := readUsage(raw); ok {
		return u, nil
	}
	var u Usage
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// readUsage reads a usage object whose members are plain integers, null or the two details objects; ok is false
// when encoding/json must decide.
func readUsage(raw []byte) (*Usage, bool) {
	u := &Usage{}
	ok := true
	err := rawjson.Each(raw, func(k, v []byte) bool {
		switch string(k) {
		case "prompt_tokens":
			ok = readInt(&u.PromptTokens, v)
		case "completion_tokens":
			ok = readInt(&u.CompletionTokens, v)
		case "total_tokens":
			ok = readInt(&u.TotalTokens, v)
		case "prompt_tokens_details":
			if string(v) == "null" {
				u.PromptTokensDetails = nil
				return true
			}
			d := &PromptTokensDetails{}
			ok = readMembers(v, func(k, v []byte) bool {
				switch string(k) {
				case "cached_tokens":
					return readInt(&d.CachedTokens, v)
				case "audio_tokens":
					return readInt(&d.AudioTokens, v)
				case "cache_creation_tokens":
					return readInt(&d.CacheCreationTokens, v)
				}
				return rawjson.PlainKey(k)
			})
			u.PromptTokensDetails = d
		case "completion_tokens_details":
			if string(v) == "null" {
				u.CompletionTokensDetails = nil
				return true
			}
			d := &CompletionTokensDetails{}
			ok = readMembers(v, func(k, v []byte) bool {
				switch string(k) {
				case "reasoning_tokens":
					return readInt(&d.ReasoningTokens, v)
				case "audio_tokens":
					return readInt(&d.AudioTokens, v)
				}
				return rawjson.PlainKey(k)
			})
			u.CompletionTokensDetails = d
		default:
			ok = rawjson.PlainKey(k)
		}
		return ok
	})
	return u, err == nil && ok
}

// readMembers calls fn for each member of the object v; false when v is not an object or fn refused a member.
func readMembers(v []byte, fn func(k, v []byte) bool) bool {
	ok := true
	err := rawjson.Each(v, func(k, v []byte) bool {
		ok = fn(k, v)
		return ok
	})
	return err == nil && ok
}

// readInt reads a plain integer literal into *dst (null leaves it unchanged, as encoding/json does).
func readInt(dst *int, v []byte) bool {
	if string(v) == "null" {
		return true
	}
	n, ok := rawjson.Int(v, strconv.IntSize)
	if ok {
		*dst = int(n)
	}
	return ok
}
