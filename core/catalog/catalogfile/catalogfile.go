// Package catalogfile is the format of Switchyard's model catalogue file, core/catalog/catalog.json: the types
// cmd/catalog-gen writes and core/catalog reads, and the match clauses that tie a price list to model names.
//
// The file is generated; never edit it by hand (run `make catalog`). Its price fields carry the names of
// LiteLLM's model_info (input_cost_per_token, cache_read_input_token_cost, max_input_tokens, ...), in USD per
// token or per request, so that a price in the catalogue and a price override in a config read the same.
//
// It lives apart from core/catalog, which embeds the file, so that the generator builds even when the file is
// missing or stale.
package catalogfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// FormatVersion is the version of the file format; readers reject any other.
const FormatVersion = 1

// File is the whole catalogue.
type File struct {
	// Format is FormatVersion.
	Format int `json:"format"`
	// Source says where the data came from.
	Source Source `json:"source"`
	// Providers are the price lists, in the source's order, which lookups without a provider follow.
	Providers []Provider `json:"providers"`
}

// Source describes the price data the file was generated from.
type Source struct {
	Name    string `json:"name"`
	URL     string `json:"url"`
	License string `json:"license"`
	// SHA256 is the hex digest of the source file, to tell which copy the catalogue was built from.
	SHA256 string `json:"sha256"`
}

// Provider is one provider's price list.
type Provider struct {
	// SourceID is the provider's id in the source data (genai-prices' "aws", "google", "x-ai", ...).
	SourceID string `json:"source_id"`
	// LiteLLMProviders are the Switchyard (LiteLLM) provider names this price list serves; the first is the
	// one recorded in each model's litellm_provider.
	LiteLLMProviders []string `json:"litellm_providers"`
	// ModelPrefix and ModelSuffix, when set, select this list within a provider that has several: a model
	// name must start with the prefix or end with the suffix, which are removed before matching. Hugging Face
	// routes a model to an inference provider as "together/org/model" (LiteLLM) or "org/model:together" (the
	// router's own syntax).
	ModelPrefix string `json:"model_prefix,omitempty"`
	ModelSuffix string `json:"model_suffix,omitempty"`
	// ModelMatch, when set, recognises this provider's models by name, for lookups that give no provider.
	ModelMatch *Clause `json:"model_match,omitempty"`
	// FallbackProviders are the SourceIDs of price lists to search when this one has no match (Azure serves
	// OpenAI's models, Vertex AI Anthropic's).
	FallbackProviders []string `json:"fallback_providers,omitempty"`
	// Models are in the source's order: a name resolves to the first model whose Match accepts it.
	Models []Model `json:"models"`
}

// Model is one model's entry.
type Model struct {
	// ID is the model's id in the source data.
	ID string `json:"id"`
	// LiteLLMProvider is the provider's Switchyard (LiteLLM) name.
	LiteLLMProvider string `json:"litellm_provider"`
	// Match decides which model names this entry prices.
	Match Clause `json:"match"`
	// MaxInputTokens is the context window; 0 when unknown.
	MaxInputTokens int `json:"max_input_tokens,omitempty"`
	// MaxOutputTokens is the most tokens a response may have; 0 when unknown.
	MaxOutputTokens int `json:"max_output_tokens,omitempty"`
	// Deprecated marks a model its provider has deprecated but still serves.
	Deprecated bool `json:"deprecated,omitempty"`
	// Rates and Tiers are the model's base prices: the prices that apply unless an entry of Schedule does.
	Rates
	Tiers []Tier `json:"tiers,omitempty"`
	// Schedule holds prices that apply instead of the base ones from a date on or during a daily window, in
	// the source's order: of the entries active at a time, the last applies.
	Schedule []ScheduledPrices `json:"price_schedule,omitempty"`
}

// Rates are prices in USD, per token unless the name says otherwise. A zero rate is one the source does not
// give (the source has no explicit zero for the cache and audio rates; cmd/catalog-gen refuses one, since a
// reader prices cached and audio tokens at the text rate when their own rate is absent).
type Rates struct {
	InputCostPerToken            float64 `json:"input_cost_per_token,omitempty"`
	OutputCostPerToken           float64 `json:"output_cost_per_token,omitempty"`
	CacheReadInputTokenCost      float64 `json:"cache_read_input_token_cost,omitempty"`
	CacheCreationInputTokenCost  float64 `json:"cache_creation_input_token_cost,omitempty"`
	InputCostPerAudioToken       float64 `json:"input_cost_per_audio_token,omitempty"`
	OutputCostPerAudioToken      float64 `json:"output_cost_per_audio_token,omitempty"`
	CacheReadInputAudioTokenCost float64 `json:"cache_read_input_audio_token_cost,omitempty"`
	// InputCostPerRequest is a fixed price per request.
	InputCostPerRequest float64 `json:"input_cost_per_request,omitempty"`
}

// IsZero reports whether no rate is set.
func (r Rates) IsZero() bool { return r == Rates{} }

