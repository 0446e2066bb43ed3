package sdk_test

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/switchyard/gateway/sdk"
)

// The registry is global and lives as long as the test binary, also across -count runs; every module a test
// registers gets a name no other test or run uses.
var moduleSeq atomic.Int64

func uniqueID(kind string) string {
	return fmt.Sprintf("%s.sdktest-%d", kind, moduleSeq.Add(1))
}

type testModule struct{ id string }

func newModule(id string) func() sdk.Module { return func() sdk.Module { return &testModule{id: id} } }

// panicMessage returns what f panicked with, or "" when it did not panic.
func panicMessage(f func()) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
			if msg == "" {
				msg = "(empty panic)"
			}
		}
	}()
	f()
	return ""
}

func TestRegisterRejectsBadModules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		info sdk.ModuleInfo
		want string
	}{
		{"empty ID", sdk.ModuleInfo{New: newModule("")}, "bad module"},
		{"no dot", sdk.ModuleInfo{ID: "providers", New: newModule("")}, "bad module"},
		{"no name", sdk.ModuleInfo{ID: "providers.", New: newModule("")}, "bad module"},
		{"no New", sdk.ModuleInfo{ID: uniqueID("providers")}, "bad module"},
		{"no kind", sdk.ModuleInfo{ID: ".name", New: newModule("")}, "unknown kind"},
		{"unknown kind", sdk.ModuleInfo{ID: "storage.s3", New: newModule("")}, `unknown kind "storage"`},
		{"kind in the wrong case", sdk.ModuleInfo{ID: "Providers.x", New: newModule("")}, "unknown kind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg := panicMessage(func() { sdk.Register(tt.info) })
			if !strings.Contains(msg, tt.want) {
				t.Errorf("Register(%q) panicked with %q, want a panic mentioning %q", tt.info.ID, msg, tt.want)
			}
			if tt.info.ID != "" {
				if _, ok := sdk.LookupModule(tt.info.ID); ok {
					t.Errorf("the rejected module %q was registered", tt.info.ID)
				}
			}
		})
	}
}

func TestRegisterRejectsDuplicates(t *testing.T) {
	t.Parallel()
	id := uniqueID("callbacks")
	sdk.Register(sdk.ModuleInfo{ID: id, New: newModule("first")})
	msg := panicMessage(func() { sdk.Register(sdk.ModuleInfo{ID: id, New: newModule("second")}) })
	if !strings.Contains(msg, "registered twice") {
		t.Errorf("a second Register(%q) panicked with %q", id, msg)
	}
	m, _ := sdk.LookupModule(id)
	if got := m.New().(*testModule).id; got != "first" {
		t.Errorf("the duplicate replaced the first module: New() gives %q", got)
	}
}

func TestLookupModule(t *testing.T) {
	t.Parallel()
	id := uniqueID("routing")
	sdk.Register(sdk.ModuleInfo{ID: id, New: newModule(id)})
	m, ok := sdk.LookupModule(id)
	if !ok || m.ID != id || m.Kind() != sdk.KindRouting || m.Name() != strings.TrimPrefix(id, "routing.") {
		t.Fatalf("LookupModule(%q) = %+v, %v", id, m, ok)
	}
	// New returns a fresh instance each time.
	a, b := m.New(), m.New()
	if a.(*testModule).id != id || a == b {
		t.Errorf("New() = %v, %v", a, b)
	}
	if _, ok := sdk.LookupModule(id + "-absent"); ok {
		t.Error("LookupModule found a module never registered")
	}
}

func TestModuleInfoKindAndName(t *testing.T) {
	t.Parallel()
	tests := []struct{ id, kind, name string }{
		{"providers.openai", "providers", "openai"},
		{"providers.azure.ai", "providers", "azure.ai"},
		{"routing", "routing", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		m := sdk.ModuleInfo{ID: tt.id}
		if m.Kind() != tt.kind || m.Name() != tt.name {
			t.Errorf("ModuleInfo{%q}: Kind %q, Name %q; want %q, %q", tt.id, m.Kind(), m.Name(), tt.kind, tt.name)
		}
	}
}

func TestModulesByKindSorted(t *testing.T) {
	t.Parallel()
	var mine []string
	for _, kind := range []string{sdk.KindCallbacks, sdk.KindProviders, sdk.KindRouting, sdk.KindProviders} {
		id := uniqueID(kind)
		sdk.Register(sdk.ModuleInfo{ID: id, New: newModule(id)})
		mine = append(mine, id)
	}
	ids := func(ms []sdk.ModuleInfo) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	for _, kind := range []string{"", sdk.KindProviders, sdk.KindRouting, sdk.KindCallbacks} {
		got := ids(sdk.Modules(kind))
		if !slices.IsSorted(got) {
			t.Errorf("Modules(%q) not sorted: %q", kind, got)
		}
		for _, id := range got {
			if kind != "" && !strings.HasPrefix(id, kind+".") {
				t.Errorf("Modules(%q) lists %q", kind, id)
			}
		}
		for _, id := range mine {
			if (kind == "" || strings.HasPrefix(id, kind+".")) && !slices.Contains(got, id) {
				t.Errorf("Modules(%q) misses %q", kind, id)
			}
		}
	}
	if got := sdk.Modules("storage"); len(got) != 0 {
		t.Errorf("Modules(storage) = %v", got)
	}
}

func TestDecodeConfig(t *testing.T) {
	t.Parallel()
	type nested struct {
		Host string `json:"host"`
	}
	type config struct {
		URL     string            `json:"url"`
		Retries int               `json:"retries"`
		Rate    float64           `json:"rate"`
		On      bool              `json:"on"`
		Tags    []string          `json:"tags"`
		Headers map[string]string `json:"headers"`
		Inner   nested            `json:"inner"`
	}

	var c config
	err := sdk.DecodeConfig(map[string]any{
		"url": "https://x", "retries": 3, "rate": 0.5, "on": true, "tags": []any{"a", "b"},
		"headers": map[string]any{"X-A": "1"}, "inner": map[string]any{"host": "h"},
	}, &c)
	want := config{URL: "https://x", Retries: 3, Rate: 0.5, On: true, Tags: []string{"a", "b"},
		Headers: map[string]string{"X-A": "1"}, Inner: nested{Host: "h"}}
	if err != nil || !slices.Equal(c.Tags, want.Tags) || c.URL != want.URL || c.Retries != 3 || c.Rate != 0.5 ||
		!c.On || c.Headers["X-A"] != "1" || c.Inner != want.Inner {
		t.Errorf("DecodeConfig = %+v, %v; want %+v", c, err, want)
	}

	errs := []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"unknown key", map[string]any{"url": "x", "retry": 3}, `unknown field "retry"`},
		{"unknown nested key", map[string]any{"inner": map[string]any{"hots": "h"}}, `unknown field "hots"`},
		{"wrong type", map[string]any{"retries": "three"}, "retries"},
		{"not encodable", map[string]any{"url": func() {}}, "config:"},
	}
	for _, tt := range errs {
		var c config
		err := sdk.DecodeConfig(tt.cfg, &c)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "config: ") {
			t.Errorf("%s: DecodeConfig = %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}

	// No config section leaves the defaults the module set.
	d := config{URL: "default"}
	if err := sdk.DecodeConfig(nil, &d); err != nil || d.URL != "default" {
		t.Errorf("DecodeConfig(nil) = %v, left %+v", err, d)
	}
	if err := sdk.DecodeConfig(map[string]any{}, &d); err != nil || d.URL != "default" {
		t.Errorf("DecodeConfig({}) = %v, left %+v", err, d)
	}
}
