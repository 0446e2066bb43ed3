package catalogfile

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestClauseJSON(t *testing.T) {
	t.Parallel()
	in := `{"or":[{"starts_with":"a<b"},{"and":[{"contains":"x&y"},{"regex":"^o[134]"}]},{"equals":"E"},{"ends_with":"z"}]}`
	var c Clause
	if err := json.Unmarshal([]byte(in), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	// An encoder without HTML escaping (as cmd/catalog-gen writes) keeps the characters as they are.
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	if out := strings.TrimSpace(b.String()); out != in {
		t.Errorf("round trip:\n got %s\nwant %s", out, in)
	}
	for _, bad := range []string{`{}`, `{"equals":"a","contains":"b"}`, `{"like":"a"}`, `{"or":"a"}`, `[]`, `{"equals":1}`} {
		var c Clause
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	for _, bad := range []Clause{{Op: OpOr}, {Op: OpRegex, Value: "(?!x)"}, {Op: "like"}, {Op: OpAnd, Clauses: []Clause{{Op: "?"}}}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: valid", bad)
		}
	}
}

func TestParseTimeOfDay(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"00:30:00Z":      30 * time.Minute,
		"16:30:00Z":      16*time.Hour + 30*time.Minute,
		"16:30Z":         16*time.Hour + 30*time.Minute,
		"08:30:00+08:00": 30 * time.Minute,
		"01:00:00+08:00": 17 * time.Hour, // the day before in UTC
		"23:00:00-02:00": time.Hour,
	} {
		if got, err := ParseTimeOfDay(in); err != nil || got != want {
			t.Errorf("ParseTimeOfDay(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	if _, err := ParseTimeOfDay("16:30:00"); err == nil || !strings.Contains(err.Error(), "zone") {
		t.Errorf("no zone: %v", err)
	}
}

func TestScheduledPricesValidate(t *testing.T) {
	t.Parallel()
	for _, ok := range []ScheduledPrices{{}, {StartDate: "2026-03-13"}, {StartTime: "00:30:00Z", EndTime: "16:30:00Z"}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%+v: %v", ok, err)
		}
	}
	for _, bad := range []ScheduledPrices{{StartDate: "13/03/2026"}, {StartTime: "00:30:00Z"},
		{StartDate: "2026-03-13", StartTime: "00:30:00Z", EndTime: "16:30:00Z"}, {StartTime: "x", EndTime: "y"}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%+v: valid", bad)
		}
	}
}
