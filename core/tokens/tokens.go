// Package tokens counts tokens offline, for the router's context-window checks and for usage estimates when a
// provider reports none.
//
// Counting uses OpenAI's BPE encodings through tiktoken-go, with the encoding files compiled into the binary
// (github.com/pkoukk/tiktoken-go-loader's offline loader): nothing is downloaded, and no cache directory is
// read or written. o200k_base counts for gpt-4o, gpt-4.1, gpt-4.5, gpt-5, gpt-oss and the o-series; cl100k_base
// for the older OpenAI models (gpt-4, gpt-3.5-turbo, the text-embedding models) and, as an approximation, for
// every other provider's models, whose own tokenizers are not public or not bundled: for those the count is an
// estimate, typically within a few tens of percent (Exact reports which is which).
//
// Each encoding is built once, on first use (it takes a few hundred milliseconds and tens of megabytes; Warm
// does it ahead of time), and is then shared: every function here is safe for concurrent use.
package tokens

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	tiktoken "github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"

	"github.com/switchyard/gateway/sdk"
)

// The encodings used.
const (
	O200kBase  = "o200k_base"
	CL100kBase = "cl100k_base"
)

// Chat format overhead, from OpenAI's cookbook ("How to count tokens with tiktoken"), the same for every
// current chat model: each message adds 3 tokens (<|start|>, the role/name separator, <|end|>), a name 1 more,
// and the reply is primed with 3 (<|start|>assistant<|message|>).
const (
	TokensPerMessage = 3
	TokensPerName    = 1
	ReplyPriming     = 3
)

// Images are counted as fixed estimates, since their size is not known without fetching and decoding them.
// OpenAI bills an image at 85 tokens plus 170 per 512-pixel tile of the image scaled to fit 2048×2048 and then
// to 768 pixels on its short side; ImageTokens is that for a 1024×1024 image at high (or auto) detail,
// 85 + 4×170, and ImageTokensLow the flat price of detail "low".
const (
	ImageTokens    = 765
	ImageTokensLow = 85
)

// offlineLoader hands tiktoken-go the encoding files compiled into the binary, and counts the loads (a test
// checks that tiktoken-go loaded through it).
type offlineLoader struct {
	files *tiktoken_loader.OfflineLoader
	loads atomic.Int64
}

func (l *offlineLoader) LoadTiktokenBpe(file string) (map[string]int, error) {
	l.loads.Add(1)
	return l.files.LoadTiktokenBpe(file)
}

var loader = &offlineLoader{files: tiktoken_loader.NewOfflineLoader()}

// tiktoken-go's default loader downloads the encoding files from openaipublic.blob.core.windows.net and
// caches them in the temporary directory. Replacing it at init, before anything can build an encoding, keeps
// every build offline (and is race-free: tiktoken-go keeps the loader in an unguarded package variable).
func init() { tiktoken.SetBpeLoader(loader) }

type encoder struct {
	name string
	once sync.Once
	tk   *tiktoken.Tiktoken
	err  error
}

func (e *encoder) get() (*tiktoken.Tiktoken, error) {
	e.once.Do(func() {
		e.tk, e.err = tiktoken.GetEncoding(e.name)
		if e.err != nil {
			e.err = fmt.Errorf("tokens: encoding %s: %w", e.name, e.err)
		}
	})
	return e.tk, e.err
}

var (
	o200k  = &encoder{name: O200kBase}
	cl100k = &encoder{name: CL100kBase}
)

// Warm builds both encodings now rather than on the first count, and reports a failure to build them.
func Warm() error {
	if _, err := o200k.get(); err != nil {
		return err
	}
	_, err := cl100k.get()
	return err
}

// base returns the model's name without provider or routing prefixes ("azure/gpt-4o" → "gpt-4o",
// "openrouter/openai/gpt-4o" → "gpt-4o") or a fine-tune's "ft:", lower-cased.
func base(model string) string {
	m := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	return strings.TrimPrefix(m, "ft:")
}

// o200kPrefixes are the OpenAI model families tokenized by o200k_base.
var o200kPrefixes = []string{"gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss", "codex-", "computer-use"}

