package quota

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisBatchedAtomic: admissions batched into pipelines stay atomic, each script on its own: of 200
// concurrent requests on a scope allowing 50 a minute exactly 50 are admitted, and settling them all leaves
// nothing in flight.
func TestRedisBatchedAtomic(t *testing.T) {
	t.Parallel()
	r, client, clk := newTestRedis(t)
	s := Scope{ID: "key:atomic", Label: "key", RPM: 50}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		tickets []*Ticket
		denied  atomic.Int64
		start   = make(chan struct{})
	)
	for range 200 {
		wg.Go(func() {
			<-start
			tk, err := r.Admit(context.Background(), reqAt(clk, s))
			var d *Denial
			switch {
			case errors.As(err, &d) && d.Reason == ReasonRPM:
				denied.Add(1)
			case err != nil:
				t.Error(err)
			default:
				mu.Lock()
				tickets = append(tickets, tk)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if len(tickets) != 50 || denied.Load() != 150 {
		t.Fatalf("%d admitted, %d denied; want 50 and 150", len(tickets), denied.Load())
	}
	ctx := context.Background()
	inflight := r.key(s.ID, "inflight", 0, false)
	if n, err := client.Get(ctx, inflight).Int(); err != nil || n != 50 {
		t.Fatalf("in flight after admitting: %d (%v), want 50", n, err)
	}
	for _, tk := range tickets {
		wg.Go(func() {
			if err := r.Settle(ctx, tk, 1, 0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := client.Get(ctx, inflight).Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("in flight after settling all: %v, want no key", err)
	}
	if n, err := client.Get(ctx, r.key(s.ID, "tpm", clk.minute(), true)).Int(); err != nil || n != 50 {
		t.Fatalf("window tokens %d (%v), want 50", n, err)
	}
}

// gate is a client hook that holds the first pipeline of scripts until released, and records the sizes of
// those pipelines.
type gate struct {
	held    chan struct{} // closed when the first pipeline is held
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	sizes   []int
}

func newGate() *gate { return &gate{held: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (g *gate) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (g *gate) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if cmds[len(cmds)-1].Name() != "evalsha" {
			return next(ctx, cmds) // a new connection's CLIENT SETINFO
		}
		g.mu.Lock()
		g.sizes = append(g.sizes, len(cmds))
		g.mu.Unlock()
		g.once.Do(func() {
			close(g.held)
			<-g.release
		})
		return next(ctx, cmds)
	}
}

// queued returns how many calls wait for the pipeline in flight.
func (b *batcher) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// TestRedisBatching: calls made while a pipeline is in flight go together in the next ones, at most
// maxPipeline to a pipeline, and each gets its own reply.
func TestRedisBatching(t *testing.T) {
	t.Parallel()
	r, client, clk := newTestRedis(t)
	g := newGate()
	client.AddHook(g)
	const waiting = maxPipeline + 72
	s := Scope{ID: "key:batch", Label: "key", RPM: waiting} // all but one are admitted
	ctx := context.Background()
	var wg sync.WaitGroup
	var admitted, denied atomic.Int64
	do := func() {
		tk, err := r.Admit(ctx, reqAt(clk, s))
		var d *Denial
		switch {
		case errors.As(err, &d):
			denied.Add(1)
		case err != nil:
			t.Error(err)
		default:
			admitted.Add(1)
			if err := r.Settle(ctx, tk, 1, 0.5); err != nil {
				t.Error(err)
			}
		}
	}
	wg.Go(do)
	<-g.held // the first call's pipeline is in flight
	for range waiting {
		wg.Go(do)
	}
	for deadline := time.Now().Add(10 * time.Second); r.batch.queued() < waiting; {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", r.batch.queued(), waiting)
		}
		time.Sleep(time.Millisecond)
	}
	close(g.release)
	wg.Wait()
	if admitted.Load() != waiting || denied.Load() != 1 {
		t.Fatalf("%d admitted, %d denied; want %d and 1", admitted.Load(), denied.Load(), waiting)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// The first admission, after loading the scripts; then the admissions queued meanwhile, the first
	// maxPipeline of them together.
	if len(g.sizes) < 3 || g.sizes[0] != 4 || g.sizes[1] != maxPipeline {
		t.Fatalf("pipelines of %v commands, want 4 (3 script loads and the first call), then %d", g.sizes,
			maxPipeline)
	}
	calls, sent := 2*waiting+1, 0
	for _, n := range g.sizes {
		sent += n
	}
	if sent != calls+3 {
		t.Fatalf("%d commands sent, want %d calls and 3 script loads", sent, calls)
	}
	if p := r.batch.pipelines.Load(); p != int64(len(g.sizes)) {
		t.Fatalf("batcher counted %d pipelines, the client saw %d", p, len(g.sizes))
	}
	t.Logf("%d calls in pipelines of %v", calls, g.sizes)
	wantFloat(t, "spend", spend(t, r, s.ID, 0, 0), 0.5*waiting)
}

// TestRedisBatchingUnderLoad: many concurrent callers share pipelines.
func TestRedisBatchingUnderLoad(t *testing.T) {
	t.Parallel()
	r, _, clk := newTestRedis(t)
	s := Scope{ID: "key:load", Label: "key", RPM: 1 << 30, Parallel: 1 << 20, Budget: usd(1e6)}
	const callers, each = 128, 20
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			<-start
			for range each {
				req := reqAt(clk, s)
				req.Reserve = 0.01
				tk, err := r.Admit(context.Background(), req)
				if err == nil {
					err = r.Settle(context.Background(), tk, 1, 0.01)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	calls := int64(2 * callers * each)
	p := r.batch.pipelines.Load()
	t.Logf("%d calls in %d pipelines", calls, p)
	if p*4 > calls {
		t.Fatalf("%d pipelines for %d calls, want at most a quarter", p, calls)
	}
	wantFloat(t, "spend", spend(t, r, s.ID, 0, 0), 0.01*callers*each)
}

// TestRedisNoScript: after the server's scripts are flushed (a restart, SCRIPT FLUSH) the calls that meet
// NOSCRIPT are sent again after the scripts, and succeed.
func TestRedisNoScript(t *testing.T) {
	t.Parallel()
	r, client, clk := newTestRedis(t)
	ctx := context.Background()
	s := Scope{ID: "key:noscript", Label: "key", Parallel: 1000, Budget: usd(1000)}
	req := reqAt(clk, s)
	req.Reserve = 1
	settle(t, r, admit(t, r, req), 1, 0.25)

	if err := client.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	before := r.batch.pipelines.Load()
	tk := admit(t, r, req)
	if n := r.batch.pipelines.Load() - before; n != 2 {
		t.Fatalf("%d pipelines for an admission meeting NOSCRIPT, want 2 (NOSCRIPT, then the retry)", n)
	}
	settle(t, r, tk, 1, 0.25)

	// Flushed again while many calls are under way.
	var wg sync.WaitGroup
	for i := range 100 {
		if i == 50 {
			if err := client.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		wg.Go(func() {
			tk, err := r.Admit(ctx, req)
			if err == nil {
				err = r.Settle(ctx, tk, 1, 0.25)
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	wantFloat(t, "spend", spend(t, r, s.ID, 0, 0), 0.25*102)
}

// TestRedisUnreachableConcurrent: with nothing listening, every one of many concurrent calls fails within the
// timeout rather than hanging.
func TestRedisUnreachableConcurrent(t *testing.T) {
	t.Parallel()
	r := deadRedis(t)
	r.timeout = time.Second
	s := Scope{ID: "key:x", Label: "key", RPM: 1}
	// The client dials several times before it gives up (DialerRetries): the calls queued meanwhile fail at
	// their timeout or with the next dial.
	bound := r.timeout + 500*time.Millisecond
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			began := time.Now()
			_, err := r.Admit(context.Background(), Request{Scopes: []Scope{s}, Now: time.Now()})
			var d *Denial
			if err == nil || errors.As(err, &d) {
				t.Errorf("admit: %v, want a redis error", err)
			}
			if d := time.Since(began); d > bound {
				t.Errorf("admit took %v with a timeout of %v", d, r.timeout)
			}
			began = time.Now()
			tk := &Ticket{Scopes: []Scope{s}, Reserved: []float64{0}}
			if err := r.Settle(context.Background(), tk, 1, 1); err == nil {
				t.Error("settle: no error")
			}
			if d := time.Since(began); d > bound {
				t.Errorf("settle took %v with a timeout of %v", d, r.timeout)
			}
		})
	}
	wg.Wait()
}

// TestRedisServerHangs: a server that accepts connections and never answers. Calls queued behind the pipeline
// stuck on it fail at their own timeout; the caller sending that pipeline waits as long as the client's read
// timeout, as any round trip does.
func TestRedisServerHangs(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() {
		_ = l.Close()
		conns.Wait()
	})
	conns.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Go(func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			})
		}
	})
	const readTimeout = 2 * time.Second
	client := redis.NewClient(&redis.Options{Addr: l.Addr().String(), DialTimeout: time.Second,
		ReadTimeout: readTimeout, MaxRetries: -1, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { _ = client.Close() })
	r := NewRedis(client, "test:quota:hang:")
	r.timeout = 200 * time.Millisecond
	s := Scope{ID: "key:x", Label: "key", RPM: 1}

	first := make(chan error, 1)
	go func() {
		_, err := r.Admit(context.Background(), Request{Scopes: []Scope{s}, Now: time.Now()})
		first <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); !sending(r.batch); {
		if time.Now().After(deadline) {
			t.Fatal("the first call was not sent")
		}
		time.Sleep(time.Millisecond)
	}
	began := time.Now()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := r.Admit(context.Background(), Request{Scopes: []Scope{s}, Now: time.Now()})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("queued admit: %v, want a timeout", err)
			}
		})
	}
	wg.Wait()
	if d := time.Since(began); d >= readTimeout-500*time.Millisecond {
		t.Fatalf("queued calls took %v with a timeout of %v", d, r.timeout)
	}
	select {
	case err := <-first:
		if err == nil {
			t.Fatal("first admit: no error")
		}
	case <-time.After(readTimeout + 3*time.Second):
		t.Fatal("first admit: no reply past the client's read timeout")
	}
}

// sending reports whether a pipeline is being sent.
func sending(b *batcher) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sending
}

// TestRedisCancelledCaller: a caller whose context is cancelled still has its admission counted and answered
// (calls are detached from the caller's cancellation).
func TestRedisCancelledCaller(t *testing.T) {
	t.Parallel()
	r, _, clk := newTestRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := Scope{ID: "key:cancel", Label: "key", RPM: 1}
	tk, err := r.Admit(ctx, reqAt(clk, s))
	if err != nil {
		t.Fatalf("admit with a cancelled context: %v", err)
	}
	deny(t, r, reqAt(clk, s), ReasonRPM, s.ID)
	if err := r.Settle(ctx, tk, 5, 0.5); err != nil {
		t.Fatalf("settle with a cancelled context: %v", err)
	}
	wantFloat(t, "spend", spend(t, r, s.ID, 0, 0), 0.5)
}

// BenchmarkRedisAdmitSettle: many concurrent requests, each one admission and one settlement on a key with
// limits and a budget, as the gateway does under load.
func BenchmarkRedisAdmitSettle(b *testing.B) {
	client := redisClient(b)
	r := NewRedis(client, redisPrefix(b, client))
	s := Scope{ID: "key:bench", Label: "key", RPM: 1 << 40, TPM: 1 << 50, Parallel: 1 << 20, Budget: usd(1e12)}
	b.ReportAllocs()
	b.SetParallelism(64)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		scopes := []Scope{s}
		for pb.Next() {
			tk, err := r.Admit(ctx, Request{Scopes: scopes, Reserve: 1e-6})
			if err != nil {
				b.Error(err)
				return
			}
			if err := r.Settle(ctx, tk, 10, 1e-6); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
