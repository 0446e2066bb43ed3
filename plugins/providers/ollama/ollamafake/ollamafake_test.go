package ollamafake_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/switchyard/gateway/internal/providertest"
	"github.com/switchyard/gateway/plugins/providers/ollama/ollamafake"
)

// There is no official Ollama Go SDK among our dependencies, so the fake is held to the documentation instead:
// every documented request is accepted, and every answer has the documented answer's members, with the same
// JSON types.
func TestDocumentedExamples(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ollamafake.New(ollamafake.Options{}))
	t.Cleanup(srv.Close)
	requests, _ := filepath.Glob("testdata/docs/*.request.json")
	if len(requests) < 10 {
		t.Fatalf("only %d documented requests", len(requests))
	}
	for _, reqFile := range requests {
		name := strings.TrimSuffix(filepath.Base(reqFile), ".request.json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := "/api/chat"
			if strings.HasPrefix(name, "embed") {
				path = "/api/embed"
			}
			status, ct, body := post(t, srv.URL+path, readFile(t, reqFile))
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			if _, err := os.Stat("testdata/docs/" + name + ".response.ndjson"); err == nil {
				if ct != "application/x-ndjson" {
					t.Errorf("Content-Type = %q", ct)
				}
				doc := lines(t, readFile(t, "testdata/docs/"+name+".response.ndjson"))
				got := lines(t, body)
				if len(got) < 2 {
					t.Fatalf("%d lines", len(got))
				}
				for i, l := range got[:len(got)-1] {
					if l["done"] != false {
						t.Errorf("line %d is not done=false: %v", i, l)
					}
					assertShape(t, doc[0], l)
				}
				assertShape(t, doc[len(doc)-1], got[len(got)-1])
				return
			}
			if !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			assertShape(t, decode(t, readFile(t, "testdata/docs/"+name+".response.json")), decode(t, body))
		})
	}
}

// The shape check is strict enough to tell documented answers apart.
func TestShapeCheckCanFail(t *testing.T) {
	t.Parallel()
	tools := decode(t, readFile(t, "testdata/docs/chat-tools.response.json"))
	plain := decode(t, readFile(t, "testdata/docs/chat-nostream.response.json"))
	if diffs := shapeDiffs(tools, plain, ""); len(diffs) == 0 {
		t.Error("an answer without tool calls passed for the documented tool call answer")
	}
	embed := decode(t, readFile(t, "testdata/docs/embed-single.response.json"))
	broken := decode(t, []byte(`{"model":"m","embeddings":[["0.1"]],"total_duration":1,"load_duration":1,"prompt_eval_count":"8"}`))
	if diffs := shapeDiffs(embed, broken, ""); len(diffs) != 2 {
		t.Errorf("diffs = %v, want the string vector element and the string count", diffs)
	}
}

// The fake refuses what Ollama's request decoding refuses, so a translator bug shows as an error.
func TestRefusesWhatOllamaRefuses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ollamafake.New(ollamafake.Options{}))
	t.Cleanup(srv.Close)
	cases := []struct{ name, path, body, want string }{
		{"empty body", "/api/chat", ``, "missing request body"},
		{"no model", "/api/chat", `{"messages":[{"role":"user","content":"hi"}]}`, "model is required"},
		{"arguments as a string", "/api/chat", `{"model":"m","stream":false,"messages":[{"role":"assistant","content":"",` +
			`"tool_calls":[{"function":{"name":"f","arguments":"{\"a\":1}"}}]}]}`, "cannot unmarshal"},
		{"image not base64", "/api/chat", `{"model":"m","stream":false,"messages":[{"role":"user","content":"x",` +
			`"images":["data:image/png;base64,AAAA"]}]}`, "illegal base64"},
		{"OpenAI-only role", "/api/chat", `{"model":"m","stream":false,"messages":[{"role":"developer","content":"x"}]}`,
			"invalid role"},
		{"stop as a string", "/api/chat", `{"model":"m","stream":false,"messages":[{"role":"user","content":"x"}],` +
			`"options":{"stop":"\n"}}`, `option "stop" must be of type array`},
		{"num_predict as a string", "/api/chat", `{"model":"m","stream":false,"messages":[{"role":"user","content":"x"}],` +
			`"options":{"num_predict":"3"}}`, `option "num_predict" must be of type number`},
		{"embed input of numbers", "/api/embed", `{"model":"m","input":[1,2]}`, "invalid input type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			status, _, body := post(t, srv.URL+tc.path, []byte(tc.body))
			msg := errorOf(t, body)
			if status != 400 || !strings.Contains(msg, tc.want) {
				t.Errorf("status %d, error %q; want 400 with %q", status, msg, tc.want)
			}
		})
	}
}

