package governance

import (
	"context"
	"sync"
	"time"

	"github.com/switchyard/gateway/core/quota"
	"github.com/switchyard/gateway/core/store"
)

// BudgetStatus is where one budgeted entity stands in its current period.
type BudgetStatus struct {
	// Kind is KindKey, KindTeam, KindUser or KindCustomer; ID the key's hash or the entity's id.
	Kind, ID string
	// Alias names the entity for people: a key's alias (or masked key), a team's alias, else its id.
	Alias string
	// TeamID is a key's team.
	TeamID string
	// MaxBudget and SoftBudget are nil when not set.
	MaxBudget, SoftBudget *float64
	// Spend is the live spend in the period.
	Spend float64
	// Period identifies the budget period (its end, Unix seconds; 0 when the budget never resets).
	Period int64
	// ResetAt is when the period ends (zero when it never does).
	ResetAt time.Time
	// RPMLimit and TPMLimit are the entity's rate limits (0: none).
	RPMLimit, TPMLimit int64
}

// Budgets returns the status of every key, team, user and customer with a budget (max or soft), reading live
// spend from the counters. It is for alerts and metrics, off the request path.
func (g *Governor) Budgets(ctx context.Context) []BudgetStatus {
	now := g.o.Now()
	var out []BudgetStatus
	add := func(kind, id, alias, team string, soft *float64, s quota.Scope) {
		if s.Budget == nil && soft == nil {
			return
		}
		spend, err := g.o.Counters.Spend(ctx, s.ID, s.Period, s.Baseline)
		if err != nil {
			return
		}
		st := BudgetStatus{Kind: kind, ID: id, Alias: alias, TeamID: team, MaxBudget: s.Budget, SoftBudget: soft,
			Spend: spend, Period: s.Period, RPMLimit: s.RPM, TPMLimit: s.TPM}
		if s.Period > 0 {
			st.ResetAt = time.Unix(s.Period, 0).UTC()
		}
		out = append(out, st)
	}
	each(&g.dir.keys, func(k *store.Key) {
		alias := k.KeyAlias
		if alias == "" {
			alias = k.KeyName
		}
		add(KindKey, k.Token, alias, k.TeamID, k.SoftBudget, keyScope(k, now))
	})
	each(&g.dir.teams, func(t *store.Team) {
		alias := t.TeamAlias
		if alias == "" {
			alias = t.TeamID
		}
		add(KindTeam, t.TeamID, alias, "", nil, teamScope(t, now))
	})
	each(&g.dir.users, func(u *store.User) { add(KindUser, u.UserID, u.UserID, "", nil, userScope(u, now)) })
	each(&g.dir.customers, func(c *store.Customer) {
		add(KindCustomer, c.UserID, c.UserID, "", nil, customerScope(c, g.dir.Budget(c.BudgetID), now))
	})
	return out
}

func each[T any](m *sync.Map, f func(*T)) {
	m.Range(func(_, v any) bool {
		f(v.(*T))
		return true
	})
}

// Store returns the store the governor reads.
func (g *Governor) Store() *store.Store { return g.o.Store }
