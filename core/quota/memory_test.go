package quota

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestMemory() (*Memory, *fakeClock) {
	m := NewMemory()
	clk := newClock()
	m.now = clk.Now
	return m, clk
}

func TestMemorySweep(t *testing.T) {
	m, clk := newTestMemory()
	p := clk.period(30)
	idle := Scope{ID: "key:idle", Label: "key", Budget: usd(1), Period: p, Baseline: 0.1}
	busy := Scope{ID: "key:busy", Label: "key", Parallel: 1}
	settle(t, m, admit(t, m, reqAt(clk, idle)), 0, 0.4)
	admit(t, m, reqAt(clk, busy))
	if m.Len() != 2 {
		t.Fatalf("%d scopes, want 2", m.Len())
	}
	if n := m.Sweep(time.Hour); n != 0 {
		t.Fatalf("swept %d scopes used just now", n)
	}
	clk.Add(90 * time.Second)
	if n := m.Sweep(time.Second); n != 0 {
		t.Fatalf("swept %d scopes used in the last two minutes", n)
	}
	clk.Add(2 * time.Hour)
	if n := m.Sweep(time.Hour); n != 1 {
		t.Fatalf("swept %d scopes, want the idle one", n)
	}
	// The busy scope kept its request in flight; the idle one starts again from its baseline.
	deny(t, m, reqAt(clk, busy), ReasonParallel, busy.ID)
	wantFloat(t, "spend after the sweep", spend(t, m, idle.ID, p, 0.5), 0.5)
}

// TestMemorySweepWhileAdmitting: scopes dropped by a sweep while admissions wait on them are looked up again, so
// no admission counts in a dropped state (which would let more requests than Parallel run at once), and nothing
// deadlocks.
func TestMemorySweepWhileAdmitting(t *testing.T) {
	m, clk := newTestMemory()
	scopes := []Scope{{ID: "a", Parallel: 1}, {ID: "b", Parallel: 1}, {ID: "c", Parallel: 1}}
	var holders [3]atomic.Int64
	stop := make(chan struct{})
	var sweeper sync.WaitGroup
	sweeper.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				m.sweep(math.MaxInt64) // everything idle is old
			}
		}
	})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := (g + i) % len(scopes)
				tk, err := m.Admit(context.Background(), reqAt(clk, scopes[k]))
				if err != nil {
					continue // another goroutine holds the scope
				}
				if n := holders[k].Add(1); n > 1 {
					t.Errorf("%d requests in flight in scope %s, limit 1", n, scopes[k].ID)
				}
				holders[k].Add(-1)
				_ = m.Settle(context.Background(), tk, 1, 0.01)
			}
		})
	}
	wg.Wait()
	close(stop)
	sweeper.Wait()
	for _, s := range scopes {
		admit(t, m, reqAt(clk, s))
		deny(t, m, reqAt(clk, s), ReasonParallel, s.ID)
	}
}

// TestMemorySweptWhileLocking: a scope dropped between an admission's lookup and its lock is looked up again;
// the request counts in the live state, not the dropped one.
func TestMemorySweptWhileLocking(t *testing.T) {
	m, clk := newTestMemory()
	s := Scope{ID: "key:swept", Parallel: 1}
	settle(t, m, admit(t, m, reqAt(clk, s)), 0, 0)
	swept := 0
	m.lookedUp = func() {
		if swept == 0 {
			swept = m.sweep(math.MaxInt64)
		}
	}
	admit(t, m, reqAt(clk, s))
	if swept != 1 || m.Len() != 1 {
		t.Fatalf("swept %d, %d scopes held; want 1 and 1", swept, m.Len())
	}
	deny(t, m, reqAt(clk, s), ReasonParallel, s.ID)
}

