package ledger

import (
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/store"
)

// v1Payload is the JSON payload of segment format 1, as earlier versions
// wrote it (encoding/json, then replaceNUL).
func v1Payload(r *store.SpendLog) ([]byte, error) {
	p, err := json.Marshal(wireRecord{
		RequestID: r.RequestID, APIKey: r.APIKey, KeyAlias: r.KeyAlias, TeamID: r.TeamID, UserID: r.UserID,
		EndUser: r.EndUser, ModelGroup: r.ModelGroup, Model: r.Model, DeploymentID: r.DeploymentID,
		Provider: r.Provider, CallType: r.CallType, PromptTokens: r.PromptTokens,
		CompletionTokens: r.CompletionTokens, TotalTokens: r.TotalTokens, CachedTokens: r.CachedTokens,
		Spend: r.Spend, StartTime: r.StartTime, EndTime: r.EndTime, LatencyMS: r.LatencyMS, Status: r.Status,
		CacheHit: r.CacheHit, Metadata: r.Metadata, RequestTags: r.RequestTags,
	})
	if err != nil {
		return nil, err
	}
	replaceNUL(p)
	return p, nil
}

// v1Frame frames a format 1 payload.
func v1Frame(p []byte) []byte {
	f := make([]byte, frameHeaderLen, frameHeaderLen+len(p))
	binary.BigEndian.PutUint32(f[0:4], uint32(len(p)))
	binary.BigEndian.PutUint32(f[4:8], crc32.Checksum(p, castagnoli))
	return append(f, p...)
}

type jsonStruct struct {
	A int    `json:"a"`
	B string `json:"b,omitempty"`
	C []byte
}

type textKey string

func (k textKey) MarshalText() ([]byte, error) { return []byte("key:" + string(k)), nil }

// codecRecords are representative records, each of which the JSON payload
// could hold.
func codecRecords() map[string]store.SpendLog {
	zone := time.FixedZone("X", 5*3600+1800)
	start := time.Date(2025, 6, 7, 8, 9, 10, 123456789, zone)
	seven := 7
	full := store.SpendLog{
		RequestID: "chatcmpl-1", APIKey: store.HashKey("sk-1"), KeyAlias: "alias", TeamID: "team", UserID: "user",
		EndUser: "cust", ModelGroup: "grp", Model: "mdl", DeploymentID: "dep", Provider: "prov", CallType: "embedding",
		PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3, CachedTokens: 4, Spend: 0.000123,
		StartTime: start, EndTime: start.Add(1500 * time.Millisecond), LatencyMS: 1500, Status: "failure",
		CacheHit: true, RequestTags: []string{"a", "b"},
	}
	out := map[string]store.SpendLog{
		"typical": rec(1),
		"full":    full,
		"extremes": {
			RequestID: "x", PromptTokens: math.MaxInt64, CompletionTokens: math.MinInt64, TotalTokens: -1,
			Spend: -1e-300, StartTime: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
			EndTime: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), LatencyMS: -5,
		},
		"local and monotonic time": {RequestID: "t", StartTime: time.Now(), EndTime: time.Now().Local()},
		"unicode": {
			RequestID: "req-日本語-🚀", EndUser: "Ünïcødé 客户", Status: "ok ✓",
			Metadata:    map[string]any{"ключ": "значение", "emoji": "🎉", "sep": "a\u2028b\u2029c", "html": "<a href='x'>&amp;</a>"},
			RequestTags: []string{"标签", "tag"},
		},
		"NUL and invalid UTF-8": {
			RequestID: "nul\x00id", EndUser: "cu\x00st", Model: "bad\xffutf8\xe6\x97", Provider: "\xed\xa0\x80surrogate",
			Metadata: map[string]any{
				"k\x00":    `v\u0000 ` + "\x00",
				"bad\xfe":  "\xc3\x28",
				"nested":   map[string]any{"x\x00": []any{"\x00", "ok"}},
				"escaped":  "tab\tnewline\nquote\"backslash\\ctl\x01del\x7f",
				"truncate": "\xf0\x9f\x98",
			},
			RequestTags: []string{"t\x00", "\xff"},
		},
		"keys equal once cleaned": {RequestID: "k", Metadata: map[string]any{"a\x00": 1, "a\uFFFD": 2, "b\xff": "x", "b": "y"}},
		"nil metadata and tags":   {RequestID: "n"},
		"empty metadata and tags": {RequestID: "e", Metadata: map[string]any{}, RequestTags: []string{}},
		"nested metadata": {
			RequestID: "m",
			Metadata: map[string]any{
				"ints":       []any{int(-1), int8(-8), int16(16), int32(-32), int64(9007199254740993), uint(1), uint8(8), uint16(16), uint32(32), uint64(math.MaxUint64)},
				"floats":     []any{0.1, 1e21, 1e20, 1e-7, 1e-6, -0.0, 123456789.125, 5e-324, math.MaxFloat64, float32(0.1), float32(1e-7), float32(3.4e38)},
				"numbers":    []any{json.Number("1.50"), json.Number(""), json.Number("-0"), json.Number("1e400"), json.Number("12345678901234567890123")},
				"nulls":      []any{nil, map[string]any(nil), []any(nil), []string(nil)},
				"empty":      map[string]any{"m": map[string]any{}, "a": []any{}, "s": "", "l": []string{}},
				"bools":      []any{true, false},
				"strings":    []string{"a", "b\x00"},
				"deep":       map[string]any{"a": map[string]any{"b": map[string]any{"c": []any{map[string]any{"d": 1.5}}}}},
				"user_agent": "x\x00y",
			},
		},
		"metadata through encoding/json": {
			RequestID: "j",
			Metadata: map[string]any{
				"struct":   jsonStruct{A: 1, C: []byte("bytes\x00")},
				"ptr":      &seven,
				"nilptr":   (*int)(nil),
				"time":     start,
				"raw":      json.RawMessage(` {"x": [1, 2.50, "s\u0000"]} `),
				"strmap":   map[string]string{"k": "v\x00"},
				"intmap":   map[int]bool{2: true, 1: false},
				"textkeys": map[textKey]int{"a": 1},
				"named":    textKey("plain"),
				"float64s": []float64{1.5, 2},
			},
		},
	}
	deep := any(map[string]any{"leaf": true})
	for i := range 300 {
		if i%2 == 0 {
			deep = map[string]any{"d": deep}
		} else {
			deep = []any{deep, i}
		}
	}
	out["deeply nested"] = store.SpendLog{RequestID: "d", Metadata: map[string]any{"deep": deep}}
	return out
}

