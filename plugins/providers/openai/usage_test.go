package openai

import (
	"encoding/json"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

func TestAnswerUsage(t *testing.T) {
	t.Parallel()
	u, err := answerUsage([]byte(`{"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`))
	if err != nil || u == nil || u.TotalTokens != 7 {
		t.Fatalf("%+v %v", u, err)
	}
	u, err = answerUsage([]byte(`{"id":"x","usage":null,"x_groq":{"id":"g","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}}`))
	if err != nil || u == nil || u.TotalTokens != 3 {
		t.Fatalf("Groq's usage: %+v %v", u, err)
	}
	if u, err = answerUsage([]byte(`{"id":"x"}`)); err != nil || u != nil {
		t.Fatalf("no usage: %+v %v", u, err)
	}
	for _, bad := range []string{`{"id":"x","usage":{"prompt_tokens":3}`, `[1]`, `{"id":"x"} trailing`} {
		if _, err := answerUsage([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func BenchmarkUsage(b *testing.B) {
	in := []byte(`{"prompt_tokens":19,"completion_tokens":150,"total_tokens":169,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`)
	b.Run("reader", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := usageFrom(in, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var u sdk.Usage
			if err := json.Unmarshal(in, &u); err != nil {
				b.Fatal(err)
			}
		}
	})
}
