package tokens

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"

	"github.com/switchyard/gateway/sdk"
)

// refusingTransport fails every request and counts them. TestMain makes it the default transport, so that
// a download by tiktoken-go (which uses http.Get) would both fail and be seen.
type refusingTransport struct{ attempts atomic.Int64 }

func (rt *refusingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rt.attempts.Add(1)
	return nil, errors.New("network use in a test: " + r.URL.String())
}

var (
	network  = &refusingTransport{}
	cacheDir string
)

func TestMain(m *testing.M) {
	http.DefaultTransport = network
	// tiktoken-go's default loader would read a cached download from here; an empty directory rules that out.
	dir, err := os.MkdirTemp("", "tiktoken-cache")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cacheDir = dir
	os.Setenv("TIKTOKEN_CACHE_DIR", dir)
	os.Setenv("DATA_GYM_CACHE_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	if n := network.attempts.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d network requests\n", n)
		code = 1
	}
	os.Exit(code)
}

func TestOffline(t *testing.T) {
	if err := Warm(); err != nil {
		t.Fatal(err)
	}
	if loader.loads.Load() < 2 {
		t.Errorf("tiktoken-go loaded %d encodings through the offline loader, want both", loader.loads.Load())
	}
	var _ *tiktoken_loader.OfflineLoader = loader.files // the embedded files, not a download
	if n := network.attempts.Load(); n != 0 {
		t.Errorf("%d network requests", n)
	}
	if entries, err := os.ReadDir(cacheDir); err != nil || len(entries) != 0 {
		t.Errorf("cache directory used: %v %v", entries, err)
	}
}

// Counts from OpenAI's cookbook ("How to count tokens with tiktoken").
func TestCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text          string
		cl100k, o200k int
	}{
		{"hello world", 2, 2},
		{"tiktoken is great!", 6, 6},
		{"antidisestablishmentarianism", 6, 6},
		{"2 + 2 = 4", 7, 7},
		{"お誕生日おめでとう", 9, 8},
		{"", 0, 0},
	}
	for _, tt := range tests {
		if got := Count("gpt-4", tt.text); got != tt.cl100k {
			t.Errorf("cl100k_base %q: %d tokens, want %d", tt.text, got, tt.cl100k)
		}
		if got := Count("gpt-4o", tt.text); got != tt.o200k {
			t.Errorf("o200k_base %q: %d tokens, want %d", tt.text, got, tt.o200k)
		}
	}
	// Special-token text is ordinary text from a client.
	if got := Count("gpt-4o", "<|endoftext|>"); got <= 1 {
		t.Errorf("<|endoftext|> counted as %d token(s): treated as a special token", got)
	}
}

// The cookbook's example conversation: 129 prompt tokens for gpt-3.5-turbo and gpt-4, 124 for gpt-4o.
func cookbookMessages() []sdk.Message {
	return []sdk.Message{
		{Role: "system", Content: sdk.TextContent("You are a helpful, pattern-following assistant that translates corporate jargon into plain English.")},
		{Role: "system", Name: "example_user", Content: sdk.TextContent("New synergies will help drive top-line growth.")},
		{Role: "system", Name: "example_assistant", Content: sdk.TextContent("Things working well together will increase revenue.")},
		{Role: "system", Name: "example_user", Content: sdk.TextContent("Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage.")},
		{Role: "system", Name: "example_assistant", Content: sdk.TextContent("Let's talk later when we're less busy about how to do better.")},
		{Role: "user", Content: sdk.TextContent("This late pivot means we don't have time to boil the ocean for the client deliverable.")},
	}
}

func TestCountMessages(t *testing.T) {
	t.Parallel()
	msgs := cookbookMessages()
	for model, want := range map[string]int{"gpt-3.5-turbo": 129, "gpt-4-0613": 129, "gpt-4o": 124,
		"gpt-4o-mini": 124, "azure/gpt-4o-east": 124} {
		if got := CountMessages(model, msgs); got != want {
			t.Errorf("%s: %d tokens, want %d", model, got, want)
		}
	}
	if got := CountMessages("gpt-4o", nil); got != ReplyPriming {
		t.Errorf("no messages: %d, want the reply priming %d", got, ReplyPriming)
	}

	// Parts, images, tool calls.
	text := "What is in this image?"
	user := sdk.Message{Role: "user", Content: sdk.PartsContent(
		sdk.ContentPart{Type: "text", Text: text},
		sdk.ContentPart{Type: "image_url", ImageURL: &sdk.ImageURL{URL: "https://example.com/a.png"}},
		sdk.ContentPart{Type: "image_url", ImageURL: &sdk.ImageURL{URL: "https://example.com/b.png", Detail: "low"}},
		sdk.ContentPart{Type: "input_audio", InputAudio: &sdk.InputAudio{Data: "AAAA", Format: "wav"}},
	)}
	want := ReplyPriming + TokensPerMessage + Count("gpt-4o", "user") + Count("gpt-4o", text) + ImageTokens + ImageTokensLow
	if got := CountMessages("gpt-4o", []sdk.Message{user}); got != want {
		t.Errorf("parts: %d tokens, want %d", got, want)
	}
	args := `{"city":"Paris"}`
	call := sdk.Message{Role: "assistant", Content: sdk.Content{Null: true}, ToolCalls: []sdk.ToolCall{
		{ID: "call_1", Type: "function", Function: sdk.FunctionCall{Name: "get_weather", Arguments: args}}}}
	answer := sdk.Message{Role: "tool", ToolCallID: "call_1", Content: sdk.TextContent("18C")}
	want = ReplyPriming + 2*TokensPerMessage + Count("gpt-4o", "assistant") + Count("gpt-4o", "get_weather") +
		Count("gpt-4o", args) + Count("gpt-4o", "tool") + Count("gpt-4o", "call_1") + Count("gpt-4o", "18C")
	if got := CountMessages("gpt-4o", []sdk.Message{call, answer}); got != want {
		t.Errorf("tool calls: %d tokens, want %d", got, want)
	}
}

