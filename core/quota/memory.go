package quota

import (
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// shardCount is the number of independently locked maps scopes are spread over; the map locks are held only
// for a lookup, so a few dozen keep them uncontended.
const shardCount = 64

// Memory is Counters for one replica. Every scope has its own lock; an admission locks the scopes it draws on
// in ID order (so that two admissions can never wait on each other in a cycle), checks them all, then counts in
// all of them, so it is all or nothing without a global lock.
//
// A scope holds one budget period at a time: a request or SetSpend for a later period (or for period 0 after a
// dated one) starts that period from its baseline, dropping the old period's spend and reservations. Admissions
// for an earlier period are checked against the held period and reserve nothing; settling them counts their
// tokens but not their cost (the store's ledger still records it for their own period).
//
// State for scopes nobody used for a while is dropped by Sweep, which the owner calls periodically.
type Memory struct {
	seed   maphash.Seed
	shards [shardCount]memoryShard
	now    func() time.Time

	// lookedUp, when set (by tests), runs between looking an admission's scopes up and locking them.
	lookedUp func()
}

var _ Counters = (*Memory)(nil)

type memoryShard struct {
	mu     sync.RWMutex
	scopes map[string]*scopeState
	_      [32]byte // keeps neighbouring shards' locks off one cache line
}

// scopeState is one scope's counters, guarded by mu.
type scopeState struct {
	mu sync.Mutex
	// dead is set by Sweep when it drops the state; whoever finds it dead looks the scope up again.
	dead     bool
	lastUsed int64 // Unix seconds, by the Memory's clock

	minute   int64 // the RPM/TPM window requests and tokens count in
	requests int64
	tokens   int64
	inFlight int64

	period   int64 // the budget period spend and reserved belong to
	spend    float64
	reserved float64
}

// NewMemory returns empty in-memory counters.
func NewMemory() *Memory {
	m := &Memory{seed: maphash.MakeSeed(), now: time.Now}
	for i := range m.shards {
		m.shards[i].scopes = make(map[string]*scopeState)
	}
	return m
}

func (m *Memory) shard(id string) *memoryShard {
	return &m.shards[maphash.String(m.seed, id)%shardCount]
}

// state returns the scope's state, creating it (holding period, seeded with baseline) if it is new.
func (m *Memory) state(id string, period int64, baseline float64) *scopeState {
	sh := m.shard(id)
	sh.mu.RLock()
	s := sh.scopes[id]
	sh.mu.RUnlock()
	if s != nil {
		return s
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s = sh.scopes[id]; s == nil {
		s = &scopeState{period: period, spend: amount(baseline)}
		sh.scopes[id] = s
	}
	return s
}

// lock returns the scope's state locked and alive.
func (m *Memory) lock(id string, period int64, baseline float64) *scopeState {
	for {
		s := m.state(id, period, baseline)
		s.mu.Lock()
		if !s.dead {
			return s
		}
		s.mu.Unlock()
	}
}

// roll moves the state to minute's window if that is later than the one it holds.
func (s *scopeState) roll(minute int64) {
	if minute > s.minute {
		s.minute, s.requests, s.tokens = minute, 0, 0
	}
}

// usePeriod moves the state to period if that supersedes the one it holds, starting it from baseline, and
// reports whether the state now holds period.
func (s *scopeState) usePeriod(period int64, baseline float64) bool {
	if period == s.period {
		return true
	}
	if supersedes(period, s.period) {
		s.period, s.spend, s.reserved = period, amount(baseline), 0
		return true
	}
	return false
}

// Admit implements Counters. It never returns an error other than a *Denial.
func (m *Memory) Admit(_ context.Context, r Request) (*Ticket, error) {
	now := r.Now
	if now.IsZero() {
		now = m.now()
	}
	minute := minuteOf(now)
	n := len(r.Scopes)
	var stackStates [8]*scopeState
	var stackOrder [8]int
	states, order := stackStates[:0], stackOrder[:0]
	if n > len(stackStates) {
		states, order = make([]*scopeState, 0, n), make([]int, 0, n)
	}
	for i := range r.Scopes {
		order = append(order, i)
	}
	sortByID(order, r.Scopes)
	states = states[:n]
	m.lockAll(r.Scopes, order, states)
	defer unlockAll(order, states)

	tight, d := checkAll(r.Scopes, states, minute, amount(r.Reserve))
	if d != nil {
		return nil, d
	}
	t := newTicket(r.Scopes, minute)
	t.Remaining = tight.result(minute, true)
	m.count(t, states, amount(r.Reserve))
	return t, nil
}

// checkAll moves the locked states to the request's window and period; it returns their tightest limits and the
// denial of the first scope (in the request's order) that refuses the request, or nil.
func checkAll(scopes []Scope, states []*scopeState, minute int64, reserve float64) (tightest, *Denial) {
	var denial *Denial
	var tight tightest
	for i := range scopes {
		sc, s := &scopes[i], states[i]
		s.roll(minute)
		s.usePeriod(sc.Period, sc.Baseline)
		tight.add(sc, s.requests, s.tokens)
		if denial != nil {
			continue
		}
		budget, budgeted := budgetOf(sc)
		if reason := check(sc, s.requests, s.tokens, s.inFlight, budgeted, budget, s.spend, s.reserved, reserve); reason != "" {
			denial = &Denial{Scope: *sc, Reason: reason}
			if budgeted {
				denial.Spend, denial.Reserved = s.spend, s.reserved
			}
		}
	}
	if denial != nil {
		denial.Remaining = tight.result(minute, false)
	}
	return tight, denial
}

// count counts an admitted ticket in its locked states: a request in the window, one in flight, and the
// reservation in each budget of the period the state holds.
func (m *Memory) count(t *Ticket, states []*scopeState, reserve float64) {
	used := m.now().Unix()
	for i := range t.Scopes {
		sc, s := &t.Scopes[i], states[i]
		s.requests++
		s.inFlight++
		s.lastUsed = used
		if budget, ok := budgetOf(sc); ok && sc.Period == s.period {
			t.Reserved[i] = reservation(reserve, budget, s.spend, s.reserved)
			s.reserved += t.Reserved[i]
		}
	}
}

// sortByID sorts scope indexes by scope ID; insertion sort, since requests draw on a handful of scopes.
func sortByID(order []int, scopes []Scope) {
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && scopes[order[j]].ID < scopes[order[j-1]].ID; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
}

// lockAll fills states (parallel to scopes) with the scopes' states, locked in ID order; a scope named twice
// is locked once. If Sweep dropped a state meanwhile, it lets everything go and starts over.
func (m *Memory) lockAll(scopes []Scope, order []int, states []*scopeState) {
	for {
		for i := range scopes {
			states[i] = m.state(scopes[i].ID, scopes[i].Period, scopes[i].Baseline)
		}
		if m.lookedUp != nil {
			m.lookedUp()
		}
		alive := true
		for k, i := range order {
			if k > 0 && states[i] == states[order[k-1]] {
				continue
			}
			states[i].mu.Lock()
			if states[i].dead {
				unlockAll(order[:k+1], states)
				alive = false
				break
			}
		}
		if alive {
			return
		}
	}
}

// unlockAll unlocks the states of the scopes in order (sorted by ID), each once.
func unlockAll(order []int, states []*scopeState) {
	for k, i := range order {
		if k > 0 && states[i] == states[order[k-1]] {
			continue
		}
		states[i].mu.Unlock()
	}
}

// Settle implements Counters. It never returns an error.
func (m *Memory) Settle(_ context.Context, t *Ticket, tokens int64, cost float64) error {
	if !t.MarkSettled() {
		return nil
	}
	now := m.now()
	minute := max(minuteOf(now), t.Minute)
	tokens, cost = max(0, tokens), amount(cost)
	for i := range t.Scopes {
		sc := &t.Scopes[i]
		s := m.lock(sc.ID, sc.Period, sc.Baseline)
		s.roll(minute)
		s.tokens += tokens
		s.inFlight = max(0, s.inFlight-1)
		s.lastUsed = now.Unix()
		if sc.Period == s.period {
			s.reserved = settled(s.reserved, t.Reserved[i])
			s.spend += cost
		}
		s.mu.Unlock()
	}
	return nil
}

// settled returns reserved less a released reservation, never below zero (residues of float arithmetic
// included).
func settled(reserved, release float64) float64 {
	if reserved -= release; reserved < headroomEpsilon {
		return 0
	}
	return reserved
}

// Spend implements Counters. For a period earlier than the one the scope holds it returns baseline, the store's
// figure, since the counters no longer hold it.
func (m *Memory) Spend(_ context.Context, id string, period int64, baseline float64) (float64, error) {
	s := m.lock(id, period, baseline)
	defer s.mu.Unlock()
	if !s.usePeriod(period, baseline) {
		return amount(baseline), nil
	}
	return s.spend, nil
}

// SetSpend implements Counters. Setting the spend of a period earlier than the one the scope holds does
// nothing.
func (m *Memory) SetSpend(_ context.Context, id string, period int64, spend float64) error {
	s := m.lock(id, period, spend)
	defer s.mu.Unlock()
	if s.usePeriod(period, spend) {
		s.spend = amount(spend)
	}
	s.lastUsed = m.now().Unix()
	return nil
}

// minSweepAge is the least idle time after which Sweep drops a scope: anything shorter would forget requests
// counted in the current RPM/TPM window.
const minSweepAge = 2 * time.Minute

// Sweep drops the state of scopes unused for olderThan (at least two minutes) that hold nothing in flight and no
// reservations, and returns how many it dropped. A dropped scope starts again from its baseline, which by then
// the store has caught up with; call it every few minutes with an olderThan of an hour or so. Scopes busy at the
// moment are kept for the next sweep.
func (m *Memory) Sweep(olderThan time.Duration) int {
	return m.sweep(m.now().Add(-max(olderThan, minSweepAge)).Unix())
}

// sweep drops the idle scopes last used before cutoff (Unix seconds).
func (m *Memory) sweep(cutoff int64) int {
	dropped := 0
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for id, s := range sh.scopes {
			// TryLock: an admission may hold this state while waiting for this shard's lock.
			if !s.mu.TryLock() {
				continue
			}
			if s.lastUsed < cutoff && s.inFlight == 0 && s.reserved == 0 {
				s.dead = true
				delete(sh.scopes, id)
				dropped++
			}
			s.mu.Unlock()
		}
		sh.mu.Unlock()
	}
	return dropped
}

// Len returns the number of scopes the counters hold state for.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		m.shards[i].mu.RLock()
		n += len(m.shards[i].scopes)
		m.shards[i].mu.RUnlock()
	}
	return n
}
