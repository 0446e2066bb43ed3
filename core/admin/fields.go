package admin

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/switchyard/gateway/core/store"
)

// fields is a request body decoded one field at a time, so that every error names its field and an update can
// tell an absent field (left unchanged) from an explicit null (cleared). Fields LiteLLM accepts and Switchyard
// does not use are ignored, so LiteLLM clients keep working.
type fields map[string]json.RawMessage

// reader reads typed fields and keeps the first error, so a handler reads all its fields and checks once.
type reader struct {
	f   fields
	err error
}

// parseBody decodes a JSON object body; an empty body is an empty object.
func parseBody(body []byte) (*reader, error) {
	b := bytes.TrimSpace(body)
	f := fields{}
	if len(b) == 0 {
		return &reader{f: f}, nil
	}
	if b[0] != '{' {
		return nil, badField("", "The request body must be a JSON object.")
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, badField("", "The request body is not valid JSON: "+err.Error())
	}
	return &reader{f: f}, nil
}

func (r *reader) has(name string) bool {
	_, ok := r.f[name]
	return ok
}

func (r *reader) fail(param, msg string) {
	if r.err == nil {
		r.err = badField(param, msg)
	}
}

// read decodes a field into a T: Set reports whether the field was present; null gives T's zero value.
func read[T any](r *reader, name string) store.Opt[T] {
	var o store.Opt[T]
	raw, ok := r.f[name]
	if !ok || r.err != nil {
		return o
	}
	if err := json.Unmarshal(raw, &o.V); err != nil {
		r.fail(name, name+" must be "+describe(reflect.TypeFor[T]())+".")
		return store.Opt[T]{}
	}
	o.Set = true
	return o
}

// str reads a string field; absent and null give "".
func str(r *reader, name string) string { return read[string](r, name).V }

// required reads a string field that must be present and non-empty.
func required(r *reader, name string) string {
	v := str(r, name)
	if v == "" {
		r.fail(name, name+" is required.")
	}
	return v
}

// idList reads a request body whose field name lists the ids to act on ({"team_ids": [...]}), required and
// non-empty.
func idList(body []byte, name string) ([]string, error) {
	r, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	ids := strList(r, name)
	if r.err == nil && len(ids) == 0 {
		r.fail(name, name+" is required.")
	}
	if r.err != nil {
		return nil, r.err
	}
	return ids, nil
}

// strList reads a list of strings; a single string is taken as a list of one.
func strList(r *reader, name string) []string {
	raw, ok := r.f[name]
	if !ok || r.err != nil {
		return nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	return read[[]string](r, name).V
}

// money reads an optional non-negative amount (null clears it).
func money(r *reader, name string) store.Opt[*float64] {
	o := read[*float64](r, name)
	if o.V != nil && (*o.V < 0 || math.IsInf(*o.V, 0)) {
		r.fail(name, name+" must be a non-negative number.")
	}
	return o
}

// spend reads an explicit spend, which must be a non-negative number (not null).
func spend(r *reader) store.Opt[float64] {
	o := money(r, "spend")
	if !o.Set {
		return store.Opt[float64]{}
	}
	if o.V == nil {
		r.fail("spend", "spend must be a non-negative number.")
		return store.Opt[float64]{}
	}
	return store.Some(*o.V)
}

// limit reads an optional non-negative integer limit (null clears it).
func limit(r *reader, name string) store.Opt[*int64] {
	o := read[*int64](r, name)
	if o.V != nil && *o.V < 0 {
		r.fail(name, name+" must be a non-negative integer.")
	}
	return o
}

// limits reads a model → limit map of non-negative integers.
func limits(r *reader, name string) store.Opt[map[string]int64] {
	o := read[map[string]int64](r, name)
	for m, v := range o.V {
		if v < 0 {
			r.fail(name, name+"["+m+"] must be a non-negative integer.")
		}
	}
	return o
}

// budgetDuration reads a budget_duration, validated with the store's parser; null or "" clears it.
func budgetDuration(r *reader, name string) store.Opt[string] {
	o := read[string](r, name)
	if o.V != "" {
		if _, err := store.ParseDuration(o.V); err != nil {
			r.fail(name, name+" is invalid: want a positive number followed by s, m, h, d or mo (\"30d\", \"1mo\"), "+
				"or daily, weekly or monthly.")
		}
	}
	return o
}

// expiry reads a key's "duration" and returns the expiry it gives from now; null or "" means never.
func expiry(r *reader, name string, now time.Time) store.Opt[*time.Time] {
	o := budgetDuration(r, name)
	if !o.Set || r.err != nil {
		return store.Opt[*time.Time]{}
	}
	t, err := store.NextReset(o.V, now)
	if err != nil {
		r.fail(name, name+" is invalid.")
	}
	return store.Some(t)
}

// modelBudgets reads model_max_budget in either of LiteLLM's forms: {"gpt-4o": 10} or
// {"gpt-4o": {"budget_limit": 10, "time_period": "30d"}}.
func modelBudgets(r *reader, name string) store.Opt[map[string]float64] {
	o := read[map[string]json.RawMessage](r, name)
	if !o.Set || r.err != nil {
		return store.Opt[map[string]float64]{}
	}
	out := make(map[string]float64, len(o.V))
	for m, raw := range o.V {
		var v float64
		if err := json.Unmarshal(raw, &v); err != nil {
			var cfg struct {
				BudgetLimit *float64 `json:"budget_limit"`
			}
			if err := json.Unmarshal(raw, &cfg); err != nil || cfg.BudgetLimit == nil {
				r.fail(name, name+"["+m+"] must be a number or {\"budget_limit\": number}.")
				return store.Opt[map[string]float64]{}
			}
			v = *cfg.BudgetLimit
		}
		if v < 0 || math.IsInf(v, 0) {
			r.fail(name, name+"["+m+"] must be a non-negative number.")
		}
		out[m] = v
	}
	return store.Some(out)
}

// describe names a JSON shape for error messages.
func describe(t reflect.Type) string {
	if t == reflect.TypeFor[json.RawMessage]() {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describe(t.Elem()) + " or null"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(describe(t.Elem()), "a "), "an ") + "s"
	case reflect.Map:
		if t.Elem().Kind() == reflect.Interface {
			return "an object"
		}
		return "an object of " + strings.TrimPrefix(strings.TrimPrefix(describe(t.Elem()), "a "), "an ") + "s"
	}
	return "a JSON value"
}