func TestWithinLimit(t *testing.T) {
	t.Parallel()
	msgs := cookbookMessages()
	exact := CountMessages("gpt-4o", msgs) // 124
	bound := tally(msgs, func(s string) int { return len(s) })
	if bound < exact {
		t.Fatalf("byte bound %d below the count %d", bound, exact)
	}
	for limit, want := range map[int]bool{exact - 1: false, exact: true, bound - 1: true, bound: true, 10: false} {
		if got := WithinLimit("gpt-4o", msgs, limit); got != want {
			t.Errorf("WithinLimit(%d) = %v, want %v (count %d)", limit, got, want, exact)
		}
	}
	// Long text whose bytes exceed the limit but whose tokens do not: counted, not refused.
	long := []sdk.Message{{Role: "user", Content: sdk.TextContent(strings.Repeat("hello world ", 1000))}}
	if n := CountMessages("gpt-4", long); !WithinLimit("gpt-4", long, n) || WithinLimit("gpt-4", long, n-1) {
		t.Errorf("WithinLimit around the count %d is wrong", n)
	}
}

func TestEncodingFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		model    string
		encoding string
		exact    bool
	}{
		{"gpt-4o", O200kBase, true},
		{"gpt-4o-mini-2024-07-18", O200kBase, true},
		{"chatgpt-4o-latest", O200kBase, true},
		{"gpt-4.1-nano", O200kBase, true},
		{"gpt-5", O200kBase, true},
		{"o1", O200kBase, true},
		{"o3-mini", O200kBase, true},
		{"o4-mini", O200kBase, true},
		{"gpt-oss-120b", O200kBase, true},
		{"ft:gpt-4o-mini:acme::abc123", O200kBase, true},
		{"openai/gpt-4o", O200kBase, true},
		{"openrouter/openai/GPT-4o", O200kBase, true},
		{"gpt-4", CL100kBase, true},
		{"gpt-4-turbo", CL100kBase, true},
		{"gpt-3.5-turbo", CL100kBase, true},
		{"text-embedding-3-small", CL100kBase, true},
		{"claude-sonnet-4-20250514", CL100kBase, false},
		{"bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0", CL100kBase, false},
		{"gemini-2.5-pro", CL100kBase, false},
		{"ollama/llama3", CL100kBase, false},
		{"omni-moderation-latest", CL100kBase, false},
	}
	for _, tt := range tests {
		if got := EncodingFor(tt.model); got != tt.encoding {
			t.Errorf("EncodingFor(%q) = %s, want %s", tt.model, got, tt.encoding)
		}
		if got := Exact(tt.model); got != tt.exact {
			t.Errorf("Exact(%q) = %v, want %v", tt.model, got, tt.exact)
		}
	}
}

func TestConcurrentCounts(t *testing.T) {
	t.Parallel()
	texts := []string{"hello world", strings.Repeat("The quick brown fox jumps over the lazy dog. ", 50),
		"お誕生日おめでとう", "func main() { fmt.Println(\"hi\") }"}
	models := []string{"gpt-4o", "gpt-4", "claude-3-haiku-20240307"}
	want := map[string]int{}
	for _, m := range models {
		for _, s := range texts {
			want[m+"\x00"+s] = Count(m, s)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				m, s := models[(g+i)%len(models)], texts[i%len(texts)]
				if got := Count(m, s); got != want[m+"\x00"+s] {
					errs <- fmt.Sprintf("%s %q: %d, want %d", m, s, got, want[m+"\x00"+s])
					return
				}
				CountMessages(m, cookbookMessages())
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func BenchmarkCount(b *testing.B) {
	if err := Warm(); err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 25) // about 1 KB
	for _, model := range []string{"gpt-4o", "gpt-4"} {
		b.Run(model, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				Count(model, text)
			}
		})
	}
}

func BenchmarkWithinLimit(b *testing.B) {
	msgs := cookbookMessages()
	b.ReportAllocs()
	for b.Loop() {
		WithinLimit("gpt-4o", msgs, 128000)
	}
}

func BenchmarkCountMessages(b *testing.B) {
	if err := Warm(); err != nil {
		b.Fatal(err)
	}
	msgs := cookbookMessages()
	b.ReportAllocs()
	for b.Loop() {
		CountMessages("gpt-4o", msgs)
	}
}