// cl100kPrefixes are the OpenAI model families tokenized by cl100k_base.
var cl100kPrefixes = []string{"gpt-4", "gpt-3.5", "gpt-35", "text-embedding-"}

func isO200k(m string) bool {
	if len(m) >= 2 && m[0] == 'o' && m[1] >= '0' && m[1] <= '9' { // o1, o3-mini, o4-mini, ...
		return true
	}
	for _, p := range o200kPrefixes {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return false
}

// EncodingFor returns the name of the encoding used to count the model's tokens: O200kBase or CL100kBase.
func EncodingFor(model string) string {
	if isO200k(base(model)) {
		return O200kBase
	}
	return CL100kBase
}

// Exact reports whether counts for the model use its own tokenizer (an OpenAI model) rather than
// cl100k_base as an estimate.
func Exact(model string) bool {
	m := base(model)
	if isO200k(m) {
		return true
	}
	for _, p := range cl100kPrefixes {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return false
}

func encoderFor(model string) *encoder {
	if EncodingFor(model) == O200kBase {
		return o200k
	}
	return cl100k
}

// Count returns the number of tokens of text for the model. Special-token text such as "<|endoftext|>" counts
// as ordinary text, as the API treats it. Should the built-in encoding ever fail to load, it falls back to one
// token per four bytes.
func Count(model, text string) int {
	if text == "" {
		return 0
	}
	return count(encoderFor(model), text)
}

func count(e *encoder, text string) int {
	if text == "" {
		return 0
	}
	tk, err := e.get()
	if err != nil {
		return (len(text) + 3) / 4
	}
	return len(tk.EncodeOrdinary(text))
}

// CountMessages returns the prompt tokens of a chat conversation for the model, the way OpenAI's cookbook
// counts them: for each message TokensPerMessage, the tokens of its role and content, and for a name its
// tokens and TokensPerName; then ReplyPriming for the whole conversation. Beyond the cookbook, which covers
// text only, it counts a message's tool_call_id, refusal and reasoning text, each tool call's function name and
// arguments, and each image part as ImageTokens (ImageTokensLow at detail "low"); audio and file parts are not
// counted. Tool definitions and response formats are not messages and are not counted here.
//
// Encoding runs at a few megabytes of text per second; WithinLimit answers the router's question ("does this
// fit the context window?") without encoding conversations that plainly fit.
func CountMessages(model string, msgs []sdk.Message) int {
	e := encoderFor(model)
	return tally(msgs, func(s string) int { return count(e, s) })
}

// WithinLimit reports whether the conversation has at most limit prompt tokens (as CountMessages counts them)
// for the model. A token is at least one byte, so a conversation whose text has no more bytes than the limit
// (with the fixed overheads and image estimates) fits without being encoded; only longer ones are counted.
func WithinLimit(model string, msgs []sdk.Message, limit int) bool {
	if tally(msgs, func(s string) int { return len(s) }) <= limit {
		return true
	}
	return CountMessages(model, msgs) <= limit
}

// tally adds up a conversation's tokens, with text counting the tokens of a string.
func tally(msgs []sdk.Message, text func(string) int) int {
	n := ReplyPriming
	for i := range msgs {
		m := &msgs[i]
		n += TokensPerMessage + text(m.Role)
		if m.Name != "" {
			n += text(m.Name) + TokensPerName
		}
		if m.Content.IsParts {
			for _, p := range m.Content.Parts {
				switch p.Type {
				case "text":
					n += text(p.Text)
				case "image_url":
					if p.ImageURL != nil && strings.EqualFold(p.ImageURL.Detail, "low") {
						n += ImageTokensLow
					} else {
						n += ImageTokens
					}
				}
			}
		} else {
			n += text(m.Content.Text)
		}
		n += text(m.ToolCallID) + text(m.Refusal) + text(m.ReasoningContent)
		for _, tc := range m.ToolCalls {
			n += text(tc.Function.Name) + text(tc.Function.Arguments)
		}
	}
	return n
}
