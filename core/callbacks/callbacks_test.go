package callbacks

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// sink is a batch callback recording what it gets; fail makes its first calls fail.
type sink struct {
	mu      sync.Mutex
	batches [][]*sdk.Event
	calls   atomic.Int32
	fail    func(n int32) error
	block   chan struct{}
}

func (s *sink) OnBatch(ctx context.Context, evs []*sdk.Event) error {
	n := s.calls.Add(1)
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.fail != nil {
		if err := s.fail(n); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.batches = append(s.batches, evs)
	s.mu.Unlock()
	return nil
}
func (s *sink) OnSuccess(ctx context.Context, ev *sdk.Event) error {
	return s.OnBatch(ctx, []*sdk.Event{ev})
}
func (s *sink) OnFailure(ctx context.Context, ev *sdk.Event) error {
	return s.OnBatch(ctx, []*sdk.Event{ev})
}

func (s *sink) events() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, b := range s.batches {
		n += len(b)
	}
	return n
}

func call(id string, failed bool) *pipeline.Call {
	c := &pipeline.Call{ID: id, Type: pipeline.CallChat, Status: 200}
	if failed {
		c.Err, c.Status = sdk.NewError(sdk.KindRateLimit, "limited"), 429
	}
	return c
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestSlowSinkDelaysOnlyItself: a sink that hangs does not hold back the others' deliveries.
func TestSlowSinkDelaysOnlyItself(t *testing.T) {
	t.Parallel()
	slow := &sink{block: make(chan struct{})}
	fast := &sink{}
	d := New(quiet(), []Target{{Name: "slow", Callback: slow, Success: true}, {Name: "fast", Callback: fast, Success: true}},
		Options{FlushInterval: 10 * time.Millisecond})
	d.Observe(call("a", false))
	deadline := time.Now().Add(5 * time.Second)
	for fast.events() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the fast sink got nothing while the slow one hung")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(slow.block)
	d.Close(context.Background())
	if slow.events() != 1 {
		t.Fatalf("the slow sink got %d events", slow.events())
	}
}

// TestRetries: a failure that may pass is retried; a refusal of the events (a 400) is not.
func TestRetries(t *testing.T) {
	t.Parallel()
	flaky := &sink{fail: func(n int32) error {
		if n == 1 {
			return sdk.NewError(sdk.KindServiceUnavailable, "down")
		}
		return nil
	}}
	refusing := &sink{fail: func(int32) error { return sdk.NewError(sdk.KindBadRequest, "bad event") }}
	d := New(quiet(), []Target{{Name: "flaky", Callback: flaky, Success: true, Failure: true},
		{Name: "refusing", Callback: refusing, Success: true}},
		Options{FlushInterval: 5 * time.Millisecond, RetryBackoff: time.Millisecond})
	d.Observe(call("a", false))
	d.Observe(call("b", true))
	d.Close(context.Background())
	if flaky.events() != 2 || flaky.calls.Load() < 2 {
		t.Fatalf("flaky: %d events in %d calls", flaky.events(), flaky.calls.Load())
	}
	if refusing.calls.Load() != 1 {
		t.Fatalf("a refused batch was tried %d times, want 1", refusing.calls.Load())
	}
	if d.Dropped.Load() != 1 {
		t.Fatalf("dropped = %d, want 1 (the refused event)", d.Dropped.Load())
	}
}

// TestCloseFlushesInBatches: Close delivers everything queued, batch by batch.
func TestCloseFlushesInBatches(t *testing.T) {
	t.Parallel()
	s := &sink{}
	d := New(quiet(), []Target{{Name: "s", Callback: s, Success: true}},
		Options{FlushInterval: time.Hour, BatchSize: 10})
	for i := 0; i < 25; i++ {
		d.Observe(call("c", false))
	}
	d.Close(context.Background())
	if s.events() != 25 {
		t.Fatalf("%d of 25 events delivered at close", s.events())
	}
	for _, b := range s.batches {
		if len(b) > 10 {
			t.Fatalf("a batch of %d events, over the batch size", len(b))
		}
	}
}

// TestFullQueueDrops: a full queue drops (and counts) events instead of blocking the request.
func TestFullQueueDrops(t *testing.T) {
	t.Parallel()
	s := &sink{block: make(chan struct{})}
	d := New(quiet(), []Target{{Name: "s", Callback: s, Success: true}},
		Options{FlushInterval: time.Millisecond, BatchSize: 1, QueueSize: 2})
	done := make(chan struct{})
	go func() {
		for i := 0; i < 50; i++ {
			d.Observe(call("c", false))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Observe blocked on a full queue")
	}
	if d.Dropped.Load() == 0 {
		t.Fatal("nothing was counted as dropped")
	}
	close(s.block)
	d.Close(context.Background())
}

// TestSuccessAndFailureRouting: success_callback gets successes only, failure_callback failures only.
func TestSuccessAndFailureRouting(t *testing.T) {
	t.Parallel()
	ok, bad := &sink{}, &sink{}
	d := New(quiet(), []Target{{Name: "ok", Callback: ok, Success: true}, {Name: "bad", Callback: bad, Failure: true}},
		Options{FlushInterval: time.Millisecond})
	d.Observe(call("a", false))
	d.Observe(call("b", true))
	d.Close(context.Background())
	if ok.events() != 1 || bad.events() != 1 || ok.batches[0][0].CallID != "a" || bad.batches[0][0].CallID != "b" {
		t.Fatalf("ok got %d, bad got %d", ok.events(), bad.events())
	}
}
