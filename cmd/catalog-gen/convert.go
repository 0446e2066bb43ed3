package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sort"

	"github.com/switchyard/gateway/core/catalog/catalogfile"
)

// Source metadata recorded in the catalogue.
const (
	sourceName    = "pydantic/genai-prices"
	sourceURL     = "https://github.com/pydantic/genai-prices"
	sourceLicense = "MIT"
)

// Keys of the source's objects that carry nothing the catalogue needs. Any key not listed here and not
// converted stops the generator, so that new data is mapped on purpose rather than dropped.
var (
	ignoredProviderKeys = set("name", "pricing_urls", "api_pattern", "description", "price_comments",
		"provider_match", "extractors")
	ignoredModelKeys = set("name", "description", "price_comments")
)

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// priceField maps a source price key (USD per million tokens) to the LiteLLM-named rate (USD per token).
// The source's other keys (per-modality text, image and video prices, cached audio writes) have no model_info
// field here yet and stop the generator.
var priceField = map[string]func(*catalogfile.Rates) *float64{
	"input_mtok":            func(r *catalogfile.Rates) *float64 { return &r.InputCostPerToken },
	"output_mtok":           func(r *catalogfile.Rates) *float64 { return &r.OutputCostPerToken },
	"cache_read_mtok":       func(r *catalogfile.Rates) *float64 { return &r.CacheReadInputTokenCost },
	"cache_write_mtok":      func(r *catalogfile.Rates) *float64 { return &r.CacheCreationInputTokenCost },
	"input_audio_mtok":      func(r *catalogfile.Rates) *float64 { return &r.InputCostPerAudioToken },
	"output_audio_mtok":     func(r *catalogfile.Rates) *float64 { return &r.OutputCostPerAudioToken },
	"cache_audio_read_mtok": func(r *catalogfile.Rates) *float64 { return &r.CacheReadInputAudioTokenCost },
}

// fallsBackWhenZero are the rates a reader replaces by the text rate when they are absent (zero), so an
// explicit zero in the source would change meaning.
var fallsBackWhenZero = set("cache_read_mtok", "cache_write_mtok", "input_audio_mtok", "output_audio_mtok",
	"cache_audio_read_mtok")

// requestsKey is the price per thousand requests; it becomes input_cost_per_request.
const requestsKey = "requests_kcount"

// convert turns the source's prices.json into the catalogue file.
func convert(src []byte) (*catalogfile.File, error) {
	var providers []map[string]json.RawMessage
	if err := decode(src, &providers); err != nil {
		return nil, fmt.Errorf("prices: %w", err)
	}
	sum := sha256.Sum256(src)
	out := &catalogfile.File{
		Format: catalogfile.FormatVersion,
		Source: catalogfile.Source{Name: sourceName, URL: sourceURL, License: sourceLicense,
			SHA256: hex.EncodeToString(sum[:])},
	}
	ids := map[string]bool{}
	for i, raw := range providers {
		p, err := convertProvider(raw)
		if err != nil {
			return nil, fmt.Errorf("providers[%d]: %w", i, err)
		}
		if ids[p.SourceID] {
			return nil, fmt.Errorf("providers[%d]: duplicate id %q", i, p.SourceID)
		}
		ids[p.SourceID] = true
		out.Providers = append(out.Providers, p)
	}
	for _, p := range out.Providers {
		for _, fb := range p.FallbackProviders {
			if !ids[fb] {
				return nil, fmt.Errorf("provider %q: fallback provider %q does not exist", p.SourceID, fb)
			}
		}
	}
	return out, nil
}

func convertProvider(raw map[string]json.RawMessage) (catalogfile.Provider, error) {
	var p catalogfile.Provider
	if err := need(raw, "id", &p.SourceID); err != nil {
		return p, err
	}
	wrap := func(err error) error { return fmt.Errorf("provider %q: %w", p.SourceID, err) }
	names, prefix, suffix, err := mapProvider(p.SourceID)
	if err != nil {
		return p, err
	}
	p.LiteLLMProviders, p.ModelPrefix, p.ModelSuffix = names, prefix, suffix
	var models []map[string]json.RawMessage
	for _, k := range sortedKeys(raw) {
		v := raw[k]
		switch {
		case k == "id":
		case k == "model_match":
			var c catalogfile.Clause
			if err := decode(v, &c); err != nil {
				return p, wrap(err)
			}
			if err := c.Validate(); err != nil {
				return p, wrap(err)
			}
			p.ModelMatch = &c
		case k == "fallback_model_providers":
			if err := decode(v, &p.FallbackProviders); err != nil {
				return p, wrap(err)
			}
		case k == "models":
			if err := decode(v, &models); err != nil {
				return p, wrap(err)
			}
		case ignoredProviderKeys[k]:
		default:
			return p, wrap(fmt.Errorf("unknown key %q", k))
		}
	}
	seen := map[string]bool{}
	for i, m := range models {
		model, err := convertModel(m, names[0])
		if err != nil {
			return p, wrap(fmt.Errorf("models[%d]: %w", i, err))
		}
		if seen[model.ID] {
			return p, wrap(fmt.Errorf("duplicate model id %q", model.ID))
		}
		seen[model.ID] = true
		p.Models = append(p.Models, model)
	}
	return p, nil
}

