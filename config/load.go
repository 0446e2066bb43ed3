package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/rawbytes"
	"github.com/knadh/koanf/v2"
)

// Options change how a file is loaded; the zero value reads the process environment.
type Options struct {
	// LookupEnv resolves os.environ/NAME references and LiteLLM's environment defaults. Nil means
	// os.LookupEnv.
	LookupEnv func(name string) (string, bool)
	// Environ lists NAME=value pairs scanned for SWITCHYARD__SECTION__KEY overrides. Nil means os.Environ().
	Environ []string
}

// Loaded is a loaded configuration with what loading it had to say.
type Loaded struct {
	*Config
	// Warnings are things the operator should know but that do not stop the gateway: unsupported keys,
	// unset environment variables, ${VAR} taken literally. Each is reported once.
	Warnings []string
}

// EnvPrefix starts the names of environment variables that override keys of the file:
// SWITCHYARD__GENERAL_SETTINGS__MASTER_KEY sets general_settings.master_key.
const EnvPrefix = "SWITCHYARD__"

// delim separates key levels inside koanf. LiteLLM files have dots and slashes in keys (model names in
// model_group_alias, say), so the usual "." would split them.
const delim = "\x1f"

// Load reads and validates the file at path.
func Load(path string, opts Options) (*Loaded, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	l, err := Parse(data, opts)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return l, nil
}

// Parse reads and validates a configuration from YAML (or JSON, which is YAML).
func Parse(data []byte, opts Options) (*Loaded, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}

	k := koanf.New(delim)
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := k.Load(rawbytes.Provider(data), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("not valid YAML: %w", err)
		}
	}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		parts := strings.Split(strings.ToLower(strings.TrimPrefix(name, EnvPrefix)), "__")
		if err := k.Set(strings.Join(parts, delim), value); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}

	l := &Loaded{Config: &Config{}}
	raw := k.Raw()
	r := resolver{lookup: lookup, unset: map[string]string{}}
	// environment_variables are resolved first: the rest of the file may refer to them.
	if ev, ok := raw["environment_variables"].(map[string]any); ok {
		r.walk(ev, "environment_variables")
		r.vars = map[string]string{}
		for name, v := range ev {
			if v != nil {
				r.vars[name] = fmt.Sprint(v)
			}
		}
	}
	for _, key := range sortedKeys(raw) {
		if key != "environment_variables" {
			raw[key] = r.walkValue(raw[key], key)
		}
	}
	l.Warnings = append(l.Warnings, r.warnings...)

	var md mapstructure.Metadata
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		TagName:          "koanf",
		WeaklyTypedInput: true,
		Metadata:         &md,
		Result:           l.Config,
		MatchName:        func(mapKey, fieldName string) bool { return mapKey == fieldName },
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			timeToString, stringToList, toDropParams, stringToGroupRef,
		),
	})
	if err != nil {
		return nil, err
	}
	if err := dec.Decode(raw); err != nil {
		return nil, withValidation(decodeErrors(err, r.unset), l, r.unset)
	}

	lookupDefault := func(dst *string, names ...string) {
		if *dst != "" {
			return
		}
		for _, n := range names {
			if v, ok := r.get(n); ok && v != "" {
				*dst = v
				return
			}
		}
	}
	lookupDefault(&l.GeneralSettings.MasterKey, "LITELLM_MASTER_KEY")
	lookupDefault(&l.GeneralSettings.DatabaseURL, "DATABASE_URL")

	l.Warnings = append(l.Warnings, unsupportedKeys(l.Config)...)
	if err := l.validate(r.unset); err != nil {
		return nil, err
	}
	return l, nil
}

// ApplyEnvironment sets the process environment from environment_variables, as LiteLLM does at start, so that
// providers and callbacks reading their usual variables see them.
func (c *Config) ApplyEnvironment() error {
	for name, v := range c.EnvironmentVariables {
		if err := os.Setenv(name, v); err != nil {
			return fmt.Errorf("environment_variables.%s: %w", name, err)
		}
	}
	return nil
}

