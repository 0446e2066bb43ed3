package governance

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/quota"
	"github.com/switchyard/gateway/core/store"
	"github.com/switchyard/gateway/sdk"
)

// Options configure a Governor.
type Options struct {
	// Store holds the entities and the ledger.
	Store *store.Store
	// MasterKey is the admin key (general_settings.master_key); it must be set for keys to be checked at all.
	MasterKey string
	// Counters count requests, tokens and spend (quota.NewMemory for one replica, Redis-backed for several).
	Counters quota.Counters
	// Estimate returns a call's estimated maximum cost in USD, reserved against budgets at admission; nil
	// reserves nothing (budgets are then checked against settled spend only).
	Estimate func(c *pipeline.Call) float64
	// Bus announces entity changes to other replicas and hears theirs; nil for a single replica.
	Bus Bus
	// RefreshInterval is how often the whole directory is re-read as a safety net (default 60 s); ResetInterval
	// how often due budgets are reset (default 10 s).
	RefreshInterval, ResetInterval time.Duration
	Logger                         *slog.Logger
	// Now replaces the clock (tests).
	Now func() time.Time
}

// Governor authenticates keys and enforces their limits; it is the Hooks of the management API.
type Governor struct {
	o      Options
	dir    *Directory
	master [sha256.Size]byte
	// masterToken is the master key's hash: calls made with it are not limited.
	masterToken string
	log         *slog.Logger
	stop        context.CancelFunc
	done        chan struct{}
}

// New loads the directory from the store and starts the background refresh, budget reset and (with a Bus)
// invalidation listener. Close stops them.
func New(ctx context.Context, o Options) (*Governor, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = time.Minute
	}
	if o.ResetInterval <= 0 {
		o.ResetInterval = 10 * time.Second
	}
	if o.Counters == nil {
		o.Counters = quota.NewMemory()
	}
	g := &Governor{o: o, dir: NewDirectory(o.Store, o.Logger), log: o.Logger, done: make(chan struct{})}
	if o.MasterKey != "" {
		g.master = sha256.Sum256([]byte(o.MasterKey))
		g.masterToken = hex.EncodeToString(g.master[:])
	}
	if _, err := o.Store.ResetBudgets(ctx, o.Now()); err != nil {
		return nil, err
	}
	if err := g.dir.Load(ctx); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	g.stop = cancel
	go g.background(bg)
	return g, nil
}

// Directory returns the in-memory view of the entities.
func (g *Governor) Directory() *Directory { return g.dir }

// Close stops the background work.
func (g *Governor) Close() {
	g.stop()
	<-g.done
}

func (g *Governor) background(ctx context.Context) {
	defer close(g.done)
	var msgs <-chan Message
	if g.o.Bus != nil {
		msgs = g.o.Bus.Subscribe(ctx)
	}
	refresh := time.NewTicker(g.o.RefreshInterval)
	defer refresh.Stop()
	reset := time.NewTicker(g.o.ResetInterval)
	defer reset.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				msgs = nil
				continue
			}
			g.apply(ctx, m.Kind, m.ID)
		case <-refresh.C:
			if err := g.dir.Load(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("governance: refreshing keys and budgets failed; serving what is in memory", "error", err)
			}
		case <-reset.C:
			g.resetBudgets(ctx)
		}
	}
}

// resetBudgets resets the store's due budgets. Counters need nothing: a new period has counters of its own.
func (g *Governor) resetBudgets(ctx context.Context) {
	r, err := g.o.Store.ResetBudgets(ctx, g.o.Now())
	if err != nil {
		if ctx.Err() == nil {
			g.log.Warn("governance: resetting due budgets failed; will retry", "error", err)
		}
		return
	}
	if r != (store.ResetResult{}) {
		g.apply(ctx, KindAll, "")
	}
}

// apply re-reads a changed entity.
func (g *Governor) apply(ctx context.Context, kind, id string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := g.dir.Refresh(ctx, kind, id); err != nil {
		g.log.Warn("governance: reloading a changed entity failed; the periodic refresh will catch up",
			"kind", kind, "error", err)
	}
}

