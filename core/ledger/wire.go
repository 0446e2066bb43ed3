package ledger

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchyard/gateway/core/store"
)

// castagnoli is the CRC-32 table of frames and the checkpoint.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	frameHeaderLen = 8
	maxPayload     = 16 << 20
	// maxDepth bounds the nesting of metadata (objects and arrays), as
	// encoding/json's decoder did for the JSON payload; it also stops a
	// map that contains itself.
	maxDepth = 10000
)

// Tags of the metadata values in a binary payload (see doc.go).
const (
	tagNull byte = iota
	tagFalse
	tagTrue
	tagString
	tagNumber
	tagObject
	tagArray
)

var errTooDeep = errors.New("metadata nested too deeply")

// snapshot returns the record as the sink will receive it, whichever way it
// gets there (from memory, or decoded from a segment): a copy that shares
// nothing mutable with r, so the caller may reuse r's maps and slices. In
// it every string is valid UTF-8 without NUL (each invalid byte and each
// NUL becomes U+FFFD, as the JSON payload did: PostgreSQL stores neither NUL
// in text nor \u0000 in jsonb, and a record it rejects would be retried
// forever, holding back every record after it), times are in UTC, empty
// Metadata and RequestTags are nil, and Metadata holds only what
// encoding/json decodes with UseNumber: nil, bool, string, json.Number (with
// the exact text encoding/json writes for the original number),
// map[string]any and []any. It fails for what the JSON payload could not
// hold either: a Spend or metadata number that is NaN or infinite, a year
// outside 0..9999, a metadata value encoding/json cannot marshal (a cycle
// among them), metadata nested more than maxDepth deep (which the JSON
// payload took but could not read back) and a payload over the size limit.
func snapshot(r *store.SpendLog) (store.SpendLog, error) {
	out, _, err := snapshotSized(r)
	return out, err
}

// snapshotSized is snapshot, also returning the size of the payload as
// added up while copying: exact, except that metadata keys merged by
// cleaning are counted more than once.
func snapshotSized(r *store.SpendLog) (store.SpendLog, int, error) {
	out := store.SpendLog{
		RequestID: clean(r.RequestID), APIKey: clean(r.APIKey), KeyAlias: clean(r.KeyAlias),
		TeamID: clean(r.TeamID), UserID: clean(r.UserID), EndUser: clean(r.EndUser),
		ModelGroup: clean(r.ModelGroup), Model: clean(r.Model), DeploymentID: clean(r.DeploymentID),
		Provider: clean(r.Provider), CallType: clean(r.CallType), PromptTokens: r.PromptTokens,
		CompletionTokens: r.CompletionTokens, TotalTokens: r.TotalTokens, CachedTokens: r.CachedTokens,
		Spend: r.Spend, LatencyMS: r.LatencyMS, Status: clean(r.Status), CacheHit: r.CacheHit,
	}
	if math.IsNaN(r.Spend) || math.IsInf(r.Spend, 0) {
		return store.SpendLog{}, 0, fmt.Errorf("encode spend record: spend is %v", r.Spend)
	}
	var err error
	if out.StartTime, err = wireTime(r.StartTime); err != nil {
		return store.SpendLog{}, 0, err
	}
	if out.EndTime, err = wireTime(r.EndTime); err != nil {
		return store.SpendLog{}, 0, err
	}
	// c.size adds up the payload as the fields are copied; payloadSize
	// would walk the metadata once more.
	c := cleaner{size: fixedSize + len(out.RequestID) + len(out.APIKey) + len(out.KeyAlias) + len(out.TeamID) +
		len(out.UserID) + len(out.EndUser) + len(out.ModelGroup) + len(out.Model) + len(out.DeploymentID) +
		len(out.Provider) + len(out.CallType) + len(out.Status)}
	if len(r.Metadata) > 0 {
		if out.Metadata, err = c.object(r.Metadata, 1); err != nil {
			return store.SpendLog{}, 0, fmt.Errorf("encode spend record: metadata: %w", err)
		}
		c.size -= 5 // object counts its tag and count; the record's metadata has only a count
	}
	if len(r.RequestTags) > 0 {
		out.RequestTags = make([]string, len(r.RequestTags))
		for i, t := range r.RequestTags {
			out.RequestTags[i] = clean(t)
			c.size += 4 + len(out.RequestTags[i])
		}
	}
	if c.size > maxPayload {
		// c.size is exact unless keys merged (objectSorted): count again.
		n, err := payloadSize(&out)
		if err != nil {
			return store.SpendLog{}, 0, fmt.Errorf("encode spend record: %w", err)
		}
		if n > maxPayload {
			return store.SpendLog{}, 0, fmt.Errorf("encode spend record: %d bytes exceed the limit of %d", n, maxPayload)
		}
		c.size = n
	}
	return out, c.size, nil
}

