package catalog

import (
	"strings"
	"testing"
	"time"
)

// A small catalogue exercising each match operator and the first-match order.
const testCatalogue = `{
  "format": 1,
  "source": {"name": "test", "url": "", "license": "", "sha256": ""},
  "providers": [
    {"source_id": "acme", "litellm_providers": ["acme", "acme_eu"], "model_match": {"starts_with": "acme-"},
     "fallback_providers": ["base"], "models": [
      {"id": "prefix", "litellm_provider": "acme", "match": {"starts_with": "acme-big"}, "input_cost_per_token": 1},
      {"id": "exact", "litellm_provider": "acme", "match": {"or": [{"equals": "acme-big-2"}, {"equals": "Acme-Small"}]}, "input_cost_per_token": 2},
      {"id": "suffix", "litellm_provider": "acme", "match": {"ends_with": "-MINI"}, "input_cost_per_token": 3},
      {"id": "both", "litellm_provider": "acme", "match": {"and": [{"contains": "tiny"}, {"regex": "v[0-9]+$"}]}, "input_cost_per_token": 4},
      {"id": "regex", "litellm_provider": "acme", "match": {"regex": "nano-\\d{4}"}, "input_cost_per_token": 5}
    ]},
    {"source_id": "base", "litellm_providers": ["base"], "models": [
      {"id": "shared", "litellm_provider": "base", "match": {"equals": "shared-model"}, "input_cost_per_token": 6}
    ]},
    {"source_id": "hub_x", "litellm_providers": ["hub"], "model_prefix": "x/", "model_suffix": ":x", "models": [
      {"id": "org/m", "litellm_provider": "hub", "match": {"equals": "org/m"}, "input_cost_per_token": 7}
    ]},
    {"source_id": "hub_y", "litellm_providers": ["hub"], "model_prefix": "y/", "model_suffix": ":y", "models": [
      {"id": "org/m", "litellm_provider": "hub", "match": {"equals": "org/m"}, "input_cost_per_token": 8}
    ]}
  ]
}`

func TestMatchRules(t *testing.T) {
	t.Parallel()
	c, err := Load([]byte(testCatalogue))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0)
	tests := []struct {
		provider, model string
		id              string // "" for no match
		provider2       string
	}{
		{"acme", "acme-big", "prefix", "acme"},
		{"acme", "acme-big-2", "prefix", "acme"}, // equals matches too, but the earlier rule wins
		{"acme", "ACME-small", "exact", "acme"},  // without regard to case
		{"acme", "acme-small-mini", "suffix", "acme"},
		{"acme", "tiny-v12", "both", "acme"},
		{"acme", "tiny-v12-beta", "", ""},
		{"acme", "my-nano-2024-x", "regex", "acme"}, // a regex is searched for, unanchored
		{"acme", "shared-model", "shared", "acme"},  // from the fallback list
		{"acme_eu", "acme-big", "prefix", "acme_eu"},
		{"base", "acme-big", "", ""},
		{"", "acme-mini", "suffix", "acme"},  // provider from the list's model_match
		{"", "acme/tiny-v1", "both", "acme"}, // provider from the name's prefix
		{"hub", "x/org/m", "org/m", "hub"},
		{"hub", "y/org/m", "org/m", "hub"},
		{"hub", "org/m:y", "org/m", "hub"},
		{"hub", "org/m", "", ""},
		{"hub_y", "y/org/m", "org/m", "hub"},
	}
	for _, tt := range tests {
		info, ok := c.LookupAt(tt.provider, tt.model, now)
		if ok != (tt.id != "") || info.Model != tt.id || info.Provider != tt.provider2 {
			t.Errorf("%s/%s: got %q %q (found %v), want %q %q", tt.provider, tt.model, info.Model, info.Provider,
				ok, tt.id, tt.provider2)
		}
	}
	if a, b := lookupPrice(t, c, "hub", "x/org/m"), lookupPrice(t, c, "hub", "y/org/m"); a != 7 || b != 8 {
		t.Errorf("hub prices %v, %v", a, b)
	}
}

func TestLoadRejects(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct{ from, to, want string }{
		"format":         {`"format": 1`, `"format": 2`, "format 2"},
		"unknown member": {`"input_cost_per_token": 6}`, `"input_cost_per_token": 6, "surprise": 1}`, "surprise"},
		"operator":       {`{"equals": "shared-model"}`, `{"like": "shared-model"}`, "like"},
		"regex":          {`"nano-\\d{4}"`, `"nano-(?<=x)"`, "regex"},
		"fallback":       {`"fallback_providers": ["base"]`, `"fallback_providers": ["nowhere"]`, "nowhere"},
		"duplicate":      {`"source_id": "hub_y"`, `"source_id": "hub_x"`, "duplicate"},
		"empty or":       {`{"or": [{"equals": "acme-big-2"}, {"equals": "Acme-Small"}]}`, `{"or": []}`, "empty"},
		"two members":    {`{"equals": "shared-model"}`, `{"equals": "a", "contains": "b"}`, "one member"},
	} {
		data := strings.Replace(testCatalogue, tt.from, tt.to, 1)
		if data == testCatalogue {
			t.Fatalf("%s: %q not in the test catalogue", name, tt.from)
		}
		if _, err := Load([]byte(data)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one mentioning %q", name, err, tt.want)
		}
	}
}
