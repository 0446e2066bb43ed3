package catalog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/catalog/catalogfile"
)

func mustDefault(t testing.TB) *Catalog {
	t.Helper()
	c, err := Default()
	if err != nil {
		t.Fatalf("embedded catalogue: %v", err)
	}
	return c
}

// A fixed time after every scheduled change in the data, so that expectations do not move with the clock.
var later = time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)

func TestEmbeddedCatalogue(t *testing.T) {
	t.Parallel()
	c := mustDefault(t)
	if c.Len() < 1000 {
		t.Errorf("Len = %d, want the source's ~1,400 models", c.Len())
	}
	if s := c.Source(); s.Name != "pydantic/genai-prices" || s.License != "MIT" || len(s.SHA256) != 64 {
		t.Errorf("Source = %+v", s)
	}
	// Strict: every member of the file is known to the reader.
	var f catalogfile.File
	d := json.NewDecoder(bytes.NewReader(embedded))
	d.DisallowUnknownFields()
	if err := d.Decode(&f); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
	providers := map[string]bool{}
	for _, p := range c.Providers() {
		providers[p] = true
	}
	for _, want := range []string{"openai", "azure", "azure_ai", "anthropic", "bedrock", "vertex_ai", "gemini",
		"cohere", "mistral", "groq", "together_ai", "fireworks_ai", "perplexity", "deepseek", "xai",
		"openrouter", "huggingface", "cerebras", "voyage", "moonshot", "zai", "aws", "google"} {
		if !providers[want] {
			t.Errorf("no price list for provider %q", want)
		}
	}
}

// The prices of a few well-known models, per token, compared exactly: the source's per-million prices are
// divided as decimals (0.95/1e6 in float64 arithmetic is 9.499999999999999e-07, not 9.5e-07).
func TestKnownPrices(t *testing.T) {
	t.Parallel()
	c := mustDefault(t)
	tests := []struct {
		provider, model                string
		id                             string
		in, out, cacheRead, cacheWrite float64
		maxInput                       int
	}{
		{"openai", "gpt-4o", "gpt-4o", 2.5e-06, 1e-05, 1.25e-06, 0, 128000},
		{"openai", "gpt-4o-mini", "gpt-4o-mini", 1.5e-07, 6e-07, 7.5e-08, 0, 128000},
		{"anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet", 3e-06, 1.5e-05, 3e-07, 3.75e-06, 200000},
		{"anthropic", "claude-3-haiku-20240307", "claude-3-haiku", 2.5e-07, 1.25e-06, 3e-08, 3e-07, 200000},
		{"deepseek", "deepseek-v3.1-terminus", "deepseek-v3.1-terminus", 0, 9.5e-07, 0, 0, 0},
		{"moonshot", "kimi-k2", "kimi-k2", 5.7e-07, 0, 0, 0, 0},
		{"openai", "text-embedding-3-small", "text-embedding-3-small", 2e-08, 0, 0, 0, 8192},
	}
	for _, tt := range tests {
		info, ok := c.LookupAt(tt.provider, tt.model, later)
		if !ok {
			t.Errorf("%s/%s: not found", tt.provider, tt.model)
			continue
		}
		if info.Model != tt.id {
			t.Errorf("%s/%s: matched %q, want %q", tt.provider, tt.model, info.Model, tt.id)
		}
		check := func(field string, got, want float64) {
			if want != 0 && got != want {
				t.Errorf("%s/%s %s = %v, want %v", tt.provider, tt.model, field, got, want)
			}
		}
		check("input_cost_per_token", info.InputCostPerToken, tt.in)
		check("output_cost_per_token", info.OutputCostPerToken, tt.out)
		check("cache_read_input_token_cost", info.CacheReadInputTokenCost, tt.cacheRead)
		check("cache_creation_input_token_cost", info.CacheCreationInputTokenCost, tt.cacheWrite)
		if tt.maxInput != 0 && info.MaxInputTokens != tt.maxInput {
			t.Errorf("%s/%s max_input_tokens = %d, want %d", tt.provider, tt.model, info.MaxInputTokens, tt.maxInput)
		}
	}
	if price, million := 0.95, 1e6; price/million == 9.5e-07 {
		t.Fatal("the exactness case above no longer distinguishes decimal from float division")
	}
}