// wireTime returns t as it reads back: the same instant in UTC, without
// monotonic clock reading. The zero time stays the zero time.
func wireTime(t time.Time) (time.Time, error) {
	if t.IsZero() {
		return time.Time{}, nil
	}
	if y := t.Year(); y < 0 || y > 9999 { // what the JSON payload (RFC 3339) could hold
		return time.Time{}, fmt.Errorf("encode spend record: year %d outside of range [0,9999]", y)
	}
	return time.Unix(t.Unix(), int64(t.Nanosecond())).UTC(), nil
}

// clean returns s with each NUL and each byte that is not part of valid
// UTF-8 replaced by U+FFFD (what encoding/json and replaceNUL did); s itself
// when there is none, which is the common case and costs no allocation.
func clean(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2*utf8.UTFMax)
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c == 0 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// isClean reports whether s is valid UTF-8 without NUL. ASCII text, the
// common case, is checked 8 bytes at a time.
func isClean(s string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		// A byte with its high bit set (not ASCII) or a zero byte (which
		// borrows in x-ones) sets a high bit; either needs a closer look.
		if (x|(x-ones))&highs != 0 {
			return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == 0 || c >= utf8.RuneSelf {
			return strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
		}
	}
	return true
}

// cleaner converts metadata (see snapshot) and adds up the size of its
// binary encoding.
type cleaner struct{ size int }