// TestPayloadRoundTrip checks, for representative records, that the binary
// payload decodes to exactly the snapshot Record hands to the deliverer in
// memory, that the snapshot is what the JSON payload of earlier versions
// decoded to (so the sink receives the same, whichever way and format), and
// that sizes are counted exactly.
func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()
	for name, in := range codecRecords() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			snap, size, err := snapshotSized(&in)
			if err != nil {
				t.Fatalf("snapshot: %v", err)
			}
			frame := appendFrame([]byte("prefix"), &snap)[len("prefix"):]
			p, err := readFrame(strings.NewReader(string(frame)), nil)
			if err != nil {
				t.Fatalf("readFrame: %v", err)
			}
			if n, err := payloadSize(&snap); err != nil || n != len(p) {
				t.Errorf("payloadSize = %d, %v; payload is %d bytes", n, err, len(p))
			}
			if name != "keys equal once cleaned" && size != len(p) {
				t.Errorf("size counted by snapshot = %d; payload is %d bytes", size, len(p))
			}
			if size < len(p) {
				t.Errorf("size counted by snapshot = %d, below the payload's %d bytes", size, len(p))
			}
			got, err := decodePayload(p)
			if err != nil {
				t.Fatalf("decodePayload: %v", err)
			}
			if !reflect.DeepEqual(got, snap) {
				t.Errorf("decoded record differs from the snapshot:\n got %#v\nwant %#v", got, snap)
			}
			if !got.StartTime.Equal(in.StartTime) || !got.EndTime.Equal(in.EndTime) {
				t.Errorf("times changed: %v %v, want %v %v", got.StartTime, got.EndTime, in.StartTime, in.EndTime)
			}
			if got.StartTime.Location() != time.UTC || got.EndTime.Location() != time.UTC {
				t.Errorf("times not in UTC: %v %v", got.StartTime.Location(), got.EndTime.Location())
			}
			if in.StartTime.IsZero() && got.StartTime != (time.Time{}) {
				t.Errorf("zero start time read back as %#v", got.StartTime)
			}

			// The same record through the format 1 (JSON) payload.
			old, err := v1Payload(&in)
			if err != nil {
				t.Fatalf("JSON payload: %v", err)
			}
			want, err := decodePayloadV1(old)
			if err != nil {
				t.Fatalf("decodePayloadV1: %v", err)
			}
			if !want.StartTime.Equal(got.StartTime) || !want.EndTime.Equal(got.EndTime) {
				t.Errorf("times differ from the JSON payload's: %v %v, JSON %v %v", got.StartTime, got.EndTime, want.StartTime, want.EndTime)
			}
			want.StartTime, want.EndTime = got.StartTime, got.EndTime // JSON kept the zone, not only the instant
			if !reflect.DeepEqual(got, want) {
				t.Errorf("record differs from what the JSON payload gave:\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestSnapshotIsACopy(t *testing.T) {
	t.Parallel()
	nested := map[string]any{"n": "v"}
	list := []any{"a", nested}
	tags := []string{"t"}
	in := store.SpendLog{RequestID: "r", Metadata: map[string]any{"s": "v", "m": nested, "l": list}, RequestTags: tags}
	snap, err := snapshot(&in)
	if err != nil {
		t.Fatal(err)
	}
	in.Metadata["s"], in.Metadata["new"] = "changed", 1
	nested["n"] = "changed"
	list[0] = "changed"
	tags[0] = "changed"
	want := store.SpendLog{RequestID: "r", Metadata: map[string]any{"s": "v", "m": map[string]any{"n": "v"},
		"l": []any{"a", map[string]any{"n": "v"}}}, RequestTags: []string{"t"}}
	if !reflect.DeepEqual(snap, want) {
		t.Fatalf("snapshot changed with its source:\n got %#v\nwant %#v", snap, want)
	}
}

// TestUnencodableRecords: what the JSON payload refused is still refused,
// when Record is called.
func TestUnencodableRecords(t *testing.T) {
	t.Parallel()
	cyclic := map[string]any{}
	cyclic["self"] = cyclic
	tooDeep := map[string]any{}
	for range maxDepth + 1 {
		tooDeep = map[string]any{"d": tooDeep}
	}
	cases := map[string]store.SpendLog{
		"NaN spend":        {Spend: math.NaN()},
		"infinite spend":   {Spend: math.Inf(-1)},
		"NaN in metadata":  {Metadata: map[string]any{"x": []any{math.NaN()}}},
		"Inf float32":      {Metadata: map[string]any{"x": float32(math.Inf(1))}},
		"bad json.Number":  {Metadata: map[string]any{"x": json.Number("12abc")}},
		"unsupported type": {Metadata: map[string]any{"x": make(chan int)}},
		"cycle":            {Metadata: cyclic},
		"too deep":         {Metadata: tooDeep},
		"year 10000":       {StartTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"year -1":          {EndTime: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)},
		"over the limit":   {EndUser: strings.Repeat("x", maxPayload)},
	}
	for name, r := range cases {
		r.RequestID = "r"
		if _, err := snapshot(&r); err == nil {
			t.Errorf("%s: snapshot succeeded", name)
		}
		if name == "too deep" || name == "over the limit" {
			continue // the JSON payload took these, then could not be decoded or written
		}
		if _, err := v1Payload(&r); err == nil {
			t.Errorf("%s: the JSON payload took it (test case is wrong)", name)
		}
	}
}

// TestDecodeDamagedPayload: a payload that is cut short, too long or has
// impossible counts is an error, never a panic or a huge allocation.
func TestDecodeDamagedPayload(t *testing.T) {
	t.Parallel()
	in := codecRecords()["nested metadata"]
	frame, err := encodeFrame(&in)
	if err != nil {
		t.Fatal(err)
	}
	p := frame[frameHeaderLen:]
	for i := range len(p) {
		if _, err := decodePayload(p[:i]); err == nil {
			t.Fatalf("payload cut to %d of %d bytes decoded without error", i, len(p))
		}
	}
	if _, err := decodePayload(append(append([]byte(nil), p...), 0)); err == nil {
		t.Fatal("payload with a trailing byte decoded without error")
	}
	for i := range len(p) { // any byte changed: an error or some record, no panic
		for _, v := range []byte{0x00, 0x07, 0x80, 0xff} {
			q := append([]byte(nil), p...)
			q[i] = v
			_, _ = decodePayload(q)
		}
	}
	huge := append([]byte(nil), make([]byte, fixedSize)...)
	binary.BigEndian.PutUint32(huge[fixedSize-8:], math.MaxUint32) // metadata count
	if _, err := decodePayload(huge); err == nil || !strings.Contains(err.Error(), "impossible count") {
		t.Fatalf("metadata count of 2^32-1 in a small payload: %v", err)
	}
}

func TestJSONFloatMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, f := range []float64{0, 1, -1, 0.1, 1.5, 1e20, 1e21, 1e-6, 1e-7, 9.999999e-7, 123456789.125, 5e-324,
		math.MaxFloat64, -math.SmallestNonzeroFloat64, 1 << 53, 1<<53 + 1, 3.0000000000000004, 1e100, -2.5e-10} {
		want, _ := json.Marshal(f)
		if got, err := jsonFloat(f, 64); err != nil || string(got) != string(want) {
			t.Errorf("jsonFloat(%v, 64) = %s, %v; encoding/json writes %s", f, got, err, want)
		}
		f32 := float32(f)
		if math.IsInf(float64(f32), 0) {
			continue
		}
		want, _ = json.Marshal(f32)
		if got, err := jsonFloat(float64(f32), 32); err != nil || string(got) != string(want) {
			t.Errorf("jsonFloat(%v, 32) = %s, %v; encoding/json writes %s", f32, got, err, want)
		}
	}
}