// The model names of the LiteLLM guide's config examples (model_list litellm_params.model, and the SDK
// examples' model=...), as a deployment would name them.
func TestGuideModelsResolve(t *testing.T) {
	t.Parallel()
	c := mustDefault(t)
	tests := []struct {
		model       string
		provider    string
		priceList   string
		id          string
		approximate bool
	}{
		{"openai/gpt-4o", "openai", "openai", "gpt-4o", false},
		{"gpt-4o", "openai", "openai", "gpt-4o", false},
		{"gpt-4o-mini", "openai", "openai", "gpt-4o-mini", false},
		{"text-embedding-3-small", "openai", "openai", "text-embedding-3-small", false},
		{"anthropic/claude-sonnet-4-20250514", "anthropic", "anthropic", "claude-sonnet-4-0", false},
		{"claude-sonnet-4-20250514", "anthropic", "anthropic", "claude-sonnet-4-0", false},
		{"azure/gpt-4o", "azure", "openai", "gpt-4o", false},
		// Azure deployment names: priced as the model their name starts with, flagged approximate.
		{"azure/gpt-4o-deployment", "azure", "openai", "gpt-4o", true},
		{"azure/gpt-4o-east", "azure", "openai", "gpt-4o", true},
		{"azure/gpt-4o-west", "azure", "openai", "gpt-4o", true},
		{"bedrock/anthropic.claude-3-sonnet-20240229-v1:0", "bedrock", "aws",
			"regional.anthropic.claude-3-sonnet-20240229-v1:0", false},
		{"bedrock/amazon.titan-embed-text-v2:0", "bedrock", "aws", "amazon.titan-embed-text-v1", false},
	}
	for _, tt := range tests {
		info, ok := c.LookupAt("", tt.model, later)
		if !ok {
			t.Errorf("%s: not found", tt.model)
			continue
		}
		if info.Provider != tt.provider || info.PriceList != tt.priceList || info.Model != tt.id ||
			info.Approximate != tt.approximate {
			t.Errorf("%s: got provider %q list %q model %q approximate %v, want %q %q %q %v", tt.model,
				info.Provider, info.PriceList, info.Model, info.Approximate, tt.provider, tt.priceList, tt.id,
				tt.approximate)
		}
		if info.InputCostPerToken == 0 {
			t.Errorf("%s: no input price", tt.model)
		}
	}
	// The guide's other names have no price in the source: a local Ollama model, and Cohere's
	// embed-english-v3.0 (the source prices only embed-v4.0).
	for _, model := range []string{"ollama/llama3", "cohere/embed-english-v3.0"} {
		if info, ok := c.LookupAt("", model, later); ok {
			t.Errorf("%s: found %+v, want no price", model, info)
		}
	}
}

func TestCommonNamesResolve(t *testing.T) {
	t.Parallel()
	c := mustDefault(t)
	tests := []struct{ provider, model, id string }{
		{"openai", "gpt-4o-2024-08-06", "gpt-4o"},
		{"openai", "gpt-4.1-2025-04-14", "gpt-4.1"},
		{"openai", "o3-mini", "o3-mini"},
		{"openai", "gpt-5", "gpt-5"},
		{"anthropic", "claude-3-7-sonnet-20250219", "claude-3-7-sonnet-latest"},
		{"bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0", "regional.anthropic.claude-3-5-sonnet-20241022-v2:0"},
		{"bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.anthropic.claude-sonnet-4-5-20250929-v1:0"},
		{"bedrock", "converse/anthropic.claude-3-sonnet-20240229-v1:0", "regional.anthropic.claude-3-sonnet-20240229-v1:0"},
		{"bedrock_converse", "anthropic.claude-3-haiku-20240307-v1:0", "regional.anthropic.claude-3-haiku-20240307-v1:0"},
		{"bedrock", "amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0"},
		{"vertex_ai", "gemini-2.0-flash-001", "gemini-2.0-flash"},
		{"vertex_ai", "claude-3-5-sonnet@20240620", "claude-3-5-sonnet"},
		{"vertex_ai", "models/gemini-2.5-pro", "gemini-2.5-pro"},
		{"vertex_ai_beta", "gemini-1.5-pro", "gemini-1.5-pro"},
		{"gemini", "gemini-2.5-flash", "gemini-2.5-flash"},
		{"cohere", "command-r-plus", "command-r-plus"},
		{"cohere_chat", "command-r", "command-r"},
		{"mistral", "mistral-large-latest", "mistral-large"},
		{"groq", "llama-3.3-70b-versatile", "llama-3.3-70b-versatile"},
		{"together_ai", "meta-llama/Llama-3-70b-chat-hf", "meta-llama/Llama-3-70b-chat-hf"},
		{"fireworks_ai", "accounts/fireworks/models/deepseek-v3-0324", "deepseek-v3-0324"},
		{"fireworks_ai", "deepseek-v3-0324", "deepseek-v3-0324"},
		{"perplexity", "sonar-pro", "sonar-pro"},
		{"deepseek", "deepseek-chat", "deepseek-chat"},
		{"xai", "grok-2-latest", "grok-2-1212"},
		{"openrouter", "anthropic/claude-3.5-sonnet", "anthropic/claude-3.5-sonnet"},
		{"huggingface", "together/deepseek-ai/DeepSeek-R1", "deepseek-ai/DeepSeek-R1"},
		{"huggingface", "deepseek-ai/DeepSeek-R1:novita", "deepseek-ai/DeepSeek-R1"},
		{"aws", "anthropic.claude-3-haiku-20240307-v1:0", "regional.anthropic.claude-3-haiku-20240307-v1:0"},
		{"OpenAI", "GPT-4o", "gpt-4o"},
	}
	for _, tt := range tests {
		info, ok := c.LookupAt(tt.provider, tt.model, later)
		if !ok || info.Model != tt.id {
			t.Errorf("%s/%s: got %q (found %v), want %q", tt.provider, tt.model, info.Model, ok, tt.id)
		}
	}
	if info, _ := c.LookupAt("aws", "anthropic.claude-3-haiku-20240307-v1:0", later); info.Provider != "bedrock" {
		t.Errorf("asked by the source's id: Provider = %q, want bedrock", info.Provider)
	}
	if info, _ := c.LookupAt("gemini", "gemini-2.5-flash", later); info.Provider != "gemini" {
		t.Errorf("Provider = %q, want the provider asked (gemini)", info.Provider)
	}
	if a, b := lookupPrice(t, c, "huggingface", "together/deepseek-ai/DeepSeek-R1"),
		lookupPrice(t, c, "huggingface", "deepseek-ai/DeepSeek-R1:novita"); a == b {
		t.Errorf("Hugging Face inference providers priced alike (%v): the prefix/suffix did not select the list", a)
	}
}

