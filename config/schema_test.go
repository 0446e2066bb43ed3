package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

const schemaFile = "schema.json"

// compiledSchema compiles schema.json once for every test; compiling also checks it against the 2020-12
// metaschema.
var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	return c.Compile(schemaFile)
})

func validateYAML(t *testing.T, data []byte) error {
	t.Helper()
	sch, err := compiledSchema()
	if err != nil {
		t.Fatalf("compiling %s: %v", schemaFile, err)
	}
	doc, err := yaml.Parser().Unmarshal(data)
	if err != nil {
		t.Fatalf("YAML: %v", err)
	}
	return sch.Validate(asJSON(doc))
}

// asJSON turns what the YAML parser gives into JSON values, as an editor sees the file: YAML 1.2, where an
// unquoted 2024-02-01 is text, not a timestamp.
func asJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, item := range v {
			out[k] = asJSON(item)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, item := range v {
			out[fmt.Sprint(k)] = asJSON(item)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, item := range v {
			out[i] = asJSON(item)
		}
		return out
	case time.Time:
		if v.Hour() == 0 && v.Minute() == 0 && v.Second() == 0 && v.Nanosecond() == 0 {
			return v.Format(time.DateOnly)
		}
		return v.Format(time.RFC3339Nano)
	}
	return v
}

func TestSchemaAcceptsExamples(t *testing.T) {
	t.Parallel()
	for _, file := range exampleFiles(t) {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := validateYAML(t, data); err != nil {
				t.Errorf("%s does not match %s: %v", file, schemaFile, err)
			}
		})
	}
}

// TestSchemaRejects checks that an editor flags what the loader rejects, at the same place, and what YAML turns
// into something else than the author meant.
func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		at   string // the JSON pointer of the value at fault
	}{
		{"missing model_name", "model_list:\n  - litellm_params: {model: openai/gpt-4o}", "/model_list/0"},
		{"missing litellm_params.model", "model_list:\n  - model_name: m\n    litellm_params: {api_key: x}", "/model_list/0/litellm_params"},
		{"rpm is not a number", "model_list:\n  - model_name: m\n    litellm_params: {model: x, rpm: abc}", "/model_list/0/litellm_params/rpm"},
		{"negative rpm", "model_list:\n  - model_name: m\n    litellm_params: {model: x, rpm: -1}", "/model_list/0/litellm_params/rpm"},
		{"timeout is a list", "model_list:\n  - model_name: m\n    litellm_params: {model: x, timeout: [1]}", "/model_list/0/litellm_params/timeout"},
		{"api_base is not http(s)", "model_list:\n  - model_name: m\n    litellm_params: {model: x, api_base: 'ftp://x'}", "/model_list/0/litellm_params/api_base"},
		{"drop_params is a mapping", "litellm_settings: {drop_params: {x: 1}}", "/litellm_settings/drop_params"},
		{"success_callback is a mapping", "litellm_settings: {success_callback: {a: b}}", "/litellm_settings/success_callback"},
		{"cache_params.port is not a number", "litellm_settings: {cache_params: {port: x}}", "/litellm_settings/cache_params/port"},
		{"a fallback is not a mapping", "router_settings: {fallbacks: [primary-model]}", "/router_settings/fallbacks/0"},
		{"an alias without a model", "router_settings: {model_group_alias: {a: {hidden: true}}}", "/router_settings/model_group_alias/a"},
		{"a plugin without a name", "plugins:\n  - kind: provider", "/plugins/0"},
		{"a plugin of an unknown kind", "plugins:\n  - {name: a, kind: middleware}", "/plugins/0/kind"},
		{"a plugin from a URL", "plugins:\n  - {name: a, kind: provider, source: 'https://x'}", "/plugins/0/source"},
		{"a misspelt plugin key", "plugins:\n  - {name: a, kind: provider, sha265: abc}", "/plugins/0"},
		// YAML reads 64 unquoted digits as a number, which no longer spells the hash.
		{"an unquoted all-digit sha256", "plugins:\n  - {name: a, kind: provider, source: 'exec:./p', sha256: " +
			strings.Repeat("1", 64) + "}", "/plugins/0/sha256"},
		{"model_list is not a list", "model_list: gpt-4o", "/model_list"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := validateYAML(t, []byte(tc.yaml))
			var ve *jsonschema.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v; want a validation error at %s", err, tc.at)
			}
			if locs := instanceLocations(ve); !slices.Contains(locs, tc.at) {
				t.Errorf("errors at %q; want one at %s:\n%v", locs, tc.at, err)
			}
		})
	}
}

func instanceLocations(ve *jsonschema.ValidationError) []string {
	out := []string{"/" + strings.Join(ve.InstanceLocation, "/")}
	if len(ve.InstanceLocation) == 0 {
		out[0] = ""
	}
	for _, c := range ve.Causes {
		out = append(out, instanceLocations(c)...)
	}
	return out
}

// TestSchemaMatchesStructs walks the configuration's types and the schema together: every key the code reads is
// described at the same place with a type the code can decode, every key the schema describes is read by the code,
// and sections that keep unknown keys allow them. A field added to config.go without its schema fails here.
func TestSchemaMatchesStructs(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	w := &schemaWalker{t: t, root: root}
	w.walk(reflect.TypeOf(Config{}), root, "")
	if w.fields < 100 {
		t.Errorf("walked %d fields; the walk is missing the structs", w.fields)
	}
}

// closedSections are Switchyard's own sections: LiteLLM has no extra keys there, so the schema flags a typo even
// though the loader only warns.
var closedSections = map[string]bool{"plugins[]": true}

type schemaWalker struct {
	t      *testing.T
	root   map[string]any
	fields int
}