// value returns v as encoding/json would decode it (with UseNumber) after
// encoding it. The common types are converted here; anything else goes through
// encoding/json, exactly as before.
func (c *cleaner) value(v any, depth int) (any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	switch x := v.(type) {
	case nil, bool:
		c.size++
		return v, nil
	case string:
		s := clean(x)
		c.size += 1 + 4 + len(s)
		if len(s) != len(x) || s != x {
			return s, nil
		}
		return v, nil // already boxed: no allocation
	case json.Number:
		if x == "" {
			c.size += 1 + 4 + 1
			return json.Number("0"), nil // what encoding/json writes for it
		}
		if !isValidNumber(string(x)) {
			return nil, fmt.Errorf("json: invalid number literal %q", string(x))
		}
		c.size += 1 + 4 + len(x)
		return v, nil
	case float64:
		return c.number(jsonFloat(x, 64))
	case float32:
		return c.number(jsonFloat(float64(x), 32))
	case int:
		return c.number(json.Number(strconv.FormatInt(int64(x), 10)), nil)
	case int8:
		return c.number(json.Number(strconv.FormatInt(int64(x), 10)), nil)
	case int16:
		return c.number(json.Number(strconv.FormatInt(int64(x), 10)), nil)
	case int32:
		return c.number(json.Number(strconv.FormatInt(int64(x), 10)), nil)
	case int64:
		return c.number(json.Number(strconv.FormatInt(x, 10)), nil)
	case uint:
		return c.number(json.Number(strconv.FormatUint(uint64(x), 10)), nil)
	case uint8:
		return c.number(json.Number(strconv.FormatUint(uint64(x), 10)), nil)
	case uint16:
		return c.number(json.Number(strconv.FormatUint(uint64(x), 10)), nil)
	case uint32:
		return c.number(json.Number(strconv.FormatUint(uint64(x), 10)), nil)
	case uint64:
		return c.number(json.Number(strconv.FormatUint(x, 10)), nil)
	case map[string]any:
		if x == nil {
			c.size++
			return nil, nil // JSON null
		}
		return c.object(x, depth+1)
	case []any:
		if x == nil {
			c.size++
			return nil, nil
		}
		c.size += 1 + 4
		out := make([]any, len(x))
		for i, e := range x {
			v, err := c.value(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case []string:
		if x == nil {
			c.size++
			return nil, nil
		}
		c.size += 1 + 4
		out := make([]any, len(x))
		for i, s := range x {
			s = clean(s)
			c.size += 1 + 4 + len(s)
			out[i] = s
		}
		return out, nil
	default:
		out, err := viaJSON(v)
		if err != nil {
			return nil, err
		}
		n, err := valueSize(out, depth) // also bounds its nesting
		c.size += n
		return out, err
	}
}

func (c *cleaner) number(n json.Number, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	c.size += 1 + 4 + len(n)
	return n, nil
}

// object copies m with value applied to its keys and values. Two keys that
// clean to the same text are one key in JSON: as encoding/json wrote keys
// sorted and its decoder kept the last, the greater original key wins.
func (c *cleaner) object(m map[string]any, depth int) (map[string]any, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	size := c.size
	c.size += 1 + 4
	out := make(map[string]any, len(m))
	for k, v := range m {
		if !isClean(k) {
			c.size = size
			return c.objectSorted(m, depth)
		}
		v, err := c.value(v, depth)
		if err != nil {
			return nil, err
		}
		c.size += 4 + len(k)
		out[k] = v
	}
	return out, nil
}

// objectSorted is object for keys that need cleaning. The size it adds
// counts merged keys more than once, an upper bound.
func (c *cleaner) objectSorted(m map[string]any, depth int) (map[string]any, error) {
	c.size += 1 + 4
	out := make(map[string]any, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v, err := c.value(m[k], depth)
		if err != nil {
			return nil, err
		}
		k = clean(k)
		c.size += 4 + len(k)
		out[k] = v
	}
	return out, nil
}

// jsonFloat returns f as encoding/json writes it, as a json.Number.
func jsonFloat(f float64, bits int) (json.Number, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("json: unsupported value: %s", strconv.FormatFloat(f, 'g', -1, bits))
	}
	// The format of encoding/json's floatEncoder (ES6 number to string).
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 {
		if bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	var a [32]byte
	b := strconv.AppendFloat(a[:0], f, format, -1, bits)
	if format == 'e' { // e-09 becomes e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return json.Number(b), nil
}

// viaJSON converts a metadata value of any other type the way the JSON
// payload did: marshal, replace NUL, decode with UseNumber. The result is
// made of the types cleaner.value produces.
func viaJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	replaceNUL(b)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// isValidNumber reports whether s is a JSON number; the grammar check
// encoding/json applies to json.Number values (RFC 7159, section 6).
func isValidNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		s = s[1:]
		if s == "" {
			return false
		}
	}
	switch {
	default:
		return false
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			s = s[1:]
			if s == "" {
				return false
			}
		}
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	return s == ""
}

// payloadSize returns the size of the binary payload of r, a snapshot. It
// fails for a metadata value snapshot does not produce and for nesting
// deeper than the decoder accepts (which snapshot has refused already).
func payloadSize(r *store.SpendLog) (int, error) {
	n := fixedSize + len(r.RequestID) + len(r.APIKey) + len(r.KeyAlias) + len(r.TeamID) + len(r.UserID) +
		len(r.EndUser) + len(r.ModelGroup) + len(r.Model) + len(r.DeploymentID) + len(r.Provider) +
		len(r.CallType) + len(r.Status)
	for k, v := range r.Metadata {
		m, err := valueSize(v, 1)
		if err != nil {
			return 0, err
		}
		n += 4 + len(k) + m
	}
	for _, t := range r.RequestTags {
		n += 4 + len(t)
	}
	return n, nil
}

// fixedSize is the size of a payload whose strings are all empty and which
// has neither metadata nor tags: 12 string lengths, 5 int64, the spend, 2
// times, cache_hit and 2 counts.
const fixedSize = 12*4 + 5*8 + 8 + 2*12 + 1 + 2*4

func valueSize(v any, depth int) (int, error) {
	if depth > maxDepth {
		return 0, errTooDeep
	}
	switch x := v.(type) {
	case nil, bool:
		return 1, nil
	case string:
		return 1 + 4 + len(x), nil
	case json.Number:
		return 1 + 4 + len(x), nil
	case map[string]any:
		n := 1 + 4
		for k, e := range x {
			m, err := valueSize(e, depth+1)
			if err != nil {
				return 0, err
			}
			n += 4 + len(k) + m
		}
		return n, nil
	case []any:
		n := 1 + 4
		for _, e := range x {
			m, err := valueSize(e, depth+1)
			if err != nil {
				return 0, err
			}
			n += m
		}
		return n, nil
	default:
		return 0, fmt.Errorf("metadata value of type %T not converted", v)
	}
}

// encodeFrame returns the complete frame (header and binary payload) of r.
// It snapshots r, so the caller may reuse r's maps and slices afterwards.
func encodeFrame(r *store.SpendLog) ([]byte, error) {
	s, err := snapshot(r)
	if err != nil {
		return nil, err
	}
	return appendFrame(nil, &s), nil
}

// appendFrame appends the frame of r, a snapshot, to dst.
func appendFrame(dst []byte, r *store.SpendLog) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, frameHeaderLen)...)
	dst = appendPayload(dst, r)
	p := dst[start+frameHeaderLen:]
	binary.BigEndian.PutUint32(dst[start:], uint32(len(p)))
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(p, castagnoli))
	return dst
}

