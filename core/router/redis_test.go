package router

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// These tests run against a real Redis at testRedisAddr. Without one they are skipped, except under CI=true,
// where they fail. Each test keeps its keys under a prefix of its own and deletes them at the end; none of them
// stops or flushes the server.
const testRedisAddr = "127.0.0.1:6379"

var (
	redisOnce sync.Once
	redisErr  error
)

// needRedis skips (or under CI fails) the test when Redis is not reachable.
func needRedis(tb testing.TB) {
	tb.Helper()
	redisOnce.Do(func() {
		c := redis.NewClient(&redis.Options{Addr: testRedisAddr, MaxRetries: -1, DialTimeout: time.Second})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		redisErr = c.Ping(ctx).Err()
	})
	if redisErr == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("Redis at %s is required under CI: %v", testRedisAddr, redisErr)
	}
	tb.Skipf("Redis is not reachable at %s (%v); start one (e.g. docker run -p 6379:6379 redis) to run this test",
		testRedisAddr, redisErr)
}

// testPrefix returns a key prefix no other test uses and deletes its keys when the test ends.
func testPrefix(tb testing.TB) string {
	tb.Helper()
	prefix := "switchyard:test:" + tb.Name() + ":" + strconv.FormatUint(rand.Uint64(), 36) + ":"
	tb.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: testRedisAddr})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pattern := globEscaper.Replace(prefix) + "*"
		var keys []string
		iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("listing the test's keys: %v", err)
			return
		}
		if len(keys) > 0 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				tb.Errorf("deleting the test's keys: %v", err)
			}
		}
	})
	return prefix
}

var globEscaper = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)

