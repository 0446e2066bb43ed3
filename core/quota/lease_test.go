package quota

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// leasedReplicas returns n Leased over one Redis prefix, on clk, flushing only when the test says so.
func leasedReplicas(t *testing.T, clk *fakeClock, n int) []*Leased {
	t.Helper()
	client := redisClient(t)
	prefix := redisPrefix(t, client)
	out := make([]*Leased, n)
	for i := range out {
		r := NewRedis(redisClient(t), prefix)
		r.now = clk.Now
		x := newLeased(r, nil)
		x.now = clk.Now
		t.Cleanup(func() { _ = x.Close(context.Background()) })
		out[i] = x
	}
	return out
}

// redisValue reads one of the counters' keys as a number (0 when missing).
func redisValue(t *testing.T, x *Leased, id, kind string, n int64, withN bool) float64 {
	t.Helper()
	v, err := x.r.client.Get(context.Background(), x.r.key(id, kind, n, withN)).Float64()
	if err != nil && err.Error() != "redis: nil" {
		t.Fatal(err)
	}
	return v
}

// Once a lease is granted, admissions and settlements are made in memory: a thousand requests cost a few
// round trips, not two thousand.
func TestLeasedAdmitsWithoutRoundTrips(t *testing.T) {
	clk := newClock()
	x := leasedReplicas(t, clk, 1)[0]
	s := Scope{ID: "key:fast", Label: "key", RPM: 1_000_000, TPM: 1_000_000_000, Budget: usd(1000), Period: clk.period(30)}
	const n = 1000
	for i := range n {
		tk := admit(t, x, Request{Scopes: []Scope{s}, Reserve: 0.001, Now: clk.Now()})
		settle(t, x, tk, 10, 0.0005)
		if i%100 == 99 {
			x.flush() // what the flusher does every 50 ms: sends counts, tops the lease up as the rate asks
		}
	}
	if p := x.r.batch.pipelines.Load(); p > 60 {
		t.Fatalf("%d round trips for %d requests, want few", p, n)
	}
	if err := x.sendSettled(); err != nil {
		t.Fatal(err)
	}
	wantFloat(t, "spend in Redis", redisValue(t, x, s.ID, "spend", s.Period, true), n*0.0005)
	if got := redisValue(t, x, s.ID, "tpm", clk.minute(), true); got != n*10 {
		t.Fatalf("window tokens %v, want %d", got, n*10)
	}
	// Counted requests: the n admitted plus what the lease holds unused, never fewer.
	x.leases.Range(func(_, v any) bool {
		l := v.(*lease)
		if got := redisValue(t, x, s.ID, "rpm", clk.minute(), true); int64(got) != n+l.reqs {
			t.Fatalf("window requests %v, want %d admitted + %d leased", got, n, l.reqs)
		}
		return true
	})
	// Idle, the lease is given back: Redis holds exactly what was used.
	minute := clk.minute()
	clk.Add(2 * leaseIdle)
	x.flush()
	if got := redisValue(t, x, s.ID, "rpm", minute, true); got != n && clk.minute() == minute {
		t.Fatalf("window requests after giving back %v, want %d", got, n)
	}
	wantFloat(t, "reserved after giving back", redisValue(t, x, s.ID, "reserved", s.Period, true), 0)
	if got := redisValue(t, x, s.ID, "inflight", 0, false); got != 0 {
		t.Fatalf("in flight after giving back %v, want 0", got)
	}
	x.flush()
	if _, ok := x.leases.Load(s.ID); ok {
		t.Fatal("an idle, empty lease stays in the map")
	}
}

// Replicas racing for a limit never admit more than it allows, and refuse little before it.
func TestLeasedReplicasNeverOvershoot(t *testing.T) {
	clk := newClock()
	xs := leasedReplicas(t, clk, 3)
	s := Scope{ID: "key:shared", Label: "key", RPM: 3000}
	var admitted sync.WaitGroup
	var mu sync.Mutex
	count := 0
	for i := range 6 {
		x := xs[i%len(xs)]
		admitted.Go(func() {
			for range 800 {
				tk, err := x.Admit(context.Background(), reqAt(clk, s))
				var d *Denial
				if errors.As(err, &d) {
					continue
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				count++
				mu.Unlock()
				if err := x.Settle(context.Background(), tk, 1, 0); err != nil {
					t.Error(err)
				}
			}
		})
	}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				for _, x := range xs {
					x.flush()
				}
			}
		}
	}()
	admitted.Wait()
	close(stop)
	if count > 3000 {
		t.Fatalf("%d admitted, limit 3000", count)
	}
	// What the replicas hold unused when the window fills is at most 1/32 of what was left when each lease
	// was granted, and nothing is granted with fewer than 256 left.
	if count < 3000-3*256 {
		t.Fatalf("%d admitted of 3000: the leases held back too much", count)
	}
	// Leases refuse locally what they cannot cover, so the racers can stop with room left in the window. Once
	// every replica has given back its lease, one replica takes what is left and then meets the limit.
	for _, x := range xs {
		x.flush()
	}
	for count < 3000 {
		tk, err := xs[0].Admit(context.Background(), reqAt(clk, s))
		if err != nil {
			break
		}
		count++
		settle(t, xs[0], tk, 1, 0)
	}
	if count > 3000 {
		t.Fatalf("%d admitted after the racers stopped, limit 3000", count)
	}
	deny(t, xs[0], reqAt(clk, s), ReasonRPM, s.ID)
}

