package openai_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/azure"
	"github.com/switchyard/gateway/plugins/providers/cerebras"
	"github.com/switchyard/gateway/plugins/providers/deepinfra"
	"github.com/switchyard/gateway/plugins/providers/deepseek"
	"github.com/switchyard/gateway/plugins/providers/fireworks_ai"
	"github.com/switchyard/gateway/plugins/providers/groq"
	"github.com/switchyard/gateway/plugins/providers/hosted_vllm"
	"github.com/switchyard/gateway/plugins/providers/huggingface"
	"github.com/switchyard/gateway/plugins/providers/lm_studio"
	"github.com/switchyard/gateway/plugins/providers/mistral"
	_ "github.com/switchyard/gateway/plugins/providers/mock"
	"github.com/switchyard/gateway/plugins/providers/nvidia_nim"
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/plugins/providers/openrouter"
	"github.com/switchyard/gateway/plugins/providers/perplexity"
	"github.com/switchyard/gateway/plugins/providers/together_ai"
	"github.com/switchyard/gateway/plugins/providers/xai"
	"github.com/switchyard/gateway/sdk"
)

// specs is every OpenAI-compatible provider, keyed by the name its package is meant to register.
var specs = []struct {
	name string
	spec openai.Spec
}{
	{"openai", openai.OpenAI},
	{"azure", azure.Spec},
	{"cerebras", cerebras.Spec},
	{"deepinfra", deepinfra.Spec},
	{"deepseek", deepseek.Spec},
	{"fireworks_ai", fireworksai.Spec},
	{"groq", groq.Spec},
	{"hosted_vllm", hostedvllm.Spec},
	{"huggingface", huggingface.Spec},
	{"lm_studio", lmstudio.Spec},
	{"mistral", mistral.Spec},
	{"nvidia_nim", nvidianim.Spec},
	{"openrouter", openrouter.Spec},
	{"perplexity", perplexity.Spec},
	{"together_ai", togetherai.Spec},
	{"xai", xai.Spec},
}

func TestSpecsAreRegistered(t *testing.T) {
	t.Parallel()
	for _, s := range specs {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			if s.spec.Name != s.name {
				t.Fatalf("Spec.Name = %q, want %q", s.spec.Name, s.name)
			}
			if len(s.spec.KeyEnv) == 0 {
				t.Error("no KeyEnv: the missing-key error could not say which variable to set")
			}
			if s.spec.DefaultBase == "" && len(s.spec.BaseEnv) == 0 {
				t.Error("neither DefaultBase nor BaseEnv")
			}
			if strings.HasSuffix(s.spec.DefaultBase, "/") {
				t.Errorf("DefaultBase %q ends with a slash", s.spec.DefaultBase)
			}
			info, ok := sdk.LookupModule("providers." + s.name)
			if !ok {
				t.Fatalf("providers.%s is not registered", s.name)
			}
			if info.Kind() != sdk.KindProviders || info.Name() != s.name {
				t.Errorf("module %q has kind %q and name %q", info.ID, info.Kind(), info.Name())
			}
			modules := map[string]sdk.Module{"registered": info.New()}
			if s.name != "azure" { // Azure registers its own provider type around the spec.
				modules["NewModule"] = openai.NewModule(s.spec)
			}
			for how, m := range modules {
				if _, ok := m.(sdk.Translator); !ok {
					t.Errorf("%s module %T is not a sdk.Translator", how, m)
				}
				if _, ok := m.(sdk.TargetPreparer); !ok {
					t.Errorf("%s module %T is not a sdk.TargetPreparer", how, m)
				}
				if _, ok := m.(sdk.EmbeddingTranslator); ok != s.spec.Embeddings {
					t.Errorf("%s module: EmbeddingTranslator = %v, Spec.Embeddings = %v", how, ok, s.spec.Embeddings)
				}
				if _, ok := m.(sdk.CompletionTranslator); ok != s.spec.Completions {
					t.Errorf("%s module: CompletionTranslator = %v, Spec.Completions = %v", how, ok, s.spec.Completions)
				}
				if sp, ok := m.(interface{ Spec() openai.Spec }); !ok || sp.Spec().Name != s.name {
					t.Errorf("%s module does not carry the %s spec", how, s.name)
				}
			}
		})
	}
}