func lookupPrice(t *testing.T, c *Catalog, provider, model string) float64 {
	t.Helper()
	info, ok := c.LookupAt(provider, model, later)
	if !ok {
		t.Fatalf("%s/%s: not found", provider, model)
	}
	return info.InputCostPerToken
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	c := mustDefault(t)
	for _, pm := range [][2]string{
		{"ollama", "llama3"}, // not priced
		{"openai", ""},       // no model
		{"", "llama3"},       // no provider implied
		{"huggingface", "deepseek-ai/DeepSeek-R1"}, // which inference provider?
		{"openai", "claude-3-5-sonnet-20241022"},   // OpenAI's list has no fallback to Anthropic's
		{"azure", "my-deployment"},
	} {
		if info, ok := c.LookupAt(pm[0], pm[1], later); ok {
			t.Errorf("%s/%s: found %s/%s", pm[0], pm[1], info.PriceList, info.Model)
		}
	}
}

func TestApproximate(t *testing.T) {
	t.Parallel()
	c := mustDefault(t)
	tests := []struct {
		provider, model string
		approximate     bool
	}{
		{"openai", "gpt-4o", false},
		{"bedrock", "converse/amazon.nova-pro-v1:0", false}, // a routing prefix: exact
		{"fireworks_ai", "deepseek-v3-0324", false},         // Fireworks' path added: exact
		{"openai", "gpt-5-mini-2099-01-01", true},           // a date removed
		{"vertex_ai", "gemini-2.5-flash@001", true},         // an @version removed
		{"bedrock", "us.amazon.nova-lite-v1:0", false},      // the rule (contains) matches as given
		{"bedrock", "us.openai.gpt-5.4", true},              // the region prefix removed
	}
	for _, tt := range tests {
		info, ok := c.LookupAt(tt.provider, tt.model, later)
		if !ok {
			t.Errorf("%s/%s: not found", tt.provider, tt.model)
			continue
		}
		if info.Approximate != tt.approximate {
			t.Errorf("%s/%s (matched %s): Approximate = %v, want %v", tt.provider, tt.model, info.Model,
				info.Approximate, tt.approximate)
		}
	}
}

