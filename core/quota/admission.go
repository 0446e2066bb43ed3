package quota

import (
	"math"
	"time"
)

// headroomEpsilon is the budget headroom (USD) below which a budget counts as exhausted. Reserving "the rest of
// the headroom" in floating point can leave a residue of a few ulps, which would otherwise admit one more
// request with a reservation of 1e-16 dollars; it also absorbs the rounding of Redis's INCRBYFLOAT.
const headroomEpsilon = 1e-9

// budgetOf returns a scope's budget and whether it has one; a budget that is not a finite number (NaN, ±Inf)
// counts as none, so that it can neither refuse everything nor poison the arithmetic.
func budgetOf(s *Scope) (float64, bool) {
	if s.Budget == nil {
		return 0, false
	}
	b := *s.Budget
	if math.IsNaN(b) || math.IsInf(b, 0) {
		return 0, false
	}
	return b, true
}

// amount sanitises a money amount given by a caller: NaN, infinities and negatives count as zero, so that a
// counter can only grow by settling and never turns negative or non-finite.
func amount(v float64) float64 {
	if v > 0 && !math.IsInf(v, 1) {
		return v
	}
	return 0
}

// reservation is what a budgeted scope reserves for a request: min(reserve, headroom), never negative.
func reservation(reserve, budget, spend, reserved float64) float64 {
	return max(0, min(reserve, budget-spend-reserved))
}

// exhausted reports whether a budget refuses a request reserving reserve: it has no headroom left
// (spend + reserved >= budget, up to headroomEpsilon), or other requests hold reservations and this one's whole
// reservation does not fit beside them. A reservation is cut down to the headroom only when no other request
// holds one, so at most one request in flight can cost more than it reserved, and the spend ends at most one
// request's cost past the budget however many requests race for its last dollars.
func exhausted(budget, spend, reserved, reserve float64) bool {
	if spend+reserved >= budget-headroomEpsilon {
		return true
	}
	return reserved > headroomEpsilon && spend+reserved+reserve > budget+headroomEpsilon
}

// supersedes reports whether a request's budget period replaces the one the counters hold: a later period
// (the budget was reset), or period 0 replacing a dated one (the budget stopped resetting).
func supersedes(period, held int64) bool {
	return period > held || (period == 0 && held != 0)
}

// minuteOf returns the RPM/TPM window of a time: Unix seconds / 60.
func minuteOf(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		return (s - 59) / 60
	}
	return s / 60
}

// tightest accumulates the tightest request and token limits over a request's scopes.
type tightest struct {
	r Remaining
}

// add considers one scope whose window holds requests and tokens before this request.
func (t *tightest) add(s *Scope, requests, tokens int64) {
	if s.RPM > 0 {
		rem := max(0, s.RPM-requests)
		if t.r.LimitRequests == 0 || rem < t.r.RemainingRequests ||
			(rem == t.r.RemainingRequests && s.RPM < t.r.LimitRequests) {
			t.r.LimitRequests, t.r.RemainingRequests = s.RPM, rem
		}
	}
	if s.TPM > 0 {
		rem := max(0, s.TPM-tokens)
		if t.r.LimitTokens == 0 || rem < t.r.RemainingTokens ||
			(rem == t.r.RemainingTokens && s.TPM < t.r.LimitTokens) {
			t.r.LimitTokens, t.r.RemainingTokens = s.TPM, rem
		}
	}
}

// result returns the accumulated limits for a request counted in minute; an admitted request takes one of the
// remaining requests (its tokens are not known until it settles).
func (t *tightest) result(minute int64, admitted bool) Remaining {
	r := t.r
	if admitted && r.RemainingRequests > 0 {
		r.RemainingRequests--
	}
	r.Reset = time.Unix((minute+1)*60, 0)
	return r
}

// check returns the reason a scope refuses a request, or "" when it admits it.
func check(s *Scope, requests, tokens, inFlight int64, budgeted bool, budget, spend, reserved, reserve float64) Reason {
	switch {
	case s.RPM > 0 && requests >= s.RPM:
		return ReasonRPM
	case s.TPM > 0 && tokens >= s.TPM:
		return ReasonTPM
	case s.Parallel > 0 && inFlight >= s.Parallel:
		return ReasonParallel
	case budgeted && exhausted(budget, spend, reserved, reserve):
		return ReasonBudget
	}
	return ""
}

// newTicket allocates a ticket and its reservations in one allocation for the usual few scopes.
func newTicket(scopes []Scope, minute int64) *Ticket {
	const inline = 6
	if len(scopes) <= inline {
		a := &struct {
			t Ticket
			r [inline]float64
		}{}
		a.t.Scopes, a.t.Reserved, a.t.Minute = scopes, a.r[:len(scopes):len(scopes)], minute
		return &a.t
	}
	return &Ticket{Scopes: scopes, Reserved: make([]float64, len(scopes)), Minute: minute}
}
