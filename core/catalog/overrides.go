package catalog

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Overrides are a deployment's own values for catalogue fields, from its config (model_info, or the price
// fields of litellm_params); nil fields keep the catalogue's.
type Overrides struct {
	InputCostPerToken            *float64
	OutputCostPerToken           *float64
	CacheReadInputTokenCost      *float64
	CacheCreationInputTokenCost  *float64
	InputCostPerAudioToken       *float64
	OutputCostPerAudioToken      *float64
	CacheReadInputAudioTokenCost *float64
	InputCostPerRequest          *float64
	MaxInputTokens               *int
	MaxOutputTokens              *int
	// Tiers are long-context prices, from LiteLLM's "<rate>_above_<N>k_tokens" keys: each tier sets the rates
	// it names for prompts of more than AboveInputTokens tokens.
	Tiers []Tier
}

// rateFields are the per-token and per-request rates by their LiteLLM name.
var rateFields = map[string]struct {
	override func(*Overrides) **float64
	rate     func(*Rates) *float64
}{
	"input_cost_per_token": {func(o *Overrides) **float64 { return &o.InputCostPerToken },
		func(r *Rates) *float64 { return &r.InputCostPerToken }},
	"output_cost_per_token": {func(o *Overrides) **float64 { return &o.OutputCostPerToken },
		func(r *Rates) *float64 { return &r.OutputCostPerToken }},
	"cache_read_input_token_cost": {func(o *Overrides) **float64 { return &o.CacheReadInputTokenCost },
		func(r *Rates) *float64 { return &r.CacheReadInputTokenCost }},
	"cache_creation_input_token_cost": {func(o *Overrides) **float64 { return &o.CacheCreationInputTokenCost },
		func(r *Rates) *float64 { return &r.CacheCreationInputTokenCost }},
	"input_cost_per_audio_token": {func(o *Overrides) **float64 { return &o.InputCostPerAudioToken },
		func(r *Rates) *float64 { return &r.InputCostPerAudioToken }},
	"output_cost_per_audio_token": {func(o *Overrides) **float64 { return &o.OutputCostPerAudioToken },
		func(r *Rates) *float64 { return &r.OutputCostPerAudioToken }},
	"cache_read_input_audio_token_cost": {func(o *Overrides) **float64 { return &o.CacheReadInputAudioTokenCost },
		func(r *Rates) *float64 { return &r.CacheReadInputAudioTokenCost }},
	"input_cost_per_request": {func(o *Overrides) **float64 { return &o.InputCostPerRequest },
		func(r *Rates) *float64 { return &r.InputCostPerRequest }},
}

// ParseOverrides reads the catalogue fields of a config map (a deployment's model_info, or litellm_params)
// under their LiteLLM names: the rates above, max_input_tokens, max_output_tokens (or, without it, the older
// max_tokens, which LiteLLM uses for the output limit), and long-context rates such as
// input_cost_per_token_above_200k_tokens. Numbers may be strings (as os.environ/ references give). Other keys
// are ignored; a value that is not a non-negative number is an error naming its key.
func ParseOverrides(m map[string]any) (Overrides, error) {
	var o Overrides
	tiers := map[int]*Tier{}
	for _, key := range slices.Sorted(maps.Keys(m)) {
		v := m[key]
		if v == nil {
			continue
		}
		if f, ok := rateFields[key]; ok {
			n, err := number(key, v)
			if err != nil {
				return o, err
			}
			*f.override(&o) = &n
			continue
		}
		switch key {
		case "max_input_tokens", "max_output_tokens", "max_tokens":
			n, err := number(key, v)
			if err != nil {
				return o, err
			}
			if n != float64(int(n)) {
				return o, fmt.Errorf("%s: %v is not a whole number of tokens", key, v)
			}
			i := int(n)
			switch {
			case key == "max_input_tokens":
				o.MaxInputTokens = &i
			case key == "max_output_tokens":
				o.MaxOutputTokens = &i
			case m["max_output_tokens"] == nil:
				o.MaxOutputTokens = &i
			}
			continue
		}
		base, threshold, ok := tierKey(key)
		if !ok {
			continue
		}
		n, err := number(key, v)
		if err != nil {
			return o, err
		}
		t := tiers[threshold]
		if t == nil {
			t = &Tier{AboveInputTokens: threshold}
			tiers[threshold] = t
		}
		*rateFields[base].rate(&t.Rates) = n
	}
	for _, t := range tiers {
		o.Tiers = append(o.Tiers, *t)
	}
	slices.SortFunc(o.Tiers, func(a, b Tier) int { return a.AboveInputTokens - b.AboveInputTokens })
	return o, nil
}

