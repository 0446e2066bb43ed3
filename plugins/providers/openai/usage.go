package openai

import (
	"encoding/json"
	"errors"

	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// The usage object is the one part of an OpenAI-compatible answer the gateway reads on every request. It is
// read here member by member, without encoding/json's reflection: 0.3 µs instead of 4 µs for a typical object,
// which was 5% of the gateway's CPU per non-streamed request. Anything this reader is not sure to read exactly as
// encoding/json would (a number that is not a plain integer, a key in another case or with escapes, which
// encoding/json matches case-insensitively) goes to encoding/json instead, so the result, or the error, is the
// same as before.

// answerUsage checks that an answer is a whole JSON object and reads its usage (the standard top-level "usage",
// or Groq's "x_groq.usage"), the one part the gateway needs on every request; the rest is decoded only if
// something asks (sdk.ChatResponse.Decoded). The check walks the object's framing (balanced brackets, closed
// strings, nothing after the end) in the same pass, which catches truncated and non-JSON answers at a fraction
// of a full validation's cost; the bytes are the upstream's to get right.
func answerUsage(body []byte) (*sdk.Usage, error) {
	var usage, groq []byte
	if rawjson.Each(body, func(k, v []byte) bool {
		switch string(k) {
		case "usage":
			if usage == nil {
				usage = v
			}
		case "x_groq":
			if groq == nil {
				groq = v
			}
		}
		return true
	}) != nil {
		return nil, errors.New("the upstream answer is not a JSON object")
	}
	return usageFrom(usage, groq)
}

// usageOf reads a stream chunk's usage, as answerUsage does.
func usageOf(chunk []byte) (*sdk.Usage, error) {
	return usageFrom(rawjson.Get(chunk, "usage"), rawjson.Get(chunk, "x_groq"))
}

func usageFrom(usage, groq []byte) (*sdk.Usage, error) {
	if isNull(usage) && len(groq) > 0 && groq[0] == '{' {
		usage = rawjson.Get(groq, "usage")
	}
	if isNull(usage) {
		return nil, nil
	}
	if u, ok := readUsage(usage); ok {
		return u, nil
	}
	var u sdk.Usage
	if err := json.Unmarshal(usage, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

func isNull(v []byte) bool { return v == nil || string(v) == "null" }

// readUsage reads a usage object whose members are plain integers, null or the two details objects; ok is false
// when encoding/json must decide.
func readUsage(raw []byte) (*sdk.Usage, bool) {
	u := &sdk.Usage{}
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
			d := &sdk.PromptTokensDetails{}
			ok = readMembers(v, func(k, v []byte) bool {
				switch string(k) {
				case "cached_tokens":
					return readInt(&d.CachedTokens, v)
				case "audio_tokens":
					return readInt(&d.AudioTokens, v)
				case "cache_creation_tokens":
					return readInt(&d.CacheCreationTokens, v)
				}
				return plainKey(k)
			})
			u.PromptTokensDetails = d
		case "completion_tokens_details":
			if string(v) == "null" {
				u.CompletionTokensDetails = nil
				return true
			}
			d := &sdk.CompletionTokensDetails{}
			ok = readMembers(v, func(k, v []byte) bool {
				switch string(k) {
				case "reasoning_tokens":
					return readInt(&d.ReasoningTokens, v)
				case "audio_tokens":
					return readInt(&d.AudioTokens, v)
				}
				return plainKey(k)
			})
			u.CompletionTokensDetails = d
		default:
			ok = plainKey(k)
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

// plainKey reports whether an unknown key cannot be one of the known ones in encoding/json's eyes: it has no
// escapes and no upper-case letters (encoding/json matches keys case-insensitively).
func plainKey(k []byte) bool {
	for _, c := range k {
		if c == '\\' || c >= 'A' && c <= 'Z' || c >= 0x80 {
			return false
		}
	}
	return true
}

// readInt reads a plain integer literal into *dst (null leaves it unchanged, as encoding/json does).
func readInt(dst *int, v []byte) bool {
	if string(v) == "null" {
		return true
	}
	neg := len(v) > 0 && v[0] == '-'
	digits := v
	if neg {
		digits = v[1:]
	}
	if len(digits) == 0 || len(digits) > 18 || (digits[0] == '0' && len(digits) > 1) {
		return false
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	*dst = n
	return true
}
