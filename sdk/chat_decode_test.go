package sdk

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// slowDecodeChat is how a chat request was decoded before the fast path: encoding/json, then Raw and Extra.
func slowDecodeChat(b []byte) (ChatRequest, error) {
	type plain ChatRequest
	var r ChatRequest
	if err := json.Unmarshal(b, (*plain)(&r)); err != nil {
		return r, err
	}
	r.Raw = bytes.Clone(b)
	r.Extra = collectExtra(r.Raw, chatFields)
	return r, nil
}

// checkSameDecoding fails when UnmarshalJSON, fast path and all, gives another request or another verdict than
// encoding/json alone.
func checkSameDecoding(t *testing.T, in []byte) {
	t.Helper()
	want, wantErr := slowDecodeChat(in)
	var got ChatRequest
	err := got.UnmarshalJSON(in)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%q: error %v, encoding/json's %v", in, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got %#v\nwant %#v", in, got, want)
	}
	if err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("%q: error %q, encoding/json's %q", in, err, wantErr)
	}
}

var chatDecodeCases = []string{
	`{"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}]}`,
	`{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi","name":"bob"}],"temperature":0.2,"top_p":1,"max_tokens":64,"stream":true,"stream_options":{"include_usage":true},"seed":-7,"user":"u1","n":1,"logprobs":false,"top_logprobs":2,"presence_penalty":-0.5,"frequency_penalty":1e-2,"max_completion_tokens":10,"parallel_tool_calls":true,"reasoning_effort":"low"}`,
	` { "model" : "m" , "messages" : [ { "role" : "user" , "content" : null } ] , "x_custom" : { "a" : [1, 2] } } `,
	`{"model":"m","messages":[],"unknown":1,"other":"x","nested":{"k":"v"}}`,
	`{"model":"m","messages":null,"stream_options":null,"temperature":null,"max_tokens":null,"model":"again"}`,
	`{"model":null,"stream":null,"user":null,"logprobs":null}`,
	`{"model":"m","messages":[{"role":"user","content":"caf\u00e9"}]}`,
	`{"model":"m","messages":[{"role":"user","content":"café ☕ 日本"}]}`,
	"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"bad \xff utf8\"}]}",
	"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"tab\tinside\"}]}",
	`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"parts"}]}]}`,
	`{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`,
	`{"model":"m","messages":[{"role":"tool","tool_call_id":"c","content":"42"}]}`,
	`{"model":"m","messages":[{"role":"user","content":"x","cache_control":{"type":"ephemeral"}}]}`,
	`{"model":"m","messages":[{"role":"user","content":"x","extra_in_message":[1,{"a":null}]}]}`,
	`{"model":"m","messages":[{"role":"user","Role":"system","content":"x"}]}`,
	`{"model":"m","messages":[{"role":"user","role":"system"}]}`,
	`{"model":"m","messages":[null]}`,
	`{"model":"m","messages":["x"]}`,
	`{"model":"m","messages":{}}`,
	`{"Model":"m"}`,
	`{"MODEL":"m","model":"n"}`,
	`{"mod\u0065l":"m"}`,
	`{"model":"m","temperature":"0.5"}`,
	`{"model":"m","temperature":01}`,
	`{"model":"m","temperature":1.}`,
	`{"model":"m","temperature":.5}`,
	`{"model":"m","temperature":+1}`,
	`{"model":"m","temperature":1e400}`,
	`{"model":"m","temperature":-0}`,
	`{"model":"m","max_tokens":1.0}`,
	`{"model":"m","max_tokens":1e2}`,
	`{"model":"m","max_tokens":99999999999999999999}`,
	`{"model":"m","max_tokens":-1}`,
	`{"model":"m","seed":9223372036854775807}`,
	`{"model":"m","stream":"true"}`,
	`{"model":"m","stream":tru}`,
	`{"model":"m","stream":True}`,
	`{"model":"m","stream_options":{"include_usage":true,"include_usage":false}}`,
	`{"model":"m","stream_options":{"Include_Usage":true}}`,
	`{"model":"m","stream_options":{"include_usage":true,"other":[]}}`,
	`{"model":"m","stream_options":[]}`,
	`{"model":"m","stop":["a"],"tools":[],"metadata":{"k":"v"},"tags":["t"],"mock_response":"hi","fallbacks":["x"],"num_retries":2,"timeout":3.5,"cache":{"no-cache":true}}`,
	`{"model":"m","response_format":{"type":"json_object"},"tool_choice":"auto","logit_bias":{"1":2}}`,
	`{"model":"m","x":[1,2,}`,
	`{"model":"m","x":{"a" 1}}`,
	`{"model":"m","x":tru}`,
	`{"model":"m","x":"a\qb"}`,
	"{\"model\":\"m\",\"x\":\"ctl\x01\"}",
	"{\"mo\x01del\":\"m\"}",
	`{"model":"m",}`,
	`{"model":"m"} {}`,
	`{"model":"m"`,
	`{"model":"m\"q"}`,
	`{"model":"m\\"}`,
	`{"model":"m\u0000"}`,
	`{"model" "m"}`,
	`{}`,
	`{"model":"m","x":1e5,"y":-0.0,"z":[true,false,null]}`,
	`{"model":"m","messages":[{"role":"user","content":"x"}],"k\u00e9y":1}`,
	`{"model":"m","ключ":1}`,
}

func TestChatFastDecodingMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range chatDecodeCases {
		checkSameDecoding(t, []byte(in))
	}
}

// The fast path is taken for the common shapes (else it would be dead code passing the test above).
func TestChatFastDecodingIsTaken(t *testing.T) {
	t.Parallel()
	for _, i := range []int{0, 1, 2, 3, 5, 7} {
		in := chatDecodeCases[i]
		var r ChatRequest
		if !decodeChatFast(bytes.Clone([]byte(in)), &r) {
			t.Errorf("%s: not decoded by the fast path", in)
		}
	}
	// Escapes, as in nearly every real prompt, are resolved on the fast path too.
	for _, in := range []string{`{"model":"m","messages":[{"role":"user","content":"line\nnext \"q\" \u00e9\ud83d\ude00"}]}`} {
		var r ChatRequest
		if !decodeChatFast([]byte(in), &r) || r.Messages[0].Content.Text != "line\nnext \"q\" é😀" {
			t.Errorf("%s: not decoded by the fast path (%+v)", in, r.Messages)
		}
	}
	for _, in := range []string{`{"Model":"m"}`, `{"model":"m","tools":[]}`, `{"model":"m","model":"n"}`} {
		var r ChatRequest
		if decodeChatFast([]byte(in), &r) {
			t.Errorf("%s: decoded by the fast path", in)
		}
	}
}

// Decoding into a request that already has fields set merges, as encoding/json does.
func TestChatDecodingIntoAFilledRequestMerges(t *testing.T) {
	t.Parallel()
	r := ChatRequest{User: "kept"}
	if err := json.Unmarshal([]byte(`{"model":"m"}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.User != "kept" || r.Model != "m" {
		t.Fatalf("%+v", r)
	}
}

// chatIsZero must look at every field: a field added to ChatRequest without it would let the fast path drop a
// value set before decoding.
func TestChatIsZeroSeesEveryField(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeOf(ChatRequest{})
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if f.Anonymous {
				walk(v.Field(i), path+f.Name+".")
				continue
			}
			var r ChatRequest
			fv := reflect.ValueOf(&r).Elem().FieldByName(f.Name)
			switch fv.Kind() {
			case reflect.String:
				fv.SetString("x")
			case reflect.Bool:
				fv.SetBool(true)
			case reflect.Pointer:
				fv.Set(reflect.New(fv.Type().Elem()))
			case reflect.Slice:
				fv.Set(reflect.MakeSlice(fv.Type(), 0, 0))
			case reflect.Map:
				fv.Set(reflect.MakeMap(fv.Type()))
			default:
				t.Fatalf("field %s%s: kind %v not handled by this test", path, f.Name, fv.Kind())
			}
			if chatIsZero(&r) {
				t.Errorf("chatIsZero does not look at %s%s", path, f.Name)
			}
		}
	}
	walk(reflect.New(typ).Elem(), "")
	if !chatIsZero(&ChatRequest{}) {
		t.Fatal("a zero request is not zero")
	}
}

func FuzzChatDecoding(f *testing.F) {
	for _, in := range chatDecodeCases {
		f.Add([]byte(in))
	}
	f.Add([]byte(`{"model":"` + strings.Repeat("a", 300) + `","messages":[{"role":"user","content":"` + strings.Repeat("\\n", 20) + `"}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		checkSameDecoding(t, in)
	})
}
