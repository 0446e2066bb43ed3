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

	warn(rs.EnableTagFiltering, "router_settings.enable_tag_filtering", "routing by tags")

	warn(ls.MaxBudget > 0 || ls.BudgetDuration != "", "litellm_settings.max_budget", "a proxy-wide budget")

	warn(gs.StoreModelInDB, "general_settings.store_model_in_db", "storing models in a database")
	warn(gs.DisableSpendLogs, "general_settings.disable_spend_logs", "a spend log")
	warn(gs.AllowClientSideCredentials, "general_settings.allow_client_side_credentials",
		"credentials sent by clients")
	warn(len(gs.AllowedRoutes)+len(gs.PublicRoutes) > 0, "general_settings.allowed_routes / public_routes",
		"route permissions")
	return out
}