// appendPayload appends the binary payload of r, a snapshot (doc.go
// describes the format).
func appendPayload(b []byte, r *store.SpendLog) []byte {
	for _, s := range [...]string{r.RequestID, r.APIKey, r.KeyAlias, r.TeamID, r.UserID, r.EndUser,
		r.ModelGroup, r.Model, r.DeploymentID, r.Provider, r.CallType} {
		b = appendString(b, s)
	}
	for _, x := range [...]int64{r.PromptTokens, r.CompletionTokens, r.TotalTokens, r.CachedTokens} {
		b = binary.BigEndian.AppendUint64(b, uint64(x))
	}
	b = binary.BigEndian.AppendUint64(b, math.Float64bits(r.Spend))
	b = appendTime(b, r.StartTime)
	b = appendTime(b, r.EndTime)
	b = binary.BigEndian.AppendUint64(b, uint64(r.LatencyMS))
	b = appendString(b, r.Status)
	if r.CacheHit {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Metadata)))
	for k, v := range r.Metadata {
		b = appendString(b, k)
		b = appendValue(b, v)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.RequestTags)))
	for _, t := range r.RequestTags {
		b = appendString(b, t)
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case bool:
		if x {
			return append(b, tagTrue)
		}
		return append(b, tagFalse)
	case string:
		return appendString(append(b, tagString), x)
	case json.Number:
		return appendString(append(b, tagNumber), string(x))
	case map[string]any:
		b = binary.BigEndian.AppendUint32(append(b, tagObject), uint32(len(x)))
		for k, e := range x {
			b = appendString(b, k)
			b = appendValue(b, e)
		}
		return b
	case []any:
		b = binary.BigEndian.AppendUint32(append(b, tagArray), uint32(len(x)))
		for _, e := range x {
			b = appendValue(b, e)
		}
		return b
	default: // nil; snapshot produces no other type
		return append(b, tagNull)
	}
}