// newReplica returns a RedisState on the test Redis (unless o.Addr says otherwise), closed when the test ends.
// Its timeout defaults to 2s rather than 50ms, so that a loaded test machine does not degrade the state of a
// test that checks exact shared semantics; the tests of degradation set their own.
func newReplica(tb testing.TB, o RedisOptions, now func() time.Time, log *slog.Logger) *RedisState {
	tb.Helper()
	if o.Addr == "" && o.URL == "" {
		o.Addr = testRedisAddr
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r, err := newRedisState(o, log, now)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

// healthy fails the test when a replica fell back to local state, which would void its shared-state checks.
func healthy(tb testing.TB, rs ...*RedisState) {
	tb.Helper()
	for i, r := range rs {
		if r.Degraded() || r.Fallbacks() != 0 {
			tb.Fatalf("replica %d fell back to local state (%d times); Redis was too slow or unreachable", i,
				r.Fallbacks())
		}
	}
}

// fakeClock is a settable clock shared by the replicas of a test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	// Ten seconds into a minute, so that a retry-after is 50s.
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 10, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// exerciseState runs the same story against any State: the in-memory one is the reference.
func exerciseState(t *testing.T, s State, clk *fakeClock) {
	ctx := context.Background()
	reserve := func(id string, rpm, tpm, tokens int, wantOK bool, wantRetry time.Duration) {
		t.Helper()
		ok, retry := s.Reserve(ctx, id, rpm, tpm, tokens)
		if ok != wantOK || retry != wantRetry {
			t.Fatalf("Reserve(%q, rpm %d, tpm %d, %d tokens) = %v, %v; want %v, %v", id, rpm, tpm, tokens, ok, retry,
				wantOK, wantRetry)
		}
	}
	usage := func(want ...MinuteUsage) {
		t.Helper()
		ids := []string{"a", "t", "u", "none"}
		got := s.Usage(ctx, ids)
		for i := range ids {
			if got[i] != want[i] {
				t.Fatalf("Usage(%v) = %v; want %v", ids, got, want)
			}
		}
	}
	cooling := func(id string, want time.Duration) {
		t.Helper()
		got := s.Cooldowns(ctx, []string{id, "none"})
		if !got[1].IsZero() {
			t.Fatalf("Cooldowns: a deployment that never failed cools down until %v", got[1])
		}
		if want == 0 {
			if !got[0].IsZero() {
				t.Fatalf("Cooldowns(%q) = %v; want none", id, got[0])
			}
			return
		}
		// Redis counts a cooldown down by its own clock: allow for the time the test took. A replica's view ends
		// at most expiryMargin late, never early (see expiry).
		end := clk.Now().Add(want)
		if got[0].After(end.Add(expiryMargin)) || got[0].Before(end.Add(-5*time.Second)) {
			t.Fatalf("Cooldowns(%q) = %v; want about %v", id, got[0], end)
		}
	}
	failed := func(id string, allowed int, cooldown time.Duration, want bool) {
		t.Helper()
		if got := s.Failed(ctx, id, allowed, cooldown); got != want {
			t.Fatalf("Failed(%q, allowed %d) = %v; want %v", id, allowed, got, want)
		}
	}

	// rpm: the third request of a minute with rpm 2 waits for the minute's end, 50s away.
	reserve("a", 2, 0, 10, true, 0)
	reserve("a", 2, 0, 10, true, 0)
	reserve("a", 2, 0, 10, false, 50*time.Second)
	usage(MinuteUsage{2, 20}, MinuteUsage{}, MinuteUsage{}, MinuteUsage{})

	// AddTokens settles estimates, never below zero.
	s.AddTokens(ctx, "a", 5)
	usage(MinuteUsage{2, 25}, MinuteUsage{}, MinuteUsage{}, MinuteUsage{})
	s.AddTokens(ctx, "a", -100)
	usage(MinuteUsage{2, 0}, MinuteUsage{}, MinuteUsage{}, MinuteUsage{})

	// tpm: the minute's first request passes whatever its estimate; later ones must fit.
	reserve("t", 0, 100, 150, true, 0)
	reserve("t", 0, 100, 1, false, 50*time.Second)
	reserve("u", 0, 100, 60, true, 0)
	reserve("u", 0, 100, 40, true, 0)
	reserve("u", 0, 100, 1, false, 50*time.Second)
	reserve("u", 0, 0, 1000, true, 0) // 0: unlimited
	usage(MinuteUsage{2, 0}, MinuteUsage{1, 150}, MinuteUsage{3, 1100}, MinuteUsage{})

	// A new minute starts from zero.
	clk.Add(time.Minute)
	usage(MinuteUsage{}, MinuteUsage{}, MinuteUsage{}, MinuteUsage{})
	reserve("a", 2, 0, 10, true, 0)
	s.AddTokens(ctx, "t", 7)
	usage(MinuteUsage{1, 10}, MinuteUsage{0, 7}, MinuteUsage{}, MinuteUsage{})

	// Failures: past allowed_fails in a minute, the deployment cools down, once.
	failed("f", 1, time.Minute, false)
	cooling("f", 0)
	failed("f", 1, time.Minute, true)
	cooling("f", time.Minute)
	failed("f", 1, time.Minute, false)
	failed("f", 1, time.Minute, false)
	cooling("f", time.Minute)

	// The failure count is per minute.
	failed("g", 1, time.Minute, false)
	clk.Add(time.Minute)
	failed("g", 1, time.Minute, false)
	failed("g", 1, time.Minute, true)

	// A zero cooldown reports entering it but never cools down.
	failed("z", 0, 0, true)
	cooling("z", 0)
	failed("z", 0, 0, true)

	// Latencies are moving averages; zero samples are unknown.
	s.Observe(ctx, "a", 10*time.Millisecond, 0)
	s.Observe(ctx, "a", 20*time.Millisecond, 100*time.Millisecond)
	got := s.Latencies(ctx, []string{"a", "none"})
	if want := (Latency{PerToken: 12 * time.Millisecond, TTFT: 100 * time.Millisecond}); got[0] != want || got[1] != (Latency{}) {
		t.Fatalf("Latencies = %v; want [%v {0 0}]", got, want)
	}
}

func TestRedisStateBehavesLikeMemoryState(t *testing.T) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		clk := newFakeClock()
		exerciseState(t, &MemoryState{now: clk.Now}, clk)
	})
	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		needRedis(t)
		clk := newFakeClock()
		r := newReplica(t, RedisOptions{KeyPrefix: testPrefix(t)}, clk.Now, nil)
		exerciseState(t, r, clk)
		healthy(t, r)
	})
	t.Run("redis without read cache", func(t *testing.T) {
		t.Parallel()
		needRedis(t)
		clk := newFakeClock()
		r := newReplica(t, RedisOptions{KeyPrefix: testPrefix(t), ReadCache: -1}, clk.Now, nil)
		exerciseState(t, r, clk)
		healthy(t, r)
	})
}

