// Package rawjson reads and edits the top-level members of a JSON object without decoding the values.
//
// A gateway forwards most request bodies almost unchanged: it replaces the model name, adds a stream option and
// drops a few gateway-only fields. Decoding and re-encoding the whole body for that costs time and loses what the
// gateway does not model (key order, number spelling, fields it has never heard of). These helpers walk the
// object once, slicing members out of the original bytes.
//
// The input must be valid JSON (check with encoding/json.Valid first when it comes from outside); on invalid
// input the functions return ErrSyntax rather than panicking.
package rawjson

import (
	"bytes"
	"encoding/json"
	"errors"
)

// ErrSyntax reports input that is not a JSON object or is malformed.
var ErrSyntax = errors.New("rawjson: not a well-formed JSON object")

// Member is one top-level member of an object. Key is the raw key without quotes (escapes left as they are);
// Value is the raw value.
type Member struct {
	Key   []byte
	Value []byte
}

// Each calls fn for every top-level member of obj, in order, and stops early when fn returns false.
func Each(obj []byte, fn func(key, value []byte) bool) error {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return ErrSyntax
	}
	i = skipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return ErrSyntax
		}
		end, ok := skipString(obj, i)
		if !ok {
			return ErrSyntax
		}
		key := obj[i+1 : end-1]
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return ErrSyntax
		}
		i = skipSpace(obj, i+1)
		vend, ok := skipValue(obj, i)
		if !ok {
			return ErrSyntax
		}
		if !fn(key, obj[i:vend]) {
			return nil
		}
		i = skipSpace(obj, vend)
		if i >= len(obj) {
			return ErrSyntax
		}
		switch obj[i] {
		case ',':
			i = skipSpace(obj, i+1)
		case '}':
			return nil
		default:
			return ErrSyntax
		}
	}
}

// Get returns the raw value of the top-level member named key, or nil when there is none.
func Get(obj []byte, key string) []byte {
	var out []byte
	_ = Each(obj, func(k, v []byte) bool {
		if string(k) == key {
			out = v
			return false
		}
		return true
	})
	return out
}

// Patch returns a copy of obj in which the members named in set have the given raw values (replaced in place
// when present, appended in the order given otherwise) and members for which drop returns true are removed.
// set values must be valid JSON; a nil drop removes nothing.
func Patch(obj []byte, set []Member, drop func(key []byte) bool) ([]byte, error) {
	out := make([]byte, 0, len(obj)+patchGrowth(set))
	out = append(out, '{')
	done := make([]bool, len(set))
	first := true
	err := Each(obj, func(k, v []byte) bool {
		if drop != nil && drop(k) {
			return true
		}
		for j := range set {
			if !done[j] && bytes.Equal(set[j].Key, k) {
				v, done[j] = set[j].Value, true
				break
			}
		}
		out = appendMember(out, k, v, first)
		first = false
		return true
	})
	if err != nil {
		return nil, err
	}
	for j := range set {
		if !done[j] {
			out = appendMember(out, set[j].Key, set[j].Value, first)
			first = false
		}
	}
	return append(out, '}'), nil
}

// String returns a JSON string literal for s.
func String(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

func patchGrowth(set []Member) int {
	n := 0
	for _, m := range set {
		n += len(m.Key) + len(m.Value) + 4
	}
	return n
}

func appendMember(out, k, v []byte, first bool) []byte {
	if !first {
		out = append(out, ',')
	}
	out = append(out, '"')
	out = append(out, k...)
	out = append(out, '"', ':')
	return append(out, v...)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := skipString(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	default: // number, true, false, null
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if j == i {
					return 0, false
				}
				return j, true
			}
			j++
		}
		if j == i {
			return 0, false
		}
		return j, true
	}
}
