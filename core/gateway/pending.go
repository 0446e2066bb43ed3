package gateway

import (
	"fmt"

	"github.com/switchyard/gateway/config"
)

// notYetActedOn lists settings the configuration gives that this build reads but does not act on yet, one
// warning each, so that an operator never believes a budget, a fallback or a cache is in force when it is not.
// Entries leave this list as the features land.
func notYetActedOn(cfg *config.Config) []string {
	var out []string
	warn := func(set bool, key, what string) {
		if set {
			out = append(out, fmt.Sprintf("%s: %s is not enforced by this build yet; the setting is ignored", key, what))
		}
	}
	rs, ls, gs := cfg.RouterSettings, cfg.LiteLLMSettings, cfg.GeneralSettings

	warn(len(rs.Fallbacks)+len(ls.Fallbacks) > 0, "fallbacks", "falling back to other model groups")
	warn(len(rs.ContextWindowFallbacks)+len(ls.ContextWindowFallbacks) > 0, "context_window_fallbacks",
		"falling back on context window errors")
	warn(len(rs.ContentPolicyFallbacks)+len(ls.ContentPolicyFallbacks) > 0, "content_policy_fallbacks",
		"falling back on content policy errors")
	warn(len(rs.DefaultFallbacks)+len(ls.DefaultFallbacks) > 0, "default_fallbacks", "falling back by default")
	warn(rs.AllowedFails != nil || ls.AllowedFails != nil || rs.CooldownTime != nil || ls.CooldownTime != nil ||
		len(rs.AllowedFailsPolicy) > 0, "allowed_fails / cooldown_time", "cooling down failing deployments")
	warn(len(rs.RetryPolicy) > 0, "router_settings.retry_policy",
		"a retry count per error class (num_retries applies to every retryable error)")
	warn(rs.EnableTagFiltering, "router_settings.enable_tag_filtering", "routing by tags")
	warn(rs.RedisHost != "" || rs.RedisURL != "", "router_settings.redis_*", "sharing router state through Redis")

	limited := false
	for _, m := range cfg.ModelList {
		limited = limited || m.LiteLLMParams.RPM > 0 || m.LiteLLMParams.TPM > 0 || m.ModelInfo.RPM > 0 || m.ModelInfo.TPM > 0
	}
	warn(limited, "model_list[].litellm_params.rpm / tpm", "a per-deployment rate limit (they weight "+
		"simple-shuffle routing only)")

	warn(ls.Cache, "litellm_settings.cache", "response caching")
	warn(ls.MaxBudget > 0 || ls.BudgetDuration != "", "litellm_settings.max_budget", "a proxy-wide budget")
	warn(ls.TurnOffMessageLogging, "litellm_settings.turn_off_message_logging",
		"message logging (no callback receives messages in this build anyway)")

	warn(gs.DatabaseURL != "", "general_settings.database_url", "a database (keys, spend logs)")
	warn(gs.StoreModelInDB, "general_settings.store_model_in_db", "storing models in a database")
	warn(len(gs.Alerting) > 0, "general_settings.alerting", "alerting")
	warn(gs.BackgroundHealthChecks, "general_settings.background_health_checks", "background health checks")
	warn(gs.DisableSpendLogs, "general_settings.disable_spend_logs", "a spend log")
	warn(gs.RequireAuthForMetricsEndpoint, "general_settings.require_auth_for_metrics_endpoint", "a /metrics endpoint")
	warn(gs.AllowClientSideCredentials, "general_settings.allow_client_side_credentials",
		"credentials sent by clients")
	warn(len(gs.AllowedRoutes)+len(gs.PublicRoutes) > 0, "general_settings.allowed_routes / public_routes",
		"route permissions")
	return out
}
