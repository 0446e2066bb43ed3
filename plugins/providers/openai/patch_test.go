package openai_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/rawjson"
)

// PatchBody sees every operation's body after the declarative rewrites, and what it returns is what is sent.
func TestPatchBodyRunsLastForEveryOperation(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]string{}
	spec := openai.Spec{
		Name: "patched", DefaultBase: "https://upstream.test/v1", KeyEnv: []string{"PATCHED_KEY"},
		Embeddings: true, Completions: true,
		Renames: map[string]string{"seed": "random_seed"},
		PatchBody: func(tg *sdk.Target, op string, body []byte) ([]byte, error) {
			mu.Lock()
			seen[op] = string(body)
			mu.Unlock()
			return rawjson.Patch(body, []rawjson.Member{{Key: []byte("patched"), Value: rawjson.String(op)}}, nil)
		},
	}
	m := openai.NewModule(spec)
	tg := target("m")

	chat, err := m.(sdk.Translator).BuildChat(tg, chatRequest(t, `{"model":"x","messages":[],"seed":1,"metadata":{"a":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	assertSameJSON(t, chat.Body, `{"model":"m","messages":[],"random_seed":1,"patched":"chat/completions"}`)
	if got := seen["chat/completions"]; strings.Contains(got, "metadata") || !strings.Contains(got, `"random_seed":1`) {
		t.Errorf("PatchBody saw %s: it must run after the generic rewrites", got)
	}

	emb, err := m.(sdk.EmbeddingTranslator).BuildEmbedding(tg, embeddingRequest(t, `{"model":"x","input":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	assertSameJSON(t, emb.Body, `{"model":"m","input":"a","patched":"embeddings"}`)

	comp, err := m.(sdk.CompletionTranslator).BuildCompletion(tg, completionRequest(t, `{"model":"x","prompt":"p"}`))
	if err != nil {
		t.Fatal(err)
	}
	assertSameJSON(t, comp.Body, `{"model":"m","prompt":"p","patched":"completions"}`)
}

func TestPatchBodyErrors(t *testing.T) {
	t.Parallel()
	own := sdk.NewError(sdk.KindUnprocessable, "no such thing").WithParam("messages")
	cases := []struct {
		name     string
		err      error
		wantKind sdk.ErrorKind
		wantSame bool
	}{
		{"an sdk error is returned as it is", own, sdk.KindUnprocessable, true},
		{"any other error is a bad request", fmt.Errorf("messages[2]: broken"), sdk.KindBadRequest, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tr := openai.New(openai.Spec{Name: "patched", DefaultBase: "https://upstream.test/v1",
				PatchBody: func(*sdk.Target, string, []byte) ([]byte, error) { return nil, tc.err }})
			_, err := tr.BuildChat(target("m"), chatRequest(t, `{"model":"x","messages":[]}`))
			var e *sdk.Error
			if !errors.As(err, &e) || e.Kind != tc.wantKind {
				t.Fatalf("err = %v, want kind %v", err, tc.wantKind)
			}
			if tc.wantSame && e != own {
				t.Errorf("the hook's *sdk.Error was replaced: %v", err)
			}
			if !tc.wantSame && (!errors.Is(err, tc.err) || !strings.Contains(e.Message, "patched: messages[2]: broken")) {
				t.Errorf("err = %q, want the cause kept and the provider named", e.Message)
			}
		})
	}
}

// A request refused before the hook (an unsupported parameter) never reaches it.
func TestPatchBodyNotCalledForRefusedRequests(t *testing.T) {
	t.Parallel()
	called := false
	tr := openai.New(openai.Spec{Name: "patched", DefaultBase: "https://upstream.test/v1", Unsupported: []string{"user"},
		PatchBody: func(_ *sdk.Target, _ string, b []byte) ([]byte, error) { called = true; return b, nil }})
	if _, err := tr.BuildChat(target("m"), chatRequest(t, `{"model":"x","messages":[],"user":"u"}`)); err == nil {
		t.Fatal("an unsupported parameter was accepted")
	}
	if called {
		t.Error("PatchBody ran for a refused request")
	}
}