// Every provider package imported here registers exactly one module, under its own name.
func TestRegistryHasNoStrayProviders(t *testing.T) {
	t.Parallel()
	var got []string
	for _, m := range sdk.Modules(sdk.KindProviders) {
		got = append(got, m.Name())
	}
	want := []string{"mock"}
	for _, s := range specs {
		want = append(want, s.name)
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("registered providers = %v, want %v", got, want)
	}
}

// Every spec can serve a minimal chat request, and asks for stream usage exactly when it says it can.
func TestSpecMatrix(t *testing.T) {
	t.Parallel()
	for _, s := range specs {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			tr := openai.New(s.spec)
			tg := &sdk.Target{Provider: s.name, Model: "some-model", APIBase: "https://upstream.test/v1",
				APIKey: "secret-0123456789", APIVersion: "2024-10-21"}
			for _, stream := range []bool{false, true} {
				req := chatRequest(t, `{"model":"x",`+hi+`,"metadata":{"a":1}}`)
				if stream {
					req = chatRequest(t, `{"model":"x",`+hi+`,"stream":true}`)
				}
				out, err := tr.BuildChat(tg, req)
				if err != nil {
					t.Fatalf("BuildChat(stream=%v): %v", stream, err)
				}
				u, err := url.Parse(out.URL)
				if err != nil || u.Host != "upstream.test" || !strings.HasSuffix(u.Path, "/chat/completions") {
					t.Errorf("URL = %s", out.URL)
				}
				body := decodeBody(t, out.Body)
				if body["model"] != "some-model" {
					t.Errorf("model = %v", body["model"])
				}
				if _, ok := body["metadata"]; ok {
					t.Error("metadata sent upstream")
				}
				_, asked := body["stream_options"]
				if want := stream && s.spec.StreamUsage; asked != want {
					t.Errorf("stream=%v: stream_options sent = %v, want %v", stream, asked, want)
				}
				if !strings.Contains(strings.Join(out.Header.Values("Authorization"), "")+out.Header.Get("api-key"),
					"secret-0123456789") {
					t.Errorf("the key is in no header: %v", out.Header)
				}
			}
		})
	}
}

// PrepareTarget with the base and key given: the environment is not consulted.
func TestPrepareTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		spec      openai.Spec
		base      string
		model     string
		wantBase  string
		wantModel string
	}{
		{"openai host only gets /v1", openai.OpenAI, "http://proxy:4000", "gpt-4o", "http://proxy:4000/v1", "gpt-4o"},
		{"host with a slash gets /v1", openai.OpenAI, "http://proxy:4000/", "gpt-4o", "http://proxy:4000/v1", "gpt-4o"},
		{"a path is kept", openai.OpenAI, "https://gw.example/openai/v1/", "gpt-4o", "https://gw.example/openai/v1", "gpt-4o"},
		{"vllm host only gets /v1", hostedvllm.Spec, "http://vllm:8000", "m", "http://vllm:8000/v1", "m"},
		{"lm studio host only gets /v1", lmstudio.Spec, "http://127.0.0.1:1234", "m", "http://127.0.0.1:1234/v1", "m"},
		{"perplexity host only stays", perplexity.Spec, "https://api.perplexity.ai/", "sonar", "https://api.perplexity.ai", "sonar"},
		{"deepseek host only stays", deepseek.Spec, "https://api.deepseek.com", "deepseek-chat", "https://api.deepseek.com", "deepseek-chat"},
		{"fireworks model gets the prefix", fireworksai.Spec, "https://fw.test/v1", "llama-v3p1-8b-instruct",
			"https://fw.test/v1", "accounts/fireworks/models/llama-v3p1-8b-instruct"},
		{"fireworks account models are kept", fireworksai.Spec, "https://fw.test/v1", "accounts/acme/models/tuned",
			"https://fw.test/v1", "accounts/acme/models/tuned"},
		{"fireworks deployment names are kept", fireworksai.Spec, "https://fw.test/v1", "llama#acme/deploy-1",
			"https://fw.test/v1", "llama#acme/deploy-1"},
		{"fireworks prefixed models are kept", fireworksai.Spec, "https://fw.test/v1", "accounts/fireworks/models/x",
			"https://fw.test/v1", "accounts/fireworks/models/x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tg := &sdk.Target{Model: tc.model, APIBase: tc.base, APIKey: "k-given"}
			if err := openai.New(tc.spec).PrepareTarget(tg); err != nil {
				t.Fatal(err)
			}
			if tg.APIBase != tc.wantBase || tg.Model != tc.wantModel || tg.APIKey != "k-given" {
				t.Errorf("target = %q %q %q, want %q %q k-given", tg.APIBase, tg.Model, tg.APIKey, tc.wantBase, tc.wantModel)
			}
			// Preparing twice must not add a second /v1 or prefix (a reload re-prepares).
			if err := openai.New(tc.spec).PrepareTarget(tg); err != nil {
				t.Fatal(err)
			}
			if tg.APIBase != tc.wantBase || tg.Model != tc.wantModel {
				t.Errorf("prepared twice: %q %q", tg.APIBase, tg.Model)
			}
		})
	}
}