func TestClean(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"":                             "",
		"plain ascii, long enough":     "plain ascii, long enough",
		"12345678\x00":                 "12345678\uFFFD",
		"\x00":                         "\uFFFD",
		"ünï 🚀 \u2028":                 "ünï 🚀 \u2028",
		"a\xffb":                       "a\uFFFDb",
		"\xe6\x97":                     "\uFFFD\uFFFD",
		"\xed\xa0\x80":                 "\uFFFD\uFFFD\uFFFD",
		"12345678901234\x7f5678\x01xx": "12345678901234\x7f5678\x01xx",
	}
	for in, want := range cases {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
		if isClean(in) != (in == want) {
			t.Errorf("isClean(%q) = %v", in, isClean(in))
		}
		b, _ := json.Marshal(in) // what the JSON payload did
		replaceNUL(b)
		var viaJSON string
		if err := json.Unmarshal(b, &viaJSON); err != nil || viaJSON != want {
			t.Errorf("JSON payload turns %q into %q, clean into %q", in, viaJSON, want)
		}
	}
	// Every position of a NUL and of a non-ASCII byte in the word-wise scan.
	for n := range 20 {
		for i := range n {
			b := []byte(strings.Repeat("a", n))
			b[i] = 0
			if isClean(string(b)) {
				t.Errorf("isClean(%q) = true", b)
			}
			b[i] = 0x80
			if isClean(string(b)) {
				t.Errorf("isClean(%q) = true", b)
			}
		}
	}
}

