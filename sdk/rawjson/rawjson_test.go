package rawjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/switchyard/gateway/sdk/rawjson"
)

type member struct{ key, value string }

func collect(obj string) ([]member, error) {
	var got []member
	err := rawjson.Each([]byte(obj), func(k, v []byte) bool {
		got = append(got, member{string(k), string(v)})
		return true
	})
	return got, err
}

// wellFormed are objects every function must read; the members are what Each must visit, raw.
var wellFormed = []struct {
	name string
	in   string
	want []member
}{
	{"empty object", `{}`, nil},
	{"empty object with spaces", " { \n } ", nil},
	{"whitespace everywhere", " \t\n{ \"a\" :\r\n 1 ,\"b\":\t\"x\" } \n", []member{{"a", "1"}, {"b", `"x"`}}},
	{"nested objects and arrays", `{"o":{"x":[1,{"y":"z"}],"e":{}},"arr":[[],{},[[]]],"z":null}`, []member{
		{"o", `{"x":[1,{"y":"z"}],"e":{}}`}, {"arr", `[[],{},[[]]]`}, {"z", "null"}}},
	{"values keep their inner spacing", `{"a" : [ 1 , 2 ] , "b" : { "c" : 3 }}`, []member{
		{"a", `[ 1 , 2 ]`}, {"b", `{ "c" : 3 }`}}},
	{"quotes and braces inside strings", `{"s":"he said \"{hi}\" [ok]","t":"}","u":"]","v":"{["}`, []member{
		{"s", `"he said \"{hi}\" [ok]"`}, {"t", `"}"`}, {"u", `"]"`}, {"v", `"{["`}}},
	{"braces in strings inside nested values", `{"o":{"k":"}}}"},"a":["]",{"x":"{"}]}`, []member{
		{"o", `{"k":"}}}"}`}, {"a", `["]",{"x":"{"}]`}}},
	{"escaped quote in a key", `{"k\"ey":1}`, []member{{`k\"ey`, "1"}}},
	{"escaped backslash before a closing quote", `{"p":"C:\\","q":"\\\"","r":1}`, []member{
		{"p", `"C:\\"`}, {"q", `"\\\""`}, {"r", "1"}}},
	{"unicode, raw and escaped", `{"ключ":"значение","emoji":"😀","esc":"\u00e9\ud83d\ude00","\u006b":1}`, []member{
		{"ключ", `"значение"`}, {"emoji", `"😀"`}, {"esc", `"\u00e9\ud83d\ude00"`}, {`\u006b`, "1"}}},
	{"numbers keep their spelling", `{"i":0,"n":-12,"f":3.250e-10,"E":1E+2,"big":12345678901234567890}`, []member{
		{"i", "0"}, {"n", "-12"}, {"f", "3.250e-10"}, {"E", "1E+2"}, {"big", "12345678901234567890"}}},
	{"number before closing brace", `{"n":1}`, []member{{"n", "1"}}},
	{"true, false, null", `{"t":true,"f":false,"n":null}`, []member{{"t", "true"}, {"f", "false"}, {"n", "null"}}},
	{"empty key and empty string", `{"":""}`, []member{{"", `""`}}},
	{"duplicate keys are all visited, in order", `{"a":1,"a":2}`, []member{{"a", "1"}, {"a", "2"}}},
}

// malformed are inputs that are not one well-formed object and that the scanner can tell apart from one.
var malformed = []string{
	"",
	"   ",
	"[]",
	`"a"`,
	"1",
	"null",
	"{",
	"}",
	`{"a"`,
	`{"a":`,
	`{"a":1`,
	`{"a":1,`,
	`{"a":1,}`,
	`{,}`,
	`{"a" 1}`,
	`{a:1}`,
	`{'a':1}`,
	`{"a":}`,
	`{"a":,"b":1}`,
	`{"a":1 "b":2}`,
	`{"a":1;"b":2}`,
	`{"a":1"b":2}`,
	`{"a":1]}`,
	`{"a":"unterminated}`,
	`{"a":"escaped end\"}`,
	`{"a\`,
	`{"\`,
	`{"a":{"b":1}`,
	`{"a":[1,2`,
	`{"a":1}x`,
	`{}{}`,
	`{"a":1}}`,
	`{} []`,
}

func TestEach(t *testing.T) {
	t.Parallel()
	for _, tt := range wellFormed {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := collect(tt.in)
			if err != nil {
				t.Fatalf("Each(%s) = %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Each(%s) visited\n%q\nwant\n%q", tt.in, got, tt.want)
			}
		})
	}
}

