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
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
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
		return atEnd(obj, i+1)
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
			return atEnd(obj, i+1)
		default:
			return ErrSyntax
		}
	}
}

// EachElement calls fn for every element of the array arr, in order, and stops early when fn returns false.
func EachElement(arr []byte, fn func(value []byte) bool) error {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return ErrSyntax
	}
	i = skipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return atEnd(arr, i+1)
	}
	for {
		end, ok := skipValue(arr, i)
		if !ok {
			return ErrSyntax
		}
		if !fn(arr[i:end]) {
			return nil
		}
		i = skipSpace(arr, end)
		if i >= len(arr) {
			return ErrSyntax
		}
		switch arr[i] {
		case ',':
			i = skipSpace(arr, i+1)
		case ']':
			return atEnd(arr, i+1)
		default:
			return ErrSyntax
		}
	}
}

// atEnd reports trailing bytes after the object's closing brace, which make the input something other than one
// object ("{}{}" or "{}x").
func atEnd(obj []byte, i int) error {
	if skipSpace(obj, i) != len(obj) {
		return ErrSyntax
	}
	return nil
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
//
// Keys are compared, and passed to drop, with their escapes decoded, and a later duplicate of a key in set is
// removed: encoding/json takes the last of duplicate members and reads "mod\u0065l" as "model", so otherwise
// the client's value could survive the patch and win upstream.
func Patch(obj []byte, set []Member, drop func(key []byte) bool) ([]byte, error) {
	out := make([]byte, 0, len(obj)+patchGrowth(set))
	out = append(out, '{')
	done := make([]bool, len(set))
	names := make([][]byte, len(set))
	for j := range set {
		names[j] = unescapeKey(set[j].Key)
	}
	first := true
	err := Each(obj, func(k, v []byte) bool {
		name := unescapeKey(k)
		if drop != nil && drop(name) {
			return true
		}
		for j := range set {
			if bytes.Equal(names[j], name) {
				if done[j] {
					return true
				}
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

// unescapeKey returns a raw key with its escapes decoded; keys without a backslash, the usual case, are returned
// as they are, without allocating.
func unescapeKey(k []byte) []byte {
	if bytes.IndexByte(k, '\\') < 0 {
		return k
	}
	q := make([]byte, 0, len(k)+2)
	q = append(append(append(q, '"'), k...), '"')
	var s string
	if json.Unmarshal(q, &s) != nil {
		return k
	}
	return []byte(s)
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
	// The closing quote is the first one not escaped; IndexByte finds candidates many bytes at a time.
	j := i + 1
	for j <= len(b) {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return 0, false
		}
		e := bytes.IndexByte(b[j:j+q], '\\')
		if e < 0 {
			return j + q + 1, true
		}
		j += e + 2 // past the backslash and the byte it escapes
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
		// Stopping at the first byte no literal has, rather than at the next separator, makes "1;..." or
		// `1"b":2` a syntax error instead of one long value.
		j := i
		for j < len(b) && isLiteralByte(b[j]) {
			j++
		}
		if j == i {
			return 0, false
		}
		return j, true
	}
}

func isLiteralByte(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '+' || c == '.'
}

// plainASCII returns how many of s's first bytes, a multiple of eight, are printable ASCII other than a quote
// and a backslash: bytes Unquote keeps as they are.
func plainASCII(s []byte) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := binary.LittleEndian.Uint64(s[i:])
		q, b := x^(ones*'"'), x^(ones*'\\')
		// A high bit is set where a byte is non-ASCII, or (borrowing) at the first byte under 0x20, equal to a
		// quote or equal to a backslash; a borrow may mark the bytes after such a byte too, which is harmless:
		// the word is then read byte by byte.
		if (x|(x-ones*0x20)|(q-ones)&^q|(b-ones)&^b)&highs != 0 {
			break
		}
	}
	return i
}

// Unquote returns the text of the JSON string literal lit (quotes included) as encoding/json decodes it:
// escapes resolved, a lone or malformed UTF-16 surrogate and invalid UTF-8 replaced by U+FFFD. ok is false
// when lit is not a well-formed string literal (an unknown escape, a control character, a stray quote).
func Unquote(lit []byte) (s string, ok bool) {
	if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
		return "", false
	}
	in := lit[1 : len(lit)-1]
	// Most strings have nothing to resolve: return them as they are. Eight bytes at a time while they are plain
	// ASCII, then byte by byte.
	i := plainASCII(in)
	for i < len(in) {
		c := in[i]
		if c == '\\' || c == '"' || c < 0x20 {
			break
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(in[i:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		i += size
	}
	if i == len(in) {
		return string(in), true
	}
	out := make([]byte, i, len(in)+2*utf8.UTFMax)
	copy(out, in[:i])
	for i < len(in) {
		switch c := in[i]; {
		case c == '\\':
			if i+1 >= len(in) {
				return "", false
			}
			switch e := in[i+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r := hex4(in[i+2:])
				if r < 0 {
					return "", false
				}
				i += 6
				if utf16.IsSurrogate(r) {
					if i+1 < len(in) && in[i] == '\\' && in[i+1] == 'u' {
						if r2 := hex4(in[i+2:]); r2 >= 0 {
							if d := utf16.DecodeRune(r, r2); d != unicode.ReplacementChar {
								out = utf8.AppendRune(out, d)
								i += 6
								continue
							}
						}
					}
					r = unicode.ReplacementChar
				}
				out = utf8.AppendRune(out, r)
				continue
			default:
				return "", false
			}
			i += 2
		case c == '"' || c < 0x20:
			return "", false
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, size := utf8.DecodeRune(in[i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, unicode.ReplacementChar)
			} else {
				out = append(out, in[i:i+size]...)
			}
			i += size
		}
	}
	return string(out), true
}

// hex4 reads four hex digits, -1 when b does not start with them.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// Int reads an integer literal (-?(0|[1-9][0-9]*)) that fits in bitSize bits, as encoding/json reads one into an
// integer of that size; ok is false for anything else (a fraction, an exponent, a sign or zero JSON does not
// allow, an overflow).
func Int(v []byte, bitSize int) (int64, bool) {
	d := v
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || d[0] == '0' && len(d) > 1 {
		return 0, false
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(v), 10, bitSize)
	return n, err == nil
}

// PlainKey reports whether a member name cannot match another name case-insensitively in encoding/json's eyes
// (which folds Unicode too) unless it is that name: no escapes, no upper case, nothing outside printable ASCII.
// Decoders that read some members themselves use it to accept the others the way encoding/json ignores them.
func PlainKey(k []byte) bool {
	for _, c := range k {
		if c == '\\' || c >= 'A' && c <= 'Z' || c >= 0x80 || c < 0x20 {
			return false
		}
	}
	return true
}

// Unread reports whether a member a one-pass decoder does not read is one encoding/json would ignore too:
// valid JSON under a plain key (PlainKey) that is none of fields, the decoder's own member names, in another
// case. Names all in lower case need not be listed: a plain key cannot fold onto them unless it is them.
func Unread(k, v []byte, fields ...string) bool {
	if !PlainKey(k) {
		return false
	}
	for _, f := range fields {
		if bytes.EqualFold(k, []byte(f)) {
			return false
		}
	}
	return json.Valid(v)
}

// EachOnce walks the members of obj for a decoder that reads some of them itself: fn returns a bit naming the
// member it read (0 for one it let pass) and whether it could read it. EachOnce reports false, at once, when obj
// is malformed, when fn could not, or when a member's bit comes a second time (encoding/json lets the last of
// repeated members win, which a one-pass decoder would have to undo).
func EachOnce(obj []byte, fn func(k, v []byte) (bit uint64, ok bool)) bool {
	var seen uint64
	ok := true
	err := Each(obj, func(k, v []byte) bool {
		var bit uint64
		bit, ok = fn(k, v)
		if seen&bit != 0 {
			ok = false
		}
		seen |= bit
		return ok
	})
	return err == nil && ok
}

// The readers below decode one value into a Go value as encoding/json would, for decoders that walk an object
// themselves; each reports false where encoding/json might decide otherwise, and the caller then hands the
// whole input to encoding/json.

// ReadString reads a string literal into *dst; null leaves *dst as it is.
func ReadString(dst *string, v []byte) bool {
	if string(v) == "null" {
		return true
	}
	s, ok := Unquote(v)
	if ok {
		*dst = s
	}
	return ok
}

// ReadIntPtr reads an integer literal into a new *T; null sets nil. A fraction, an exponent or a value out of
// T's range is refused, as encoding/json refuses it for an integer.
func ReadIntPtr[T int | int32 | int64](dst **T, v []byte) bool {
	if string(v) == "null" {
		*dst = nil
		return true
	}
	var zero T
	n, ok := Int(v, int(unsafe.Sizeof(zero))*8)
	if ok {
		t := T(n)
		*dst = &t
	}
	return ok
}

// ReadObjects reads an array of objects into *dst (null sets nil), one element at a time: member reads each
// member of an element into it, with EachOnce's contract. Any element that is not an object is refused.
func ReadObjects[T any](dst *[]T, v []byte, member func(e *T, k, v []byte) (bit uint64, ok bool)) bool {
	if string(v) == "null" {
		*dst = nil
		return true
	}
	out := make([]T, 0, 4)
	ok := true
	err := EachElement(v, func(e []byte) bool {
		if len(e) == 0 || e[0] != '{' {
			ok = false
			return false
		}
		out = append(out, *new(T))
		el := &out[len(out)-1]
		ok = EachOnce(e, func(k, v []byte) (uint64, bool) { return member(el, k, v) })
		return ok
	})
	if err != nil || !ok {
		return false
	}
	*dst = out
	return true
}