// TestMemoryEarlierPeriod: an admission for a period earlier than the scope holds (a stale budget reset) is
// checked against the current period and reserves nothing in it.
func TestMemoryEarlierPeriod(t *testing.T) {
	m, clk := newTestMemory()
	p1, p2 := clk.period(30), clk.period(60)
	s := Scope{ID: "team:t", Budget: usd(1), Period: p2, Baseline: 0.95}
	r := reqAt(clk, s)
	r.Reserve = 0.5
	wantFloat(t, "reservation", admit(t, m, r).Reserved[0], 0.05)
	r.Scopes[0].Period, r.Scopes[0].Baseline = p1, 0
	deny(t, m, r, ReasonBudget, s.ID)
	setSpend(t, m, s.ID, p2, 0)
	tk := admit(t, m, r)
	if tk.Reserved[0] != 0 {
		t.Fatalf("stale admission reserved %v", tk.Reserved[0])
	}
	settle(t, m, tk, 0, 0.3)
	wantFloat(t, "current period's spend", spend(t, m, s.ID, p2, 0), 0)
	wantFloat(t, "earlier period's spend (the baseline)", spend(t, m, s.ID, p1, 0.7), 0.7)
	setSpend(t, m, s.ID, p1, 0.9) // ignored: the period is gone
	wantFloat(t, "current period's spend", spend(t, m, s.ID, p2, 0), 0)

	// Period 0 replaces a dated period: the budget stopped resetting.
	r.Scopes[0].Period, r.Scopes[0].Baseline = 0, 0.6
	wantFloat(t, "reservation after the switch to period 0", admit(t, m, r).Reserved[0], 0.4)
}

// TestMemoryDuplicateScope: a scope named twice in one request is locked once (no self-deadlock).
func TestMemoryDuplicateScope(t *testing.T) {
	m, clk := newTestMemory()
	s := Scope{ID: "key:dup", RPM: 10}
	tk := admit(t, m, reqAt(clk, s, Scope{ID: "a"}, s))
	settle(t, m, tk, 0, 0)
}

// TestMemoryManyScopes exercises the path for more scopes than the stack buffers hold.
func TestMemoryManyScopes(t *testing.T) {
	m, clk := newTestMemory()
	var scopes []Scope
	for i := range 12 {
		scopes = append(scopes, Scope{ID: fmt.Sprintf("s%02d", 11-i), RPM: 1, Budget: usd(1)})
	}
	r := reqAt(clk, scopes...)
	r.Reserve = 0.2
	tk := admit(t, m, r)
	for i, v := range tk.Reserved {
		wantFloat(t, fmt.Sprintf("reservation %d", i), v, 0.2)
	}
	deny(t, m, r, ReasonRPM, "s11")
	settle(t, m, tk, 1, 0.1)
}

func TestMemoryAllocations(t *testing.T) {
	m, clk := newTestMemory()
	r := benchRequest(clk)
	ctx := context.Background()
	allocs := testing.AllocsPerRun(200, func() {
		tk, err := m.Admit(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		_ = m.Settle(ctx, tk, 10, 0.001)
	})
	if allocs > 1 {
		t.Fatalf("%.1f allocations per admit and settle, want at most 1 (the ticket)", allocs)
	}
}

func benchRequest(clk *fakeClock) Request {
	return Request{
		Scopes: []Scope{
			{ID: "key:0123456789abcdef", Label: "key", RPM: 1 << 40, TPM: 1 << 50, Parallel: 1 << 20,
				Budget: usd(1e12)},
			{ID: "team:platform", Label: "team", RPM: 1 << 40, Budget: usd(1e12), Period: clk.period(30)},
			{ID: "key:0123456789abcdef:model:gpt-4o", Label: "key model gpt-4o", TPM: 1 << 50},
		},
		Reserve: 0.01,
		Now:     clk.Now(),
	}
}

// BenchmarkMemoryAdmit measures an admission and settlement drawing on three scopes, from parallel callers
// sharing them (the contended case: one team's traffic).
func BenchmarkMemoryAdmit(b *testing.B) {
	m, clk := newTestMemory()
	r := benchRequest(clk)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tk, err := m.Admit(ctx, r)
			if err != nil {
				b.Fatal(err)
			}
			_ = m.Settle(ctx, tk, 10, 0.001)
		}
	})
}