func convertModel(raw map[string]json.RawMessage, provider string) (catalogfile.Model, error) {
	m := catalogfile.Model{LiteLLMProvider: provider}
	if err := need(raw, "id", &m.ID); err != nil {
		return m, err
	}
	wrap := func(err error) error { return fmt.Errorf("model %q: %w", m.ID, err) }
	if _, ok := raw["match"]; !ok {
		return m, wrap(errors.New("no match"))
	}
	if _, ok := raw["prices"]; !ok {
		return m, wrap(errors.New("no prices"))
	}
	for _, k := range sortedKeys(raw) {
		v := raw[k]
		var err error
		switch {
		case k == "id":
		case k == "match":
			if err = decode(v, &m.Match); err == nil {
				err = m.Match.Validate()
			}
		case k == "context_window":
			err = decode(v, &m.MaxInputTokens)
		case k == "max_output_tokens":
			err = decode(v, &m.MaxOutputTokens)
		case k == "deprecated":
			err = decode(v, &m.Deprecated)
		case k == "prices":
			err = convertPrices(v, &m)
		case ignoredModelKeys[k]:
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return m, wrap(err)
		}
	}
	return m, nil
}

// convertPrices reads a price set, or a list of conditional ones. Of a list, the source uses the last entry
// whose condition holds, and the first when none does: so the first is the base (its own condition never
// matters) and the others form the schedule, in order.
func convertPrices(raw json.RawMessage, m *catalogfile.Model) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		var err error
		m.Rates, m.Tiers, err = convertPriceSet(raw)
		return err
	}
	var list []map[string]json.RawMessage
	if err := decode(raw, &list); err != nil {
		return err
	}
	if len(list) == 0 {
		return errors.New("prices: empty list")
	}
	for i, entry := range list {
		var sp catalogfile.ScheduledPrices
		for _, k := range sortedKeys(entry) {
			v := entry[k]
			var err error
			switch k {
			case "prices":
				sp.Rates, sp.Tiers, err = convertPriceSet(v)
			case "constraint":
				err = convertConstraint(v, &sp)
			default:
				err = fmt.Errorf("unknown key %q", k)
			}
			if err != nil {
				return fmt.Errorf("prices[%d]: %w", i, err)
			}
		}
		if _, ok := entry["prices"]; !ok {
			return fmt.Errorf("prices[%d]: no prices", i)
		}
		if i == 0 {
			m.Rates, m.Tiers = sp.Rates, sp.Tiers
			continue
		}
		m.Schedule = append(m.Schedule, sp)
	}
	return nil
}

func convertConstraint(raw json.RawMessage, sp *catalogfile.ScheduledPrices) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil
	}
	var c map[string]string
	if err := decode(raw, &c); err != nil {
		return fmt.Errorf("constraint: %w", err)
	}
	for k, v := range c {
		switch k {
		case "start_date":
			sp.StartDate = v
		case "start_time":
			sp.StartTime = v
		case "end_time":
			sp.EndTime = v
		default:
			return fmt.Errorf("constraint: unknown key %q", k)
		}
	}
	if sp.StartDate == "" && sp.StartTime == "" && sp.EndTime == "" {
		return errors.New("constraint: empty")
	}
	return sp.Validate()
}