// TestCleanStringsAreNotCopied is not parallel: AllocsPerRun forbids it.
func TestCleanStringsAreNotCopied(t *testing.T) {
	s := strings.Repeat("x", 100)
	if allocs := testing.AllocsPerRun(10, func() { s = clean(s) }); allocs != 0 {
		t.Errorf("clean of a clean string allocates %v times", allocs)
	}
}

// TestPayloadFormat pins the binary layout documented in doc.go.
func TestPayloadFormat(t *testing.T) {
	t.Parallel()
	r := store.SpendLog{RequestID: "id", Status: "ok", PromptTokens: -2, Spend: 0.5, CacheHit: true,
		StartTime: time.Unix(1, 2), Metadata: map[string]any{"k": []any{json.Number("1"), nil}}, RequestTags: []string{"t"}}
	frame, err := encodeFrame(&r)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	str := func(s string) {
		want = binary.BigEndian.AppendUint32(want, uint32(len(s)))
		want = append(want, s...)
	}
	u64 := func(x uint64) { want = binary.BigEndian.AppendUint64(want, x) }
	str("id")
	for range 10 {
		str("")
	}
	u64(uint64(math.MaxUint64 - 1)) // -2
	u64(0)
	u64(0)
	u64(0)
	u64(math.Float64bits(0.5))
	u64(1)
	want = binary.BigEndian.AppendUint32(want, 2)
	zero := time.Time{}.Unix()
	u64(uint64(zero))
	want = binary.BigEndian.AppendUint32(want, 0)
	u64(0)
	str("ok")
	want = append(want, 1)
	want = binary.BigEndian.AppendUint32(want, 1)
	str("k")
	want = append(want, tagArray, 0, 0, 0, 2, tagNumber, 0, 0, 0, 1, '1', tagNull)
	want = binary.BigEndian.AppendUint32(want, 1)
	str("t")
	if got := frame[frameHeaderLen:]; string(got) != string(want) {
		t.Fatalf("payload\n got % x\nwant % x", got, want)
	}
	if n := binary.BigEndian.Uint32(frame); int(n) != len(want) {
		t.Fatalf("frame length %d, want %d", n, len(want))
	}
	if c := binary.BigEndian.Uint32(frame[4:]); c != crc32.Checksum(want, castagnoli) {
		t.Fatal("frame checksum is not CRC-32C of the payload")
	}
}
