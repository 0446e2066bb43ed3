package limits

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

func TestCap(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		max      int
		calls    int
		admitted int
	}{
		{"under the cap", 3, 2, 2},
		{"at the cap", 3, 3, 3},
		{"over the cap", 3, 5, 3},
		{"no cap", 0, 50, 50},
		{"negative is no cap", -1, 50, 50},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(tc.max)
			var calls []*pipeline.Call
			admitted := 0
			for range tc.calls {
				c := &pipeline.Call{}
				err := s.Before(context.Background(), c)
				if err == nil {
					admitted++
				} else {
					e := sdk.AsError(err)
					if e.Kind != sdk.KindRateLimit || e.HTTPStatus() != 429 || e.Code != "max_parallel_requests" ||
						e.RetryAfter <= 0 {
						t.Fatalf("rejection = %#v", e)
					}
				}
				calls = append(calls, c)
			}
			if admitted != tc.admitted || s.InFlight() != int64(tc.admitted) {
				t.Fatalf("admitted %d, in flight %d, want %d", admitted, s.InFlight(), tc.admitted)
			}
			// Every call gets its After, rejected ones included: only admitted ones give a slot back.
			for _, c := range calls {
				s.After(c)
			}
			if s.InFlight() != 0 {
				t.Fatalf("in flight %d after every call finished", s.InFlight())
			}
		})
	}
}

func TestSlotReusedAfterFinish(t *testing.T) {
	t.Parallel()
	s := New(1)
	first, second := &pipeline.Call{}, &pipeline.Call{}
	if err := s.Before(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	if err := s.Before(context.Background(), second); err == nil {
		t.Fatal("a second call was admitted over a cap of 1")
	}
	s.After(second) // the rejected call's After must not free the first call's slot
	if err := s.Before(context.Background(), &pipeline.Call{}); err == nil {
		t.Fatal("a rejected call's After released a slot")
	}
	s.After(first)
	if err := s.Before(context.Background(), &pipeline.Call{}); err != nil {
		t.Fatalf("the freed slot was not reused: %v", err)
	}
	if s.Name() != "limit" {
		t.Fatal("name")
	}
}

// The stage in a pipeline: a rejected call ends before the stages after it, and Finish releases the slot.
func TestLimitInPipeline(t *testing.T) {
	t.Parallel()
	s := New(1)
	p := pipeline.New(s, answer{})
	a := &pipeline.Call{}
	p.Run(context.Background(), a)
	b := &pipeline.Call{}
	p.Run(context.Background(), b)
	p.Finish(b)
	if a.Err != nil || b.Err == nil || b.Err.HTTPStatus() != 429 {
		t.Fatalf("first %v, second %v", a.Err, b.Err)
	}
	p.Finish(a)
	p.Finish(a)
	if s.InFlight() != 0 {
		t.Fatalf("in flight %d", s.InFlight())
	}
}

type answer struct{}

func (answer) Name() string                                     { return "answer" }
func (answer) Before(_ context.Context, c *pipeline.Call) error { c.Complete("ok"); return nil }
func (answer) After(*pipeline.Call)                             {}

func TestConcurrentAdmitsNeverExceedTheCap(t *testing.T) {
	t.Parallel()
	const capacity, workers, rounds = 4, 16, 300
	s := New(capacity)
	var inside, peak, admitted atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				c := &pipeline.Call{}
				if s.Before(context.Background(), c) == nil {
					admitted.Add(1)
					n := inside.Add(1)
					for {
						p := peak.Load()
						if n <= p || peak.CompareAndSwap(p, n) {
							break
						}
					}
					inside.Add(-1)
				}
				s.After(c)
			}
		})
	}
	wg.Wait()
	if peak.Load() > capacity {
		t.Fatalf("%d calls were inside at once with a cap of %d", peak.Load(), capacity)
	}
	if admitted.Load() == 0 || s.InFlight() != 0 {
		t.Fatalf("admitted %d, in flight %d after all finished", admitted.Load(), s.InFlight())
	}
}