// reserveStorm has two replicas reserve n times each, all at once, and returns how many reservations passed.
func reserveStorm(a, b *RedisState, n int, id string, rpm, tpm, tokens int) int {
	var passed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, r := range []*RedisState{a, b} {
		for range n {
			wg.Go(func() {
				<-start
				if ok, _ := r.Reserve(context.Background(), id, rpm, tpm, tokens); ok {
					passed.Add(1)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	return int(passed.Load())
}

func TestRedisReserveRPMIsGlobal(t *testing.T) {
	t.Parallel()
	needRedis(t)
	clk := newFakeClock() // one minute for the whole storm
	prefix := testPrefix(t)
	a := newReplica(t, RedisOptions{KeyPrefix: prefix}, clk.Now, nil)
	b := newReplica(t, RedisOptions{KeyPrefix: prefix}, clk.Now, nil)

	if got := reserveStorm(a, b, 50, "dep", 30, 0, 1); got != 30 {
		t.Fatalf("%d of 100 concurrent requests passed rpm 30 across two replicas; want exactly 30", got)
	}
	ok, retry := b.Reserve(context.Background(), "dep", 30, 0, 1)
	if ok || retry != 50*time.Second {
		t.Fatalf("Reserve past rpm = %v, %v; want false, 50s (to the minute's end)", ok, retry)
	}
	c := newReplica(t, RedisOptions{KeyPrefix: prefix}, clk.Now, nil)
	if got := c.Usage(context.Background(), []string{"dep"}); got[0] != (MinuteUsage{30, 30}) {
		t.Fatalf("a third replica sees usage %v; want {30 30}", got[0])
	}
	healthy(t, a, b, c)
}

func TestRedisReserveTPMIsGlobal(t *testing.T) {
	t.Parallel()
	needRedis(t)
	clk := newFakeClock()
	prefix := testPrefix(t)
	a := newReplica(t, RedisOptions{KeyPrefix: prefix}, clk.Now, nil)
	b := newReplica(t, RedisOptions{KeyPrefix: prefix}, clk.Now, nil)

	if got := reserveStorm(a, b, 20, "dep", 0, 100, 10); got != 10 {
		t.Fatalf("%d of 40 concurrent 10-token requests passed tpm 100; want exactly 10", got)
	}
	// The calls used less than estimated: the headroom given back is global too.
	b.AddTokens(context.Background(), "dep", -50)
	if got := reserveStorm(a, b, 20, "dep", 0, 100, 10); got != 5 {
		t.Fatalf("after giving back 50 tokens, %d of 40 requests passed; want exactly 5", got)
	}
	healthy(t, a, b)
}

func TestRedisMinuteRollover(t *testing.T) {
	t.Parallel()
	needRedis(t)
	clk := newFakeClock()
	prefix := testPrefix(t)
	a := newReplica(t, RedisOptions{KeyPrefix: prefix}, clk.Now, nil)
	b := newReplica(t, RedisOptions{KeyPrefix: prefix}, clk.Now, nil)
	ctx := context.Background()

	for _, r := range []*RedisState{a, b} {
		if ok, _ := r.Reserve(ctx, "dep", 2, 0, 1); !ok {
			t.Fatal("a request within rpm 2 was refused")
		}
	}
	clk.Add(49 * time.Second) // 59s into the minute
	if ok, retry := a.Reserve(ctx, "dep", 2, 0, 1); ok || retry != time.Second {
		t.Fatalf("Reserve past rpm = %v, %v; want false, 1s", ok, retry)
	}
	clk.Add(time.Second)
	for _, r := range []*RedisState{b, a} {
		if ok, _ := r.Reserve(ctx, "dep", 2, 0, 1); !ok {
			t.Fatal("a request in a new minute was refused")
		}
	}
	if ok, retry := b.Reserve(ctx, "dep", 2, 0, 1); ok || retry != time.Minute {
		t.Fatalf("Reserve past rpm = %v, %v; want false, 1m", ok, retry)
	}

	// A minute's counters expire shortly after the minute.
	c := redis.NewClient(&redis.Options{Addr: testRedisAddr})
	defer c.Close()
	old := a.minuteKey("dep", clk.Now().Add(-time.Minute).Unix()/60)
	ttl, err := c.PTTL(ctx, old).Result()
	if err != nil || ttl <= 0 || ttl > minuteKeyTTL {
		t.Fatalf("PTTL %s = %v, %v; want within (0, %v]", old, ttl, err, minuteKeyTTL)
	}
	healthy(t, a, b)
}

func TestRedisCooldownIsShared(t *testing.T) {
	t.Parallel()
	needRedis(t)
	prefix := testPrefix(t)
	const readCache = 100 * time.Millisecond
	a := newReplica(t, RedisOptions{KeyPrefix: prefix, ReadCache: readCache}, nil, nil)
	b := newReplica(t, RedisOptions{KeyPrefix: prefix, ReadCache: readCache}, nil, nil)
	c := newReplica(t, RedisOptions{KeyPrefix: prefix, ReadCache: readCache}, nil, nil)
	ctx := context.Background()
	ids := []string{"dep", "other"}

	// c has read the cooldowns just before: its local copy says none.
	if got := c.Cooldowns(ctx, ids); !got[0].IsZero() {
		t.Fatalf("cooling down before any failure: %v", got)
	}
	var entered atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, r := range []*RedisState{a, b} {
		for range 10 {
			wg.Go(func() {
				<-start
				if r.Failed(ctx, "dep", 3, 30*time.Second) {
					entered.Add(1)
				}
			})
		}
	}
	close(start)
	wg.Wait()
	failedAt := time.Now()
	if n := entered.Load(); n != 1 {
		t.Fatalf("%d of 20 concurrent failures on two replicas reported entering the cooldown; want exactly 1", n)
	}
	// The replicas that recorded the failures know at once; another one within its read cache interval.
	for i, r := range []*RedisState{a, b} {
		if got := r.Cooldowns(ctx, ids); got[0].IsZero() || !got[1].IsZero() {
			t.Fatalf("replica %d sees cooldowns %v right after the failures; want dep only", i, got)
		}
	}
	for {
		got := c.Cooldowns(ctx, ids)
		if !got[0].IsZero() {
			if left := time.Until(got[0]); left <= 25*time.Second || left > 30*time.Second || !got[1].IsZero() {
				t.Fatalf("the other replica sees cooldowns %v (dep: %v left); want dep only, about 30s", got, left)
			}
			break
		}
		// The bound is the read cache interval, plus slack for a loaded test machine.
		if time.Since(failedAt) > readCache+time.Second {
			t.Fatalf("the other replica did not see the cooldown within %v", time.Since(failedAt))
		}
		time.Sleep(5 * time.Millisecond)
	}
	healthy(t, a, b, c)
}

func TestRedisCooldownExpires(t *testing.T) {
	t.Parallel()
	needRedis(t)
	prefix := testPrefix(t)
	a := newReplica(t, RedisOptions{KeyPrefix: prefix, ReadCache: 20 * time.Millisecond}, nil, nil)
	b := newReplica(t, RedisOptions{KeyPrefix: prefix, ReadCache: 20 * time.Millisecond}, nil, nil)
	ctx := context.Background()
	const cooldown = 300 * time.Millisecond

	start := time.Now()
	if !a.Failed(ctx, "dep", 0, cooldown) {
		t.Fatal("a failure past allowed_fails 0 did not start a cooldown")
	}
	if b.Failed(ctx, "dep", 0, cooldown) {
		t.Fatal("a failure during the cooldown started another")
	}
	for {
		ca, cb := a.Cooldowns(ctx, []string{"dep"})[0], b.Cooldowns(ctx, []string{"dep"})[0]
		if ca.IsZero() && cb.IsZero() {
			break
		}
		if time.Since(start) > cooldown+2*time.Second {
			t.Fatalf("the cooldown did not end: %v, %v", ca, cb)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if over := time.Since(start); over < cooldown-10*time.Millisecond {
		t.Fatalf("a %v cooldown ended after %v", cooldown, over)
	}
	if !b.Failed(ctx, "dep", 0, cooldown) {
		t.Fatal("a failure after the cooldown did not start a new one")
	}
	healthy(t, a, b)
}

func TestRedisWritesUpdateTheLocalCopy(t *testing.T) {
	t.Parallel()
	needRedis(t)
	prefix := testPrefix(t)
	clk := newFakeClock()
	a := newReplica(t, RedisOptions{KeyPrefix: prefix, ReadCache: time.Hour}, clk.Now, nil)
	b := newReplica(t, RedisOptions{KeyPrefix: prefix}, clk.Now, nil)
	ctx := context.Background()
	ids := []string{"dep"}

	a.Usage(ctx, ids)
	a.Cooldowns(ctx, ids)
	// What a replica writes it reads back at once, though its copy is otherwise an hour old ...
	a.Reserve(ctx, "dep", 0, 0, 5)
	if got := a.Usage(ctx, ids)[0]; got != (MinuteUsage{1, 5}) {
		t.Fatalf("usage after a reservation = %v; want {1 5}", got)
	}
	a.Failed(ctx, "dep", 0, time.Minute)
	if got := a.Cooldowns(ctx, ids)[0]; got.IsZero() {
		t.Fatal("a replica that cooled a deployment down does not see it")
	}
	// ... while what others write waits for the copy to expire (an hour here: the copy is what is served).
	b.Reserve(ctx, "dep", 0, 0, 5)
	if got := a.Usage(ctx, ids)[0]; got != (MinuteUsage{1, 5}) {
		t.Fatalf("usage served from the local copy = %v; want {1 5}", got)
	}
	if got := b.Usage(ctx, ids)[0]; got != (MinuteUsage{2, 10}) {
		t.Fatalf("usage read from Redis = %v; want {2 10}", got)
	}
	healthy(t, a, b)
}

func TestRedisCallerCancellationIsNotAnOutage(t *testing.T) {
	t.Parallel()
	needRedis(t)
	r := newReplica(t, RedisOptions{KeyPrefix: testPrefix(t), ReadCache: -1}, nil, nil)
	// A client that went away cancels its request's context; what the router still records goes to Redis.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ok, _ := r.Reserve(ctx, "dep", 1, 0, 1); !ok {
		t.Fatal("the first request was refused")
	}
	r.AddTokens(ctx, "dep", 4)
	if !r.Failed(ctx, "dep", 0, time.Minute) {
		t.Fatal("the failure did not start a cooldown")
	}
	if got := r.Usage(ctx, []string{"dep"})[0]; got != (MinuteUsage{1, 5}) {
		t.Fatalf("usage %v; want {1 5}", got)
	}
	if r.Cooldowns(ctx, []string{"dep"})[0].IsZero() {
		t.Fatal("no cooldown")
	}
	healthy(t, r)
}

// roundTrips counts the round trips a client makes to Redis, leaving out the handshakes of new connections.
type roundTrips struct {
	mu    sync.Mutex
	trips [][]string // the command names of each round trip
}

var handshake = map[string]bool{"hello": true, "auth": true, "select": true, "client": true, "ping": true}

func (h *roundTrips) record(cmds []redis.Cmder) {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name()
	}
	if len(names) > 0 && handshake[names[0]] {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.trips = append(h.trips, names)
}

func (h *roundTrips) take() [][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.trips
	h.trips = nil
	return t
}

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.record([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.record(cmds)
		return next(ctx, cmds)
	}
}

func TestRedisReadsTakeOneRoundTrip(t *testing.T) {
	t.Parallel()
	needRedis(t)
	prefix := testPrefix(t)
	ctx := context.Background()
	ids := []string{"d1", "d2", "d3", "d4", "d5"}
	oneTrip := func(t *testing.T, h *roundTrips, cmd string, n int) {
		t.Helper()
		trips := h.take()
		if len(trips) != 1 || len(trips[0]) != n {
			t.Fatalf("round trips %v; want one of %d %s", trips, n, cmd)
		}
		for _, c := range trips[0] {
			if c != cmd {
				t.Fatalf("round trip %v; want %d %s", trips[0], n, cmd)
			}
		}
	}

	t.Run("cached", func(t *testing.T) {
		t.Parallel()
		r := newReplica(t, RedisOptions{KeyPrefix: prefix, ReadCache: time.Hour}, nil, nil)
		h := &roundTrips{}
		r.client.AddHook(h)
		r.Usage(ctx, ids)
		oneTrip(t, h, "hmget", len(ids))
		r.Usage(ctx, ids)
		r.Usage(ctx, ids[1:3])
		if trips := h.take(); len(trips) != 0 {
			t.Fatalf("fresh usage read Redis: %v", trips)
		}
		r.Cooldowns(ctx, ids)
		oneTrip(t, h, "pttl", len(ids))
		r.Cooldowns(ctx, ids[:2])
		if trips := h.take(); len(trips) != 0 {
			t.Fatalf("fresh cooldowns read Redis: %v", trips)
		}
		// Concurrent readers of a set not cached yet share one fetch.
		more := append([]string{"d6"}, ids...)
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() { r.Cooldowns(ctx, more) })
		}
		wg.Wait()
		oneTrip(t, h, "pttl", len(more))
		healthy(t, r)
	})
	t.Run("uncached", func(t *testing.T) {
		t.Parallel()
		r := newReplica(t, RedisOptions{KeyPrefix: prefix, ReadCache: -1}, nil, nil)
		h := &roundTrips{}
		r.client.AddHook(h)
		for range 2 {
			r.Usage(ctx, ids)
			oneTrip(t, h, "hmget", len(ids))
			r.Cooldowns(ctx, ids)
			oneTrip(t, h, "pttl", len(ids))
		}
		if got := r.Usage(ctx, nil); len(got) != 0 || len(h.take()) != 0 {
			t.Fatal("reading no deployments read Redis")
		}
		healthy(t, r)
	})
}

// proxy stands between a RedisState and Redis, so that a test can cut Redis off without touching the server
// other tests use.
type proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	mode    proxyMode
	clients []net.Conn
	servers []net.Conn
}

type proxyMode int

const (
	forward proxyMode = iota // pass traffic both ways
	hang                     // accept and hold connections, answering nothing (a network partition)
	drop                     // close every connection (Redis restarting)
)

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.handle(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.set(drop)
	})
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) handle(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case drop:
		c.Close()
		return
	case hang:
		p.clients = append(p.clients, c)
		return
	}
	s, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.clients, p.servers = append(p.clients, c), append(p.servers, s)
	go func() {
		io.Copy(s, c)
		s.Close()
	}()
	go func() {
		io.Copy(c, s)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.mode == forward {
			c.Close()
		}
	}()
}

