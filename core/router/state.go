package router

import (
	"context"
	"sync"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
)

// State is what the router learns about deployments while serving: this minute's usage (for rpm/tpm limits and
// usage-based routing), failures and cooldowns, and recent latencies. One replica keeps it in memory
// (MemoryState); several share it in Redis, so that a deployment cooled down by one replica is skipped by all
// and rpm/tpm headroom is global.
//
// Implementations never fail the request: a shared store that cannot be reached degrades to local state. Reads
// may be served from a short-lived local copy; Reserve is the one call that must be exact.
type State interface {
	// Reserve counts one request and tokens (an estimate) against the deployment's current minute, unless that
	// would pass rpm or tpm (0 means unlimited); then it counts nothing and returns false with the time until
	// the minute ends.
	Reserve(ctx context.Context, id string, rpm, tpm, tokens int) (ok bool, retryAfter time.Duration)
	// AddTokens adds tokens to the deployment's current minute (the actual use minus the estimate reserved;
	// may be negative).
	AddTokens(ctx context.Context, id string, tokens int)
	// Usage returns this minute's use of each deployment, in the order of ids.
	Usage(ctx context.Context, ids []string) []MinuteUsage
	// Failed records a failure of a deployment. When more than allowedFails failures fell in the current
	// minute, the deployment cools down for cooldown; Failed reports whether it entered cooldown now.
	Failed(ctx context.Context, id string, allowedFails int, cooldown time.Duration) bool
	// Cooldowns returns, in the order of ids, when each deployment's cooldown ends (zero when it is not
	// cooling down).
	Cooldowns(ctx context.Context, ids []string) []time.Time
	// Observe records a successful call: its latency per completion token and, for streams, its time to first
	// token (zero when not a stream).
	Observe(ctx context.Context, id string, perToken, ttft time.Duration)
	// Latencies returns recent averages, in the order of ids (zero when unknown).
	Latencies(ctx context.Context, ids []string) []Latency
}

// MinuteUsage is a deployment's use of the current minute.
type MinuteUsage struct{ Requests, Tokens int }

// Latency is a deployment's recent averages.
type Latency struct{ PerToken, TTFT time.Duration }

// latencyWeight is the weight of a new sample in the moving averages.
const latencyWeight = 0.2

// MemoryState is State in one process's memory. Each deployment has its own lock, so requests to different
// deployments never wait on each other.
type MemoryState struct {
	deps sync.Map // id → *depState
	now  func() time.Time
}

type depState struct {
	mu             sync.Mutex
	minute         int64
	requests       int
	tokens         int
	failMinute     int64
	fails          int
	cooldownUntil  time.Time
	perToken, ttft time.Duration
}

// NewMemoryState returns an empty in-memory state.
func NewMemoryState() *MemoryState {
	return &MemoryState{now: time.Now}
}

// lock returns the deployment's state, locked, its minute counters rolled over to the current minute.
func (m *MemoryState) lock(id string, now time.Time) *depState {
	v, ok := m.deps.Load(id)
	if !ok {
		v, _ = m.deps.LoadOrStore(id, &depState{})
	}
	d := v.(*depState)
	d.mu.Lock()
	if min := now.Unix() / 60; d.minute != min {
		d.minute, d.requests, d.tokens = min, 0, 0
	}
	return d
}

// untilNextMinute is the time left in the current minute.
func untilNextMinute(now time.Time) time.Duration {
	return now.Truncate(time.Minute).Add(time.Minute).Sub(now)
}

func (m *MemoryState) Reserve(_ context.Context, id string, rpm, tpm, tokens int) (bool, time.Duration) {
	now := m.now()
	d := m.lock(id, now)
	defer d.mu.Unlock()
	if (rpm > 0 && d.requests+1 > rpm) || (tpm > 0 && d.tokens > 0 && d.tokens+tokens > tpm) {
		return false, untilNextMinute(now)
	}
	d.requests++
	d.tokens += tokens
	return true, 0
}

func (m *MemoryState) AddTokens(_ context.Context, id string, tokens int) {
	now := m.now()
	d := m.lock(id, now)
	defer d.mu.Unlock()
	d.tokens = max(d.tokens+tokens, 0)
}

