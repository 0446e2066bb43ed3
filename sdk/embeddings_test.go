package sdk_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

func TestEmbeddingRequestExtraRawAndControls(t *testing.T) {
	t.Parallel()
	body := `{"model":"text-embedding-3-small","input":["a","b"],"encoding_format":"base64","dimensions":256,` +
		`"input_type":"search_query","metadata":{"k":"v"},"truncate":"END","extra_params":{ "x" : 1 }}`
	var r sdk.EmbeddingRequest
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if string(r.Raw) != body {
		t.Errorf("Raw = %s", r.Raw)
	}
	wantExtra := map[string]json.RawMessage{"truncate": json.RawMessage(`"END"`), "extra_params": json.RawMessage(`{ "x" : 1 }`)}
	if !reflect.DeepEqual(r.Extra, wantExtra) {
		t.Errorf("Extra = %q, want %q", r.Extra, wantExtra)
	}
	want := sdk.EmbeddingRequest{Model: "text-embedding-3-small", Input: sdk.TextInput("a", "b"),
		EncodingFormat: "base64", Dimensions: ptr(256), InputType: "search_query",
		Controls: sdk.Controls{Metadata: map[string]any{"k": "v"}}, Extra: wantExtra, Raw: r.Raw}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("decoded %+v\nwant %+v", r, want)
	}

	enc, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back sdk.EmbeddingRequest
	if err := json.Unmarshal(enc, &back); err != nil {
		t.Fatal(err)
	}
	back.Raw, want.Raw = nil, nil
	want.Extra["extra_params"] = json.RawMessage(`{"x":1}`) // encoding/json compacts what MarshalJSON returns
	if !reflect.DeepEqual(back, want) {
		t.Errorf("round trip via %s\n= %+v\nwant %+v", enc, back, want)
	}
}

func TestEmbeddingRequestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		req   sdk.EmbeddingRequest
		param string
	}{
		{sdk.EmbeddingRequest{Input: sdk.TextInput("x")}, "model"},
		{sdk.EmbeddingRequest{Model: "m"}, "input"},
		{sdk.EmbeddingRequest{Model: "m", Input: sdk.TextInput()}, "input"},
		{sdk.EmbeddingRequest{Model: "m", Input: sdk.TextInput("x"), EncodingFormat: "binary"}, "encoding_format"},
		{sdk.EmbeddingRequest{Model: "m", Input: sdk.TextInput("x")}, ""},
		{sdk.EmbeddingRequest{Model: "m", Input: sdk.TextInput("x"), EncodingFormat: "float"}, ""},
		{sdk.EmbeddingRequest{Model: "m", Input: sdk.TextInput("x"), EncodingFormat: "base64"}, ""},
	}
	for _, tt := range tests {
		err := tt.req.Validate()
		if tt.param == "" {
			if err != nil {
				t.Errorf("Validate(%+v) = %v", tt.req, err)
			}
			continue
		}
		var e *sdk.Error
		if !errors.As(err, &e) || e.Kind != sdk.KindBadRequest || e.Param != tt.param {
			t.Errorf("Validate(%+v) = %v, want a bad request about %s", tt.req, err, tt.param)
		}
	}
}

func TestEmbeddingBase64IsLittleEndianFloat32(t *testing.T) {
	t.Parallel()
	// 1.0 is 0x3f800000; little-endian that is 00 00 80 3f.
	e := sdk.Embedding{Floats: []float32{1}}.ToBase64()
	if want := base64.StdEncoding.EncodeToString([]byte{0, 0, 0x80, 0x3f}); e.Base64 != want || e.Floats != nil {
		t.Errorf("ToBase64 = %+v, want Base64 %q only", e, want)
	}
}