// Changed re-reads an entity the management API wrote and tells the other replicas (admin.Hooks).
func (g *Governor) Changed(kind, id string) {
	g.apply(context.Background(), kind, id)
	if g.o.Bus != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := g.o.Bus.Publish(ctx, Message{Kind: kind, ID: id}); err != nil {
			g.log.Warn("governance: announcing a change to other replicas failed; they will see it at their next "+
				"refresh", "kind", kind, "error", err)
		}
	}
}

// LiveSpend returns an entity's spend in its current budget period from the counters, which run ahead of the
// store (admin.Hooks).
func (g *Governor) LiveSpend(ctx context.Context, kind, id string) (float64, bool) {
	s, ok := g.scopeOf(kind, id)
	if !ok {
		return 0, false
	}
	v, err := g.o.Counters.Spend(ctx, s.ID, s.Period, s.Baseline)
	return v, err == nil
}

// SetSpend sets an entity's spend in its current period (admin.Hooks).
func (g *Governor) SetSpend(ctx context.Context, kind, id string, spend float64) {
	s, ok := g.scopeOf(kind, id)
	if !ok {
		return
	}
	if err := g.o.Counters.SetSpend(ctx, s.ID, s.Period, spend); err != nil {
		g.log.Warn("governance: setting spend in the counters failed", "kind", kind, "error", err)
	}
}

// scopeOf returns the budget scope of an entity the directory holds.
func (g *Governor) scopeOf(kind, id string) (quota.Scope, bool) {
	now := g.o.Now()
	switch kind {
	case KindKey:
		if k, _ := g.dir.Key(context.Background(), id); k != nil {
			return keyScope(k, now), true
		}
	case KindTeam:
		if t := g.dir.Team(id); t != nil {
			return teamScope(t, now), true
		}
	case KindUser:
		if u := g.dir.User(id); u != nil {
			return userScope(u, now), true
		}
	case KindCustomer:
		if c := g.dir.Customer(id); c != nil {
			return customerScope(c, g.dir.Budget(c.BudgetID), now), true
		}
	}
	return quota.Scope{}, false
}

// Authenticate checks a presented key: the master key, or a virtual key that exists, is not blocked (nor its
// team) and has not expired. Keys are compared by their SHA-256 hash; the master key in constant time.
func (g *Governor) Authenticate(ctx context.Context, key string) (*pipeline.Principal, error) {
	if key == "" {
		return nil, sdk.NewError(sdk.KindAuthentication, "Authentication error: no API key was sent. Send it as "+
			"'Authorization: Bearer <key>', 'x-api-key: <key>' or 'api-key: <key>'.")
	}
	sum := sha256.Sum256([]byte(key))
	token := hex.EncodeToString(sum[:])
	if g.o.MasterKey != "" && subtle.ConstantTimeCompare(sum[:], g.master[:]) == 1 {
		return &pipeline.Principal{KeyHash: token, KeyAlias: "master", Admin: true}, nil
	}
	k, err := g.dir.Key(ctx, token)
	if err != nil {
		return nil, &sdk.Error{Kind: sdk.KindServiceUnavailable, Message: "Keys cannot be checked right now (the " +
			"key store is unreachable); retry shortly.", Err: err}
	}
	if k == nil {
		return nil, sdk.NewError(sdk.KindAuthentication, "Authentication error: the API key is not valid.")
	}
	if k.Blocked {
		return nil, sdk.NewError(sdk.KindAuthentication, "Authentication error: this key is blocked.")
	}
	if k.Expires != nil && !g.o.Now().Before(*k.Expires) {
		return nil, sdk.NewError(sdk.KindAuthentication, fmt.Sprintf("Authentication error: this key expired at %s.",
			k.Expires.UTC().Format(time.RFC3339)))
	}
	team := g.dir.Team(k.TeamID)
	if team != nil && team.Blocked {
		return nil, sdk.NewError(sdk.KindAuthentication, "Authentication error: this key's team is blocked.")
	}
	p := &pipeline.Principal{KeyHash: token, KeyAlias: k.KeyAlias, TeamID: k.TeamID, UserID: k.UserID,
		AllowedCacheControls: k.AllowedCacheControls}
	if u := g.dir.User(k.UserID); u != nil && u.UserRole == "proxy_admin" {
		p.Admin = true
	}
	return p, nil
}

