package quota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// backend opens counters for the conformance suite: replicas counters sharing one set of counts (one Memory
// serves as all its own replicas), all on clk.
type backend struct {
	name string
	open func(t *testing.T, clk *fakeClock, replicas int) []Counters
}

var backends = []backend{
	{"memory", func(_ *testing.T, clk *fakeClock, replicas int) []Counters {
		m := NewMemory()
		m.now = clk.Now
		out := make([]Counters, replicas)
		for i := range out {
			out[i] = m
		}
		return out
	}},
	{"redis", func(t *testing.T, clk *fakeClock, replicas int) []Counters {
		prefix := redisPrefix(t, redisClient(t))
		out := make([]Counters, replicas)
		for i := range out {
			r := NewRedis(redisClient(t), prefix)
			r.now = clk.Now
			out[i] = r
		}
		return out
	}},
	{"leased", func(t *testing.T, clk *fakeClock, replicas int) []Counters {
		prefix := redisPrefix(t, redisClient(t))
		g := &leasedGroup{}
		for range replicas {
			r := NewRedis(redisClient(t), prefix)
			r.now = clk.Now
			x := newLeased(r, nil)
			x.now = clk.Now // before the flusher starts, which reads it
			x.start()
			t.Cleanup(func() { _ = x.Close(context.Background()) })
			g.all = append(g.all, x)
		}
		out := make([]Counters, replicas)
		for i := range out {
			out[i] = leasedReplica{Leased: g.all[i], group: g}
		}
		return out
	}},
}

// leasedGroup is replicas of Leased sharing one Redis; leasedReplica is one of them whose Spend first sends what
// every replica has settled, since replicas see each other's spend only once it is sent (every 50 ms).
type leasedGroup struct{ all []*Leased }

type leasedReplica struct {
	*Leased
	group *leasedGroup
}

func (r leasedReplica) Spend(ctx context.Context, id string, period int64, baseline float64) (float64, error) {
	for _, x := range r.group.all {
		if err := x.sendSettled(); err != nil {
			return 0, err
		}
	}
	return r.Leased.Spend(ctx, id, period, baseline)
}

// conformance is the suite every Counters passes: each case gets fresh counters and a clock.
var conformance = []struct {
	name string
	run  func(t *testing.T, c Counters, clk *fakeClock)
}{
	{"rpm refuses at its bound", testRPM},
	{"tpm refuses once the window's tokens reach it", testTPM},
	{"parallel counts in-flight requests until settled", testParallel},
	{"budget reserves at most the headroom", testBudgetReservations},
	{"spend is counted without a budget", testUnbudgetedSpend},
	{"a new period starts from its baseline", testNewPeriod},
	{"the baseline seeds a period once", testBaselineOnce},
	{"set spend overwrites and spend reads", testSetSpend},
	{"a denial leaves every scope untouched", testAllOrNothing},
	{"windows roll over each minute", testRollover},
	{"a second settle does nothing", testDoubleSettle},
	{"remaining is the tightest limit", testRemaining},
	{"a request without scopes is admitted", testNoScopes},
	{"odd amounts survive the round trip", testAmounts},
	{"settling drives no counter below zero", testSettleNotNegative},
}

func TestConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range conformance {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					clk := newClock()
					tc.run(t, b.open(t, clk, 1)[0], clk)
				})
			}
			for _, replicas := range []int{1, 2} {
				t.Run(fmt.Sprintf("concurrent requests cannot overshoot a budget/%d replica(s)", replicas),
					func(t *testing.T) {
						t.Parallel()
						clk := newClock()
						testBudgetRace(t, b.open(t, clk, replicas), clk)
					})
			}
		})
	}
}

