package cache

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// Controls are a request's cache controls: the body's "cache" object, as LiteLLM documents it.
type Controls struct {
	// NoCache ("no-cache": true) skips the lookup; the fresh answer is still stored.
	NoCache bool
	// NoStore ("no-store": true) does not store the answer; a stored one is still served.
	NoStore bool
	// TTL ("ttl": seconds) is the lifetime of the answer stored for this request (0: the configured one).
	TTL time.Duration
	// MaxAge ("s-maxage": seconds) accepts only a stored answer at most that old; HasMaxAge says it was given.
	MaxAge    time.Duration
	HasMaxAge bool
	// Namespace ("namespace") keeps this request's answers apart from others (it replaces the configured one).
	Namespace string
	// UseCache ("use-cache") opts in when the cache is configured with mode: default_off; false opts out.
	UseCache *bool
}

// Control names, as LiteLLM spells them.
const (
	ControlNoCache   = "no-cache"
	ControlNoStore   = "no-store"
	ControlTTL       = "ttl"
	ControlMaxAge    = "s-maxage"
	ControlNamespace = "namespace"
	ControlUseCache  = "use-cache"
)

// maxNamespace bounds a namespace, which becomes part of every key.
const maxNamespace = 256

// ParseControls reads the "cache" object of a request. Booleans may be JSON booleans or the strings "true" and
// "false"; durations are numbers of seconds (or numeric strings). Members it does not know are ignored, as
// LiteLLM ignores them; a known member with a value of the wrong kind is a 400 naming it.
func ParseControls(m map[string]any) (Controls, error) {
	var c Controls
	for _, name := range sortedKeys(m) {
		v := m[name]
		var err error
		switch name {
		case ControlNoCache:
			c.NoCache, err = boolOf(v)
		case ControlNoStore:
			c.NoStore, err = boolOf(v)
		case ControlUseCache:
			var b bool
			if b, err = boolOf(v); err == nil {
				c.UseCache = &b
			}
		case ControlTTL:
			if c.TTL, err = secondsOf(v); err == nil && c.TTL <= 0 {
				err = fmt.Errorf("must be a positive number of seconds")
			}
		case "s-max-age", ControlMaxAge: // LiteLLM reads both spellings
			c.MaxAge, err = secondsOf(v)
			c.HasMaxAge = err == nil
		case ControlNamespace:
			s, ok := v.(string)
			switch {
			case !ok:
				err = fmt.Errorf("must be a string")
			case len(s) > maxNamespace:
				err = fmt.Errorf("must be at most %d bytes", maxNamespace)
			}
			c.Namespace = s
		default:
			continue
		}
		if err != nil {
			return Controls{}, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("cache.%s: %v", name, err)).
				WithParam("cache." + name)
		}
	}
	return c, nil
}

// CheckAllowed rejects a request that uses a cache control its key may not use (a key's allowed_cache_controls;
// an empty list allows every control), with a 403 as LiteLLM's.
func CheckAllowed(m map[string]any, allowed []string) error {
	if len(allowed) == 0 {
		return nil
	}
	for _, name := range sortedKeys(m) {
		if !slices.Contains(allowed, name) {
			return sdk.NewError(sdk.KindPermissionDenied, fmt.Sprintf("Not allowed to set %s as a cache control. "+
				"Contact admin to change permissions.", name)).WithParam("cache." + name)
		}
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func boolOf(v any) (bool, error) {
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(v) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	case nil:
		return false, nil
	}
	return false, fmt.Errorf("must be a boolean")
}

// maxSeconds bounds a duration control (a year).
const maxSeconds = 365 * 24 * 3600

func secondsOf(v any) (time.Duration, error) {
	var f float64
	switch v := v.(type) {
	case float64:
		f = v
	case int:
		f = float64(v)
	case json.Number:
		var err error
		if f, err = v.Float64(); err != nil {
			return 0, fmt.Errorf("must be a number of seconds")
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(v), 64); err != nil {
			return 0, fmt.Errorf("must be a number of seconds")
		}
	default:
		return 0, fmt.Errorf("must be a number of seconds")
	}
	if math.IsNaN(f) || f < 0 || f > maxSeconds {
		return 0, fmt.Errorf("must be a number of seconds between 0 and %d", maxSeconds)
	}
	return time.Duration(f * float64(time.Second)), nil
}