// Tier holds long-context prices: when a request's prompt (all its input tokens, cached or not) has more than
// AboveInputTokens tokens, each rate set here replaces the base rate for all the request's tokens of that kind
// (the "cliff" model Anthropic, Google and OpenAI use; LiteLLM's input_cost_per_token_above_200k_tokens).
// Rates left zero keep the value of the highest lower tier that sets them, or the base.
type Tier struct {
	AboveInputTokens int `json:"above_input_tokens"`
	Rates
}

// ScheduledPrices are prices that apply from a date on (StartDate) or every day between two times
// (StartTime, EndTime); with neither they always apply.
type ScheduledPrices struct {
	// StartDate is a date, "2006-01-02", compared with the request's date in UTC.
	StartDate string `json:"start_date,omitempty"`
	// StartTime and EndTime are times of day with a zone, "15:04:05Z07:00"; the window includes its start
	// and excludes its end.
	StartTime string `json:"start_time,omitempty"`
	EndTime   string `json:"end_time,omitempty"`
	Rates
	Tiers []Tier `json:"tiers,omitempty"`
}

// Validate checks the condition's fields.
func (s ScheduledPrices) Validate() error {
	if s.StartDate != "" {
		if s.StartTime != "" || s.EndTime != "" {
			return errors.New("a price condition has both a start date and a daily window")
		}
		if _, err := time.Parse(time.DateOnly, s.StartDate); err != nil {
			return fmt.Errorf("start_date: %w", err)
		}
	}
	if (s.StartTime == "") != (s.EndTime == "") {
		return errors.New("a daily price window needs both start_time and end_time")
	}
	for _, v := range []string{s.StartTime, s.EndTime} {
		if v == "" {
			continue
		}
		if _, err := ParseTimeOfDay(v); err != nil {
			return err
		}
	}
	return nil
}

// ParseTimeOfDay parses "15:04:05Z07:00" (or without seconds) and returns the time of day in UTC as an offset
// from midnight.
func ParseTimeOfDay(s string) (time.Duration, error) {
	for _, layout := range []string{"15:04:05Z07:00", "15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			_, off := t.Zone()
			d := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
				time.Duration(t.Second())*time.Second - time.Duration(off)*time.Second
			const day = 24 * time.Hour
			return ((d % day) + day) % day, nil
		}
	}
	return 0, fmt.Errorf("time of day %q: want hh:mm:ss with a zone (Z or ±hh:mm)", s)
}

// Clause operators, as the source names them.
const (
	OpEquals     = "equals"
	OpStartsWith = "starts_with"
	OpEndsWith   = "ends_with"
	OpContains   = "contains"
	OpRegex      = "regex"
	OpOr         = "or"
	OpAnd        = "and"
)

// Clause is a rule over a model name: a string test (Op with Value) or a combination (Op "or"/"and" with
// Clauses). On the wire it is an object with exactly one member: {"starts_with": "claude-3-5"},
// {"or": [...]}. String tests ignore case; a regex is searched for (unanchored) in the lower-cased name.
type Clause struct {
	Op      string
	Value   string
	Clauses []Clause
}

// IsCombination reports whether the clause combines others ("or", "and").
func (c Clause) IsCombination() bool { return c.Op == OpOr || c.Op == OpAnd }

// Validate checks the operators, that combinations are not empty and that regexes compile (Go's RE2 syntax).
func (c Clause) Validate() error {
	switch c.Op {
	case OpEquals, OpStartsWith, OpEndsWith, OpContains:
		return nil
	case OpRegex:
		if _, err := regexp.Compile(c.Value); err != nil {
			return fmt.Errorf("regex %q: %w", c.Value, err)
		}
		return nil
	case OpOr, OpAnd:
		if len(c.Clauses) == 0 {
			return fmt.Errorf("empty %q clause", c.Op)
		}
		for _, sub := range c.Clauses {
			if err := sub.Validate(); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown match operator %q", c.Op)
}

// MarshalJSON writes the one-member object form, without HTML escaping.
func (c Clause) MarshalJSON() ([]byte, error) {
	var value any = c.Value
	if c.IsCombination() {
		value = c.Clauses
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{c.Op: value}); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// UnmarshalJSON reads the one-member object form.
func (c *Clause) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("match clause: %w", err)
	}
	if len(m) != 1 {
		return fmt.Errorf("match clause: want an object with one member, got %d", len(m))
	}
	*c = Clause{}
	for op, raw := range m {
		c.Op = op
		switch op {
		case OpOr, OpAnd:
			if err := json.Unmarshal(raw, &c.Clauses); err != nil {
				return fmt.Errorf("match clause %q: %w", op, err)
			}
		case OpEquals, OpStartsWith, OpEndsWith, OpContains, OpRegex:
			if err := json.Unmarshal(raw, &c.Value); err != nil {
				return fmt.Errorf("match clause %q: %w", op, err)
			}
		default:
			return fmt.Errorf("match clause: unknown operator %q", op)
		}
	}
	return nil
}