// Prices that change on a date, and DeepSeek's daily off-peak window.
func TestSchedule(t *testing.T) {
	t.Parallel()
	c := mustDefault(t)
	at := func(provider, model string, ts time.Time) Info {
		t.Helper()
		info, ok := c.LookupAt(provider, model, ts)
		if !ok {
			t.Fatalf("%s/%s: not found", provider, model)
		}
		return info
	}
	day := func(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, time.UTC) }

	if got := at("openai", "o3", day(2025, 6, 9, 23, 59)).InputCostPerToken; got != 1e-05 {
		t.Errorf("o3 before 2025-06-10: input %v, want 1e-05", got)
	}
	if got := at("openai", "o3", day(2025, 6, 10, 0, 0)).InputCostPerToken; got != 2e-06 {
		t.Errorf("o3 from 2025-06-10: input %v, want 2e-06", got)
	}
	// The window is 00:30–16:30 UTC at the standard price; outside it the discount (the base) applies.
	for _, tt := range []struct {
		ts   time.Time
		want float64
	}{
		{day(2026, 1, 5, 0, 29), 1.35e-07},
		{day(2026, 1, 5, 0, 30), 2.7e-07},
		{day(2026, 1, 5, 16, 29), 2.7e-07},
		{day(2026, 1, 5, 16, 30), 1.35e-07},
		{time.Date(2026, 1, 5, 9, 0, 0, 0, time.FixedZone("UTC+8", 8*3600)), 2.7e-07}, // 01:00 UTC
	} {
		if got := at("deepseek", "deepseek-chat", tt.ts).InputCostPerToken; got != tt.want {
			t.Errorf("deepseek-chat at %v: input %v, want %v", tt.ts, got, tt.want)
		}
	}
	// claude-sonnet-4-6 has long-context tiers until 2026-03-13 and flat prices from then.
	before := at("anthropic", "claude-sonnet-4-6", day(2026, 3, 12, 12, 0))
	after := at("anthropic", "claude-sonnet-4-6", day(2026, 3, 13, 0, 0))
	if len(before.Tiers) != 1 || before.Tiers[0].AboveInputTokens != 200000 || len(after.Tiers) != 0 {
		t.Errorf("claude-sonnet-4-6 tiers: before %+v, after %+v", before.Tiers, after.Tiers)
	}
	if len(before.Schedule) != 2 || before.Schedule[1].StartDate != "2026-03-13" {
		t.Errorf("Schedule = %+v", before.Schedule)
	}
	if moved := before.At(day(2026, 4, 1, 0, 0)); len(moved.Tiers) != 0 {
		t.Errorf("At after the change: tiers %+v", moved.Tiers)
	}
}

func TestCost(t *testing.T) {
	t.Parallel()
	c := mustDefault(t)
	lookup := func(provider, model string) Info {
		info, ok := c.LookupAt(provider, model, later)
		if !ok {
			t.Fatalf("%s/%s: not found", provider, model)
		}
		return info
	}
	near := func(name string, got, want float64) {
		t.Helper()
		if d := got - want; d > 1e-15 || d < -1e-15 {
			t.Errorf("%s: cost %v, want %v", name, got, want)
		}
	}
	gpt4o := lookup("openai", "gpt-4o")
	near("gpt-4o plain", gpt4o.Cost(Usage{PromptTokens: 1000, CompletionTokens: 500}), 1000*2.5e-06+500*1e-05)
	near("gpt-4o cached", gpt4o.Cost(Usage{PromptTokens: 1000, CacheReadTokens: 200, CompletionTokens: 500}),
		800*2.5e-06+200*1.25e-06+500*1e-05)
	prompt, completion := gpt4o.Costs(Usage{PromptTokens: 10, CompletionTokens: 20})
	near("gpt-4o prompt part", prompt, 10*2.5e-06)
	near("gpt-4o completion part", completion, 20*1e-05)

	haiku := lookup("anthropic", "claude-3-haiku-20240307")
	near("claude cache write and read", haiku.Cost(Usage{PromptTokens: 1000, CacheReadTokens: 300,
		CacheWriteTokens: 200, CompletionTokens: 100}), 500*2.5e-07+300*3e-08+200*3e-07+100*1.25e-06)

	// No cache price in the catalogue: cached tokens pay the input rate.
	turbo := lookup("openai", "gpt-4-turbo")
	near("no cache price", turbo.Cost(Usage{PromptTokens: 100, CacheReadTokens: 40}), 100*1e-05)

	// Long context: beyond 200,000 prompt tokens every token pays the tier's rate (the threshold itself
	// does not).
	sonnet := lookup("anthropic", "claude-sonnet-4-5")
	near("at the threshold", sonnet.Cost(Usage{PromptTokens: 200000, CompletionTokens: 1000}),
		200000*3e-06+1000*1.5e-05)
	near("beyond the threshold", sonnet.Cost(Usage{PromptTokens: 200001, CacheReadTokens: 1, CompletionTokens: 1000}),
		200000*6e-06+1*6e-07+1000*2.25e-05)

	// Audio has its own rates.
	rt := lookup("openai", "gpt-4o-realtime-preview")
	near("audio", rt.Cost(Usage{PromptTokens: 300, AudioPromptTokens: 100, CompletionTokens: 50,
		AudioCompletionTokens: 10}), 200*5e-06+100*4e-05+40*2e-05+10*8e-05)

	// Contradictory counts never give a negative price.
	if got := gpt4o.Cost(Usage{PromptTokens: 10, CacheReadTokens: 50}); got < 0 {
		t.Errorf("negative cost %v", got)
	}
	if got := (Info{}).Cost(Usage{PromptTokens: 10, CompletionTokens: 10}); got != 0 {
		t.Errorf("an Info without prices costs %v", got)
	}
}

