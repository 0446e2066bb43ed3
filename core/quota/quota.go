// Package quota counts what callers use and enforces their limits: requests and tokens per minute, requests in
// flight, and budgets. It is the counter half of the governance layer; who the callers are and what their limits
// are is decided elsewhere (core/governance) and handed here as Scopes.
//
// Budgets use reservations: at admission a request reserves its estimated maximum cost in every budget it draws
// on, so concurrent requests cannot together overshoot a budget; when it ends the reservation is replaced by its
// real cost. A request is admitted while a budget has room for its whole reservation; when no other request holds
// a reservation it is admitted while the budget has any headroom (spend < max) and reserves at most that, so only
// one request at a time can cost more than it reserved, and the spend ends at most one request's cost past the
// budget.
//
// Two implementations share one contract (and one test suite): Memory, for a single replica, and Redis, for
// several replicas sharing one set of counters.
package quota

import (
	"context"
	"time"
)

// Scope is one subject of limits: a key, a team, a user, a customer, or a key's use of one model.
type Scope struct {
	// ID names the counters; unique across kinds ("key:<sha256>", "team:<id>", "key:<sha256>:model:<name>").
	ID string
	// Label names the scope in denial messages ("key", "team", "user", "customer", "key model gpt-4o").
	Label string
	// RPM, TPM and Parallel are the requests per minute, tokens per minute and requests in flight allowed;
	// 0 means no limit.
	RPM, TPM, Parallel int64
	// Budget is the maximum spend in USD in the current period; nil means no budget (spend is still counted).
	Budget *float64
	// Period identifies the budget period: the Unix time (seconds) at which it ends, or 0 when the budget never
	// resets. Spend is counted per (ID, Period): a new period starts from zero.
	Period int64
	// Baseline is the spend the store holds for this scope and period. It seeds the counter the first time the
	// counter is used in this period; after that the counter is authoritative (the store lags behind it).
	Baseline float64
}

// Request is one admission.
type Request struct {
	// Scopes are every scope the request draws on. A request is admitted only if every scope admits it.
	Scopes []Scope
	// Reserve is the estimated maximum cost of the request in USD, reserved in every scope with a budget.
	Reserve float64
	// Now is the admission time (its minute is the RPM/TPM window).
	Now time.Time
}

// Ticket is an admitted request's hold on its scopes; Settle releases it exactly once.
type Ticket struct {
	// Scopes are the admitted request's scopes, as given.
	Scopes []Scope
	// Reserved is what was reserved in each scope (parallel to Scopes; 0 for scopes without a budget).
	Reserved []float64
	// Minute is the RPM/TPM window the request was counted in (Unix seconds / 60).
	Minute int64
	// Remaining describes the tightest RPM and TPM limits after admission, for x-ratelimit-* headers.
	Remaining Remaining
	// Backend is implementation state (which counters the ticket was taken from).
	Backend any
	settled bool
}

// MarkSettled reports whether the ticket was unsettled, and marks it settled. Implementations call it first in
// Settle so that a second Settle is a no-op.
func (t *Ticket) MarkSettled() bool {
	if t == nil || t.settled {
		return false
	}
	t.settled = true
	return true
}

// Remaining is the state of the tightest request and token limits: Limit 0 means no limit of that kind.
type Remaining struct {
	LimitRequests, RemainingRequests int64
	LimitTokens, RemainingTokens     int64
	// Reset is when the current window ends.
	Reset time.Time
}

// Denial is why a request was not admitted.
type Denial struct {
	// Scope is the scope that refused (its Label names it in messages).
	Scope Scope
	// Reason is one of the Reason constants.
	Reason Reason
	// Spend and Reserved are the scope's spend and outstanding reservations, for budget denials.
	Spend, Reserved float64
	// Remaining is the tightest request and token limits among the request's scopes, for x-ratelimit-* headers.
	Remaining Remaining
}

// Reason is what limit refused a request.
type Reason string

// Reasons.
const (
	ReasonRPM      Reason = "rpm"
	ReasonTPM      Reason = "tpm"
	ReasonParallel Reason = "parallel"
	ReasonBudget   Reason = "budget"
)

func (d *Denial) Error() string { return string(d.Reason) + " limit of " + d.Scope.Label }

// Counters counts and enforces. Implementations are safe for concurrent use and do no I/O besides their own
// counter store.
type Counters interface {
	// Admit checks every scope and, only if all admit the request, counts it in all of them at once: one
	// request in the RPM window, one in flight, and the reservation. It returns a *Denial when a limit refuses
	// the request, and another error when the counters cannot be reached.
	//
	// The checks: RPM refuses when the window already holds RPM requests; TPM when the window's tokens reached
	// TPM; Parallel when Parallel requests are in flight; a budget when spend + reserved >= Budget, or when other
	// requests hold reservations and spend + reserved + Reserve > Budget. A request admitted reserves
	// min(Reserve, Budget - spend - reserved) in each scope with a budget.
	Admit(ctx context.Context, r Request) (*Ticket, error)
	// Settle ends an admitted request: releases its place in flight and its reservations, adds tokens to the
	// TPM window of the current minute and cost to the spend of every scope (budgeted or not), in the ticket's
	// budget period. A second Settle of one ticket does nothing.
	Settle(ctx context.Context, t *Ticket, tokens int64, cost float64) error
	// Spend returns a scope's spend in the given period (baseline-seeded as Admit would).
	Spend(ctx context.Context, id string, period int64, baseline float64) (float64, error)
	// SetSpend overwrites a scope's spend in the given period (an operator setting spend, a budget reset).
	SetSpend(ctx context.Context, id string, period int64, spend float64) error
}
