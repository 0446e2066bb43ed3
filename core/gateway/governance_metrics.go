package gateway

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard/gateway/core/governance"
)

// maxBudgetSeries is the most keys, and the most teams, the budget metrics report at each scrape: those closest
// to their budget (highest share of the max budget spent, then of the soft budget), so that a gateway with many
// thousands of keys keeps /metrics small and still shows the ones that matter.
const maxBudgetSeries = 500

// budgetCollector exports LiteLLM's budget metrics per key and per team, computed at scrape time from the live
// counters (Governor.Budgets): remaining and max budget, hours until the budget resets, and (Switchyard's own)
// a key's configured rpm and tpm limits. Keys are labelled by their SHA-256 hash and alias, never by the key.
// Only entities with a budget (max or soft) are listed.
type budgetCollector struct {
	budgets func(context.Context) []governance.BudgetStatus
	now     func() time.Time

	teamRemaining, teamMax, teamHours              *prometheus.Desc
	keyRemaining, keyMax, keyHours, keyRPM, keyTPM *prometheus.Desc
}

func newBudgetCollector(budgets func(context.Context) []governance.BudgetStatus) *budgetCollector {
	team, key := []string{"team", "team_alias"}, []string{"hashed_api_key", "api_key_alias"}
	d := prometheus.NewDesc
	return &budgetCollector{budgets: budgets, now: time.Now,
		teamRemaining: d("litellm_remaining_team_budget_metric", "Remaining budget for a team, in USD.", team, nil),
		teamMax:       d("litellm_team_max_budget_metric", "Maximum budget set for a team, in USD.", team, nil),
		teamHours: d("litellm_team_budget_remaining_hours_metric",
			"Hours until a team's budget is reset.", team, nil),
		keyRemaining: d("litellm_remaining_api_key_budget_metric", "Remaining budget for an API key, in USD.", key, nil),
		keyMax:       d("litellm_api_key_max_budget_metric", "Maximum budget set for an API key, in USD.", key, nil),
		keyHours: d("litellm_api_key_budget_remaining_hours_metric",
			"Hours until an API key's budget is reset.", key, nil),
		keyRPM: d("litellm_api_key_rpm_limit", "Requests per minute an API key is allowed (keys with a budget).",
			key, nil),
		keyTPM: d("litellm_api_key_tpm_limit", "Tokens per minute an API key is allowed (keys with a budget).",
			key, nil),
	}
}

// Describe sends the descriptors of every metric (prometheus.Collector).
func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.teamRemaining, c.teamMax, c.teamHours, c.keyRemaining, c.keyMax,
		c.keyHours, c.keyRPM, c.keyTPM} {
		ch <- d
	}
}

// Collect reads the budgets and sends the metrics of the keys and teams closest to theirs (prometheus.Collector).
func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var keys, teams []governance.BudgetStatus
	for _, st := range c.budgets(ctx) {
		switch st.Kind {
		case governance.KindKey:
			keys = append(keys, st)
		case governance.KindTeam:
			teams = append(teams, st)
		}
	}
	now := c.now()
	for _, st := range closest(teams) {
		labels := []string{st.ID, st.Alias}
		c.budget(ch, &st, now, c.teamRemaining, c.teamMax, c.teamHours, labels)
	}
	for _, st := range closest(keys) {
		labels := []string{st.ID, st.Alias}
		c.budget(ch, &st, now, c.keyRemaining, c.keyMax, c.keyHours, labels)
		if st.RPMLimit > 0 {
			ch <- prometheus.MustNewConstMetric(c.keyRPM, prometheus.GaugeValue, float64(st.RPMLimit), labels...)
		}
		if st.TPMLimit > 0 {
			ch <- prometheus.MustNewConstMetric(c.keyTPM, prometheus.GaugeValue, float64(st.TPMLimit), labels...)
		}
	}
}

// budget sends an entity's remaining and max budget (when it has a max budget) and the hours until it resets
// (when it does).
func (c *budgetCollector) budget(ch chan<- prometheus.Metric, st *governance.BudgetStatus, now time.Time,
	remaining, maxBudget, hours *prometheus.Desc, labels []string) {
	if st.MaxBudget != nil {
		ch <- prometheus.MustNewConstMetric(remaining, prometheus.GaugeValue, *st.MaxBudget-st.Spend, labels...)
		ch <- prometheus.MustNewConstMetric(maxBudget, prometheus.GaugeValue, *st.MaxBudget, labels...)
	}
	if !st.ResetAt.IsZero() {
		ch <- prometheus.MustNewConstMetric(hours, prometheus.GaugeValue, max(st.ResetAt.Sub(now).Hours(), 0),
			labels...)
	}
}

// closest returns at most maxBudgetSeries entities, those that have spent the largest share of their budget
// first (ties by id, for stable series).
func closest(sts []governance.BudgetStatus) []governance.BudgetStatus {
	if len(sts) <= maxBudgetSeries {
		return sts
	}
	slices.SortFunc(sts, func(a, b governance.BudgetStatus) int {
		if c := cmp.Compare(used(b), used(a)); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return sts[:maxBudgetSeries]
}

// used is the share of its budget an entity has spent: of the max budget, else of the soft budget.
func used(st governance.BudgetStatus) float64 {
	b := st.MaxBudget
	if b == nil {
		b = st.SoftBudget
	}
	switch {
	case b == nil:
		return 0
	case *b <= 0:
		return 1 // a zero budget is spent
	}
	return st.Spend / *b
}