func TestCostPerRequestAndTierFallback(t *testing.T) {
	t.Parallel()
	info := Info{Rates: Rates{InputCostPerToken: 1e-06, OutputCostPerToken: 2e-06, InputCostPerRequest: 0.005},
		Tiers: []Tier{
			{AboveInputTokens: 100, Rates: Rates{InputCostPerToken: 3e-06}},
			{AboveInputTokens: 1000, Rates: Rates{OutputCostPerToken: 5e-06}},
		}}
	// Beyond the second tier, input keeps the first tier's rate, which the second does not set.
	r := info.RatesFor(2000)
	if r.InputCostPerToken != 3e-06 || r.OutputCostPerToken != 5e-06 || r.InputCostPerRequest != 0.005 {
		t.Errorf("RatesFor(2000) = %+v", r)
	}
	if r := info.RatesFor(100); r.InputCostPerToken != 1e-06 {
		t.Errorf("RatesFor(100) = %+v", r)
	}
	if got, want := info.Cost(Usage{PromptTokens: 10}), 10*1e-06+0.005; got != want {
		t.Errorf("Cost = %v, want %v", got, want)
	}
}

func TestLookupMatchesNaiveScan(t *testing.T) {
	t.Parallel()
	// The equals index and the scan list must give what trying every rule in order gives, for every name the
	// rules mention, as written and with a suffix.
	c := mustDefault(t)
	var probes []string
	var collect func(cl catalogfile.Clause)
	collect = func(cl catalogfile.Clause) {
		if cl.IsCombination() {
			for _, sub := range cl.Clauses {
				collect(sub)
			}
			return
		}
		if cl.Op != catalogfile.OpRegex {
			probes = append(probes, strings.ToLower(cl.Value), strings.ToLower(cl.Value)+"-x")
		}
	}
	var f catalogfile.File
	if err := json.Unmarshal(embedded, &f); err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Providers {
		for _, m := range p.Models {
			collect(m.Match)
		}
	}
	checked := 0
	for _, l := range c.lists {
		for _, name := range probes {
			got := l.find(name)
			var want *model
			cand, ok := name, true
			if l.prefix != "" {
				cand, ok = strings.CutPrefix(name, l.prefix)
			}
			for i := range l.models {
				if ok && l.models[i].match.match(cand) {
					want = &l.models[i]
					break
				}
			}
			if got != want {
				t.Fatalf("list %s, name %q: index found %v, scan %v", l.sourceID, name, got, want)
			}
			checked++
		}
	}
	if checked < 10000 {
		t.Errorf("only %d probes", checked)
	}
}

func TestLookupAllocations(t *testing.T) {
	if raceDetector {
		// Under the race detector sync.Pool drops items at random, so regexp (matching a bare name's provider)
		// sometimes makes its matcher anew. make test-go runs this test again without it.
		t.Skip("allocation counts are measured without the race detector")
	}
	c := mustDefault(t)
	for _, pm := range [][2]string{{"openai", "gpt-4o"}, {"anthropic", "claude-sonnet-4-20250514"},
		{"bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0"}, {"deepseek", "deepseek-chat"},
		{"azure", "gpt-4o-east"}, {"", "gpt-4o-mini"}} {
		if n := testing.AllocsPerRun(100, func() { c.Lookup(pm[0], pm[1]) }); n != 0 {
			t.Errorf("Lookup(%q, %q) allocates %v times", pm[0], pm[1], n)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	c := mustDefault(b)
	names := [][2]string{
		{"openai", "gpt-4o"},
		{"anthropic", "claude-sonnet-4-20250514"},
		{"bedrock", "us.anthropic.claude-3-5-sonnet-20241022-v2:0"},
		{"vertex_ai", "gemini-2.5-pro"},
		{"openrouter", "anthropic/claude-3.5-sonnet"},
		{"azure", "gpt-4o-east"},
		{"", "gpt-4o-mini"},
		{"ollama", "llama3"},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		pm := names[i%len(names)]
		c.Lookup(pm[0], pm[1])
	}
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(embedded); err != nil {
			b.Fatal(err)
		}
	}
}