// decodePayload turns a binary payload (segment format 2) back into a
// record, equal to the snapshot it was encoded from. Its strings share one
// copy of p.
func decodePayload(p []byte) (store.SpendLog, error) {
	d := decoder{s: string(p)}
	var r store.SpendLog
	for _, f := range [...]*string{&r.RequestID, &r.APIKey, &r.KeyAlias, &r.TeamID, &r.UserID, &r.EndUser,
		&r.ModelGroup, &r.Model, &r.DeploymentID, &r.Provider, &r.CallType} {
		*f = d.str()
	}
	for _, f := range [...]*int64{&r.PromptTokens, &r.CompletionTokens, &r.TotalTokens, &r.CachedTokens} {
		*f = int64(d.uint64())
	}
	r.Spend = math.Float64frombits(d.uint64())
	r.StartTime, r.EndTime = d.time(), d.time()
	r.LatencyMS = int64(d.uint64())
	r.Status = d.str()
	switch d.byte() {
	case 0:
	case 1:
		r.CacheHit = true
	default:
		d.fail("bad cache_hit")
	}
	if n := d.count(4 + 1); n > 0 {
		r.Metadata = make(map[string]any, n)
		for range n {
			k := d.str()
			r.Metadata[k] = d.value(1)
		}
	}
	if n := d.count(4); n > 0 {
		r.RequestTags = make([]string, n)
		for i := range r.RequestTags {
			r.RequestTags[i] = d.str()
		}
	}
	if d.err == nil && d.off != len(d.s) {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return store.SpendLog{}, fmt.Errorf("decode spend record: %w", d.err)
	}
	return r, nil
}

// decoder reads a binary payload. After the first error every read returns
// a zero value, and err says what went wrong.
type decoder struct {
	s   string
	off int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s at byte %d", what, d.off)
	}
	d.off = len(d.s)
}

// fixed returns the next n bytes, or "" (and fails) when fewer are left.
func (d *decoder) fixed(n int) string {
	if len(d.s)-d.off < n {
		d.fail("truncated")
		return ""
	}
	b := d.s[d.off : d.off+n]
	d.off += n
	return b
}

func (d *decoder) byte() byte {
	if b := d.fixed(1); b != "" {
		return b[0]
	}
	return 0
}