func TestEmbeddingBase64RoundTripIsExact(t *testing.T) {
	t.Parallel()
	vectors := [][]float32{
		{},
		{0, float32(math.Copysign(0, -1)), 1, -1, 0.1, 1.0 / 3, -2.5e-7},
		{math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, float32(math.Inf(1)), float32(math.Inf(-1)),
			float32(math.NaN())},
	}
	for _, v := range vectors {
		b64 := sdk.Embedding{Floats: v}.ToBase64()
		got, err := b64.Vector()
		if err != nil {
			t.Fatalf("Vector(%q) = %v", b64.Base64, err)
		}
		if len(got) != len(v) {
			t.Fatalf("Vector gave %d values, want %d", len(got), len(v))
		}
		for i := range v {
			if math.Float32bits(got[i]) != math.Float32bits(v[i]) {
				t.Errorf("value %d: %v (%#x) came back as %v (%#x)", i, v[i], math.Float32bits(v[i]), got[i], math.Float32bits(got[i]))
			}
		}
		if again := b64.ToBase64(); !reflect.DeepEqual(again, b64) {
			t.Errorf("ToBase64 of a base64 vector changed it: %+v", again)
		}
	}
}

func TestEmbeddingVector(t *testing.T) {
	t.Parallel()
	floats := []float32{0.5, -1}
	if got, err := (sdk.Embedding{Floats: floats}).Vector(); err != nil || !reflect.DeepEqual(got, floats) {
		t.Errorf("Vector() of floats = %v, %v", got, err)
	}
	for _, bad := range []string{
		"!!!not base64",
		"AAAA",     // 3 bytes
		"AAAAAAA=", // 5 bytes
		base64.StdEncoding.EncodeToString(make([]byte, 6)),
	} {
		if got, err := (sdk.Embedding{Base64: bad}).Vector(); err == nil {
			t.Errorf("Vector(%q) = %v, want an error", bad, got)
		}
	}
}

func TestEmbeddingJSON(t *testing.T) {
	t.Parallel()
	b64 := sdk.Embedding{Floats: []float32{1, 2}}.ToBase64().Base64
	tests := []struct {
		name string
		e    sdk.Embedding
		json string
	}{
		{"floats", sdk.Embedding{Floats: []float32{0.25, -1, 3}}, `[0.25,-1,3]`},
		{"empty floats", sdk.Embedding{Floats: []float32{}}, `[]`},
		{"base64", sdk.Embedding{Base64: b64}, `"` + b64 + `"`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.e)
		if err != nil || string(b) != tt.json {
			t.Errorf("%s: Marshal = %s, %v; want %s", tt.name, b, err, tt.json)
		}
		var back sdk.Embedding
		if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, tt.e) {
			t.Errorf("%s: Unmarshal(%s) = %+v, %v", tt.name, b, back, err)
		}
	}
	// When both are set, base64 wins: it is what the client asked for.
	if b, _ := json.Marshal(sdk.Embedding{Floats: []float32{9}, Base64: b64}); string(b) != `"`+b64+`"` {
		t.Errorf("Marshal(both) = %s", b)
	}
	var e sdk.Embedding
	if err := json.Unmarshal([]byte(`{"x":1}`), &e); err == nil {
		t.Error("Unmarshal of an object succeeded")
	}
}

func TestEmbeddingResponseDecodesBothEncodings(t *testing.T) {
	t.Parallel()
	b64 := sdk.Embedding{Floats: []float32{1.5, -2}}.ToBase64().Base64
	body := `{"object":"list","data":[` +
		`{"object":"embedding","index":0,"embedding":[1.5,-2]},` +
		`{"object":"embedding","index":1,"embedding":"` + b64 + `"}],` +
		`"model":"m","usage":{"prompt_tokens":2,"completion_tokens":0,"total_tokens":2}}`
	var r sdk.EmbeddingResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	for i, d := range r.Data {
		v, err := d.Embedding.Vector()
		if err != nil || !reflect.DeepEqual(v, []float32{1.5, -2}) || d.Index != i {
			t.Errorf("data[%d] = %+v: Vector() = %v, %v", i, d, v, err)
		}
	}
	enc, _ := json.Marshal(r)
	if string(enc) != body {
		t.Errorf("Marshal =\n%s\nwant\n%s", enc, body)
	}
}