func testRPM(t *testing.T, c Counters, clk *fakeClock) {
	s := Scope{ID: "key:rpm", Label: "key", RPM: 3}
	var tickets []*Ticket
	for i := range 3 {
		tk := admit(t, c, reqAt(clk, s))
		want := Remaining{LimitRequests: 3, RemainingRequests: int64(2 - i), Reset: clk.reset()}
		if tk.Remaining != want {
			t.Fatalf("request %d: remaining %+v, want %+v", i+1, tk.Remaining, want)
		}
		if tk.Minute != clk.minute() {
			t.Fatalf("ticket minute %d, want %d", tk.Minute, clk.minute())
		}
		tickets = append(tickets, tk)
	}
	d := deny(t, c, reqAt(clk, s), ReasonRPM, s.ID)
	if d.Remaining.LimitRequests != 3 || d.Remaining.RemainingRequests != 0 || d.Scope.Label != "key" {
		t.Fatalf("denial %+v", d)
	}
	if d.Error() != "rpm limit of key" {
		t.Fatalf("denial message %q", d.Error())
	}
	for _, tk := range tickets {
		settle(t, c, tk, 0, 0)
	}
	deny(t, c, reqAt(clk, s), ReasonRPM, s.ID) // settling frees no place in the window
}

func testTPM(t *testing.T, c Counters, clk *fakeClock) {
	s := Scope{ID: "key:tpm", Label: "key", TPM: 100}
	settle(t, c, admit(t, c, reqAt(clk, s)), 99, 0)
	tk := admit(t, c, reqAt(clk, s))
	if tk.Remaining.LimitTokens != 100 || tk.Remaining.RemainingTokens != 1 {
		t.Fatalf("remaining %+v, want 1 of 100 tokens", tk.Remaining)
	}
	settle(t, c, tk, 1, 0)
	d := deny(t, c, reqAt(clk, s), ReasonTPM, s.ID)
	if d.Remaining.LimitTokens != 100 || d.Remaining.RemainingTokens != 0 {
		t.Fatalf("denial remaining %+v", d.Remaining)
	}
}

func testParallel(t *testing.T, c Counters, clk *fakeClock) {
	s := Scope{ID: "key:par", Label: "key", Parallel: 2}
	first := admit(t, c, reqAt(clk, s))
	admit(t, c, reqAt(clk, s))
	deny(t, c, reqAt(clk, s), ReasonParallel, s.ID)
	settle(t, c, first, 10, 0)
	admit(t, c, reqAt(clk, s))
	deny(t, c, reqAt(clk, s), ReasonParallel, s.ID)
}

func testBudgetReservations(t *testing.T, c Counters, clk *fakeClock) {
	p := clk.period(30)
	s := Scope{ID: "team:b", Label: "team", Budget: usd(1), Period: p, Baseline: 0.2}
	r := reqAt(clk, s)
	r.Reserve = 0.5
	t1 := admit(t, c, r)
	wantFloat(t, "first reservation", t1.Reserved[0], 0.5)
	// Another whole reservation does not fit beside the first: refused while it is outstanding.
	d := deny(t, c, r, ReasonBudget, s.ID)
	wantFloat(t, "denial spend", d.Spend, 0.2)
	wantFloat(t, "denial reserved", d.Reserved, 0.5)

	settle(t, c, t1, 0, 0.1) // the reservation of 0.5 becomes a cost of 0.1
	wantFloat(t, "spend", spend(t, c, s.ID, p, 0), 0.3)
	t2 := admit(t, c, r)
	wantFloat(t, "second reservation", t2.Reserved[0], 0.5)
	deny(t, c, r, ReasonBudget, s.ID)

	settle(t, c, t2, 0, 0.6) // cost more than reserved
	wantFloat(t, "spend", spend(t, c, s.ID, p, 0), 0.9)
	// Nothing is reserved: one request is admitted on the headroom alone, reserving what is left.
	t3 := admit(t, c, r)
	wantFloat(t, "capped reservation (the headroom)", t3.Reserved[0], 0.1)
	deny(t, c, r, ReasonBudget, s.ID)
	settle(t, c, t3, 0, 0.05)
	wantFloat(t, "spend", spend(t, c, s.ID, p, 0), 0.95)

	// Small reservations that fit side by side are admitted together.
	r.Reserve = 0.01
	wantFloat(t, "reservation", admit(t, c, r).Reserved[0], 0.01)
	wantFloat(t, "reservation beside it", admit(t, c, r).Reserved[0], 0.01)
}