// set switches the proxy's mode, cutting the connections under way when it stops forwarding.
func (p *proxy) set(m proxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m == p.mode {
		return
	}
	for _, s := range p.servers {
		s.Close()
	}
	p.servers = nil
	if m != hang {
		for _, c := range p.clients {
			c.Close()
		}
		p.clients = nil
	}
	p.mode = m
}

// logBuffer collects a logger's output.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) count(s string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), s)
}

const (
	unreachableLog = "router state: Redis unreachable, using local state"
	recoveredLog   = "router state: Redis reachable again, using shared state"
)

func TestRedisOutage(t *testing.T) {
	t.Parallel()
	needRedis(t)
	prefix := testPrefix(t)
	clk := newFakeClock() // one minute, so that what is counted locally is added back in the same minute
	p := startProxy(t, testRedisAddr)
	logs := &logBuffer{}
	const timeout, retry = 100 * time.Millisecond, 300 * time.Millisecond
	a := newReplica(t, RedisOptions{Addr: p.Addr(), KeyPrefix: prefix, Timeout: timeout, RetryInterval: retry,
		ReadCache: -1}, clk.Now, slog.New(slog.NewTextHandler(logs, nil)))
	b := newReplica(t, RedisOptions{KeyPrefix: prefix, ReadCache: -1}, clk.Now, nil)
	h := &roundTrips{}
	a.client.AddHook(h)
	ctx := context.Background()
	// fast runs a call and fails the test when it took much longer than Timeout.
	fast := func(what string, call func()) {
		t.Helper()
		start := time.Now()
		call()
		if took := time.Since(start); took > 5*timeout {
			t.Fatalf("%s took %v during an outage; want it bounded by the %v timeout", what, took, timeout)
		}
	}
	recovers := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for a.Degraded() {
			if time.Now().After(deadline) {
				t.Fatal("the state did not recover after Redis came back")
			}
			a.Cooldowns(ctx, []string{"any"}) // calls drive the probes
			time.Sleep(20 * time.Millisecond)
		}
	}

	if ok, _ := a.Reserve(ctx, "before", 0, 0, 1); !ok || a.Degraded() {
		t.Fatalf("through a working proxy: Reserve ok %v, degraded %v", ok, a.Degraded())
	}
	// A cooldown read from Redis before the outage is still honoured during it.
	b.Failed(ctx, "known", 0, time.Minute)
	if a.Cooldowns(ctx, []string{"known"})[0].IsZero() {
		t.Fatal("the cooldown entered through another replica is not seen")
	}

	p.set(hang)
	start := time.Now()
	fast("the first Reserve", func() {
		if ok, _ := a.Reserve(ctx, "dep", 2, 0, 1); !ok {
			t.Fatal("Reserve was refused when Redis timed out")
		}
	})
	if took := time.Since(start); took < timeout {
		t.Fatalf("the first Reserve took %v: it did not wait for the hanging Redis", took)
	}
	if !a.Degraded() || a.Fallbacks() != 1 || logs.count(unreachableLog) != 1 {
		t.Fatalf("after a timeout: degraded %v, fallbacks %d, %d log lines; want true, 1, 1", a.Degraded(),
			a.Fallbacks(), logs.count(unreachableLog))
	}
	// Local semantics, quickly, with Redis tried again only once per retry interval.
	h.take()
	start = time.Now()
	fast("Reserve", func() {
		if ok, _ := a.Reserve(ctx, "dep", 2, 0, 1); !ok {
			t.Fatal("a second request within rpm 2 was refused")
		}
		if ok, retry := a.Reserve(ctx, "dep", 2, 0, 1); ok || retry != 50*time.Second {
			t.Fatalf("a third request with rpm 2: %v, %v; want false, 50s", ok, retry)
		}
	})
	fast("Failed", func() {
		if !a.Failed(ctx, "bad", 0, time.Minute) {
			t.Fatal("a failure past allowed_fails did not cool the deployment down locally")
		}
	})
	fast("Cooldowns", func() {
		if got := a.Cooldowns(ctx, []string{"bad", "known", "dep"}); got[0].IsZero() || got[1].IsZero() || !got[2].IsZero() {
			t.Fatalf("cooldowns during the outage %v; want bad and known", got)
		}
	})
	fast("Usage", func() {
		if got := a.Usage(ctx, []string{"dep"})[0]; got != (MinuteUsage{2, 2}) {
			t.Fatalf("local usage %v; want {2 2}", got)
		}
	})
	for range 200 {
		fast("Reserve", func() { a.Reserve(ctx, "busy", 0, 0, 1) })
	}
	if trips, most := len(h.take()), 1+int(time.Since(start)/retry); trips > most {
		t.Fatalf("%d calls to Redis during the outage in %v; want at most %d (one per retry interval)", trips,
			time.Since(start), most)
	}

	p.set(forward)
	recovers()
	if a.Fallbacks() != 1 || logs.count(recoveredLog) != 1 {
		t.Fatalf("after recovery: fallbacks %d, %d recovery log lines; want 1, 1", a.Fallbacks(),
			logs.count(recoveredLog))
	}
	// What was counted locally was added to Redis: the other replica sees it.
	if got := b.Cooldowns(ctx, []string{"bad"})[0]; got.IsZero() {
		t.Fatal("the cooldown entered during the outage was not shared after it")
	}
	if got := b.Usage(ctx, []string{"dep"})[0]; got != (MinuteUsage{2, 2}) {
		t.Fatalf("shared usage after the outage %v; want {2 2}", got)
	}
	if ok, _ := a.Reserve(ctx, "dep", 3, 0, 1); !ok {
		t.Fatal("the third request of rpm 3 was refused")
	}
	if ok, _ := b.Reserve(ctx, "dep", 3, 0, 1); ok {
		t.Fatal("a fourth request of rpm 3 passed on the other replica: usage is not shared again")
	}

	// Connections refused or reset rather than hanging: the same, only faster.
	p.set(drop)
	fast("Reserve", func() {
		if ok, _ := a.Reserve(ctx, "other", 1, 0, 1); !ok {
			t.Fatal("Reserve was refused when Redis dropped the connection")
		}
	})
	if !a.Degraded() || a.Fallbacks() != 2 || logs.count(unreachableLog) != 2 {
		t.Fatalf("after a dropped connection: degraded %v, fallbacks %d, %d log lines; want true, 2, 2",
			a.Degraded(), a.Fallbacks(), logs.count(unreachableLog))
	}
	p.set(forward)
	recovers()
	if logs.count(recoveredLog) != 2 {
		t.Fatalf("%d recovery log lines; want 2", logs.count(recoveredLog))
	}
	healthy(t, b)
}

