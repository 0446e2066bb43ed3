package anthropic

import (
	"encoding/json"
	"strconv"

	"github.com/switchyard/gateway/sdk/rawjson"
)

// decodeAnswerFast decodes a Messages API answer of the usual shape (text, tool_use and thinking blocks, usage
// counts) member by member, in one pass and without reflection, into w, which must be zero. It reports false
// whenever encoding/json might decide otherwise: an error answer, a repeated member, a key in another case
// (encoding/json matches keys case-insensitively), a malformed value, a member it does not read that is not
// valid JSON; the caller then decodes with encoding/json. A fuzz test holds the two to the same result.
func decodeAnswerFast(body []byte, w *wireResponse) bool {
	var seen uint16
	ok := true
	err := rawjson.Each(body, func(k, v []byte) bool {
		var bit uint16
		switch string(k) {
		case "id":
			bit, ok = 1, str(&w.ID, v)
		case "type":
			bit, ok = 2, str(&w.Type, v)
		case "model":
			bit, ok = 4, str(&w.Model, v)
		case "stop_reason":
			bit, ok = 8, str(&w.StopReason, v)
		case "stop_sequence":
			bit = 16
			if string(v) == "null" {
				w.StopSequence = nil
			} else {
				var s string
				if ok = str(&s, v); ok {
					w.StopSequence = &s
				}
			}
		case "content":
			bit, ok = 32, blocks(&w.Content, v)
		case "usage":
			bit, ok = 64, usage(&w.Usage, v)
		case "error":
			ok = false
		default:
			ok = other(k, v)
		}
		if seen&bit != 0 {
			ok = false
		}
		seen |= bit
		return ok
	})
	return err == nil && ok
}

func blocks(dst *[]contentBlock, v []byte) bool {
	if string(v) == "null" {
		*dst = nil
		return true
	}
	out := make([]contentBlock, 0, 2)
	ok := true
	err := rawjson.EachElement(v, func(e []byte) bool {
		if len(e) == 0 || e[0] != '{' {
			ok = false
			return false
		}
		var b contentBlock
		var seen uint8
		err := rawjson.Each(e, func(k, v []byte) bool {
			var bit uint8
			switch string(k) {
			case "type":
				bit, ok = 1, str(&b.Type, v)
			case "text":
				bit, ok = 2, str(&b.Text, v)
			case "id":
				bit, ok = 4, str(&b.ID, v)
			case "name":
				bit, ok = 8, str(&b.Name, v)
			case "thinking":
				bit, ok = 16, str(&b.Thinking, v)
			case "input":
				bit = 32
				if ok = json.Valid(v); ok {
					b.Input = append(json.RawMessage(nil), v...) // null too, as encoding/json keeps it
				}
			default:
				ok = other(k, v)
			}
			if seen&bit != 0 {
				ok = false
			}
			seen |= bit
			return ok
		})
		if err != nil {
			ok = false
		}
		out = append(out, b)
		return ok
	})
	if err != nil || !ok {
		return false
	}
	*dst = out
	return true
}

func usage(dst **WireUsage, v []byte) bool {
	if string(v) == "null" {
		*dst = nil
		return true
	}
	u := &WireUsage{}
	var seen uint8
	ok := true
	err := rawjson.Each(v, func(k, v []byte) bool {
		var bit uint8
		switch string(k) {
		case "input_tokens":
			bit, ok = 1, intPtr(&u.InputTokens, v)
		case "output_tokens":
			bit, ok = 2, intPtr(&u.OutputTokens, v)
		case "cache_creation_input_tokens":
			bit, ok = 4, intPtr(&u.CacheCreationInputTokens, v)
		case "cache_read_input_tokens":
			bit, ok = 8, intPtr(&u.CacheReadInputTokens, v)
		case "output_tokens_details":
			ok = false
		default:
			ok = other(k, v)
		}
		if seen&bit != 0 {
			ok = false
		}
		seen |= bit
		return ok
	})
	if err != nil || !ok {
		return false
	}
	*dst = u
	return true
}

// other accepts a member this decoder does not read, as encoding/json ignores it: valid JSON under a key that
// cannot match a read one case-insensitively.
func other(k, v []byte) bool { return rawjson.PlainKey(k) && json.Valid(v) }

func str(dst *string, v []byte) bool {
	if string(v) == "null" {
		return true
	}
	s, ok := rawjson.Unquote(v)
	if ok {
		*dst = s
	}
	return ok
}

// intPtr reads an integer as encoding/json reads one into *int (null sets nil).
func intPtr(dst **int, v []byte) bool {
	if string(v) == "null" {
		*dst = nil
		return true
	}
	n, ok := rawjson.Int(v, strconv.IntSize)
	if ok {
		i := int(n)
		*dst = &i
	}
	return ok
}