func (d *decoder) uint32() uint32 {
	b := d.fixed(4)
	if b == "" {
		return 0
	}
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func (d *decoder) uint64() uint64 {
	b := d.fixed(8)
	if b == "" {
		return 0
	}
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 |
		uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// count reads a number of items each at least min bytes long, and fails if
// the rest of the payload cannot hold them.
func (d *decoder) count(min int) int {
	n := d.uint32()
	if uint64(n) > uint64((len(d.s)-d.off)/min) {
		d.fail("impossible count")
		return 0
	}
	return int(n)
}

func (d *decoder) str() string {
	n := d.uint32()
	if n == 0 {
		return ""
	}
	if uint64(n) > uint64(len(d.s)-d.off) {
		d.fail("string runs past the end")
		return ""
	}
	return d.fixed(int(n))
}

func (d *decoder) time() time.Time {
	sec, nsec := int64(d.uint64()), d.uint32()
	if nsec >= 1e9 {
		d.fail("bad nanoseconds")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) value(depth int) any {
	if depth > maxDepth {
		d.fail("metadata nested too deeply")
		return nil
	}
	switch tag := d.byte(); tag {
	case tagNull:
		return nil
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagString:
		return d.str()
	case tagNumber:
		return json.Number(d.str())
	case tagObject:
		n := d.count(4 + 1)
		m := make(map[string]any, n)
		for range n {
			k := d.str()
			m[k] = d.value(depth + 1)
		}
		return m
	case tagArray:
		n := d.count(1)
		a := make([]any, n)
		for i := range a {
			a[i] = d.value(depth + 1)
		}
		return a
	default:
		d.fail(fmt.Sprintf("unknown metadata tag %d", tag))
		return nil
	}
}

// wireRecord is the JSON payload of segment format 1 ("SWYLDG1\n"), which
// earlier versions wrote; it is only read now. Its field names are that
// format and must not change.
type wireRecord struct {
	RequestID        string         `json:"request_id"`
	APIKey           string         `json:"api_key,omitempty"`
	KeyAlias         string         `json:"key_alias,omitempty"`
	TeamID           string         `json:"team_id,omitempty"`
	UserID           string         `json:"user_id,omitempty"`
	EndUser          string         `json:"end_user,omitempty"`
	ModelGroup       string         `json:"model_group,omitempty"`
	Model            string         `json:"model,omitempty"`
	DeploymentID     string         `json:"deployment_id,omitempty"`
	Provider         string         `json:"provider,omitempty"`
	CallType         string         `json:"call_type,omitempty"`
	PromptTokens     int64          `json:"prompt_tokens,omitempty"`
	CompletionTokens int64          `json:"completion_tokens,omitempty"`
	TotalTokens      int64          `json:"total_tokens,omitempty"`
	CachedTokens     int64          `json:"cached_tokens,omitempty"`
	Spend            float64        `json:"spend,omitempty"`
	StartTime        time.Time      `json:"start_time,omitzero"`
	EndTime          time.Time      `json:"end_time,omitzero"`
	LatencyMS        int64          `json:"latency_ms,omitempty"`
	Status           string         `json:"status,omitempty"`
	CacheHit         bool           `json:"cache_hit,omitempty"`
	Metadata         map[string]any `json:"metadata,omitempty"`
	RequestTags      []string       `json:"request_tags,omitempty"`
}

func (w *wireRecord) spendLog() store.SpendLog {
	return store.SpendLog{
		RequestID: w.RequestID, APIKey: w.APIKey, KeyAlias: w.KeyAlias, TeamID: w.TeamID, UserID: w.UserID,
		EndUser: w.EndUser, ModelGroup: w.ModelGroup, Model: w.Model, DeploymentID: w.DeploymentID,
		Provider: w.Provider, CallType: w.CallType, PromptTokens: w.PromptTokens,
		CompletionTokens: w.CompletionTokens, TotalTokens: w.TotalTokens, CachedTokens: w.CachedTokens,
		Spend: w.Spend, StartTime: w.StartTime, EndTime: w.EndTime, LatencyMS: w.LatencyMS, Status: w.Status,
		CacheHit: w.CacheHit, Metadata: w.Metadata, RequestTags: w.RequestTags,
	}
}

// decodePayloadV1 turns a JSON payload (segment format 1) back into a
// record. Numbers inside Metadata decode as json.Number, so they are
// written back exactly.
func decodePayloadV1(p []byte) (store.SpendLog, error) {
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var w wireRecord
	if err := dec.Decode(&w); err != nil {
		return store.SpendLog{}, fmt.Errorf("decode spend record: %w", err)
	}
	return w.spendLog(), nil
}

// replaceNUL rewrites, in place, every escaped NUL character (\u0000) of a
// JSON document produced by encoding/json into U+FFFD (\ufffd, same length);
// see snapshot for why. In such a document every backslash starts an
// escape, so the scan needs no parser.
func replaceNUL(doc []byte) {
	for i := 0; i < len(doc)-1; i++ {
		if doc[i] != '\\' {
			continue
		}
		if doc[i+1] == 'u' && i+5 < len(doc) && string(doc[i+2:i+6]) == "0000" {
			copy(doc[i+2:i+6], "fffd")
		}
		i++ // skip the escaped character, which may itself be a backslash
	}
}