func TestNewRedisStateUnreachable(t *testing.T) {
	t.Parallel()
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logs := &logBuffer{}
	start := time.Now()
	r := newReplica(t, RedisOptions{Addr: addr, Password: "hunter2-secret", Timeout: 50 * time.Millisecond,
		RetryInterval: time.Hour}, nil, slog.New(slog.NewTextHandler(logs, nil)))
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("NewRedisState took %v with Redis down", took)
	}
	if !r.Degraded() || r.Fallbacks() != 1 || logs.count(unreachableLog) != 1 {
		t.Fatalf("degraded %v, fallbacks %d, %d log lines; want true, 1, 1", r.Degraded(), r.Fallbacks(),
			logs.count(unreachableLog))
	}
	if logs.count("hunter2") != 0 {
		t.Fatalf("the password was logged: %s", logs.buf.String())
	}
	ctx := context.Background()
	if ok, _ := r.Reserve(ctx, "dep", 1, 0, 1); !ok {
		t.Fatal("the first request was refused")
	}
	if ok, _ := r.Reserve(ctx, "dep", 1, 0, 1); ok {
		t.Fatal("local state did not enforce rpm 1")
	}
	if !r.Failed(ctx, "dep", 0, time.Minute) || r.Cooldowns(ctx, []string{"dep"})[0].IsZero() {
		t.Fatal("local state did not cool the deployment down")
	}
}

func TestRedisOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		o                RedisOptions
		addr, user, pass string
		db               int
		tls              bool
		err              string
	}{
		{name: "address", o: RedisOptions{Addr: "h:1", Username: "u", Password: "p", DB: 2}, addr: "h:1", user: "u",
			pass: "p", db: 2},
		{name: "the URL wins", o: RedisOptions{Addr: "h:1", DB: 2, URL: "redis://:urlpw@other:6390/3", Password: "p"},
			addr: "other:6390", pass: "urlpw", db: 3},
		{name: "a password fills in the URL's", o: RedisOptions{URL: "rediss://cache.example:6380", Password: "p"},
			addr: "cache.example:6380", pass: "p", tls: true},
		{name: "no address", o: RedisOptions{}, err: "no Redis address"},
		{name: "another scheme", o: RedisOptions{URL: "http://u:s3cr3t-pass@h:1"}, err: "redis:// or rediss://"},
		{name: "a bad URL", o: RedisOptions{URL: "redis://u:s3cr3t-pass@h:notaport/0"}, err: "invalid Redis URL"},
		{name: "a bad database", o: RedisOptions{URL: "redis://u:s3cr3t-pass@h:1/x"}, err: "invalid Redis URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.o.clientOptions()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v; want one saying %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Fatalf("the error quotes the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Addr != tc.addr || got.Username != tc.user || got.Password != tc.pass || got.DB != tc.db ||
				(got.TLSConfig != nil) != tc.tls {
				t.Fatalf("options %s %q %q db %d tls %v; want %s %q %q db %d tls %v", got.Addr, got.Username,
					got.Password, got.DB, got.TLSConfig != nil, tc.addr, tc.user, tc.pass, tc.db, tc.tls)
			}
		})
	}
}