func testUnbudgetedSpend(t *testing.T, c Counters, clk *fakeClock) {
	s := Scope{ID: "user:u", Label: "user", Baseline: 2}
	r := reqAt(clk, s)
	r.Reserve = 5
	tk := admit(t, c, r)
	if tk.Reserved[0] != 0 {
		t.Fatalf("reserved %v without a budget", tk.Reserved[0])
	}
	settle(t, c, tk, 0, 0.5)
	wantFloat(t, "spend", spend(t, c, s.ID, 0, 0), 2.5)
}

func testNewPeriod(t *testing.T, c Counters, clk *fakeClock) {
	p1, p2 := clk.period(30), clk.period(60)
	old := Scope{ID: "key:np", Label: "key", Budget: usd(1), Period: p1, Baseline: 0.3}
	r := reqAt(clk, old)
	r.Reserve = 0.5
	t1 := admit(t, c, r)

	cur := old
	cur.Period, cur.Baseline = p2, 0.05
	r = reqAt(clk, cur)
	r.Reserve = 0.5
	t2 := admit(t, c, r)
	wantFloat(t, "reservation in the new period", t2.Reserved[0], 0.5)
	wantFloat(t, "new period's spend", spend(t, c, cur.ID, p2, 0.9), 0.05)

	settle(t, c, t1, 0, 0.2) // the old period's cost does not count in the new one
	wantFloat(t, "new period's spend after the old ticket settled", spend(t, c, cur.ID, p2, 0.9), 0.05)
	settle(t, c, t2, 0, 0.1)
	wantFloat(t, "new period's spend", spend(t, c, cur.ID, p2, 0.9), 0.15)
}

func testBaselineOnce(t *testing.T, c Counters, clk *fakeClock) {
	p := clk.period(30)
	s := Scope{ID: "team:once", Label: "team", Budget: usd(1), Period: p, Baseline: 0.3}
	settle(t, c, admit(t, c, reqAt(clk, s)), 0, 0.1)
	wantFloat(t, "spend", spend(t, c, s.ID, p, 0.9), 0.4)

	s.Baseline = 0.9 // a store lagging behind, or ahead: the counter is authoritative now
	r := reqAt(clk, s)
	r.Reserve = 0.5
	wantFloat(t, "reservation", admit(t, c, r).Reserved[0], 0.5)
}

func testSetSpend(t *testing.T, c Counters, clk *fakeClock) {
	p := clk.period(30)
	wantFloat(t, "spend seeded by a read", spend(t, c, "cust:c", p, 0.7), 0.7)
	wantFloat(t, "spend read again", spend(t, c, "cust:c", p, 0.1), 0.7)

	setSpend(t, c, "cust:c", p, 0.95)
	wantFloat(t, "spend after set", spend(t, c, "cust:c", p, 0), 0.95)
	s := Scope{ID: "cust:c", Label: "customer", Budget: usd(1), Period: p, Baseline: 0.1}
	r := reqAt(clk, s)
	r.Reserve = 0.1
	tk := admit(t, c, r)
	wantFloat(t, "reservation capped at the headroom", tk.Reserved[0], 0.05)

	setSpend(t, c, "cust:c", p, 1)
	d := deny(t, c, r, ReasonBudget, s.ID)
	wantFloat(t, "denial spend", d.Spend, 1)
	setSpend(t, c, "cust:c", p, 0.2)
	wantFloat(t, "reservation after a reset", admit(t, c, r).Reserved[0], 0.1)

	setSpend(t, c, "cust:new", 0, 3) // never seen: the set value wins over a later baseline
	wantFloat(t, "spend of a scope set first", spend(t, c, "cust:new", 0, 1), 3)
}

