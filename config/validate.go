package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

type problems struct {
	lines []string
	unset map[string]string
}

func (p *problems) add(path, msg string) {
	if name, ok := p.unset[path]; ok {
		msg += fmt.Sprintf(" (%s%s is not set)", envRef, name)
	}
	p.lines = append(p.lines, path+": "+msg)
}

func (p *problems) nonNegative(path string, v float64) {
	if v < 0 {
		p.add(path, "must not be negative")
	}
}

func (p *problems) nonNegativePtr(path string, v *int) {
	if v != nil && *v < 0 {
		p.add(path, "must not be negative")
	}
}

var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// validate checks what can be checked without knowing the plugins: required keys, ranges, plugin declarations.
func (l *Loaded) validate(unset map[string]string) error {
	p := &problems{unset: unset}
	c := l.Config
	for i, m := range c.ModelList {
		path := fmt.Sprintf("model_list[%d]", i)
		if strings.TrimSpace(m.ModelName) == "" {
			p.add(path+".model_name", "required")
		}
		lp := m.LiteLLMParams
		if strings.TrimSpace(lp.Model) == "" {
			p.add(path+".litellm_params.model", "required")
		}
		pp := path + ".litellm_params."
		p.nonNegative(pp+"rpm", float64(lp.RPM))
		p.nonNegative(pp+"tpm", float64(lp.TPM))
		p.nonNegative(pp+"timeout", lp.Timeout)
		p.nonNegative(pp+"stream_timeout", lp.StreamTimeout)
		p.nonNegative(pp+"weight", lp.Weight)
		p.nonNegativePtr(pp+"max_retries", lp.MaxRetries)
		if lp.APIBase != "" {
			if u, err := url.Parse(lp.APIBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.add(pp+"api_base", fmt.Sprintf("%q is not an http(s) URL", lp.APIBase))
			}
		}
		p.nonNegative(path+".model_info.rpm", float64(m.ModelInfo.RPM))
		p.nonNegative(path+".model_info.tpm", float64(m.ModelInfo.TPM))
	}

	rs := c.RouterSettings
	p.nonNegativePtr("router_settings.num_retries", rs.NumRetries)
	p.nonNegative("router_settings.timeout", rs.Timeout)
	p.nonNegative("router_settings.stream_timeout", rs.StreamTimeout)
	p.nonNegative("router_settings.retry_after", rs.RetryAfter)
	p.nonNegativePtr("router_settings.allowed_fails", rs.AllowedFails)
	p.nonNegativePtr("router_settings.max_fallbacks", rs.MaxFallbacks)
	if rs.CooldownTime != nil {
		p.nonNegative("router_settings.cooldown_time", *rs.CooldownTime)
	}
	for name, n := range rs.RetryPolicy {
		p.nonNegative("router_settings.retry_policy."+name, float64(n))
	}
	for alias, ref := range rs.ModelGroupAlias {
		if ref.Model == "" {
			p.add("router_settings.model_group_alias."+alias+".model", "required")
		}
	}

	ls := c.LiteLLMSettings
	p.nonNegativePtr("litellm_settings.num_retries", ls.NumRetries)
	p.nonNegative("litellm_settings.request_timeout", ls.RequestTimeout)
	p.nonNegativePtr("litellm_settings.allowed_fails", ls.AllowedFails)
	p.nonNegative("litellm_settings.cache_params.ttl", ls.CacheParams.TTL)

	gs := c.GeneralSettings
	if _, ok := unset["general_settings.master_key"]; ok && gs.MasterKey == "" {
		// The operator asked for auth; serving without it because a variable is missing would open the gateway.
		p.add("general_settings.master_key", "the key is required when configured")
	}
	p.nonNegative("general_settings.max_parallel_requests", float64(gs.MaxParallelRequests))
	p.nonNegative("general_settings.global_max_parallel_requests", float64(gs.GlobalMaxParallelRequests))
	p.nonNegative("general_settings.max_request_size_mb", gs.MaxRequestSizeMB)
	p.nonNegative("general_settings.max_response_size_mb", gs.MaxResponseSizeMB)
	p.nonNegative("general_settings.request_timeout", gs.RequestTimeout)
	p.nonNegative("general_settings.health_check_interval", gs.HealthCheckInterval)
	p.nonNegative("general_settings.shutdown_timeout", gs.ShutdownTimeout)

	seen := map[string]int{}
	for i, pl := range c.Plugins {
		path := fmt.Sprintf("plugins[%d]", i)
		if pl.Name == "" {
			p.add(path+".name", "required")
		} else if j, dup := seen[pl.Kind+"/"+pl.Name]; dup {
			p.add(path+".name", fmt.Sprintf("%q is already declared by plugins[%d]", pl.Name, j))
		} else {
			seen[pl.Kind+"/"+pl.Name] = i
		}
		switch pl.Kind {
		case "provider", "router", "callback":
		case "":
			p.add(path+".kind", "required: provider, router or callback")
		default:
			p.add(path+".kind", fmt.Sprintf("%q is not one of provider, router, callback", pl.Kind))
		}
		kind, where, _ := strings.Cut(pl.Source, ":")
		switch {
		case pl.Source == "" || pl.Source == "builtin":
			if pl.SHA256 != "" {
				p.add(path+".sha256", "only exec: and wasm: sources can be pinned")
			}
		case (kind == "exec" || kind == "wasm") && where != "":
		default:
			p.add(path+".source", fmt.Sprintf("%q is not builtin, exec:<path> or wasm:<path>", pl.Source))
		}
		p.nonNegative(path+".timeout", pl.Timeout)
		p.nonNegative(path+".pool_size", float64(pl.PoolSize))
		p.nonNegative(path+".max_memory_mb", float64(pl.MaxMemoryMB))
		if kind != "wasm" {
			for _, f := range []struct {
				key string
				set bool
			}{{"pool_size", pl.PoolSize != 0}, {"max_memory_mb", pl.MaxMemoryMB != 0}, {"cache_dir", pl.CacheDir != ""}} {
				if f.set {
					p.add(path+"."+f.key, "only applies to wasm: plugins")
				}
			}
		}
		if pl.SHA256 != "" && !sha256Hex.MatchString(pl.SHA256) {
			p.add(path+".sha256", "must be 64 hexadecimal digits")
		}
	}
	return lineErrors(p.lines)
}

// Sources of a plugin.
const (
	SourceBuiltin = "builtin"
	SourceExec    = "exec"
	SourceWASM    = "wasm"
)

// SourceKind returns the kind of the plugin's source ("builtin", "exec" or "wasm") and its path.
func (p Plugin) SourceKind() (kind, path string) {
	if p.Source == "" || p.Source == SourceBuiltin {
		return SourceBuiltin, ""
	}
	kind, path, _ = strings.Cut(p.Source, ":")
	return kind, path
}