func TestEachStopsWhenTheCallbackSaysSo(t *testing.T) {
	t.Parallel()
	var seen []string
	// The tail is malformed: stopping early must not read (or report) it.
	err := rawjson.Each([]byte(`{"a":1,"b":2,"c":`), func(k, _ []byte) bool {
		seen = append(seen, string(k))
		return string(k) != "b"
	})
	if err != nil || !reflect.DeepEqual(seen, []string{"a", "b"}) {
		t.Errorf("Each = %v after %q; want nil after [a b]", err, seen)
	}
}

func TestMalformedInputIsASyntaxError(t *testing.T) {
	t.Parallel()
	for _, in := range malformed {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			if err := rawjson.Each([]byte(in), func(_, _ []byte) bool { return true }); !errors.Is(err, rawjson.ErrSyntax) {
				t.Errorf("Each(%q) = %v, want ErrSyntax", in, err)
			}
			out, err := rawjson.Patch([]byte(in), []rawjson.Member{{Key: []byte("a"), Value: []byte("1")}}, nil)
			if !errors.Is(err, rawjson.ErrSyntax) || out != nil {
				t.Errorf("Patch(%q) = %q, %v; want nil, ErrSyntax", in, out, err)
			}
			if v := rawjson.Get([]byte(in), "zzz"); v != nil {
				t.Errorf("Get(%q, zzz) = %q, want nil", in, v)
			}
		})
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	obj := []byte(`{"model":"gpt-4o", "stream_options" : { "include_usage" : true },"o":{"inner":1},"n":null,"e":""}`)
	tests := []struct {
		key  string
		want []byte
	}{
		{"model", []byte(`"gpt-4o"`)},
		{"stream_options", []byte(`{ "include_usage" : true }`)},
		{"n", []byte("null")},
		{"e", []byte(`""`)},
		{"inner", nil}, // only top-level members
		{"absent", nil},
		{"", nil},
	}
	for _, tt := range tests {
		if got := rawjson.Get(obj, tt.key); !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("Get(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestPatch(t *testing.T) {
	t.Parallel()
	set := func(kv ...string) []rawjson.Member {
		var ms []rawjson.Member
		for i := 0; i < len(kv); i += 2 {
			ms = append(ms, rawjson.Member{Key: []byte(kv[i]), Value: []byte(kv[i+1])})
		}
		return ms
	}
	tests := []struct {
		name string
		in   string
		set  []rawjson.Member
		drop []string
		want string
	}{
		{"no change compacts only between members", `{ "a" : [ 1, 2 ] ,"b":"x" }`, nil, nil, `{"a":[ 1, 2 ],"b":"x"}`},
		{"replace in place keeps the order", `{"model":"a","messages":[],"stream":true}`, set("model", `"b"`), nil,
			`{"model":"b","messages":[],"stream":true}`},
		{"new keys are appended in the order given", `{"a":1}`, set("z", "26", "y", "25"), nil, `{"a":1,"z":26,"y":25}`},
		{"replace and append together", `{"a":1,"b":2}`, set("c", "3", "a", `{"x":[true]}`), nil, `{"a":{"x":[true]},"b":2,"c":3}`},
		{"drop the first member", `{"metadata":{"k":"v"},"a":1}`, nil, []string{"metadata"}, `{"a":1}`},
		{"drop the last member", `{"a":1,"tags":["t"]}`, nil, []string{"tags"}, `{"a":1}`},
		{"drop a middle member", `{"a":1,"b":2,"c":3}`, nil, []string{"b"}, `{"a":1,"c":3}`},
		{"drop everything", `{"a":1,"b":2}`, nil, []string{"a", "b"}, `{}`},
		{"drop and set", `{"max_tokens":5,"model":"m"}`, set("max_completion_tokens", "5"), []string{"max_tokens"},
			`{"model":"m","max_completion_tokens":5}`},
		{"empty object stays empty", `{}`, nil, nil, `{}`},
		{"empty object gets the set members", ` { } `, set("a", "1", "b", "null"), nil, `{"a":1,"b":null}`},
		{"strings with braces survive", `{"s":"}{\"","model":"x"}`, set("model", `"y"`), nil, `{"s":"}{\"","model":"y"}`},
		{"a later duplicate of a set key is removed", `{"model":"a","x":1,"model":"b"}`, set("model", `"c"`), nil,
			`{"model":"c","x":1}`},
		{"duplicates of other keys are kept", `{"x":1,"x":2}`, set("model", `"c"`), nil, `{"x":1,"x":2,"model":"c"}`},
		{"an escaped key matches its decoded name", `{"mod\u0065l":"a","n":1}`, set("model", `"c"`), nil,
			`{"mod\u0065l":"c","n":1}`},
		{"drop sees decoded names", `{"m\u0065tadata":{},"n":1}`, nil, []string{"metadata"}, `{"n":1}`},
		{"unicode keys and values", `{"ключ":"значение"}`, set("ключ", `"😀"`), nil, `{"ключ":"😀"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := []byte(tt.in)
			orig := bytes.Clone(in)
			var drop func([]byte) bool
			if tt.drop != nil {
				drop = func(k []byte) bool {
					for _, d := range tt.drop {
						if string(k) == d {
							return true
						}
					}
					return false
				}
			}
			got, err := rawjson.Patch(in, tt.set, drop)
			if err != nil {
				t.Fatalf("Patch = %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("Patch =\n%s\nwant\n%s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("Patch gave invalid JSON %s", got)
			}
			if gotV, wantV := decodeAny(t, got), decodeAny(t, []byte(tt.want)); !reflect.DeepEqual(gotV, wantV) {
				t.Errorf("Patch decodes to %v, want %v", gotV, wantV)
			}
			if !bytes.Equal(in, orig) {
				t.Errorf("Patch changed its input to %s", in)
			}
		})
	}
}

func TestPatchDoesNotAliasItsInput(t *testing.T) {
	t.Parallel()
	in := []byte(`{"a":"xyz"}`)
	out, err := rawjson.Patch(in, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	copy(in, `{"b":"abc"}`)
	if string(out) != `{"a":"xyz"}` {
		t.Errorf("changing the input changed the output to %s", out)
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"",
		"plain",
		`say "hi"`,
		`C:\path\`,
		"\x00\x01\x1f\x7f",
		"tab\tnewline\nreturn\r",
		"é 😀 ключ",
		"<script>&amp;</script>",
		"\u2028\u2029",
		`\u0000 literally`,
	} {
		b := rawjson.String(s)
		if !json.Valid(b) || b[0] != '"' {
			t.Errorf("String(%q) = %s, not a JSON string", s, b)
			continue
		}
		var back string
		if err := json.Unmarshal(b, &back); err != nil || back != s {
			t.Errorf("String(%q) = %s, decodes to %q, %v", s, b, back, err)
		}
	}
	// Invalid UTF-8 cannot survive as it is; it must still give valid JSON.
	if b := rawjson.String("bad \xff byte"); !json.Valid(b) || !utf8.Valid(b) {
		t.Errorf("String(invalid UTF-8) = %q, not valid JSON", b)
	}
}

func decodeAny(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// isObject reports whether b is what the package is documented to accept: one valid JSON object.
func isObject(b []byte) bool {
	t := bytes.TrimLeft(b, " \t\r\n")
	return json.Valid(b) && len(t) > 0 && t[0] == '{'
}

// decodedKey returns a raw key as encoding/json reads it (escapes decoded, invalid UTF-8 replaced).
func decodedKey(t testing.TB, raw []byte) string {
	t.Helper()
	var s string
	if err := json.Unmarshal([]byte(`"`+string(raw)+`"`), &s); err != nil {
		t.Fatalf("key %q is not a JSON string body: %v", raw, err)
	}
	return s
}

func addSeeds(f *testing.F, add func(obj string)) {
	for _, tt := range wellFormed {
		add(tt.in)
	}
	for _, in := range malformed {
		add(in)
	}
	for _, in := range []string{
		`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"metadata":{"a":1}}`,
		`{"a":1,"a":2,"\u0061":3}`,
		`{"a":tru}`,
		`{"a":[}`,
		`{"a":1"b":2}`,
		"{\"\xff\":1}",
		`{"\ud800":1}`,
	} {
		add(in)
	}
}

// FuzzEach checks Each against encoding/json: no panic on any input, and on a valid object exactly the members
// json.Unmarshal sees, the last of duplicates winning.
func FuzzEach(f *testing.F) {
	addSeeds(f, func(obj string) { f.Add([]byte(obj)) })
	f.Fuzz(func(t *testing.T, data []byte) {
		got := map[string]json.RawMessage{}
		err := rawjson.Each(data, func(k, v []byte) bool {
			if isObject(data) {
				got[decodedKey(t, k)] = v
			}
			return true
		})
		_ = rawjson.Get(data, "a")
		if !isObject(data) {
			return
		}
		if err != nil {
			t.Fatalf("Each(%q) = %v on a valid object", data, err)
		}
		want := map[string]json.RawMessage{}
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("json.Unmarshal(%q) = %v", data, err)
		}
		if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
			t.Fatalf("Each(%q) saw %q, encoding/json %q", data, got, want)
		}
	})
}

// FuzzPatch checks that Patch never panics and that on a valid object it gives valid JSON meaning what it
// should: the input, less the dropped member, with the set member's value.
func FuzzPatch(f *testing.F) {
	addSeeds(f, func(obj string) { f.Add([]byte(obj), "model", []byte(`"x"`), "metadata") })
	f.Add([]byte(`{"a":1,"b":2}`), "a", []byte(`[1, {"b": null}]`), "a")
	f.Add([]byte(`{"a":1}`), `q"uote`, []byte(`true`), "")
	f.Add([]byte(`{"\u00e9":1}`), "é", []byte(`2`), "é")
	f.Fuzz(func(t *testing.T, obj []byte, key string, value []byte, dropKey string) {
		if !json.Valid(value) {
			value = []byte("null")
		}
		// A set key is raw: escape it the way a caller building one from a name would.
		quoted := rawjson.String(key)
		rawKey := quoted[1 : len(quoted)-1]
		out, err := rawjson.Patch(obj, []rawjson.Member{{Key: rawKey, Value: value}}, func(k []byte) bool {
			return string(k) == dropKey
		})
		if !isObject(obj) {
			return
		}
		if err != nil {
			t.Fatalf("Patch(%q) = %v on a valid object", obj, err)
		}
		if !json.Valid(out) {
			t.Fatalf("Patch(%q) = %q, not valid JSON", obj, out)
		}
		// Patch compares names after decoding escapes but leaves invalid UTF-8 as it is, where encoding/json
		// replaces it; the meaning only matches when there is none.
		if !utf8.Valid(obj) || !utf8.ValidString(key) {
			return
		}
		want := map[string]json.RawMessage{}
		if err := json.Unmarshal(obj, &want); err != nil {
			t.Fatal(err)
		}
		delete(want, dropKey)
		want[key] = bytes.TrimSpace(value) // encoding/json's RawMessage has no surrounding space
		got := map[string]json.RawMessage{}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if !maps.EqualFunc(got, want, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
			t.Fatalf("Patch(%q, %q=%s, drop %q) = %s\nmeans %q\nwant  %q", obj, key, value, dropKey, out, got, want)
		}
	})
}

func TestEachElement(t *testing.T) {
	t.Parallel()
	var got []string
	if err := rawjson.EachElement([]byte(` [ 1 , "a\"]" , {"k":[2]} , [ ] , null ] `), func(v []byte) bool {
		got = append(got, string(v))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{`1`, `"a\"]"`, `{"k":[2]}`, `[ ]`, `null`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("elements %q, want %q", got, want)
	}
	if err := rawjson.EachElement([]byte(`[]`), func([]byte) bool { t.Fatal("called for an empty array"); return true }); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := rawjson.EachElement([]byte(`[1,2,3]`), func([]byte) bool { n++; return n < 2 }); err != nil || n != 2 {
		t.Fatalf("stopping early: %d calls, %v", n, err)
	}
	for _, bad := range []string{`{}`, `[1,]`, `[1 2]`, `[1`, `[1]x`, `["a]`, ``} {
		if err := rawjson.EachElement([]byte(bad), func([]byte) bool { return true }); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

var unquoteCases = []string{`""`, `"plain"`, `"a\nb\tc\"d\\e\/f\bg\fh\ri"`, `"\u00e9\u4e2d\uD83D\uDE00"`,
	`"\uD83D"`, `"\uD83Dx"`, `"\uDE00\uD83D"`, `"\uD83D\u0041"`, `"\uD83D\uD83D\uDE00"`, "\"caf\xc3\xa9\"",
	"\"bad \xff utf8\"", `"\u00"`, `"\x"`, `"\'"`, "\"ctl\x01\"", `"a"b"`, `"trailing\"`, `"`, `abc`, `"\u12G4"`,
	`"\uDBFF\uDFFF"`, "\"\xed\xa0\x80\"",
	// Long enough to be scanned eight bytes at a time, with what stops the scan at each place in a word.
	`"The quick brown fox jumps over the lazy dog. The quick brown fox."`, `"0123456789abcdef\n0123456789"`,
	`"0123456\"89abcdef"`, "\"01234567\x1f9abcdef\"", "\"0123456789abcd\xc3\xa9\"", "\"0123456789abcdef\x7f~ \"",
	"\"0123456789abcde\x00\"", "\"\x20\x21\x23\x5b\x5d\x7e\x7f\x20 !#[]~\x7f\"", `"01234567"`, "\"0123456\x80\""}

func checkUnquote(t *testing.T, lit string) {
	t.Helper()
	var want string
	wantErr := json.Unmarshal([]byte(lit), &want)
	got, ok := rawjson.Unquote([]byte(lit))
	if ok != (wantErr == nil) {
		t.Fatalf("%q: ok %v, encoding/json's error %v", lit, ok, wantErr)
	}
	if ok && got != want {
		t.Fatalf("%q: %q, encoding/json %q", lit, got, want)
	}
}

func TestUnquoteMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range unquoteCases {
		checkUnquote(t, c)
	}
}

func FuzzUnquote(f *testing.F) {
	for _, c := range unquoteCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		if len(lit) < 2 || lit[0] != '"' || lit[len(lit)-1] != '"' {
			return
		}
		// Only one literal: encoding/json would read `"a" "b"` as a string followed by garbage.
		if end, ok := skipOne(lit); !ok || end != len(lit) {
			return
		}
		checkUnquote(t, lit)
	})
}

// skipOne returns the end of the string literal at the start of s, as a JSON scanner finds it.
func skipOne(s string) (int, bool) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

func TestInt(t *testing.T) {
	t.Parallel()
	for lit, want := range map[string]bool{"0": true, "-0": true, "7": true, "-12": true, "9223372036854775807": true,
		"9223372036854775808": false, "01": false, "+1": false, "1.0": false, "1e2": false, "": false, "-": false,
		"2147483648": true, " 1": false} {
		_, ok := rawjson.Int([]byte(lit), 64)
		var n int64
		err := json.Unmarshal([]byte(lit), &n)
		if ok != want || ok && err != nil {
			t.Errorf("%q: ok %v, want %v (encoding/json: %v)", lit, ok, want, err)
		}
	}
	if _, ok := rawjson.Int([]byte("2147483648"), 32); ok {
		t.Error("2147483648 fits in 32 bits?")
	}
	if !rawjson.PlainKey([]byte("input_tokens")) || rawjson.PlainKey([]byte("Input")) || rawjson.PlainKey([]byte(`a\u0041`)) ||
		rawjson.PlainKey([]byte("k\xc5\xbf")) {
		t.Error("PlainKey")
	}
}

func TestReaders(t *testing.T) {
	t.Parallel()
	type pair struct {
		A string
		B *int
	}
	read := func(p *pair, k, v []byte) (uint64, bool) {
		switch string(k) {
		case "a":
			return 1, rawjson.ReadString(&p.A, v)
		case "b":
			return 2, rawjson.ReadIntPtr(&p.B, v)
		}
		return 0, rawjson.PlainKey(k)
	}
	var got []pair
	if !rawjson.ReadObjects(&got, []byte(`[{"a":"x\n","b":3},{"a":null,"b":null,"c":1}]`), read) ||
		len(got) != 2 || got[0].A != "x\n" || *got[0].B != 3 || got[1].A != "" || got[1].B != nil {
		t.Fatalf("read %+v", got)
	}
	if !rawjson.ReadObjects(&got, []byte(`null`), read) || got != nil {
		t.Fatalf("null: %+v", got)
	}
	for _, bad := range []string{`[1]`, `[{"a":"x","a":"y"}]`, `[{"b":1.5}]`, `[{"a":"\q"}]`, `[{"C":1}]`, `[{}`} {
		if rawjson.ReadObjects(&got, []byte(bad), read) {
			t.Errorf("%s: read", bad)
		}
	}
	var small *int32
	if rawjson.ReadIntPtr(&small, []byte("2147483648")) || !rawjson.ReadIntPtr(&small, []byte("-2147483648")) {
		t.Error("ReadIntPtr does not hold to int32's range")
	}
}

func TestUnread(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		k, v string
		want bool
	}{
		{"metrics", `{"latencyMs":1}`, true},
		{"metrics", `{"latencyMs":}`, false},
		{"Metrics", `1`, false},
		{"m\\u0065trics", `1`, false},
		{"stopreason", `"x"`, false}, // folds onto stopReason
		{"stop_reason", `"x"`, true},
	} {
		if got := rawjson.Unread([]byte(c.k), []byte(c.v), "stopReason", "usage"); got != c.want {
			t.Errorf("Unread(%q, %s) = %v, want %v", c.k, c.v, got, c.want)
		}
	}
}