func testAllOrNothing(t *testing.T, c Counters, clk *fakeClock) {
	p := clk.period(30)
	a := Scope{ID: "key:a", Label: "key", RPM: 10, TPM: 1000, Parallel: 2, Budget: usd(1), Period: p}
	b := Scope{ID: "team:b", Label: "team", RPM: 1}
	both := reqAt(clk, a, b)
	both.Reserve = 0.4
	admit(t, c, both)
	d := deny(t, c, both, ReasonRPM, b.ID)
	if d.Remaining.LimitRequests != 1 || d.Remaining.RemainingRequests != 0 {
		t.Fatalf("denial remaining %+v, want the team's exhausted limit", d.Remaining)
	}
	if d.Spend != 0 || d.Reserved != 0 {
		t.Fatalf("denial by an unbudgeted scope reports spend %v reserved %v", d.Spend, d.Reserved)
	}

	// The denied request counted nowhere: not in a's window, nor in flight, nor reserved.
	alone := reqAt(clk, a)
	alone.Reserve = 0.4
	tk := admit(t, c, alone)
	if tk.Remaining.RemainingRequests != 8 {
		t.Fatalf("key's remaining requests %d, want 8", tk.Remaining.RemainingRequests)
	}
	wantFloat(t, "key's reservation", tk.Reserved[0], 0.4)

	// Both scopes refuse now: the first in the request's order is reported.
	deny(t, c, both, ReasonParallel, a.ID)
	deny(t, c, reqAt(clk, b, a), ReasonRPM, b.ID)
}

func testRollover(t *testing.T, c Counters, clk *fakeClock) {
	s := Scope{ID: "key:roll", Label: "key", RPM: 1, TPM: 100}
	tk := admit(t, c, reqAt(clk, s))
	deny(t, c, reqAt(clk, s), ReasonRPM, s.ID)

	clk.Add(time.Minute)
	settle(t, c, tk, 100, 0) // tokens count in the minute the request ends
	deny(t, c, reqAt(clk, s), ReasonTPM, s.ID)

	clk.Add(time.Minute)
	tk = admit(t, c, reqAt(clk, s))
	if tk.Remaining.Reset != clk.reset() || tk.Remaining.RemainingTokens != 100 {
		t.Fatalf("remaining %+v in a fresh window", tk.Remaining)
	}
}

func testDoubleSettle(t *testing.T, c Counters, clk *fakeClock) {
	s := Scope{ID: "key:dbl", Label: "key", Parallel: 1, Budget: usd(10)}
	r := reqAt(clk, s)
	r.Reserve = 1
	tk := admit(t, c, r)
	settle(t, c, tk, 10, 0.5)
	settle(t, c, tk, 10, 0.5)
	wantFloat(t, "spend", spend(t, c, s.ID, 0, 0), 0.5)
	wantFloat(t, "reservation", admit(t, c, r).Reserved[0], 1)
	deny(t, c, r, ReasonParallel, s.ID) // one request in flight, not zero (or minus one)
	settle(t, c, nil, 1, 1)
}

func testRemaining(t *testing.T, c Counters, clk *fakeClock) {
	scopes := []Scope{
		{ID: "a", Label: "key", RPM: 10},
		{ID: "b", Label: "team", RPM: 3, TPM: 1000},
		{ID: "c", Label: "user", RPM: 4, TPM: 50},
		{ID: "d", Label: "customer"},
	}
	tk := admit(t, c, reqAt(clk, scopes...))
	want := Remaining{LimitRequests: 3, RemainingRequests: 2, LimitTokens: 50, RemainingTokens: 50, Reset: clk.reset()}
	if tk.Remaining != want {
		t.Fatalf("remaining %+v, want %+v", tk.Remaining, want)
	}
	settle(t, c, tk, 20, 0)
	admit(t, c, reqAt(clk, scopes[1])) // b: 2 requests, c: 1
	tk = admit(t, c, reqAt(clk, scopes...))
	// b has 0 left, c 2 of 4; c has 30 tokens left of 50, b 980 of 1000.
	want = Remaining{LimitRequests: 3, RemainingRequests: 0, LimitTokens: 50, RemainingTokens: 30, Reset: clk.reset()}
	if tk.Remaining != want {
		t.Fatalf("remaining %+v, want %+v", tk.Remaining, want)
	}
	d := deny(t, c, reqAt(clk, scopes...), ReasonRPM, "b")
	if d.Remaining != want {
		t.Fatalf("denial remaining %+v, want %+v", d.Remaining, want)
	}
	// Equal remaining requests (4 of 5, 4 of 4): the smaller limit is reported.
	e, f := Scope{ID: "e", RPM: 5}, Scope{ID: "f", RPM: 4}
	admit(t, c, reqAt(clk, e))
	tk = admit(t, c, reqAt(clk, e, f, Scope{ID: "g"}))
	if tk.Remaining.LimitRequests != 4 || tk.Remaining.RemainingRequests != 3 || tk.Remaining.LimitTokens != 0 {
		t.Fatalf("remaining %+v, want 3 of 4 requests and no token limit", tk.Remaining)
	}
}