// resolve follows $ref to the node it names.
func (w *schemaWalker) resolve(n map[string]any) map[string]any {
	for range 10 {
		ref, ok := n["$ref"].(string)
		if !ok {
			return n
		}
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		if !ok {
			w.t.Fatalf("$ref %q is not in $defs", ref)
		}
		target, ok := w.root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok {
			w.t.Fatalf("$ref %q names nothing", ref)
		}
		n = target
	}
	w.t.Fatal("$ref loop")
	return nil
}

// branches lists the node, its $ref target and its anyOf/oneOf/allOf branches: every description of the value.
func (w *schemaWalker) branches(v any) []map[string]any {
	n, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := []map[string]any{n}
	if _, ok := n["$ref"]; ok {
		out = append(out, w.branches(w.resolve(n))...)
	}
	for _, key := range []string{"anyOf", "oneOf", "allOf"} {
		list, _ := n[key].([]any)
		for _, b := range list {
			out = append(out, w.branches(b)...)
		}
	}
	return out
}

// types returns the JSON types a node admits, or nil when it does not restrict them.
func (w *schemaWalker) types(v any) map[string]bool {
	out := map[string]bool{}
	restricted := false
	for _, b := range w.branches(v) {
		switch ty := b["type"].(type) {
		case string:
			out[ty], restricted = true, true
		case []any:
			for _, x := range ty {
				out[x.(string)] = true
			}
			restricted = true
		}
		if enum, ok := b["enum"].([]any); ok {
			for _, x := range enum {
				out[jsonType(x)] = true
			}
			restricted = true
		}
	}
	if !restricted {
		return nil
	}
	return out
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func (w *schemaWalker) expect(node any, path string, want ...string) {
	got := w.types(node)
	if got == nil {
		return
	}
	for _, ty := range want {
		if !got[ty] && !(ty == "integer" && got["number"]) {
			w.t.Errorf("%s: the code decodes a %s; the schema allows %v", path, ty, keys(got))
		}
	}
}

// first returns the first value of key among the node's branches.
func (w *schemaWalker) first(node any, key string) (any, bool) {
	for _, b := range w.branches(node) {
		if v, ok := b[key]; ok {
			return v, true
		}
	}
	return nil, false
}

var (
	listT     = reflect.TypeOf(List{})
	dropT     = reflect.TypeOf(DropParams{})
	groupRefT = reflect.TypeOf(GroupRef{})
)

func (w *schemaWalker) walk(t reflect.Type, node any, path string) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if node == nil {
		w.t.Errorf("%s: not in the schema", path)
		return
	}
	switch {
	case t == listT:
		w.expect(node, path, "string", "array")
		items, _ := w.first(node, "items")
		w.expect(items, path+"[]", "string")
		return
	case t == dropT:
		w.expect(node, path, "boolean", "array")
		return
	case t == groupRefT:
		w.expect(node, path, "string")
	}
	switch t.Kind() {
	case reflect.Struct:
		w.walkStruct(t, node, path)
	case reflect.Slice:
		w.expect(node, path, "array")
		items, ok := w.first(node, "items")
		if !ok {
			w.t.Errorf("%s: the schema does not describe the items", path)
			return
		}
		w.walk(t.Elem(), items, path+"[]")
	case reflect.Map:
		w.expect(node, path, "object")
		if t.Elem().Kind() == reflect.Interface {
			return
		}
		values, ok := w.first(node, "additionalProperties")
		if !ok || values == true {
			w.t.Errorf("%s: the schema does not describe the values", path)
			return
		}
		w.walk(t.Elem(), values, path+".*")
	case reflect.String:
		w.expect(node, path, "string")
	case reflect.Int, reflect.Int64:
		w.expect(node, path, "integer")
	case reflect.Float64:
		w.expect(node, path, "number")
	case reflect.Bool:
		w.expect(node, path, "boolean")
	case reflect.Interface:
	default:
		w.t.Errorf("%s: no rule for %s", path, t)
	}
}

func (w *schemaWalker) walkStruct(t reflect.Type, node any, path string) {
	w.expect(node, path, "object")
	props := map[string]any{}
	for _, b := range w.branches(node) {
		if p, ok := b["properties"].(map[string]any); ok {
			for k, v := range p {
				props[k] = v
			}
		}
	}
	keepsUnknown := false
	inCode := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("koanf"), ",")
		if opts == "remain" {
			keepsUnknown = true
			continue
		}
		if name == "" {
			w.t.Errorf("%s: field %s has no koanf key", path, f.Name)
			continue
		}
		w.fields++
		inCode[name] = true
		p := join(path, name)
		prop, ok := props[name]
		if !ok {
			w.t.Errorf("%s: read by the code, missing from the schema", p)
			continue
		}
		if d, _ := prop.(map[string]any)["description"].(string); strings.TrimSpace(d) == "" {
			w.t.Errorf("%s: no description in the schema", p)
		}
		w.walk(f.Type, prop, p)
	}
	for name := range props {
		if !inCode[name] {
			w.t.Errorf("%s: in the schema, not read by the code", join(path, name))
		}
	}
	extra, _ := w.first(node, "additionalProperties")
	switch {
	case keepsUnknown && closedSections[path]:
		if extra != false {
			w.t.Errorf("%s: Switchyard's own section; the schema should flag unknown keys", path)
		}
	case keepsUnknown:
		if extra == false {
			w.t.Errorf("%s: the loader keeps unknown keys; the schema must allow them", path)
		}
	default:
		if extra != false {
			w.t.Errorf("%s: the decoder drops unknown keys silently; the schema should flag them", path)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
