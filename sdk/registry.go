package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
)

// ModuleInfo registers a plugin module. ID is "<kind>.<name>", where kind is "providers", "routing" or
// "callbacks" and name is what the configuration uses: the model prefix of a provider ("openai" serves
// "openai/gpt-4o"), the routing_strategy of a router, the callback name of a callback.
type ModuleInfo struct {
	ID string
	// New returns a fresh, unconfigured module: a Translator or Provider for providers, a Router, or a
	// Callback. The gateway then calls Provision, Validate and, when it is done with the module, Cleanup, for
	// those the module implements.
	New func() Module
}

// Module is a plugin instance.
type Module any

// Kind returns the kind part of the ID.
func (m ModuleInfo) Kind() string { k, _, _ := strings.Cut(m.ID, "."); return k }

// Name returns the name part of the ID.
func (m ModuleInfo) Name() string { _, n, _ := strings.Cut(m.ID, "."); return n }

// ProvisionContext is what a module gets when it is set up.
type ProvisionContext struct {
	// Config is the module's `config:` map from the plugins section (nil when none). DecodeConfig reads it into
	// a struct.
	Config map[string]any
	// Logger is the module's logger.
	Logger *slog.Logger
}

// Provisioner is implemented by modules that need setting up from their configuration.
type Provisioner interface {
	Provision(ctx context.Context, pc ProvisionContext) error
}

// Validator is implemented by modules that check their configuration after provisioning.
type Validator interface {
	Validate() error
}

// CleanerUpper is implemented by modules holding resources to release when the gateway stops or reloads.
type CleanerUpper interface {
	Cleanup() error
}

// Module kinds.
const (
	KindProviders = "providers"
	KindRouting   = "routing"
	KindCallbacks = "callbacks"
)

var registry = struct {
	sync.RWMutex
	m map[string]ModuleInfo
}{m: map[string]ModuleInfo{}}

// Register adds a module to the registry. It is meant to be called from init functions and panics when the ID is
// malformed or already taken, as database/sql.Register does.
func Register(info ModuleInfo) {
	kind, name, ok := strings.Cut(info.ID, ".")
	if !ok || name == "" || info.New == nil {
		panic(fmt.Sprintf("sdk.Register: bad module %q: the ID must be <kind>.<name> and New must be set", info.ID))
	}
	switch kind {
	case KindProviders, KindRouting, KindCallbacks:
	default:
		panic(fmt.Sprintf("sdk.Register: module %q has unknown kind %q", info.ID, kind))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[info.ID]; dup {
		panic(fmt.Sprintf("sdk.Register: module %q registered twice", info.ID))
	}
	registry.m[info.ID] = info
}

// LookupModule returns the registered module with the given ID.
func LookupModule(id string) (ModuleInfo, bool) {
	registry.RLock()
	defer registry.RUnlock()
	m, ok := registry.m[id]
	return m, ok
}

// Modules returns the registered modules of a kind ("" for all), sorted by ID.
func Modules(kind string) []ModuleInfo {
	registry.RLock()
	defer registry.RUnlock()
	var out []ModuleInfo
	for _, m := range registry.m {
		if kind == "" || m.Kind() == kind {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// DecodeConfig decodes a module's config map into v (a pointer to a struct with json tags). Unknown keys are an
// error, so that a typo in the configuration is reported at start.
func DecodeConfig(cfg map[string]any, v any) error {
	if cfg == nil {
		return nil
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}