// clearEnv empties every variable a spec reads, so the test sees only what it sets. Not for parallel tests.
func clearEnv(t *testing.T) {
	for _, s := range specs {
		for _, name := range append(slices.Clone(s.spec.BaseEnv), s.spec.KeyEnv...) {
			t.Setenv(name, "")
		}
	}
}

func TestPrepareTargetDefaults(t *testing.T) {
	clearEnv(t)
	for _, s := range specs {
		t.Run(s.name, func(t *testing.T) {
			tg := &sdk.Target{Model: "m"}
			if err := openai.New(s.spec).PrepareTarget(tg); err != nil {
				t.Fatal(err)
			}
			if tg.APIBase != s.spec.DefaultBase {
				t.Errorf("APIBase = %q, want the default %q", tg.APIBase, s.spec.DefaultBase)
			}
			if tg.APIKey != "" {
				t.Errorf("APIKey = %q with no key anywhere", tg.APIKey)
			}
		})
	}
}

func TestPrepareTargetFromEnv(t *testing.T) {
	clearEnv(t)
	t.Setenv("OPENAI_API_BASE", "http://second:1")
	t.Setenv("OPENAI_BASE_URL", "http://first:4000")
	t.Setenv("OPENAI_API_KEY", "sk-from-env-000000")
	tg := &sdk.Target{Model: "gpt-4o"}
	if err := openai.New(openai.OpenAI).PrepareTarget(tg); err != nil {
		t.Fatal(err)
	}
	if tg.APIBase != "http://first:4000/v1" || tg.APIKey != "sk-from-env-000000" {
		t.Errorf("target = %q %q", tg.APIBase, tg.APIKey)
	}

	given := &sdk.Target{Model: "gpt-4o", APIBase: "https://given.test/v1", APIKey: "given"}
	if err := openai.New(openai.OpenAI).PrepareTarget(given); err != nil {
		t.Fatal(err)
	}
	if given.APIBase != "https://given.test/v1" || given.APIKey != "given" {
		t.Errorf("litellm_params lost to the environment: %q %q", given.APIBase, given.APIKey)
	}

	t.Setenv("TOGETHER_API_KEY", "tk-second")
	t.Setenv("TOGETHER_AI_TOKEN", "tk-last")
	tt := &sdk.Target{Model: "m"}
	if err := openai.New(togetherai.Spec).PrepareTarget(tt); err != nil {
		t.Fatal(err)
	}
	if tt.APIKey != "tk-second" {
		t.Errorf("APIKey = %q, want the first variable set in KeyEnv order", tt.APIKey)
	}
}
