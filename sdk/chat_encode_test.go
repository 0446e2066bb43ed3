package sdk

import (
	"encoding/json"
	"reflect"
	"testing"
)

// checkSameEncoding fails when AppendChatResponse takes r and writes other bytes than encoding/json.
func checkSameEncoding(t *testing.T, r *ChatResponse) bool {
	t.Helper()
	want, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := AppendChatResponse([]byte("prefix"), r)
	if !ok {
		if string(got) != "prefix" {
			t.Fatalf("declined but wrote %q", got)
		}
		return false
	}
	if string(got[len("prefix"):]) != string(want) {
		t.Fatalf("encoding differs:\n got %s\nwant %s", got[len("prefix"):], want)
	}
	return true
}

var encodeStrings = []string{"", "plain", `quote " backslash \ slash /`, "<b>&amp;</b>", "tab\tnl\nret\r",
	"\b\f\x00\x01\x1f\x7f", "café ☕ 日本語 🎉", "bad \xff\xfe utf8 \xc3", "line\u2028para\u2029end", "\xed\xa0\x80"}

func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, s := range encodeStrings {
		want, _ := json.Marshal(s)
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Errorf("%q: %s, encoding/json %s", s, got, want)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range encodeStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := AppendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: %s, encoding/json %s", s, got, want)
		}
	})
}

func TestAppendChatResponseMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	full := &ChatResponse{ID: "msg_1", Object: "chat.completion", Created: 1700000000, Model: "claude-x",
		Choices: []Choice{{Index: 0, FinishReason: "stop", Message: Message{Role: "assistant",
			Content: TextContent("Hello <world> & \"you\"\n"), Name: "n", ToolCallID: "t", ReasoningContent: "why",
			Refusal: "no"}}},
		Usage: &Usage{PromptTokens: 5, CompletionTokens: 7, TotalTokens: 12,
			PromptTokensDetails:     &PromptTokensDetails{CachedTokens: 1, AudioTokens: 2, CacheCreationTokens: 3},
			CompletionTokensDetails: &CompletionTokensDetails{ReasoningTokens: 4, AudioTokens: 5}},
		SystemFingerprint: "fp", ServiceTier: "default"}
	taken := []*ChatResponse{
		full,
		{ID: "a", Object: "chat.completion", Model: "m", Choices: []Choice{{Message: Message{Role: "assistant",
			Content: Content{Null: true}}, FinishReason: "tool_calls"}}},
		{ID: "b", Choices: []Choice{}},
		{ID: "c"},
		{Choices: []Choice{{Index: 1, Message: Message{Content: Content{Null: true, Text: "text wins"}}},
			{Index: -2, Message: Message{Content: TextContent("")}}}, Usage: &Usage{PromptTokensDetails: &PromptTokensDetails{}},
			Created: -5},
	}
	for _, s := range encodeStrings {
		taken = append(taken, &ChatResponse{ID: s, Model: s, Choices: []Choice{{Message: Message{Role: s,
			Content: TextContent(s)}, FinishReason: s}}})
	}
	for _, r := range taken {
		if !checkSameEncoding(t, r) {
			t.Errorf("declined %+v", r)
		}
	}
	declined := []*ChatResponse{
		{Choices: []Choice{{Message: Message{ToolCalls: []ToolCall{{ID: "x", Type: "function"}}}}}},
		{Choices: []Choice{{Message: Message{Content: PartsContent(ContentPart{Type: "text", Text: "p"})}}}},
		{Choices: []Choice{{Logprobs: json.RawMessage(`{"content":[]}`)}}},
		{Choices: []Choice{{Message: Message{CacheControl: json.RawMessage(`{"type":"ephemeral"}`)}}}},
	}
	for _, r := range declined {
		if checkSameEncoding(t, r) {
			t.Errorf("took %+v", r)
		}
	}
}

