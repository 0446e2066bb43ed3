package all_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/switchyard/gateway/plugins/all"
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

var update = flag.Bool("update", false, "rewrite docs/providers.md from the registered providers")

// providersDoc is the path of the generated provider table.
var providersDoc = filepath.Join("..", "..", "docs", "providers.md")

// docColumns are the capability columns of the table, in order.
var docColumns = []struct {
	title string
	has   func(sdk.Capabilities) bool
}{
	{"Chat", func(c sdk.Capabilities) bool { return c.Chat }},
	{"Stream", func(c sdk.Capabilities) bool { return c.Stream }},
	{"Tools", func(c sdk.Capabilities) bool { return c.Tools }},
	{"Streamed tools", func(c sdk.Capabilities) bool { return c.StreamTools }},
	{"Parallel tools", func(c sdk.Capabilities) bool { return c.ParallelTools }},
	{"Vision", func(c sdk.Capabilities) bool { return c.Vision }},
	{"JSON mode", func(c sdk.Capabilities) bool { return c.JSONMode }},
	{"Structured output", func(c sdk.Capabilities) bool { return c.StructuredOutput }},
	{"Embeddings", func(c sdk.Capabilities) bool { return c.Embeddings }},
	{"Rerank", func(c sdk.Capabilities) bool { return c.Rerank }},
	{"Reasoning", func(c sdk.Capabilities) bool { return c.Reasoning }},
	{"Cached tokens", func(c sdk.Capabilities) bool { return c.CachedTokens }},
	{"Image URLs fetched", func(c sdk.Capabilities) bool { return c.FetchImages }},
}

// renderProvidersDoc writes docs/providers.md from every registered provider module that reports its
// capabilities.
func renderProvidersDoc() []byte {
	var b bytes.Buffer
	b.WriteString(`# Providers

<!-- Generated from the providers' declared capabilities (sdk.Capabilities) by ` + "`make docs`" + `
     (go test ./plugins/all -run TestProvidersDoc -update). Do not edit by hand. -->

What each provider built into Switchyard supports, as the provider declares it (` + "`sdk.CapabilityReporter`" + `).
A declared capability is a tested one: the provider scenario matrix (` + "`e2e/matrix_test.go`" + `) runs its scenarios
through the gateway against every provider's fake upstream. A capability is declared when the provider's API
offers it for at least one of its models; whether a given model has it is the model's business.

Columns: **Streamed tools** are tool calls streamed as deltas; **Vision** is image inputs (` + "`image_url`" + ` parts);
**JSON mode** is ` + "`response_format: json_object`" + `, **Structured output** is ` + "`json_schema`" + `; **Reasoning** is the
model's reasoning returned as ` + "`reasoning_content`" + `; **Cached tokens** is prompt-cache reads reported in
` + "`usage.prompt_tokens_details.cached_tokens`" + `; **Image URLs fetched** means the gateway downloads ` + "`http(s)`" + `
image URLs and sends the bytes, for providers that only take image data.

`)
	b.WriteString("| Provider |")
	for _, c := range docColumns {
		b.WriteString(" " + c.title + " |")
	}
	b.WriteString("\n| --- |")
	for range docColumns {
		b.WriteString(" :---: |")
	}
	b.WriteString("\n")

	type reach struct{ name, line string }
	var reached []reach
	var silent []string
	for _, info := range sdk.Modules(sdk.KindProviders) {
		m := info.New()
		name := info.Name()
		how := fmt.Sprintf("`model: %s/<model>`", name)
		if s, ok := m.(interface{ Spec() openai.Spec }); ok {
			spec := s.Spec()
			how += ", OpenAI-compatible"
			base := "`api_base`"
			if len(spec.BaseEnv) > 0 {
				base += " or " + envList(spec.BaseEnv)
			}
			if spec.DefaultBase != "" {
				how += fmt.Sprintf(", at %s unless %s says otherwise", spec.DefaultBase, base)
			} else {
				how += ", at " + base
			}
			if len(spec.KeyEnv) > 0 {
				how += fmt.Sprintf("; key from `api_key` or %s", envList(spec.KeyEnv))
			}
		}
		reached = append(reached, reach{name, how})
		r, ok := m.(sdk.CapabilityReporter)
		if !ok {
			silent = append(silent, "`"+name+"`")
			continue
		}
		caps := r.Capabilities()
		b.WriteString("| `" + name + "` |")
		for _, c := range docColumns {
			if c.has(caps) {
				b.WriteString(" ✓ |")
			} else {
				b.WriteString(" — |")
			}
		}
		b.WriteString("\n")
	}
	if len(silent) > 0 {
		b.WriteString("\nProviders that declare no capabilities (not in the table, not in the matrix): " +
			strings.Join(silent, ", ") + ".\n")
	}
	b.WriteString("\n## How each provider is reached\n\nA deployment names its provider by the prefix of " +
		"`litellm_params.model`.\n\n")
	for _, r := range reached {
		b.WriteString("- `" + r.name + "`: " + r.line + "\n")
	}
	return b.Bytes()
}

func envList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "`" + n + "`"
	}
	return strings.Join(quoted, " or ")
}

// TestProvidersDoc fails when docs/providers.md is not what the registered providers declare; -update rewrites
// it (make docs).
func TestProvidersDoc(t *testing.T) {
	got := renderProvidersDoc()
	if *update {
		if err := os.WriteFile(providersDoc, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(providersDoc)
	if err != nil {
		t.Fatalf("%v: run `make docs` to generate it", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date with the providers' declared capabilities: run `make docs` "+
			"(go test ./plugins/all -run TestProvidersDoc -update) and commit the result", providersDoc)
	}
}

// Every row of the table is a provider that declares chat, embeddings or rerank, and every registered provider
// is reachable by a line of the document.
func TestProvidersDocCoversEveryProvider(t *testing.T) {
	doc := string(renderProvidersDoc())
	for _, info := range sdk.Modules(sdk.KindProviders) {
		if !strings.Contains(doc, "- `"+info.Name()+"`: `model: "+info.Name()+"/<model>`") {
			t.Errorf("no line on how %s is reached", info.Name())
		}
		if r, ok := info.New().(sdk.CapabilityReporter); ok {
			c := r.Capabilities()
			if !c.Chat && !c.Embeddings && !c.Rerank {
				t.Errorf("%s declares neither chat, embeddings nor rerank", info.Name())
			}
		}
	}
}