func TestRedisStateDefaults(t *testing.T) {
	t.Parallel()
	r, err := newRedisState(RedisOptions{Addr: "127.0.0.1:1", RetryInterval: time.Hour}, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.prefix != DefaultRedisKeyPrefix || r.timeout != DefaultRedisTimeout || r.readCache != defaultReadCache {
		t.Fatalf("prefix %q, timeout %v, read cache %v; want the defaults", r.prefix, r.timeout, r.readCache)
	}
	if got := r.minuteKey("dep", 7); got != "switchyard:router:{dep}:m:7" {
		t.Fatalf("minute key %q", got)
	}
	if _, err := NewRedisState(RedisOptions{}, nil); err == nil {
		t.Fatal("no error without an address")
	}
}

func BenchmarkRedisReserve(b *testing.B) {
	needRedis(b)
	r := newReplica(b, RedisOptions{KeyPrefix: testPrefix(b)}, nil, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r.Reserve(ctx, "dep", 0, 0, 10)
	}
	healthy(b, r)
}

func BenchmarkRedisCooldownsCached(b *testing.B) {
	needRedis(b)
	r := newReplica(b, RedisOptions{KeyPrefix: testPrefix(b), ReadCache: time.Hour}, nil, nil)
	ctx := context.Background()
	ids := []string{"d1", "d2", "d3"}
	r.Cooldowns(ctx, ids)
	b.ReportAllocs()
	for b.Loop() {
		r.Cooldowns(ctx, ids)
	}
	healthy(b, r)
}