func (m *MemoryState) Usage(_ context.Context, ids []string) []MinuteUsage {
	now := m.now()
	out := make([]MinuteUsage, len(ids))
	for i, id := range ids {
		d := m.lock(id, now)
		out[i] = MinuteUsage{Requests: d.requests, Tokens: d.tokens}
		d.mu.Unlock()
	}
	return out
}

func (m *MemoryState) Failed(_ context.Context, id string, allowedFails int, cooldown time.Duration) bool {
	now := m.now()
	d := m.lock(id, now)
	defer d.mu.Unlock()
	if min := now.Unix() / 60; d.failMinute != min {
		d.failMinute, d.fails = min, 0
	}
	d.fails++
	if d.fails > allowedFails && !now.Before(d.cooldownUntil) {
		d.cooldownUntil = now.Add(cooldown)
		d.fails = 0
		return true
	}
	return false
}

func (m *MemoryState) Cooldowns(_ context.Context, ids []string) []time.Time {
	now := m.now()
	out := make([]time.Time, len(ids))
	for i, id := range ids {
		if v, ok := m.deps.Load(id); ok {
			d := v.(*depState)
			d.mu.Lock()
			if now.Before(d.cooldownUntil) {
				out[i] = d.cooldownUntil
			}
			d.mu.Unlock()
		}
	}
	return out
}

func (m *MemoryState) Observe(_ context.Context, id string, perToken, ttft time.Duration) {
	now := m.now()
	d := m.lock(id, now)
	defer d.mu.Unlock()
	d.perToken = ewma(d.perToken, perToken)
	d.ttft = ewma(d.ttft, ttft)
}

// ewma folds a sample into a moving average; zero samples (unknown) are skipped.
func ewma(avg, sample time.Duration) time.Duration {
	switch {
	case sample <= 0:
		return avg
	case avg <= 0:
		return sample
	}
	return time.Duration(float64(avg)*(1-latencyWeight) + float64(sample)*latencyWeight)
}

func (m *MemoryState) Latencies(_ context.Context, ids []string) []Latency {
	out := make([]Latency, len(ids))
	for i, id := range ids {
		if v, ok := m.deps.Load(id); ok {
			d := v.(*depState)
			d.mu.Lock()
			out[i] = Latency{PerToken: d.perToken, TTFT: d.ttft}
			d.mu.Unlock()
		}
	}
	return out
}

// DeploymentStatus is a deployment's state for monitoring.
type DeploymentStatus struct {
	ID, Group, Provider string
	// CoolingDown is true while the deployment is skipped after failures.
	CoolingDown bool
	// InFlight is the number of requests to it under way on this replica.
	InFlight int64
}

// Status returns the state of the configured deployments (those made on demand by wildcard routes are left
// out), reading cooldowns from the shared state.
func (r *Router) Status(ctx context.Context) []DeploymentStatus {
	t := r.Table()
	var out []DeploymentStatus
	var ids []string
	for _, name := range t.order {
		for _, d := range t.groups[name].Deployments {
			s := DeploymentStatus{ID: d.ID, Group: d.Group, InFlight: r.inFlightOf(d.ID).Load()}
			if d.Target != nil {
				s.Provider = d.Target.Provider
			}
			out = append(out, s)
			ids = append(ids, d.ID)
		}
	}
	for i, until := range r.settings.State.Cooldowns(ctx, ids) {
		out[i].CoolingDown = !until.IsZero()
	}
	return out
}

// SharedState reports whether the router shares its state through Redis and, if so, whether Redis is
// unreachable now (the router serving from local state) and how many times it fell back to local state.
func (r *Router) SharedState() (shared, degraded bool, fallbacks int64) {
	if rs, ok := r.settings.State.(*RedisState); ok {
		return true, rs.Degraded(), int64(rs.Fallbacks())
	}
	return false, false, 0
}

// Deployments returns the configured deployments (not those made on demand by wildcard routes).
func (r *Router) Deployments() []*pipeline.Deployment {
	t := r.Table()
	var out []*pipeline.Deployment
	for _, name := range t.order {
		out = append(out, t.groups[name].Deployments...)
	}
	return out
}
