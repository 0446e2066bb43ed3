package router

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

func TestParsePolicy(t *testing.T) {
	t.Parallel()
	got, err := ParsePolicy(map[string]int{"InternalServerErrorRetries": 2, "ServiceUnavailableErrorRetries": 5,
		"RateLimitErrorRetries": 0}, "Retries")
	if err != nil {
		t.Fatal(err)
	}
	want := map[sdk.ErrorKind]int{sdk.KindInternal: 2, sdk.KindAPIConnection: 2, sdk.KindServiceUnavailable: 5,
		sdk.KindRateLimit: 0}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %v", got)
	}
	if _, err := ParsePolicy(map[string]int{"RateLimitErrorAllowedFails": 1}, "Retries"); err == nil ||
		!strings.Contains(err.Error(), "RateLimitErrorAllowedFails: not one of") {
		t.Errorf("a key of the other policy was accepted: %v", err)
	}
	// The guide's form, without the suffix.
	if got, err := ParsePolicy(map[string]int{"RateLimitError": 3, "AuthenticationError": 0}, "Retries"); err != nil ||
		got[sdk.KindRateLimit] != 3 || got[sdk.KindAuthentication] != 0 || len(got) != 3 {
		t.Errorf("bare class names: %v, %v", got, err)
	}
	if _, err := ParsePolicy(map[string]int{"TimeoutErrorRetries": -1}, "Retries"); err == nil {
		t.Error("a negative count was accepted")
	}
}

// TestRetryBudget: a group whose upstream always fails retries at most its banked ten retries plus a fifth of
// its requests, however many retries each request may make.
func TestRetryBudget(t *testing.T) {
	t.Parallel()
	fail := &sdk.Error{Kind: sdk.KindServiceUnavailable, Message: "down"}
	fails := make([]error, 10000)
	for i := range fails {
		fails[i] = fail
	}
	b := &backend{name: "b", fails: fails}
	r, _ := oneDeployment(b, Settings{NumRetries: 5, RetryAfter: time.Microsecond, DisableCooldowns: true})
	const requests = 100
	var wg sync.WaitGroup
	for i := 0; i < requests; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = route(context.Background(), r, chatCall("m"))
		}()
	}
	wg.Wait()
	retries := b.Calls() - requests
	if retries > 10+requests/5+1 {
		t.Fatalf("%d retries for %d requests: the budget did not hold", retries, requests)
	}
	if retries < 10 {
		t.Fatalf("only %d retries: the budget should allow its banked ten", retries)
	}
}

func TestMemoryStateMinutes(t *testing.T) {
	t.Parallel()
	m := NewMemoryState()
	now := time.Date(2026, 1, 1, 10, 0, 50, 0, time.UTC)
	m.now = func() time.Time { return now }
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if ok, _ := m.Reserve(ctx, "d", 3, 0, 10); !ok {
			t.Fatalf("request %d refused under rpm 3", i)
		}
	}
	ok, ra := m.Reserve(ctx, "d", 3, 0, 10)
	if ok || ra != 10*time.Second {
		t.Fatalf("4th request: ok %v, retry after %s; want refused, 10s", ok, ra)
	}
	if u := m.Usage(ctx, []string{"d"})[0]; u.Requests != 3 || u.Tokens != 30 {
		t.Fatalf("usage = %+v", u)
	}
	if ok, _ := m.Reserve(ctx, "e", 0, 25, 20); !ok {
		t.Fatal("the first request of a minute is always served under tpm")
	}
	if ok, _ := m.Reserve(ctx, "e", 0, 25, 20); ok {
		t.Fatal("tpm 25 let 40 tokens through")
	}
	now = now.Add(15 * time.Second) // the next minute
	if ok, _ := m.Reserve(ctx, "d", 3, 0, 10); !ok {
		t.Fatal("the new minute did not reset the count")
	}
}

func TestMemoryStateCooldown(t *testing.T) {
	t.Parallel()
	m := NewMemoryState()
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	ctx := context.Background()
	if m.Failed(ctx, "d", 1, 5*time.Second) {
		t.Fatal("the first failure of an allowed one cooled down")
	}
	if !m.Failed(ctx, "d", 1, 5*time.Second) {
		t.Fatal("the second failure did not cool down")
	}
	if cd := m.Cooldowns(ctx, []string{"d", "x"}); !cd[0].Equal(now.Add(5*time.Second)) || !cd[1].IsZero() {
		t.Fatalf("cooldowns = %v", cd)
	}
	now = now.Add(5 * time.Second)
	if cd := m.Cooldowns(ctx, []string{"d"}); !cd[0].IsZero() {
		t.Fatalf("still cooling down at its end: %v", cd)
	}
	m.Observe(ctx, "d", 10*time.Millisecond, 0)
	m.Observe(ctx, "d", 20*time.Millisecond, 100*time.Millisecond)
	if l := m.Latencies(ctx, []string{"d"})[0]; l.PerToken != 12*time.Millisecond || l.TTFT != 100*time.Millisecond {
		t.Fatalf("latency = %+v", l)
	}
}

// TestPickSkipsCooldownAndFull: cooling and full deployments are passed over; all of them cooling gives 429.
func TestPickSkipsCooldownAndFull(t *testing.T) {
	t.Parallel()
	a, b := onDeployment("a", "m", &backend{}), onDeployment("b", "m", &backend{})
	b.RPM = 1
	st := NewMemoryState()
	r := New(NewTable([]*pipeline.Deployment{a, b}, nil, nil), Settings{State: st})
	ctx := context.Background()
	st.Failed(ctx, "a", 0, time.Minute)
	g, _ := r.Table().Resolve("m")
	p := &plan{group: g}
	d, err := r.pick(ctx, chatCall("m"), p)
	if err != nil || d != b {
		t.Fatalf("pick = %v, %v; want b (a cools down)", d, err)
	}
	_, err = r.pick(ctx, chatCall("m"), &plan{group: g})
	if e := sdk.AsError(err); e == nil || e.Kind != sdk.KindRateLimit || e.RetryAfter <= 0 {
		t.Fatalf("err = %v, want a 429 with Retry-After (a cools down, b is full)", err)
	}
}
