package bedrock

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

// FuzzStreamParser feeds the stream parser event sequences in the testdata/stream format ("<type>\t<payload>"
// lines, "#request <json>" for the request) and checks that it never panics and that what it returns is well
// formed: chunks with choices or usage, tool calls with their index, errors of the sdk kind.
func FuzzStreamParser(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "stream", "*.events"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed corpus: %v", err)
	}
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	tr := testTranslator(nil)
	tg := &sdk.Target{Provider: Name, Model: testModel, APIBase: "https://bedrock-runtime.us-east-1.amazonaws.com"}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, events := streamCase(data)
		res := runStream(tr, tg, &req, events)
		for i, c := range res.Chunks {
			if c == nil || (len(c.Choices) == 0 && c.Usage == nil) {
				t.Fatalf("chunk %d is empty: %+v", i, c)
			}
			for _, ch := range c.Choices {
				for _, tc := range ch.Delta.ToolCalls {
					if tc.Index == nil || *tc.Index < 0 {
						t.Fatalf("chunk %d: tool call without an index: %+v", i, tc)
					}
				}
			}
		}
		if res.Error != nil && res.Error.Kind == "not an sdk.Error" {
			t.Fatalf("error of the wrong type: %s", res.Error.Message)
		}
	})
}

// The stream parser's errors are sdk.Errors, which the gateway renders with their kind.
func TestStreamErrorsAreSDKErrors(t *testing.T) {
	t.Parallel()
	tr := testTranslator(nil)
	tg := &sdk.Target{Provider: Name, Model: testModel}
	p := tr.NewChatStream(tg, &sdk.ChatRequest{})
	_, _, err := p.Parse(sdk.StreamEvent{Type: "throttlingException", Data: []byte(`{"message":"slow down"}`)}, nil)
	var e *sdk.Error
	if !errors.As(err, &e) || e.Kind != sdk.KindRateLimit || !e.Retryable() {
		t.Fatalf("err = %v", err)
	}
}