// Every field of the encoded types, set on its own, is either written as encoding/json writes it or makes the
// encoder decline: a field added to the types without a line in AppendChatResponse fails here.
func TestAppendChatResponseSeesEveryField(t *testing.T) {
	t.Parallel()
	type leaf struct {
		name string
		set  func(r *ChatResponse)
	}
	var leaves []leaf
	fill := func(v reflect.Value) bool {
		switch v.Kind() {
		case reflect.String:
			v.SetString("x<")
		case reflect.Int, reflect.Int64:
			v.SetInt(7)
		case reflect.Bool:
			v.SetBool(true)
		case reflect.Slice:
			if v.Type() == reflect.TypeOf(json.RawMessage{}) {
				v.SetBytes([]byte(`{"k":1}`))
			} else {
				v.Set(reflect.MakeSlice(v.Type(), 1, 1))
			}
		default:
			return false
		}
		return true
	}
	var walk func(name string, typ reflect.Type, get func(r *ChatResponse) reflect.Value)
	walk = func(name string, typ reflect.Type, get func(r *ChatResponse) reflect.Value) {
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			if !f.IsExported() || f.Tag.Get("json") == "-" {
				continue
			}
			fname := name + "." + f.Name
			field := func(r *ChatResponse) reflect.Value { return get(r).Field(i) }
			switch {
			case f.Type == reflect.TypeOf(Message{}) || f.Type == reflect.TypeOf(Content{}):
				walk(fname, f.Type, field)
			case f.Type == reflect.TypeOf([]Choice{}):
				walk(fname+"[0]", f.Type.Elem(), func(r *ChatResponse) reflect.Value {
					v := field(r)
					if v.Len() == 0 {
						v.Set(reflect.MakeSlice(v.Type(), 1, 1))
					}
					return v.Index(0)
				})
			case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
				walk(fname, f.Type.Elem(), func(r *ChatResponse) reflect.Value {
					v := field(r)
					if v.IsNil() {
						v.Set(reflect.New(f.Type.Elem()))
					}
					return v.Elem()
				})
			default:
				leaves = append(leaves, leaf{fname, func(r *ChatResponse) {
					if !fill(field(r)) {
						t.Fatalf("%s: kind %v not handled by this test", fname, f.Type.Kind())
					}
				}})
			}
		}
	}
	root := func(r *ChatResponse) reflect.Value { return reflect.ValueOf(r).Elem() }
	walk("ChatResponse", reflect.TypeOf(ChatResponse{}), root)
	if len(leaves) < 20 {
		t.Fatalf("only %d fields found", len(leaves))
	}
	for _, l := range leaves {
		r := &ChatResponse{}
		l.set(r)
		if _, err := json.Marshal(r); err != nil {
			continue // a value encoding/json refuses too (a part with no type is still encoded: see above)
		}
		checkSameEncoding(t, r)
	}
}

// A text chunk built around a text literal is what encoding/json writes for the typed chunk.
func TestTextChunkMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ id, model, text string }{
		{"chatcmpl-1", "claude", "Hello"},
		{"chatcmpl-\"q\"", "m<&>", "caf\u00e9 \"x\"\n\t\u2028 \x01"},
	} {
		want, err := json.Marshal(&Chunk{ID: c.id, Object: "chat.completion.chunk", Created: 1700000000, Model: c.model,
			Choices: []ChunkChoice{{Delta: Delta{Content: c.text}}}})
		if err != nil {
			t.Fatal(err)
		}
		lit := AppendJSONString(nil, c.text)
		got := TextChunk(TextChunkPrefix(c.id, 1700000000, c.model), lit)
		if string(got) != string(want) {
			t.Errorf("got  %s\nwant %s", got, want)
		}
		if text, ok := UpstreamText(lit); !ok || text != c.text {
			t.Errorf("UpstreamText(%s) = %q, %v", lit, text, ok)
		}
	}
	for _, lit := range []string{`null`, `"a`, `"\x"`, "\"\xff\"", `5`, ``} {
		if _, ok := UpstreamText([]byte(lit)); ok {
			t.Errorf("UpstreamText(%q) ok", lit)
		}
	}
}