func testNoScopes(t *testing.T, c Counters, clk *fakeClock) {
	tk := admit(t, c, Request{Now: clk.Now(), Reserve: 1})
	if len(tk.Reserved) != 0 || tk.Remaining.LimitRequests != 0 || tk.Remaining.LimitTokens != 0 {
		t.Fatalf("ticket %+v", tk)
	}
	settle(t, c, tk, 5, 1)
}

func testAmounts(t *testing.T, c Counters, clk *fakeClock) {
	p := clk.period(30)
	s := Scope{ID: "key:amt", Label: "key", Budget: usd(123456.789), Period: p, Baseline: 1e-7}
	r := reqAt(clk, s)
	r.Reserve = 3e-8
	tk := admit(t, c, r)
	wantFloat(t, "tiny reservation", tk.Reserved[0], 3e-8)
	settle(t, c, tk, 0, 2.5e-7)
	wantFloat(t, "tiny spend", spend(t, c, s.ID, p, 0), 3.5e-7)
	setSpend(t, c, s.ID, p, 123456.789-0.001)
	r.Reserve = 1
	tk = admit(t, c, r)
	if got := tk.Reserved[0]; got < 0.001-1e-6 || got > 0.001+1e-6 {
		t.Fatalf("reservation %v, want the last 0.001 of the budget", got)
	}

	// Negative and non-finite amounts count as zero.
	r.Scopes[0] = Scope{ID: "key:neg", Budget: usd(1), Period: p}
	r.Reserve = -3
	tk = admit(t, c, r)
	if tk.Reserved[0] != 0 {
		t.Fatalf("negative reserve reserved %v", tk.Reserved[0])
	}
	settle(t, c, tk, -5, -1)
	wantFloat(t, "spend after a negative cost", spend(t, c, "key:neg", p, 0), 0)
}

// testSettleNotNegative: a ticket these counters never admitted (or whose counts expired) settles without
// driving in-flight counts or reservations below zero.
func testSettleNotNegative(t *testing.T, c Counters, clk *fakeClock) {
	s := Scope{ID: "key:stray", Label: "key", Parallel: 1, Budget: usd(1)}
	stray := &Ticket{Scopes: []Scope{s}, Reserved: []float64{0.5}, Minute: clk.minute()}
	settle(t, c, stray, 0, 0.1)
	r := reqAt(clk, s)
	r.Reserve = 2
	wantFloat(t, "reservation (all the headroom)", admit(t, c, r).Reserved[0], 0.9)
	deny(t, c, r, ReasonParallel, s.ID)
}

// testBudgetRace: 300 requests, each reserving and then costing 0.01, race for the last 0.50 of a budget of
// 1.00; the budget may be overshot by at most one request's cost.
func testBudgetRace(t *testing.T, replicas []Counters, clk *fakeClock) {
	p := clk.period(30)
	s := Scope{ID: "team:race", Label: "team", Budget: usd(1), Period: p, Baseline: 0.5}
	var wg sync.WaitGroup
	errs := make(chan error, 300)
	var mu sync.Mutex
	admitted := 0
	for i := range 300 {
		c := replicas[i%len(replicas)]
		wg.Go(func() {
			ctx := context.Background()
			tk, err := c.Admit(ctx, Request{Scopes: []Scope{s}, Reserve: 0.01, Now: clk.Now()})
			var d *Denial
			if errors.As(err, &d) {
				return
			}
			if err == nil {
				mu.Lock()
				admitted++
				mu.Unlock()
				err = c.Settle(ctx, tk, 10, 0.01)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := spend(t, replicas[0], s.ID, p, 0)
	if got > 1.01+1e-9 || got < 0.99-1e-9 {
		t.Fatalf("final spend %.6f after %d admissions, want within 1.00 ± 0.01", got, admitted)
	}
	if admitted < 49 || admitted > 51 {
		t.Fatalf("%d admitted, want about 50", admitted)
	}
}