// resolver replaces os.environ/NAME references in string values.
type resolver struct {
	lookup   func(string) (string, bool)
	vars     map[string]string // environment_variables, which take precedence
	unset    map[string]string // key path → the unset variable it referred to
	warnings []string
}

const envRef = "os.environ/"

var shellRef = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}`)

func (r *resolver) get(name string) (string, bool) {
	if v, ok := r.vars[name]; ok {
		return v, true
	}
	return r.lookup(name)
}

// walk visits keys in order so that warnings come out the same on every load.
func (r *resolver) walk(m map[string]any, path string) {
	for _, k := range sortedKeys(m) {
		m[k] = r.walkValue(m[k], path+"."+k)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (r *resolver) walkValue(v any, path string) any {
	switch v := v.(type) {
	case map[string]any:
		r.walk(v, path)
	case []any:
		for i := range v {
			v[i] = r.walkValue(v[i], fmt.Sprintf("%s[%d]", path, i))
		}
	case string:
		if name, ok := strings.CutPrefix(v, envRef); ok {
			name = strings.TrimSpace(name)
			if val, ok := r.get(name); ok {
				return val
			}
			r.unset[path] = name
			r.warnings = append(r.warnings, fmt.Sprintf("%s: environment variable %s (from %s%s) is not set",
				path, name, envRef, name))
			return ""
		}
		if m := shellRef.FindString(v); m != "" {
			name := strings.TrimSuffix(strings.TrimPrefix(m, "${"), "}")
			name, _, _ = strings.Cut(name, ":-")
			r.warnings = append(r.warnings, fmt.Sprintf("%s: %s is taken literally; write os.environ/%s to read "+
				"the environment", path, m, name))
		}
	}
	return v
}

var (
	timeType     = reflect.TypeOf(time.Time{})
	listType     = reflect.TypeOf(List{})
	dropType     = reflect.TypeOf(DropParams{})
	groupRefType = reflect.TypeOf(GroupRef{})
)

// timeToString turns YAML timestamps back into text: an unquoted api_version: 2024-02-01 is a date to YAML.
func timeToString(from, to reflect.Type, data any) (any, error) {
	t, ok := data.(time.Time)
	if !ok || to.Kind() != reflect.String {
		return data, nil
	}
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0 {
		return t.Format(time.DateOnly), nil
	}
	return t.Format(time.RFC3339), nil
}

func stringToList(from, to reflect.Type, data any) (any, error) {
	if to != listType {
		return data, nil
	}
	switch v := data.(type) {
	case string:
		if v == "" {
			return []string{}, nil
		}
		return []string{v}, nil
	case []any:
		out := make([]string, len(v))
		for i, item := range v {
			switch item := item.(type) {
			case string:
				out[i] = item
			case map[string]any, []any, nil:
				return nil, fmt.Errorf("item %d: expected a string, got %s", i, describe(item))
			default:
				out[i] = fmt.Sprint(item)
			}
		}
		return out, nil
	case map[string]any:
		// Left to mapstructure, a mapping becomes a one-item list and the error names item [0], which the file
		// does not have.
		return nil, fmt.Errorf("expected a string or a list of strings, got a mapping")
	}
	return data, nil
}

func toDropParams(from, to reflect.Type, data any) (any, error) {
	if to != dropType {
		return data, nil
	}
	switch v := data.(type) {
	case bool:
		return map[string]any{"All": v}, nil
	case string:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("expected true, false or a list of parameter names, got %q", v)
		}
		return map[string]any{"All": b}, nil
	case []any:
		names, err := stringToList(from, listType, v)
		if err != nil {
			return nil, err
		}
		return map[string]any{"Names": names}, nil
	case nil:
		return map[string]any{}, nil
	}
	return nil, fmt.Errorf("expected true, false or a list of parameter names, got %s", describe(data))
}

func stringToGroupRef(from, to reflect.Type, data any) (any, error) {
	if to != groupRefType {
		return data, nil
	}
	if s, ok := data.(string); ok {
		return map[string]any{"model": s}, nil
	}
	return data, nil
}

// withValidation adds the problems validation finds in what did decode, so that one run reports everything
// wrong with a file. A problem under a key that failed to decode is left out: it would only restate that failure.
func withValidation(decodeErr error, l *Loaded, unset map[string]string) error {
	var de, ve *Error
	if !errors.As(decodeErr, &de) || !errors.As(l.validate(unset), &ve) {
		return decodeErr
	}
	lines := de.Problems
	for _, v := range ve.Problems {
		path, _, _ := strings.Cut(v, ": ")
		covered := false
		for _, d := range de.Problems {
			dpath, _, _ := strings.Cut(d, ": ")
			if path == dpath || strings.HasPrefix(path, dpath+".") || strings.HasPrefix(path, dpath+"[") {
				covered = true
				break
			}
		}
		if !covered {
			lines = append(lines, v)
		}
	}
	return lineErrors(lines)
}

// decodeErrors turns mapstructure's errors into one error listing "path: problem" lines, sorted.
func decodeErrors(err error, unset map[string]string) error {
	var lines []string
	var visit func(error)
	visit = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				visit(e)
			}
			return
		}
		if de, ok := err.(*mapstructure.DecodeError); ok {
			lines = append(lines, de.Name()+": "+problem(de.Unwrap(), de.Name(), unset))
			return
		}
		if inner := errors.Unwrap(err); inner != nil {
			visit(inner)
			return
		}
		lines = append(lines, err.Error())
	}
	visit(err)
	return lineErrors(lines)
}

func problem(err error, path string, unset map[string]string) string {
	var msg string
	var pe *mapstructure.ParseError
	var ue *mapstructure.UnconvertibleTypeError
	switch {
	case errors.As(err, &pe):
		msg = fmt.Sprintf("expected %s, got %s", expected(pe.Expected.Type()), describeAt(pe.Value, path))
	case errors.As(err, &ue):
		msg = fmt.Sprintf("expected %s, got %s", expected(ue.Expected.Type()), describeAt(ue.Value, path))
	default:
		msg = err.Error()
	}
	if name, ok := unset[path]; ok {
		msg += fmt.Sprintf(" (%s%s is not set)", envRef, name)
	}
	return msg
}

func expected(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case listType:
		return "a string or a list of strings"
	case dropType:
		return "true, false or a list of parameter names"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32, reflect.Uint, reflect.Uint64:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}

// describeAt describes a value for an error message, without showing values of keys that may hold secrets.
func describeAt(v any, path string) string {
	last := path[strings.LastIndexAny(path, ".]")+1:]
	for _, s := range []string{"key", "secret", "token", "password", "credential"} {
		if strings.Contains(strings.ToLower(last), s) {
			return kindOf(v)
		}
	}
	return describe(v)
}

func describe(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case bool, int, int64, float64, uint64:
		return fmt.Sprintf("%v", v)
	}
	return kindOf(v)
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, float64, uint64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return reflect.TypeOf(v).String()
}

// unsupportedKeys lists the keys kept in the Extra maps of sections we interpret, one warning each.
func unsupportedKeys(c *Config) []string {
	var out []string
	add := func(path string, extra map[string]any) {
		keys := make([]string, 0, len(extra))
		for k := range extra {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = append(out, p+": not supported by Switchyard; ignored")
		}
	}
	add("", c.Extra)
	for i, m := range c.ModelList {
		add(fmt.Sprintf("model_list[%d]", i), m.Extra)
	}
	add("router_settings", c.RouterSettings.Extra)
	add("litellm_settings", c.LiteLLMSettings.Extra)
	add("litellm_settings.cache_params", c.LiteLLMSettings.CacheParams.Extra)
	add("general_settings", c.GeneralSettings.Extra)
	for i, p := range c.Plugins {
		add(fmt.Sprintf("plugins[%d]", i), p.Extra)
	}
	return out
}

// lineErrors joins problem lines into one error, or returns nil when there are none.
func lineErrors(lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	sort.Strings(lines)
	return &Error{Problems: lines}
}

// Error lists every problem found in a configuration, one "key.path: problem" per line.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0]
	}
	return fmt.Sprintf("%d problems:\n  %s", len(e.Problems), strings.Join(e.Problems, "\n  "))
}
