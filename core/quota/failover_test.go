package quota

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// logBuffer collects log lines safely across goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

func newFailover(primary, fallback Counters, clk *fakeClock) (*Failover, *logBuffer) {
	logs := &logBuffer{}
	f := NewFailover(primary, fallback, slog.New(slog.NewTextHandler(logs, nil)))
	f.now = clk.Now
	return f, logs
}

// TestFailoverRedisDown: with Redis unreachable, requests are admitted and settled by the local fallback, and
// the outage is logged once.
func TestFailoverRedisDown(t *testing.T) {
	fallback, clk := newTestMemory()
	f, logs := newFailover(deadRedis(t), fallback, clk)
	s := Scope{ID: "key:f", Label: "key", Parallel: 1}
	tk := admit(t, f, reqAt(clk, s))
	if !f.Degraded() {
		t.Fatal("not degraded with the primary down")
	}
	deny(t, f, reqAt(clk, s), ReasonParallel, s.ID) // counted by the fallback
	clk.Add(2 * failoverRetry)                      // the next call tries Redis again, and fails again
	settle(t, f, tk, 10, 0.25)
	wantFloat(t, "fallback's spend", spend(t, fallback, s.ID, 0, 0), 0.25)
	settle(t, f, admit(t, f, reqAt(clk, s)), 0, 0) // the settlement freed the fallback's place in flight
	if n := logs.count("unreachable"); n != 1 {
		t.Fatalf("outage logged %d times, want once:\n%s", n, logs.buf.String())
	}
	if !strings.Contains(logs.buf.String(), "redis") {
		t.Fatalf("log does not name the error: %s", logs.buf.String())
	}
}

// flaky is Counters that fail with errDown while down, else delegate to a Memory; it counts the calls.
type flaky struct {
	*Memory
	down  atomic.Bool
	calls atomic.Int64
}

var errDown = errors.New("primary down")

func (p *flaky) Admit(ctx context.Context, r Request) (*Ticket, error) {
	p.calls.Add(1)
	if p.down.Load() {
		return nil, errDown
	}
	return p.Memory.Admit(ctx, r)
}

func (p *flaky) Settle(ctx context.Context, t *Ticket, tokens int64, cost float64) error {
	p.calls.Add(1)
	if p.down.Load() {
		t.MarkSettled()
		return errDown
	}
	return p.Memory.Settle(ctx, t, tokens, cost)
}

func (p *flaky) Spend(ctx context.Context, id string, period int64, baseline float64) (float64, error) {
	p.calls.Add(1)
	if p.down.Load() {
		return 0, errDown
	}
	return p.Memory.Spend(ctx, id, period, baseline)
}

func (p *flaky) SetSpend(ctx context.Context, id string, period int64, v float64) error {
	p.calls.Add(1)
	if p.down.Load() {
		return errDown
	}
	return p.Memory.SetSpend(ctx, id, period, v)
}

func TestFailoverOutageAndRecovery(t *testing.T) {
	fallback, clk := newTestMemory()
	primary := &flaky{Memory: NewMemory()}
	primary.Memory.now = clk.Now
	f, logs := newFailover(primary, fallback, clk)
	s := Scope{ID: "key:r", Label: "key", RPM: 1, Parallel: 5}

	// A denial is an answer, not an outage.
	onPrimary := admit(t, f, reqAt(clk, s))
	deny(t, f, reqAt(clk, s), ReasonRPM, s.ID)
	if f.Degraded() {
		t.Fatal("degraded by a denial")
	}

	// A caller that went away is not an outage either.
	primary.down.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Admit(ctx, reqAt(clk, s)); !errors.Is(err, errDown) || f.Degraded() {
		t.Fatalf("cancelled admit: %v, degraded %v", err, f.Degraded())
	}

	onFallback := admit(t, f, reqAt(clk, s))
	if !f.Degraded() {
		t.Fatal("not degraded")
	}
	calls := primary.calls.Load()
	admit(t, f, Request{Scopes: []Scope{{ID: "key:other"}}, Now: clk.Now()})
	wantFloat(t, "spend while degraded", spend(t, f, s.ID, 0, 0), 0)
	if primary.calls.Load() != calls {
		t.Fatal("primary tried again within the retry interval")
	}

	// Recovery: the first call after the interval tries the primary, which answers.
	primary.down.Store(false)
	clk.Add(2 * failoverRetry)
	admit(t, f, reqAt(clk, Scope{ID: "key:third"}))
	if f.Degraded() || logs.count("unreachable") != 1 || logs.count("reachable again") != 1 {
		t.Fatalf("degraded %v after recovery; logs:\n%s", f.Degraded(), logs.buf.String())
	}

	// Each ticket settles where it was admitted.
	settle(t, f, onFallback, 0, 0.5)
	settle(t, f, onPrimary, 0, 0.25)
	wantFloat(t, "primary's spend", spend(t, primary.Memory, s.ID, 0, 0), 0.25)
	wantFloat(t, "fallback's spend", spend(t, fallback, s.ID, 0, 0), 0.5)
	settle(t, f, onFallback, 0, 0.5) // a second settle does nothing
	wantFloat(t, "fallback's spend", spend(t, fallback, s.ID, 0, 0), 0.5)

	// A settlement the primary cannot take is an error, and degrades.
	tk := admit(t, f, reqAt(clk, Scope{ID: "key:fourth"}))
	primary.down.Store(true)
	if err := f.Settle(context.Background(), tk, 0, 0); !errors.Is(err, errDown) || !f.Degraded() {
		t.Fatalf("settle on a failed primary: %v, degraded %v", err, f.Degraded())
	}
}

func TestFailoverSetSpend(t *testing.T) {
	fallback, clk := newTestMemory()
	primary := &flaky{Memory: NewMemory()}
	f, _ := newFailover(primary, fallback, clk)
	setSpend(t, f, "team:s", 0, 2)
	wantFloat(t, "primary", spend(t, primary.Memory, "team:s", 0, 0), 2)
	wantFloat(t, "fallback", spend(t, fallback, "team:s", 0, 0), 2)
	primary.down.Store(true)
	setSpend(t, f, "team:s", 0, 3)
	wantFloat(t, "spend while degraded", spend(t, f, "team:s", 0, 0), 3)
	if !f.Degraded() {
		t.Fatal("not degraded")
	}
}

// TestFailoverKeepsInnerBackend: counters that use Ticket.Backend get theirs back when they settle.
func TestFailoverKeepsInnerBackend(t *testing.T) {
	clk := newClock()
	inner := &backendCounters{Memory: NewMemory()}
	f, _ := newFailover(inner, NewMemory(), clk)
	tk := admit(t, f, reqAt(clk, Scope{ID: "k"}))
	settle(t, f, tk, 0, 0)
	if inner.seen != "mine" {
		t.Fatalf("inner counters saw backend %v", inner.seen)
	}
	settle(t, f, &Ticket{}, 0, 0) // a ticket from elsewhere goes to the primary
}

type backendCounters struct {
	*Memory
	seen any
}

func (b *backendCounters) Admit(ctx context.Context, r Request) (*Ticket, error) {
	t, err := b.Memory.Admit(ctx, r)
	if t != nil {
		t.Backend = "mine"
	}
	return t, err
}

func (b *backendCounters) Settle(ctx context.Context, t *Ticket, tokens int64, cost float64) error {
	if t.Scopes != nil {
		b.seen = t.Backend
	}
	return b.Memory.Settle(ctx, t, tokens, cost)
}
