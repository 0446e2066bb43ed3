package gateway

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"strconv"

	"github.com/switchyard/gateway/core/cache"
	"github.com/switchyard/gateway/core/pipeline"
)

// Cache returns the response cache stage, nil when litellm_settings.cache is off.
func (g *Gateway) Cache() *cache.Stage { return g.cache }

// buildCache makes the response cache of litellm_settings.cache and cache_params (nil when caching is off).
// A Redis cache takes its address from cache_params (url, else host and port), else from the environment as
// LiteLLM does (REDIS_URL, else REDIS_HOST and REDIS_PORT; REDIS_PASSWORD when cache_params gives none), with
// environment_variables taking precedence over the process environment. A cache without a type is a Redis
// cache when a Redis address is known (LiteLLM's proxy defaults to Redis), else an in-memory one.
func (g *Gateway) buildCache(lookupEnv func(string) (string, bool)) (*cache.Stage, error) {
	ls := g.cfg.LiteLLMSettings
	if !ls.Cache {
		return nil, nil
	}
	cp := ls.CacheParams
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	env := func(name string) string {
		if v, ok := g.cfg.EnvironmentVariables[name]; ok {
			return v
		}
		v, _ := lookupEnv(name)
		return v
	}
	const key = "litellm_settings.cache_params"
	var problems []string
	o := cache.Options{TTL: seconds(cp.TTL), Namespace: cp.Namespace, MaxItemBytes: cp.MaxItemBytes,
		Logger: g.log, AllowedControls: func(p *pipeline.Principal) []string {
			if p == nil {
				return nil
			}
			return p.AllowedCacheControls
		}}
	switch cp.Mode {
	case "", "default_on":
	case "default_off":
		o.DefaultOff = true
	default:
		problems = append(problems, fmt.Sprintf("%s.mode: %q is not one of default_on, default_off", key, cp.Mode))
	}
	if len(cp.SupportedCallTypes) > 0 {
		var unknown []string
		o.CallTypes, unknown = cache.CallTypes(cp.SupportedCallTypes)
		for _, n := range unknown {
			g.Warnings = append(g.Warnings, fmt.Sprintf("%s.supported_call_types: %q calls are not cached by this "+
				"build (it caches completion, text_completion and embedding calls); ignored", key, n))
		}
	}
	for name, v := range map[string]int{"max_entries": cp.MaxEntries, "max_bytes": cp.MaxBytes,
		"max_item_bytes": cp.MaxItemBytes} {
		if v < 0 {
			problems = append(problems, fmt.Sprintf("%s.%s: must not be negative", key, name))
		}
	}
	if cp.TTL < 0 {
		problems = append(problems, key+".ttl: must not be negative")
	}

	ro := cache.RedisOptions{URL: cp.URL, Password: cp.Password, DB: cp.DB, TTL: o.TTL, Logger: g.log}
	host, port := cp.Host, cp.Port
	if ro.URL == "" && host == "" {
		if ro.URL = env("REDIS_URL"); ro.URL == "" {
			host = env("REDIS_HOST")
		}
	}
	if port == 0 {
		if p := env("REDIS_PORT"); p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n <= 0 || n > 65535 {
				problems = append(problems, fmt.Sprintf("%s.port: REDIS_PORT %q is not a port number", key, p))
			}
			port = n
		}
	}
	if ro.Password == "" {
		ro.Password = env("REDIS_PASSWORD")
	}
	if ro.URL == "" && host != "" {
		ro.Addr = net.JoinHostPort(host, strconv.Itoa(cmp.Or(port, 6379)))
	}
	haveRedis := ro.URL != "" || ro.Addr != ""

	typ := cp.Type
	switch {
	case typ == "" && haveRedis:
		typ = "redis"
	case typ == "":
		typ = "local"
	case typ != "local" && typ != "redis":
		g.Warnings = append(g.Warnings, fmt.Sprintf("%s.type: %q caches are not available in this build "+
			"(local, redis); using the in-memory cache", key, typ))
		typ = "local"
	}
	if typ == "redis" && !haveRedis {
		problems = append(problems, key+".host: a redis cache needs a host or url (or REDIS_HOST / REDIS_URL "+
			"in the environment)")
	}
	if err := configError(problems); err != nil {
		return nil, err
	}
	if typ == "redis" {
		r, err := cache.NewRedis(ro)
		if err != nil {
			return nil, configError([]string{key + ": " + err.Error()})
		}
		g.closers = append(g.closers, r.Close)
		o.Store = r
	} else {
		o.Store = cache.NewMemory(cache.MemoryOptions{MaxEntries: cp.MaxEntries, MaxBytes: int64(cp.MaxBytes),
			TTL: o.TTL})
	}
	return cache.New(o), nil
}
