package cache

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

func controls(t *testing.T, obj string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(obj), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseControls(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	cases := []struct {
		obj   string
		want  Controls
		param string // a 400 about this param
	}{
		{obj: `{}`},
		{obj: `{"no-cache":true}`, want: Controls{NoCache: true}},
		{obj: `{"no-store":"true"}`, want: Controls{NoStore: true}},
		{obj: `{"ttl":300}`, want: Controls{TTL: 300 * time.Second}},
		{obj: `{"ttl":"1.5"}`, want: Controls{TTL: 1500 * time.Millisecond}},
		{obj: `{"s-maxage":10}`, want: Controls{MaxAge: 10 * time.Second, HasMaxAge: true}},
		{obj: `{"s-max-age":0}`, want: Controls{HasMaxAge: true}},
		{obj: `{"namespace":"team-docs"}`, want: Controls{Namespace: "team-docs"}},
		{obj: `{"use-cache":true}`, want: Controls{UseCache: &yes}},
		{obj: `{"use-cache":false}`, want: Controls{UseCache: &no}},
		{obj: `{"unknown-control":1}`},
		{obj: `{"no-cache":1}`, param: "cache.no-cache"},
		{obj: `{"ttl":0}`, param: "cache.ttl"},
		{obj: `{"ttl":-5}`, param: "cache.ttl"},
		{obj: `{"ttl":"soon"}`, param: "cache.ttl"},
		{obj: `{"s-maxage":true}`, param: "cache.s-maxage"},
		{obj: `{"namespace":5}`, param: "cache.namespace"},
	}
	for _, tc := range cases {
		got, err := ParseControls(controls(t, tc.obj))
		if tc.param != "" {
			e := sdk.AsError(err)
			if e == nil || e.HTTPStatus() != 400 || e.Param != tc.param {
				t.Errorf("%s: err = %v, want a 400 about %s", tc.obj, err, tc.param)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.obj, err)
			continue
		}
		if got.NoCache != tc.want.NoCache || got.NoStore != tc.want.NoStore || got.TTL != tc.want.TTL ||
			got.MaxAge != tc.want.MaxAge || got.HasMaxAge != tc.want.HasMaxAge || got.Namespace != tc.want.Namespace ||
			(got.UseCache == nil) != (tc.want.UseCache == nil) ||
			got.UseCache != nil && *got.UseCache != *tc.want.UseCache {
			t.Errorf("%s: got %+v, want %+v", tc.obj, got, tc.want)
		}
	}
}

func TestCheckAllowed(t *testing.T) {
	t.Parallel()
	m := controls(t, `{"ttl":5,"no-cache":true}`)
	if err := CheckAllowed(m, nil); err != nil {
		t.Fatalf("no list: %v", err)
	}
	if err := CheckAllowed(m, []string{"ttl", "no-cache"}); err != nil {
		t.Fatalf("both allowed: %v", err)
	}
	e := sdk.AsError(CheckAllowed(m, []string{"ttl"}))
	if e == nil || e.HTTPStatus() != 403 || e.Message != "Not allowed to set no-cache as a cache control. "+
		"Contact admin to change permissions." {
		t.Fatalf("err = %#v, want LiteLLM's 403", e)
	}
}