// tierKey splits "input_cost_per_token_above_200k_tokens" into the rate's name and 200000.
func tierKey(key string) (base string, threshold int, ok bool) {
	base, rest, ok := strings.Cut(key, "_above_")
	if !ok {
		return "", 0, false
	}
	if _, known := rateFields[base]; !known || base == "input_cost_per_request" {
		return "", 0, false
	}
	rest, ok = strings.CutSuffix(rest, "_tokens")
	if !ok {
		return "", 0, false
	}
	mult := 1
	if r, isK := strings.CutSuffix(rest, "k"); isK {
		rest, mult = r, 1000
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 {
		return "", 0, false
	}
	return base, n * mult, true
}

func number(key string, v any) (float64, error) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case float32:
		f = float64(x)
	case int:
		f = float64(x)
	case int64:
		f = float64(x)
	case uint64:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, fmt.Errorf("%s: %q is not a number", key, x)
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, fmt.Errorf("%s: %q is not a number", key, x)
		}
	default:
		return 0, fmt.Errorf("%s: %v is not a number", key, v)
	}
	if f < 0 || f != f {
		return 0, fmt.Errorf("%s: %v is not a non-negative number", key, v)
	}
	return f, nil
}

// IsZero reports whether the overrides change nothing.
func (o Overrides) IsZero() bool {
	return !o.changesPrices() && o.MaxInputTokens == nil && o.MaxOutputTokens == nil
}

func (o Overrides) changesPrices() bool {
	for _, f := range rateFields {
		if *f.override(&o) != nil {
			return true
		}
	}
	return len(o.Tiers) > 0
}

// With returns the Info with the overrides applied. A rate set by the overrides is authoritative: it
// replaces the catalogue's rate, including the catalogue's long-context tiers for that rate (the overrides'
// own Tiers then apply), and any override of a price drops the price Schedule, which would otherwise bring the
// catalogue's prices back. The result shares nothing mutable with the catalogue. An Info the catalogue does
// not have can be built from overrides alone: Info{Provider: p, Model: m}.With(o).
func (i Info) With(o Overrides) Info {
	if o.MaxInputTokens != nil {
		i.MaxInputTokens = *o.MaxInputTokens
	}
	if o.MaxOutputTokens != nil {
		i.MaxOutputTokens = *o.MaxOutputTokens
	}
	if !o.changesPrices() {
		return i
	}
	i.Schedule = nil
	tiers := make([]Tier, 0, len(i.Tiers)+len(o.Tiers))
	tiers = append(tiers, i.Tiers...)
	for _, f := range rateFields {
		v := *f.override(&o)
		if v == nil {
			continue
		}
		*f.rate(&i.Rates) = *v
		for j := range tiers {
			*f.rate(&tiers[j].Rates) = 0
		}
	}
	for _, ot := range o.Tiers {
		j := slices.IndexFunc(tiers, func(t Tier) bool { return t.AboveInputTokens == ot.AboveInputTokens })
		if j < 0 {
			tiers = append(tiers, Tier{AboveInputTokens: ot.AboveInputTokens})
			j = len(tiers) - 1
		}
		overlay(&tiers[j].Rates, ot.Rates)
	}
	tiers = slices.DeleteFunc(tiers, func(t Tier) bool { return t.Rates.IsZero() })
	slices.SortFunc(tiers, func(a, b Tier) int { return a.AboveInputTokens - b.AboveInputTokens })
	if len(tiers) == 0 {
		tiers = nil
	}
	i.Tiers = tiers
	return i
}
