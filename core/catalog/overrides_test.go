package catalog

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

func TestParseOverrides(t *testing.T) {
	t.Parallel()
	o, err := ParseOverrides(map[string]any{
		"id":                                     "deployment-1", // not a catalogue field: ignored
		"mode":                                   "chat",
		"input_cost_per_token":                   0.000001,
		"output_cost_per_token":                  "0.000002", // an os.environ/ value arrives as a string
		"cache_read_input_token_cost":            json.Number("1e-7"),
		"input_cost_per_request":                 0,
		"max_input_tokens":                       128000,
		"max_tokens":                             4096, // LiteLLM's older name for the output limit
		"input_cost_per_token_above_200k_tokens": 0.000004,
		"output_cost_per_token_above_200k_tokens":   0.000008,
		"input_cost_per_token_above_128000_tokens":  0.000003,
		"cache_creation_input_token_cost_above_1hr": 0.00001, // a cache TTL price, not a tier: ignored
	})
	if err != nil {
		t.Fatal(err)
	}
	if *o.InputCostPerToken != 1e-06 || *o.OutputCostPerToken != 2e-06 || *o.CacheReadInputTokenCost != 1e-07 ||
		*o.InputCostPerRequest != 0 || *o.MaxInputTokens != 128000 || *o.MaxOutputTokens != 4096 {
		t.Errorf("overrides = %+v", o)
	}
	if o.CacheCreationInputTokenCost != nil || o.InputCostPerAudioToken != nil {
		t.Errorf("unset fields set: %+v", o)
	}
	want := []Tier{{AboveInputTokens: 128000, Rates: Rates{InputCostPerToken: 3e-06}},
		{AboveInputTokens: 200000, Rates: Rates{InputCostPerToken: 4e-06, OutputCostPerToken: 8e-06}}}
	if len(o.Tiers) != 2 || o.Tiers[0] != want[0] || o.Tiers[1] != want[1] {
		t.Errorf("Tiers = %+v, want %+v", o.Tiers, want)
	}

	o, err = ParseOverrides(map[string]any{"max_tokens": 4096, "max_output_tokens": 8192})
	if err != nil || *o.MaxOutputTokens != 8192 {
		t.Errorf("max_output_tokens must win over max_tokens: %+v, %v", o, err)
	}
	if o, _ := ParseOverrides(map[string]any{"mode": "chat"}); !o.IsZero() {
		t.Errorf("IsZero = false for %+v", o)
	}

	for key, v := range map[string]any{
		"input_cost_per_token":        "cheap",
		"output_cost_per_token":       -1.0,
		"max_input_tokens":            1.5,
		"cache_read_input_token_cost": true,
	} {
		_, err := ParseOverrides(map[string]any{key: v})
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v: error %v, want one naming the key", key, v, err)
		}
	}
}

func TestWith(t *testing.T) {
	t.Parallel()
	c := mustDefault(t)
	sonnet, ok := c.LookupAt("anthropic", "claude-sonnet-4-6", later.AddDate(-1, 0, 0)) // tiered, scheduled
	if !ok || len(sonnet.Tiers) == 0 || len(sonnet.Schedule) == 0 {
		t.Fatalf("claude-sonnet-4-6 (%v): tiers %v schedule %v", ok, sonnet.Tiers, sonnet.Schedule)
	}
	in, maxIn := 1e-06, 50000
	o := Overrides{InputCostPerToken: &in, MaxInputTokens: &maxIn}
	got := sonnet.With(o)
	if got.InputCostPerToken != 1e-06 || got.MaxInputTokens != 50000 || got.Schedule != nil {
		t.Errorf("With = %+v", got)
	}
	// The override is flat: no tier raises input any more; output keeps its long-context rate.
	long := got.RatesFor(300000)
	if long.InputCostPerToken != 1e-06 || long.OutputCostPerToken != sonnet.RatesFor(300000).OutputCostPerToken {
		t.Errorf("RatesFor(300000) = %+v", long)
	}
	// The catalogue is untouched.
	again, _ := c.LookupAt("anthropic", "claude-sonnet-4-6", later.AddDate(-1, 0, 0))
	if again.Tiers[0].InputCostPerToken == 0 || again.InputCostPerToken == 1e-06 || again.MaxInputTokens == 50000 {
		t.Errorf("With changed the catalogue: %+v", again)
	}

	// Overriding only limits keeps the prices and their schedule.
	if lim := sonnet.With(Overrides{MaxInputTokens: &maxIn}); lim.Schedule == nil || lim.Tiers == nil {
		t.Errorf("a limit override dropped prices: %+v", lim)
	}

	// Override tiers replace the catalogue's at the same threshold and add others.
	o, err := ParseOverrides(map[string]any{"output_cost_per_token_above_200k_tokens": 0.0001,
		"input_cost_per_token_above_500k_tokens": 0.00005})
	if err != nil {
		t.Fatal(err)
	}
	tiered := sonnet.With(o)
	if r := tiered.RatesFor(250000); r.OutputCostPerToken != 0.0001 || r.InputCostPerToken != sonnet.Tiers[0].InputCostPerToken {
		t.Errorf("RatesFor(250000) = %+v", r)
	}
	if r := tiered.RatesFor(600000); r.InputCostPerToken != 0.00005 {
		t.Errorf("RatesFor(600000) = %+v", r)
	}

	// A model the catalogue lacks, priced by its config alone.
	out := 2e-06
	custom := Info{Provider: "hosted_vllm", Model: "my-model"}.With(Overrides{InputCostPerToken: &in, OutputCostPerToken: &out})
	if got, want := custom.Cost(Usage{PromptTokens: 100, CompletionTokens: 10}), 100*1e-06+10*2e-06; got-want > 1e-18 || want-got > 1e-18 {
		t.Errorf("custom cost %v", got)
	}
}

func TestUsageFrom(t *testing.T) {
	t.Parallel()
	if u := UsageFrom(nil); u != (Usage{}) {
		t.Errorf("UsageFrom(nil) = %+v", u)
	}
	u := UsageFrom(&sdk.Usage{PromptTokens: 100, CompletionTokens: 50, TotalTokens: 150,
		PromptTokensDetails:     &sdk.PromptTokensDetails{CachedTokens: 30, CacheCreationTokens: 20, AudioTokens: 5},
		CompletionTokensDetails: &sdk.CompletionTokensDetails{ReasoningTokens: 10, AudioTokens: 4}})
	want := Usage{PromptTokens: 100, CompletionTokens: 50, CacheReadTokens: 30, CacheWriteTokens: 20,
		AudioPromptTokens: 5, AudioCompletionTokens: 4}
	if u != want {
		t.Errorf("UsageFrom = %+v, want %+v", u, want)
	}
}
