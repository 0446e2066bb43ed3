// Package openaitest checks an OpenAI-compatible provider spec through the module the gateway loads: what
// PrepareTarget makes of a deployment, and the upstream requests built for chat, embeddings and completions.
// Each provider's test lists only its differences from OpenAI.
package openaitest

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

// Provider is the provider under test: its registry name and a deployment of it. Give the target an APIBase and
// an APIKey so that PrepareTarget does not read the environment.
type Provider struct {
	Name   string
	Target sdk.Target
	// WantBase and WantModel are what PrepareTarget must make of the target.
	WantBase, WantModel string
}

// Case is one request through the provider and what must come of it.
type Case struct {
	Name string
	// Op is "chat", "embed" or "complete", or "err" for a chat request that must be refused.
	Op   string
	Body string
	// Want is the exact upstream body; WantParam, for "err", the parameter the 400 error names.
	Want, WantParam string
}

// Run checks the provider's registration and preparation, then each case.
func Run(t *testing.T, p Provider, cases []Case) {
	t.Helper()
	info, ok := sdk.LookupModule(sdk.KindProviders + "." + p.Name)
	if !ok {
		t.Fatalf("providers.%s is not registered", p.Name)
	}
	m := info.New()
	tg := p.Target
	if err := m.(sdk.TargetPreparer).PrepareTarget(&tg); err != nil {
		t.Fatal(err)
	}
	if tg.APIBase != p.WantBase || tg.Model != p.WantModel {
		t.Fatalf("prepared target = %q %q, want %q %q", tg.APIBase, tg.Model, p.WantBase, p.WantModel)
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			out, url, err := build(t, m, &tg, tc)
			if tc.WantParam != "" {
				var e *sdk.Error
				if !errors.As(err, &e) || e.Kind != sdk.KindBadRequest || e.Param != tc.WantParam {
					t.Fatalf("err = %v, want a bad request about %s", err, tc.WantParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.URL != url || out.Header.Get("Authorization") != "Bearer "+tg.APIKey {
				t.Errorf("request to %s with %v", out.URL, out.Header)
			}
			if string(out.Body) != tc.Want {
				t.Errorf("body\n got: %s\nwant: %s", out.Body, tc.Want)
			}
		})
	}
}

func build(t *testing.T, m sdk.Module, tg *sdk.Target, tc Case) (*sdk.HTTPRequest, string, error) {
	t.Helper()
	switch tc.Op {
	case "chat", "err":
		var req sdk.ChatRequest
		decode(t, tc.Body, &req)
		out, err := m.(sdk.Translator).BuildChat(tg, &req)
		return out, tg.APIBase + "/chat/completions", err
	case "embed":
		var req sdk.EmbeddingRequest
		decode(t, tc.Body, &req)
		et, ok := m.(sdk.EmbeddingTranslator)
		if !ok {
			t.Fatalf("providers.%s serves no embeddings", tg.Provider)
		}
		out, err := et.BuildEmbedding(tg, &req)
		return out, tg.APIBase + "/embeddings", err
	case "complete":
		var req sdk.CompletionRequest
		decode(t, tc.Body, &req)
		ct, ok := m.(sdk.CompletionTranslator)
		if !ok {
			t.Fatalf("providers.%s serves no legacy completions", tg.Provider)
		}
		out, err := ct.BuildCompletion(tg, &req)
		return out, tg.APIBase + "/completions", err
	}
	t.Fatalf("unknown op %q", tc.Op)
	return nil, "", nil
}

func decode(t *testing.T, body string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatal(err)
	}
}
