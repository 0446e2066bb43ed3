package gateway

import (
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/switchyard/gateway/core/alerts"
	"github.com/switchyard/gateway/core/pipeline"
)

// buildAlerts makes the alerter of general_settings.alerting (nil when Slack alerting is off or has no webhook):
// SLACK_WEBHOOK_URL from environment_variables, else the process environment; alert_types (default: every
// type this build raises; the governance types are watched by buildGovernanceAlerts); alerting_threshold in
// seconds (default 300); alerting_args.minor_outage_alert_threshold, the consecutive failures of a deployment
// that make an outage (default 3).
// Its Close is added to the gateway's closers.
func (g *Gateway) buildAlerts(lookupEnv func(string) (string, bool)) *alerts.Alerter {
	gs := g.cfg.GeneralSettings
	slack := false
	for _, a := range gs.Alerting {
		if a == "slack" {
			slack = true
			continue
		}
		g.Warnings = append(g.Warnings, fmt.Sprintf("general_settings.alerting: %q alerts are not sent by this build "+
			"(it sends slack); ignored", a))
	}
	if !slack {
		return nil
	}
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	url, ok := g.cfg.EnvironmentVariables["SLACK_WEBHOOK_URL"]
	if !ok {
		url, _ = lookupEnv("SLACK_WEBHOOK_URL")
	}
	if url == "" {
		g.Warnings = append(g.Warnings, "general_settings.alerting: slack alerting needs SLACK_WEBHOOK_URL, which is "+
			"not set; no alerts are sent")
		return nil
	}
	var types []alerts.Type
	for _, name := range gs.AlertTypes {
		t := alertType(name)
		switch {
		case slices.Contains(alerts.Supported, t):
			types = append(types, t)
		case slices.Contains(alerts.Unsupported, t):
			g.Warnings = append(g.Warnings, fmt.Sprintf("general_settings.alert_types: %q alerts are not raised by "+
				"this build yet; ignored", name))
		default:
			g.Warnings = append(g.Warnings, fmt.Sprintf("general_settings.alert_types: unknown alert type %q; ignored",
				name))
		}
	}
	if len(gs.AlertTypes) > 0 && len(types) == 0 {
		g.Warnings = append(g.Warnings, "general_settings.alert_types: none of the listed types is raised by this "+
			"build; no alerts are sent")
		return nil
	}
	o := alerts.Options{Types: types, Threshold: seconds(gs.AlertingThreshold), Logger: g.log,
		Deployments: func() []*pipeline.Deployment { return g.router.Deployments() }}
	if args := gs.AlertingArgs; args != nil {
		switch n := args["minor_outage_alert_threshold"].(type) {
		case int:
			o.OutageFailures = n
		case float64:
			o.OutageFailures = int(n)
		}
	}
	sender := alerts.NewSlack(url, alerts.SlackOptions{Logger: g.log})
	g.slack = sender
	o.Send = sender.Send
	a := alerts.New(o)
	g.closers = append(g.closers, func() error {
		a.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		sender.Close(ctx)
		return nil
	})
	return a
}