// period returns the budget period of an entity whose budget resets at resetAt on the given schedule, and
// whether the stored spend (the baseline) belongs to it: a period that came due and that the store has not
// reset yet starts from zero, under the boundary the store will give it (store.RollReset).
func period(resetAt *time.Time, duration string, now time.Time) (int64, bool) {
	if resetAt == nil || duration == "" {
		return 0, true
	}
	if now.Before(*resetAt) {
		return resetAt.Unix(), true
	}
	next, err := store.RollReset(duration, *resetAt, now)
	if err != nil {
		return resetAt.Unix(), true
	}
	return next.Unix(), false
}

func limitOf(p *int64) int64 {
	if p == nil || *p < 0 {
		return 0
	}
	return *p
}

func scope(id, label string, rpm, tpm, par *int64, budget *float64, resetAt *time.Time, duration string,
	spend float64, now time.Time) quota.Scope {
	s := quota.Scope{ID: id, Label: label, RPM: limitOf(rpm), TPM: limitOf(tpm), Parallel: limitOf(par),
		Budget: budget}
	var fresh bool
	s.Period, fresh = period(resetAt, duration, now)
	if fresh {
		s.Baseline = spend
	}
	return s
}

func keyScope(k *store.Key, now time.Time) quota.Scope {
	return scope("key:"+k.Token, "key", k.RPMLimit, k.TPMLimit, k.MaxParallelRequests, k.MaxBudget,
		k.BudgetResetAt, k.BudgetDuration, k.Spend, now)
}

func teamScope(t *store.Team, now time.Time) quota.Scope {
	return scope("team:"+t.TeamID, "team", t.RPMLimit, t.TPMLimit, t.MaxParallelRequests, t.MaxBudget,
		t.BudgetResetAt, t.BudgetDuration, t.Spend, now)
}

func userScope(u *store.User, now time.Time) quota.Scope {
	return scope("user:"+u.UserID, "user", u.RPMLimit, u.TPMLimit, u.MaxParallelRequests, u.MaxBudget,
		u.BudgetResetAt, u.BudgetDuration, u.Spend, now)
}

// customerScope: a customer's own limits, or (where it has none of its own) those of its budget.
func customerScope(c *store.Customer, b *store.Budget, now time.Time) quota.Scope {
	rpm, tpm, budget, resetAt, duration := c.RPMLimit, c.TPMLimit, c.MaxBudget, c.BudgetResetAt, c.BudgetDuration
	var par *int64
	if b != nil {
		if rpm == nil {
			rpm = b.RPMLimit
		}
		if tpm == nil {
			tpm = b.TPMLimit
		}
		par = b.MaxParallelRequests
		if budget == nil {
			budget, resetAt, duration = b.MaxBudget, b.BudgetResetAt, b.BudgetDuration
		}
	}
	return scope("customer:"+c.UserID, "customer", rpm, tpm, par, budget, resetAt, duration, c.Spend, now)
}

// modelScope is a key's limits on one model (model_rpm_limit, model_tpm_limit, model_max_budget); ok is false
// when the key has none for it. Its spend is counted from zero at start: the store does not keep per-model spend.
func modelScope(k *store.Key, model string, now time.Time) (quota.Scope, bool) {
	rpm, hasRPM := k.ModelRPMLimit[model]
	tpm, hasTPM := k.ModelTPMLimit[model]
	budget, hasBudget := k.ModelMaxBudget[model]
	if !hasRPM && !hasTPM && !hasBudget {
		return quota.Scope{}, false
	}
	s := quota.Scope{ID: "key:" + k.Token + ":model:" + model, Label: "key's model " + strconv.Quote(model),
		RPM: max(rpm, 0), TPM: max(tpm, 0)}
	if hasBudget {
		s.Budget = &budget
	}
	s.Period, _ = period(k.BudgetResetAt, k.BudgetDuration, now)
	return s, true
}

// allowed reports whether a model list admits model: an empty list admits everything, as do "*" and
// "all-proxy-models"; "openai/*" admits models with that prefix.
func allowed(models []string, model string) bool {
	if len(models) == 0 {
		return true
	}
	for _, m := range models {
		switch {
		case m == model, m == "*", m == "all-proxy-models":
			return true
		case strings.HasSuffix(m, "*") && strings.HasPrefix(model, m[:len(m)-1]):
			return true
		}
	}
	return false
}