// Spend settled on one replica reaches the others with the next flush; until then the replica that settled it
// counts it in its own Spend.
func TestLeasedSpendReachesOtherReplicas(t *testing.T) {
	clk := newClock()
	xs := leasedReplicas(t, clk, 2)
	s := Scope{ID: "team:spend", Label: "team", Budget: usd(100), Period: clk.period(30), Baseline: 1}
	for range 20 {
		r := reqAt(clk, s)
		r.Reserve = 0.5
		settle(t, xs[0], admit(t, xs[0], r), 1, 0.25)
	}
	wantFloat(t, "spend on the settling replica", spend(t, xs[0], s.ID, s.Period, 1), 6)
	xs[0].flush()
	wantFloat(t, "spend on the other replica", spend(t, xs[1], s.ID, s.Period, 1), 6)
	// Setting spend gives back the lease and is not added to afterwards.
	setSpend(t, xs[0], s.ID, s.Period, 2)
	xs[0].flush()
	wantFloat(t, "spend after set", spend(t, xs[1], s.ID, s.Period, 0), 2)
	wantFloat(t, "reserved after set", redisValue(t, xs[0], s.ID, "reserved", s.Period, true), 0)
}

// A budget period that ends retires the lease: the new period starts from its baseline, and what the old lease
// held is given back to the old period once its requests settle.
func TestLeasedNewPeriodRetiresLease(t *testing.T) {
	clk := newClock()
	x := leasedReplicas(t, clk, 1)[0]
	old := Scope{ID: "key:period", Label: "key", Budget: usd(1000), Period: clk.period(1)}
	r := Request{Scopes: []Scope{old}, Reserve: 0.01, Now: clk.Now()}
	settle(t, x, admit(t, x, r), 0, 0.01)
	inFlight := admit(t, x, r)
	cur := old
	cur.Period = clk.period(2)
	r.Scopes = []Scope{cur}
	settle(t, x, admit(t, x, r), 0, 0.02)
	wantFloat(t, "new period's spend", spend(t, x, cur.ID, cur.Period, 0), 0.02)
	settle(t, x, inFlight, 0, 0.03)
	x.flush()
	wantFloat(t, "old period's spend", spend(t, x, old.ID, old.Period, 0), 0.04)
	wantFloat(t, "old period's reservations", redisValue(t, x, old.ID, "reserved", old.Period, true), 0)
}

// Close gives back what the leases hold and sends what has settled.
func TestLeasedCloseGivesBack(t *testing.T) {
	clk := newClock()
	x := leasedReplicas(t, clk, 1)[0]
	s := Scope{ID: "key:close", Label: "key", RPM: 100_000, Parallel: 10_000, Budget: usd(1000)}
	for range 50 {
		settle(t, x, admit(t, x, Request{Scopes: []Scope{s}, Reserve: 0.01, Now: clk.Now()}), 5, 0.01)
	}
	if err := x.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := redisValue(t, x, s.ID, "rpm", clk.minute(), true); got != 50 {
		t.Fatalf("window requests %v, want 50", got)
	}
	if got := redisValue(t, x, s.ID, "inflight", 0, false); got != 0 {
		t.Fatalf("in flight %v, want 0", got)
	}
	wantFloat(t, "reserved", redisValue(t, x, s.ID, "reserved", 0, true), 0)
	wantFloat(t, "spend", redisValue(t, x, s.ID, "spend", 0, true), 0.5)
}

// A Redis that cannot be reached is an error (not a denial) for a request the leases cannot admit, so that the
// Failover around them counts on the replica alone.
func TestLeasedUnreachable(t *testing.T) {
	x := newLeased(deadRedis(t), nil)
	_, err := x.Admit(context.Background(), Request{Scopes: []Scope{{ID: "key:dead", RPM: 10}}})
	var d *Denial
	if err == nil || errors.As(err, &d) {
		t.Fatalf("admit on a dead Redis: %v, want an error", err)
	}
}
