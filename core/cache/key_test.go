package cache

import (
	"context"
	"strings"
	"testing"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// decoded runs the decode stage on a body, as the gateway does before the cache stage.
func decoded(t *testing.T, typ pipeline.CallType, body string) *pipeline.Call {
	t.Helper()
	c := &pipeline.Call{Type: typ, Body: []byte(body)}
	if err := (pipeline.DecodeStage{}).Before(context.Background(), c); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return c
}

func chatKey(t *testing.T, body string) string {
	t.Helper()
	k, err := Key(decoded(t, pipeline.CallChat, body), "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

const baseChat = `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5}`

func TestKeyIgnoresWhatDoesNotChangeTheAnswer(t *testing.T) {
	t.Parallel()
	base := chatKey(t, baseChat)
	if len(base) != 64 {
		t.Fatalf("key %q is not a hex SHA-256", base)
	}
	same := map[string]string{
		"members reordered": `{"temperature":0.5,"messages":[{"content":"hi","role":"user"}],"model":"m"}`,
		"whitespace":        "{ \"model\" : \"m\",\n \"messages\" : [ { \"role\":\"user\", \"content\":\"hi\" } ], \"temperature\": 0.5 }",
		"escaped text":      `{"model":"m","messages":[{"role":"user","content":"h\u0069"}],"temperature":0.5}`,
		"number spelling":   `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":5e-1}`,
		"stream":            `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"stream":true,"stream_options":{"include_usage":true}}`,
		"controls": `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.5,"metadata":{"a":1},` +
			`"tags":["t"],"timeout":3,"num_retries":2,"fallbacks":["x"],"cache":{"no-store":true}}`,
		"duplicate member, the last counts": `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":9,"temperature":0.5}`,
	}
	for name, body := range same {
		if got := chatKey(t, body); got != base {
			t.Errorf("%s: the key changed", name)
		}
	}
}

func TestKeyCoversWhatChangesTheAnswer(t *testing.T) {
	t.Parallel()
	tools := `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}}}}]`
	toolsReordered := `"tools":[{"function":{"parameters":{"properties":{"a":{"type":"string"}},"type":"object"},"name":"f"},"type":"function"}]`
	otherTools := `"tools":[{"type":"function","function":{"name":"g","parameters":{"type":"object"}}}]`
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	keys := map[string]string{}
	for name, body := range map[string]string{
		"base":            baseChat,
		"temperature":     `{"model":"m",` + msgs + `,"temperature":0.7}`,
		"no temperature":  `{"model":"m",` + msgs + `}`,
		"model":           `{"model":"m2",` + msgs + `,"temperature":0.5}`,
		"message":         `{"model":"m","messages":[{"role":"user","content":"hello"}],"temperature":0.5}`,
		"system prompt":   `{"model":"m","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"temperature":0.5}`,
		"tools":           `{"model":"m",` + msgs + `,"temperature":0.5,` + tools + `}`,
		"other tools":     `{"model":"m",` + msgs + `,"temperature":0.5,` + otherTools + `}`,
		"tool_choice":     `{"model":"m",` + msgs + `,"temperature":0.5,` + tools + `,"tool_choice":"required"}`,
		"response_format": `{"model":"m",` + msgs + `,"temperature":0.5,"response_format":{"type":"json_object"}}`,
		"seed":            `{"model":"m",` + msgs + `,"temperature":0.5,"seed":9007199254740993}`,
		"other seed":      `{"model":"m",` + msgs + `,"temperature":0.5,"seed":9007199254740992}`,
		"stop":            `{"model":"m",` + msgs + `,"temperature":0.5,"stop":["x"]}`,
		"n":               `{"model":"m",` + msgs + `,"temperature":0.5,"n":2}`,
		"max_tokens":      `{"model":"m",` + msgs + `,"temperature":0.5,"max_tokens":10}`,
		"user":            `{"model":"m",` + msgs + `,"temperature":0.5,"user":"u1"}`,
		"extra member":    `{"model":"m",` + msgs + `,"temperature":0.5,"top_k":3}`,
		"mock_response":   `{"model":"m",` + msgs + `,"temperature":0.5,"mock_response":"canned"}`,
		"tool result": `{"model":"m","messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,` +
			`"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},` +
			`{"role":"tool","tool_call_id":"c1","content":"42"}],"temperature":0.5}`,
		"string, not number": `{"model":"m",` + msgs + `,"temperature":0.5,"top_k":"3"}`,
	} {
		k := chatKey(t, body)
		for other, ok := range keys {
			if ok == k {
				t.Errorf("%q and %q have the same key", name, other)
			}
		}
		keys[name] = k
	}
	if a, b := chatKey(t, `{"model":"m",`+msgs+`,"temperature":0.5,`+tools+`}`),
		chatKey(t, `{"model":"m",`+msgs+`,"temperature":0.5,`+toolsReordered+`}`); a != b {
		t.Error("a tool schema with its members reordered has another key")
	}
}

func TestKeyCoversTypeModelAndTenant(t *testing.T) {
	t.Parallel()
	c := decoded(t, pipeline.CallChat, baseChat)
	k1, _ := Key(c, "team:a")
	k2, _ := Key(c, "team:b")
	k3, _ := Key(c, "")
	if k1 == k2 || k1 == k3 || k2 == k3 {
		t.Fatal("tenants share keys")
	}
	// The model comes from the call (it may have come from the URL), not from the body.
	c2 := &pipeline.Call{Type: pipeline.CallChat, PathModel: "m",
		Body: []byte(`{"messages":[{"role":"user","content":"hi"}],"temperature":0.5}`)}
	if err := (pipeline.DecodeStage{}).Before(context.Background(), c2); err != nil {
		t.Fatal(err)
	}
	if k, _ := Key(c2, ""); k != k3 {
		t.Fatal("a path model and the same body model have different keys")
	}
	// The call type is part of the key: the same body as a chat and as a text completion call.
	raw := []byte(`{"model":"m","prompt":"hi"}`)
	chat := &pipeline.Call{Type: pipeline.CallChat, Model: "m", Chat: &sdk.ChatRequest{Raw: raw}}
	comp := &pipeline.Call{Type: pipeline.CallCompletion, Model: "m", Completion: &sdk.CompletionRequest{Raw: raw}}
	a, _ := Key(chat, "")
	b, _ := Key(comp, "")
	if a == b {
		t.Fatal("a completion and a chat call with the same body share a key")
	}
}

func TestTenant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p    *pipeline.Principal
		want string
	}{
		{nil, ""},
		{&pipeline.Principal{}, ""},
		{&pipeline.Principal{KeyHash: "h1"}, "key:h1"},
		{&pipeline.Principal{KeyHash: "h1", TeamID: "t1"}, "team:t1"},
	} {
		if got := Tenant(tc.p); got != tc.want {
			t.Errorf("Tenant(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

// Requests built in code (no raw body) get keys too, from their encoding.
func TestKeyOfATypedRequest(t *testing.T) {
	t.Parallel()
	temp := 0.5
	c := &pipeline.Call{Type: pipeline.CallChat, Model: "m", Chat: &sdk.ChatRequest{Model: "m", Temperature: &temp,
		Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("hi")}}}}
	k, err := Key(c, "")
	if err != nil || len(k) != 64 {
		t.Fatalf("key %q, %v", k, err)
	}
	c.Chat.Stream = true
	if k2, _ := Key(c, ""); k2 != k {
		t.Fatal("stream changed the key of a typed request")
	}
}

func TestEmbeddingKeysArePerInput(t *testing.T) {
	t.Parallel()
	keys := func(body string) []string {
		ks, err := EmbeddingKeys(decoded(t, pipeline.CallEmbedding, body), "")
		if err != nil {
			t.Fatal(err)
		}
		return ks
	}
	ab := keys(`{"model":"e","input":["a","b"]}`)
	ba := keys(`{"input":["b","a"],"model":"e"}`)
	single := keys(`{"model":"e","input":"a"}`)
	if len(ab) != 2 || ab[0] != ba[1] || ab[1] != ba[0] || single[0] != ab[0] || ab[0] == ab[1] {
		t.Fatalf("per-input keys depend on the other inputs: %q %q %q", ab, ba, single)
	}
	if k := keys(`{"model":"e","input":["a"],"dimensions":4}`); k[0] == ab[0] {
		t.Fatal("dimensions do not change the key")
	}
	if k := keys(`{"model":"e","input":["a"],"encoding_format":"base64"}`); k[0] == ab[0] {
		t.Fatal("encoding_format does not change the key")
	}
	toks := keys(`{"model":"e","input":[[1,2],[3]]}`)
	if len(toks) != 2 || toks[0] == toks[1] || toks[0] == keys(`{"model":"e","input":[[12]]}`)[0] {
		t.Fatalf("token keys: %q", toks)
	}
	if _, err := EmbeddingKeys(decoded(t, pipeline.CallChat, baseChat), ""); err == nil {
		t.Fatal("embedding keys of a chat call")
	}
}

func TestCanonicalFormRejectsMalformedJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `[]`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":[1,}`, `{"a":"x}`, `{"a":tru}`,
		`{"a":1} x`, `{"a":"\q"}`} {
		if _, err := appendTopLevel(nil, []byte(in), nil); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
	a, _ := appendTopLevel(nil, []byte(`{"a":[1,2.50,-0,1e2,"x",true,false,null,{}]}`), nil)
	b, _ := appendTopLevel(nil, []byte(`{"a":[1.0,2.5,0,100,"x",true,false,null,{ }]}`), nil)
	if string(a) != string(b) || !strings.HasPrefix(string(a), "{") {
		t.Fatalf("equal values, different forms:\n%q\n%q", a, b)
	}
}

// The canonical form of objects in and out of order, nested, with repeated keys, spelled out byte by byte.
func TestCanonicalFormSortsMembersAtEveryDepth(t *testing.T) {
	t.Parallel()
	s := func(text string) string { return "s" + string(rune(len(text))) + text }
	want := "{" + s("a") + "[" + "{" + s("c") + "n\x012" + s("d") + "n\x011" + "}" + "]" +
		s("b") + "{" + s("x") + "n\x012" + s("y") + "n\x013" + "}" + s("e") + "{}" + "}"
	for _, in := range []string{
		`{"a":[{"c":2,"d":1}],"b":{"x":2,"y":3},"e":{}}`,
		`{"b":{"y":1,"x":2,"y":3},"e":{},"a":[{"d":1,"c":2}]}`,
		`{"e":{},"a":[{"d":1,"c":5,"c":2}],"b":{"y":3,"x":2},"b":{"x":2,"y":3}}`,
		`{"skipped":{"z":1,"a":2},"e":{},"b":{"y":3,"x":2},"a":[{"d":1,"c":2}]}`,
	} {
		got, err := appendTopLevel([]byte("head"), []byte(in), func(name []byte) bool { return string(name) == "skipped" })
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if string(got) != "head"+want {
			t.Errorf("%s:\n got %q\nwant %q", in, got, "head"+want)
		}
	}
}

// Keys computed at once from many goroutines (the pooled working memory) are each the key of their own request.
func TestKeyConcurrent(t *testing.T) {
	t.Parallel()
	bodies := make([]string, 8)
	keys := make([]string, len(bodies))
	for i := range bodies {
		bodies[i] = `{"model":"m","temperature":0.` + string(rune('1'+i)) + `,"messages":[{"role":"user","content":"` +
			strings.Repeat("x", 100*i) + `"}],"tools":[{"type":"function","function":{"parameters":{"type":"object"},"name":"f"}}]}`
		keys[i] = chatKey(t, bodies[i])
	}
	calls := make([][]*pipeline.Call, 4)
	for g := range calls {
		for n := range 200 {
			calls[g] = append(calls[g], decoded(t, pipeline.CallChat, bodies[(g+n)%len(bodies)]))
		}
	}
	done := make(chan struct{})
	for g := range calls {
		go func() {
			defer func() { done <- struct{}{} }()
			for n, c := range calls[g] {
				i := (g + n) % len(bodies)
				k, err := Key(c, "")
				if err != nil || k != keys[i] {
					t.Errorf("body %d: key %s, want %s (%v)", i, k, keys[i], err)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
