package gateway

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/switchyard/gateway/core/alerts"
)

// alertType maps a name of general_settings.alert_types to its type: "failed_tracking", as some guides write
// it, is failed_tracking_spend.
func alertType(name string) alerts.Type {
	if name == "failed_tracking" {
		return alerts.FailedTrackingSpend
	}
	return alerts.Type(name)
}

// buildGovernanceAlerts starts the watcher of budget_alerts, spend_reports and failed_tracking_spend over the
// gateway's store, governor and spend ledger (nil when alerting is off or none of these types is on). Without a
// store, the types listed in alert_types are warned about. alerting_args.budget_check_interval (seconds, default
// 10) is how often budgets, the report calendar and the ledger are checked. Run it after buildGovernance; the
// watcher must be closed before the governance state (closeGovernanceAlerts).
func (g *Gateway) buildGovernanceAlerts() *alerts.Watcher {
	if g.alerts == nil {
		return nil
	}
	if g.gov == nil {
		for _, name := range g.cfg.GeneralSettings.AlertTypes {
			if slices.Contains(alerts.GovernanceTypes, alertType(name)) {
				g.Warnings = append(g.Warnings, fmt.Sprintf("general_settings.alert_types: %q alerts need keys, "+
					"budgets and the spend ledger, which are off without a data directory or database_url; ignored",
					name))
			}
		}
		return nil
	}
	if !slices.ContainsFunc(alerts.GovernanceTypes, g.alerts.Enabled) {
		return nil
	}
	gv := g.gov
	dir := gv.governor.Directory()
	o := alerts.WatchOptions{
		Budgets: gv.governor.Budgets,
		Spend:   gv.store,
		Ledger:  gv.ledger.Stats,
		Logger:  g.log,
		TeamName: func(_ context.Context, id string) string {
			if t := dir.Team(id); t != nil {
				return t.TeamAlias
			}
			return ""
		},
		KeyName: func(ctx context.Context, hash string) string {
			if k, err := dir.Key(ctx, hash); err == nil && k != nil {
				return k.KeyAlias
			}
			return ""
		},
	}
	if args := g.cfg.GeneralSettings.AlertingArgs; args != nil {
		switch v := args["budget_check_interval"].(type) {
		case int:
			o.Interval = time.Duration(v) * time.Second
		case float64:
			o.Interval = time.Duration(v * float64(time.Second))
		}
		if o.Interval < 0 {
			g.Warnings = append(g.Warnings, "general_settings.alerting_args.budget_check_interval: must be positive; "+
				"the default of 10 s is used")
			o.Interval = 0
		}
	}
	w := g.alerts.Watch(o)
	// First among the closers: it reads the store and the ledger, which later closers close.
	g.closers = append([]func() error{func() error { w.Close(); return nil }}, g.closers...)
	return w
}

// GovernanceAlerts returns the watcher of budget, spend-report and spend-tracking alerts (nil when off), to check
// or send a report now.
func (g *Gateway) GovernanceAlerts() *alerts.Watcher { return g.govAlerts }