// convertPriceSet converts one price set: flat prices become rates, tiered prices a base rate and tiers,
// grouped by threshold and sorted.
func convertPriceSet(raw json.RawMessage) (catalogfile.Rates, []catalogfile.Tier, error) {
	var rates catalogfile.Rates
	var prices map[string]json.RawMessage
	if err := decode(raw, &prices); err != nil {
		return rates, nil, err
	}
	tiers := map[int]*catalogfile.Tier{}
	for _, k := range sortedKeys(prices) {
		v := bytes.TrimSpace(prices[k])
		if k == requestsKey {
			var n json.Number
			if err := decode(v, &n); err != nil {
				return rates, nil, fmt.Errorf("%s: %w", k, err)
			}
			f, err := perUnit(n, 1000)
			if err != nil {
				return rates, nil, fmt.Errorf("%s: %w", k, err)
			}
			rates.InputCostPerRequest = f
			continue
		}
		field, ok := priceField[k]
		if !ok {
			return rates, nil, fmt.Errorf("price %q has no LiteLLM model_info field mapped in cmd/catalog-gen", k)
		}
		check := func(f float64) error {
			if f == 0 && fallsBackWhenZero[k] {
				return fmt.Errorf("price %q is an explicit zero, which the catalogue cannot tell from an absent "+
					"price (readers bill such tokens at the text rate)", k)
			}
			return nil
		}
		if len(v) > 0 && v[0] == '{' {
			var tp struct {
				Base  json.Number `json:"base"`
				Tiers []struct {
					Start *int        `json:"start"`
					Price json.Number `json:"price"`
				} `json:"tiers"`
			}
			if err := decode(v, &tp); err != nil {
				return rates, nil, fmt.Errorf("%s: %w", k, err)
			}
			base, err := perUnit(tp.Base, 1_000_000)
			if err != nil {
				return rates, nil, fmt.Errorf("%s.base: %w", k, err)
			}
			if err := check(base); err != nil {
				return rates, nil, err
			}
			*field(&rates) = base
			for i, t := range tp.Tiers {
				if t.Start == nil || *t.Start < 0 {
					return rates, nil, fmt.Errorf("%s.tiers[%d]: start must be a non-negative integer", k, i)
				}
				f, err := perUnit(t.Price, 1_000_000)
				if err != nil {
					return rates, nil, fmt.Errorf("%s.tiers[%d]: %w", k, i, err)
				}
				if err := check(f); err != nil {
					return rates, nil, err
				}
				tier := tiers[*t.Start]
				if tier == nil {
					tier = &catalogfile.Tier{AboveInputTokens: *t.Start}
					tiers[*t.Start] = tier
				}
				*field(&tier.Rates) = f
			}
			continue
		}
		var n json.Number
		if err := decode(v, &n); err != nil {
			return rates, nil, fmt.Errorf("%s: %w", k, err)
		}
		f, err := perUnit(n, 1_000_000)
		if err != nil {
			return rates, nil, fmt.Errorf("%s: %w", k, err)
		}
		if err := check(f); err != nil {
			return rates, nil, err
		}
		*field(&rates) = f
	}
	var out []catalogfile.Tier
	for _, t := range tiers {
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AboveInputTokens < out[j].AboveInputTokens })
	return rates, out, nil
}

// perUnit divides a decimal price by per exactly and returns the float64 nearest to the quotient: 2.5 per
// million is 2.5e-06 and 1.9 per million 1.9e-06, where float division would give 1.8999999999999998e-06.
func perUnit(n json.Number, per int64) (float64, error) {
	r, ok := new(big.Rat).SetString(string(n))
	if !ok {
		return 0, fmt.Errorf("price %q is not a number", n)
	}
	if r.Sign() < 0 {
		return 0, fmt.Errorf("price %q is negative", n)
	}
	f, _ := r.Quo(r, big.NewRat(per, 1)).Float64()
	return f, nil
}

// decode unmarshals strictly: numbers stay decimal text and unknown fields of structs are errors.
func decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

func need(raw map[string]json.RawMessage, key string, v any) error {
	b, ok := raw[key]
	if !ok {
		return fmt.Errorf("missing %q", key)
	}
	return decode(b, v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// render writes the catalogue deterministically: the header and each provider's fields indented, one model
// per line (so a price change is a one-line diff), no HTML escaping, a final newline.
func render(f *catalogfile.File) ([]byte, error) {
	var b bytes.Buffer
	src, err := compact(f.Source)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(&b, "{\n  \"format\": %d,\n  \"source\": %s,\n  \"providers\": [\n", f.Format, src)
	for i, p := range f.Providers {
		models := p.Models
		p.Models = []catalogfile.Model{}
		head, err := compact(p)
		if err != nil {
			return nil, err
		}
		head, ok := bytes.CutSuffix(head, []byte(`[]}`))
		if !ok {
			return nil, errors.New("render: models is not the last member of a provider")
		}
		b.WriteString("    ")
		b.Write(head)
		b.WriteString("[\n")
		for j, m := range models {
			line, err := compact(m)
			if err != nil {
				return nil, err
			}
			b.WriteString("      ")
			b.Write(line)
			if j < len(models)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString("    ]}")
		if i < len(f.Providers)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("  ]\n}\n")
	return b.Bytes(), nil
}

func compact(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