func TestFailureMarkers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ollamafake.New(ollamafake.Options{}))
	t.Cleanup(srv.Close)
	cases := []struct {
		marker string
		status int
		words  string
	}{
		{ollamafake.ModelNotFound, 404, "not found, try pulling it first"},
		{providertest.FailRateLimit, 429, "too many requests"},
		{providertest.FailAuth, 401, "unauthorized"},
		{providertest.FailOverloaded, 503, "server busy"},
		{providertest.FailServer, 500, "llama runner process has terminated"},
		{providertest.FailContextWindow, 400, "exceeds the context length"},
		{providertest.FailContentPolicy, 400, "content policy"},
	}
	for _, tc := range cases {
		for _, path := range []string{"/api/chat", "/api/embed"} {
			t.Run(tc.marker+path, func(t *testing.T) {
				t.Parallel()
				body := `{"model":"m-` + tc.marker + `","messages":[{"role":"user","content":"x"}],"input":"x"}`
				resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status || !strings.Contains(errorOf(t, b), tc.words) {
					t.Errorf("status %d %s; want %d with %q", resp.StatusCode, b, tc.status, tc.words)
				}
				if tc.status == 429 && resp.Header.Get("Retry-After") != "1" {
					t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
				}
			})
		}
	}
}

// The answers follow internal/providertest's convention, in Ollama's format.
func TestConventionAnswers(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ollamafake.New(ollamafake.Options{}))
	t.Cleanup(srv.Close)
	png := "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
	user := func(s string) string { return `{"role":"user","content":"` + s + `"}` }
	weather := `{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}`
	clock := `{"type":"function","function":{"name":"get_time","parameters":{"type":"object"}}}`
	cases := []struct {
		name, body  string
		content     string
		thinking    string
		calls       []string
		doneReason  string
		promptCount float64
	}{
		{"echo", `{"messages":[` + user("hello there") + `]}`, "echo: hello there", "", nil, "stop", 11},
		{"system prompt", `{"messages":[{"role":"system","content":"be brief"},` + user("hi") + `]}`,
			"[be brief] echo: hi", "", nil, "stop", 11},
		{"images", `{"messages":[{"role":"user","content":"look","images":["` + png + `","` + png + `"]}]}`,
			"echo: look (images: 2 image/png)", "", nil, "stop", 11},
		{"tool result", `{"messages":[` + user("w?") + `,{"role":"tool","content":"sunny","tool_name":"get_weather"}],"tools":[` + weather + `]}`,
			"tool said: sunny", "", nil, "stop", 11},
		{"parallel tools", `{"messages":[` + user("w?") + `],"tools":[` + weather + `,` + clock + `,` + weather + `]}`,
			"", "", []string{"get_weather", "get_time"}, "stop", 11},
		{"JSON mode", `{"messages":[` + user("data") + `],"format":"json"}`, `{"echo":"data"}`, "", nil, "stop", 11},
		{"structured output", `{"messages":[` + user("data") + `],"format":{"type":"object"}}`, `{"echo":"data"}`, "", nil, "stop", 11},
		{"max tokens", `{"messages":[` + user("long") + `],"options":{"num_predict":3}}`, "echo: ", "", nil, "length", 11},
		{"stop sequences", `{"messages":[` + user("s") + `],"options":{"stop":["x"]}}`, "echo: s", "", nil, "stop", 11},
		{"thinking", `{"messages":[` + user("hm") + `],"think":true}`, "echo: hm", ollamafake.Thinking, nil, "stop", 11},
		{"thinking level", `{"messages":[` + user("hm") + `],"think":"high"}`, "echo: hm", ollamafake.Thinking, nil, "stop", 11},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/stream=%v", tc.name, stream), func(t *testing.T) {
				t.Parallel()
				body := `{"model":"llama3.2","stream":` + fmt.Sprint(stream) + `,` + tc.body[1:]
				status, _, b := post(t, srv.URL+"/api/chat", []byte(body))
				if status != 200 {
					t.Fatalf("status %d: %s", status, b)
				}
				var content, thinking string
				var calls []string
				var last map[string]any
				var got []map[string]any
				if stream {
					got = lines(t, b)
				} else {
					got = []map[string]any{decode(t, b)}
				}
				contentLines := 0
				for _, l := range got {
					m, _ := l["message"].(map[string]any)
					c, _ := m["content"].(string)
					th, _ := m["thinking"].(string)
					content, thinking = content+c, thinking+th
					if c != "" {
						contentLines++
					}
					tcs, _ := m["tool_calls"].([]any)
					if stream && len(tcs) > 1 {
						t.Errorf("a streamed line carries %d tool calls, want one per line", len(tcs))
					}
					for _, x := range tcs {
						f := x.(map[string]any)["function"].(map[string]any)
						args, _ := json.Marshal(f["arguments"])
						if string(args) != providertest.ToolArguments {
							t.Errorf("arguments = %s", args)
						}
						calls = append(calls, f["name"].(string))
					}
					last = l
				}
				if content != tc.content || thinking != tc.thinking || !reflect.DeepEqual(calls, tc.calls) {
					t.Errorf("content %q thinking %q calls %v; want %q %q %v", content, thinking, calls,
						tc.content, tc.thinking, tc.calls)
				}
				if stream && len(tc.content) > 1 && contentLines < 2 {
					t.Errorf("the text came in %d lines, want at least two", contentLines)
				}
				if last["done"] != true || last["done_reason"] != tc.doneReason ||
					last["prompt_eval_count"] != tc.promptCount || last["eval_count"] != float64(providertest.CompletionTokens) {
					t.Errorf("last line = %v", last)
				}
			})
		}
	}
}

