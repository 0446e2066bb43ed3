package bedrock

import (
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
)

// checkConverseFast holds appendConverseFast to encoding/json: the same bytes whenever it takes the request.
func checkConverseFast(t *testing.T, r *converseRequest) (took bool) {
	t.Helper()
	type plain converseRequest
	want, err := json.Marshal((*plain)(r))
	got, ok := appendConverseFast(nil, r)
	if err != nil {
		if ok {
			t.Fatalf("encoding/json refused %+v (%v), the fast path wrote %s", r, err, got)
		}
		return false
	}
	if ok && string(got) != string(want) {
		t.Fatalf("fast path\n%s\nencoding/json\n%s", got, want)
	}
	return ok
}

// TestAppendConverseFastMatchesEncodingJSON encodes the Converse request of every request case in testdata/chat
// both ways; the plain cases must take the fast path.
func TestAppendConverseFastMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	took := map[string]bool{}
	for _, path := range cases(t, "chat", ".json") {
		r, err := buildConverse(chatCase(t, testTranslator(nil), path))
		if err != nil {
			continue
		}
		took[filepath.Base(path)] = checkConverseFast(t, r)
	}
	for _, name := range []string{"plain.json", "stream.json"} {
		if !took[name] {
			t.Errorf("%s did not take the fast path", name)
		}
	}
	one, half := 1, 0.5
	for _, r := range []*converseRequest{
		{},
		{Messages: []message{{Role: "user"}}},
		{Messages: []message{{Role: "user", Content: []contentBlock{{}, {CachePoint: defaultCachePoint}, {Text: "<a & b>\u2028\xff\"\\\n\t\x01", CachePoint: defaultCachePoint}}}},
			System: []systemBlock{{Text: "sys"}, {CachePoint: defaultCachePoint}}},
		{Messages: []message{}, InferenceConfig: &inferenceConfig{}},
		{Messages: []message{}, InferenceConfig: &inferenceConfig{MaxTokens: &one, Temperature: &half, TopP: &half, StopSequences: []string{"\n\n", "</s>"}}},
		{Messages: []message{}, InferenceConfig: &inferenceConfig{TopP: &half}},
	} {
		if !checkConverseFast(t, r) {
			t.Errorf("%+v did not take the fast path", r)
		}
	}
	for _, f := range []float64{0, -0.0, 1, 0.1, 1e-6, 9.99e-7, 1e-7, 1e20, 1e21, 123456789e14, -2.5e-300, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		checkConverseFast(t, &converseRequest{InferenceConfig: &inferenceConfig{Temperature: &f}})
	}
	for _, r := range []*converseRequest{
		{Messages: []message{{Role: "user", Content: []contentBlock{{Image: &imageBlock{Format: "png"}}}}}},
		{ToolConfig: &toolConfig{}},
		{AdditionalModelRequestFields: map[string]json.RawMessage{"top_k": json.RawMessage("5")}},
	} {
		if checkConverseFast(t, r) {
			t.Errorf("%+v took the fast path", r)
		}
	}
	nan := math.NaN()
	if _, ok := appendConverseFast(nil, &converseRequest{InferenceConfig: &inferenceConfig{TopP: &nan}}); ok {
		t.Error("NaN took the fast path")
	}
}

func FuzzAppendConverseFast(f *testing.F) {
	f.Add("user", "Hello <world> & \u2028", "system", "\n\n", 0.7, 0.9, 100, true)
	f.Add("", "", "", "", 1e-7, 1e21, 0, false)
	f.Add("assistant", "\xff\x00\"\\", "\t", "</s>", -0.0, 123.456, -1, true)
	f.Fuzz(func(t *testing.T, role, text, system, stop string, temp, topP float64, maxTokens int, cache bool) {
		r := &converseRequest{Messages: []message{{Role: role, Content: []contentBlock{{Text: text}}}},
			InferenceConfig: &inferenceConfig{MaxTokens: &maxTokens, Temperature: &temp, TopP: &topP, StopSequences: []string{stop}}}
		if system != "" {
			r.System = []systemBlock{{Text: system}}
		}
		if cache {
			r.Messages[0].Content = append(r.Messages[0].Content, contentBlock{Text: stop, CachePoint: defaultCachePoint})
			r.System = append(r.System, systemBlock{CachePoint: defaultCachePoint})
		}
		checkConverseFast(t, r)
	})
}

// BenchmarkConverseMarshal encodes the Converse request of a plain chat (system prompt, two turns, settings)
// both ways.
func BenchmarkConverseMarshal(b *testing.B) {
	tokens, temp := 256, 0.7
	r := &converseRequest{
		Messages: []message{{Role: "user", Content: []contentBlock{{Text: "What is the capital of France? Answer in one short sentence, please."}}},
			{Role: "assistant", Content: []contentBlock{{Text: "Paris is the capital of France."}}},
			{Role: "user", Content: []contentBlock{{Text: "And of Italy?"}}}},
		System:          []systemBlock{{Text: "You are a helpful assistant."}},
		InferenceConfig: &inferenceConfig{MaxTokens: &tokens, Temperature: &temp},
	}
	type plain converseRequest
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := appendConverseFast(make([]byte, 0, 1024), r); !ok {
				b.Fatal("not taken")
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal((*plain)(r)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