func TestStreamsByDefaultAndFailsMidStream(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ollamafake.New(ollamafake.Options{}))
	t.Cleanup(srv.Close)
	status, ct, b := post(t, srv.URL+"/api/chat", []byte(`{"model":"m","messages":[{"role":"user","content":"a b c"}]}`))
	if status != 200 || ct != "application/x-ndjson" || len(lines(t, b)) != 5 {
		t.Fatalf("a request without stream was not streamed: %d %s %s", status, ct, b)
	}
	_, _, b = post(t, srv.URL+"/api/chat", []byte(`{"model":"m-`+ollamafake.FailMidStream+`","messages":[{"role":"user","content":"a b c"}]}`))
	got := lines(t, b)
	if len(got) != 2 || got[1]["error"] == nil {
		t.Fatalf("mid-stream failure = %s", b)
	}
}

func TestEmbeddings(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(ollamafake.New(ollamafake.Options{}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		body       string
		n, dims    int
		promptEval float64
	}{
		{`{"model":"e","input":"one"}`, 1, providertest.EmbeddingDims, 11},
		{`{"model":"e","input":["one","two","three"]}`, 3, providertest.EmbeddingDims, 33},
		{`{"model":"e","input":["one","two"],"dimensions":3,"truncate":false}`, 2, 3, 22},
	} {
		status, _, b := post(t, srv.URL+"/api/embed", []byte(tc.body))
		var r struct {
			Embeddings      [][]float32 `json:"embeddings"`
			PromptEvalCount float64     `json:"prompt_eval_count"`
		}
		if err := json.Unmarshal(b, &r); err != nil || status != 200 {
			t.Fatalf("%d %s %v", status, b, err)
		}
		if len(r.Embeddings) != tc.n || r.PromptEvalCount != tc.promptEval {
			t.Fatalf("%s: %d vectors, %v tokens", tc.body, len(r.Embeddings), r.PromptEvalCount)
		}
		for i, v := range r.Embeddings {
			if len(v) != tc.dims || v[0] != float32(i+1) || v[len(v)-1] != float32(i+1)+float32(tc.dims-1)/100 {
				t.Errorf("%s: vector %d = %v", tc.body, i, v)
			}
		}
	}
}

func TestKey(t *testing.T) {
	t.Parallel()
	fake := ollamafake.New(ollamafake.Options{Key: "ollama-key-123"})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	body := []byte(`{"model":"m","stream":false,"messages":[{"role":"user","content":"x"}]}`)
	if status, _, b := post(t, srv.URL+"/api/chat", body); status != 401 || errorOf(t, b) != "unauthorized" {
		t.Fatalf("without the key: %d %s", status, b)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/chat", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer ollama-key-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("with the key: %d", resp.StatusCode)
	}
	if last, ok := fake.LastRequest(); !ok || last.Path != "/api/chat" || len(fake.Requests()) != 2 {
		t.Errorf("requests not recorded: %+v", fake.Requests())
	}
}

func post(t *testing.T, url string, body []byte) (int, string, []byte) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}

func lines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			out = append(out, decode(t, sc.Bytes()))
		}
	}
	return out
}

func errorOf(t *testing.T, b []byte) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("error body %s: %v", b, err)
	}
	return e.Error
}

func assertShape(t *testing.T, doc, got map[string]any) {
	t.Helper()
	for _, d := range shapeDiffs(doc, got, "") {
		t.Error(d)
	}
}

// shapeDiffs lists where got lacks a member doc has, or has it with another JSON type. Members documented as
// null are optional; arrays are compared by their first elements; tool-call arguments are the model's to choose,
// so only their type is compared.
func shapeDiffs(doc, got any, path string) []string {
	if doc == nil {
		return nil
	}
	if got == nil {
		return []string{path + ": missing"}
	}
	if reflect.TypeOf(doc) != reflect.TypeOf(got) {
		return []string{fmt.Sprintf("%s: %T, documented as %T", path, got, doc)}
	}
	var out []string
	switch d := doc.(type) {
	case map[string]any:
		if strings.HasSuffix(path, ".arguments") {
			return nil
		}
		g := got.(map[string]any)
		for k, v := range d {
			out = append(out, shapeDiffs(v, g[k], path+"."+k)...)
		}
	case []any:
		g := got.([]any)
		if len(d) > 0 {
			if len(g) == 0 {
				return []string{path + ": empty"}
			}
			out = append(out, shapeDiffs(d[0], g[0], path+"[0]")...)
		}
	}
	return out
}
