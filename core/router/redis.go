package router

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/switchyard/gateway/core/redisopts"
	"github.com/switchyard/gateway/sdk"
)

// RedisOptions configure a RedisState.
type RedisOptions struct {
	// Addr is the server's host:port, used when URL is empty.
	Addr string
	// Username and Password authenticate (ACL user, or the password alone). With a URL they fill in only what
	// the URL leaves out, so that redis_url and redis_password can be given separately.
	Username, Password string
	// DB is the database number, used when URL is empty.
	DB int
	// URL ("redis://user:password@host:port/db", "rediss://..." for TLS) wins over Addr and DB when set.
	URL string
	// KeyPrefix starts every key (default "switchyard:router:"). Gateways sharing state use the same prefix.
	KeyPrefix string
	// Timeout bounds every call to Redis on the hot path (default 50ms); past it the call is served locally.
	Timeout time.Duration
	// ReadCache is how long Usage and Cooldowns are served from a local copy of what Redis said about a set of
	// deployments (default 100ms); negative reads Redis every time. Reserve and Failed always go to Redis.
	ReadCache time.Duration
	// RetryInterval is how long, after Redis failed, calls are served locally before one of them tries Redis
	// again (default 1s).
	RetryInterval time.Duration
	// PoolSize is the most connections to Redis (default: go-redis's, 10 per CPU).
	PoolSize int
}

const (
	// DefaultRedisKeyPrefix starts the router's keys when RedisOptions.KeyPrefix is empty.
	DefaultRedisKeyPrefix = "switchyard:router:"
	// DefaultRedisTimeout bounds each Redis call when RedisOptions.Timeout is not set.
	DefaultRedisTimeout = 50 * time.Millisecond

	defaultReadCache     = 100 * time.Millisecond
	defaultRetryInterval = time.Second
	// minuteKeyTTL keeps a minute's counters a little past the minute, for replicas whose clocks lag.
	minuteKeyTTL = 2 * time.Minute
	// dialTimeout bounds connecting outside a call (a call's own Timeout bounds connecting inside it).
	dialTimeout = time.Second
	// maxCachedIDs bounds the read cache; past it the cache starts over.
	maxCachedIDs = 8192
)

// RedisState is State shared by gateway replicas through Redis, so that a deployment cooled down by one
// replica is skipped by all and rpm/tpm headroom is global.
//
// Keys (all of one deployment in one cluster hash slot): "<prefix>{id}:m:<unix minute>", a hash of the
// minute's requests and tokens; "<prefix>{id}:f:<unix minute>", the minute's failures; "<prefix>{id}:cd",
// present (with the end time in Unix milliseconds) while the deployment cools down, expiring with the
// cooldown. Checks and increments run in Lua scripts, so they are atomic across replicas. Minutes are taken
// from the replica's clock (replicas are assumed to be NTP-synchronised); cooldowns expire by Redis's clock.
//
// Latencies are kept per replica and not shared: each replica measures the deployments over its own network
// path, sees plenty of samples of its own, and a Redis write per successful call would cost more than a
// shared average is worth to latency-based routing.
//
// Reads (Usage, Cooldowns) are served from a local copy refreshed at most every ReadCache per set of
// deployments, fetched in one round trip and once for all concurrent callers; Reserve, AddTokens and Failed
// always go to Redis and update that copy with what Redis answered. Every Redis call is bounded by Timeout and
// detached from the caller's cancellation, so that a client going away is not mistaken for Redis failing.
//
// When Redis fails (an error or a timeout) the state degrades: calls are served by an embedded MemoryState
// (local limits and cooldowns, plus the cooldowns last read from Redis), which is logged once, and after
// RetryInterval one call at a time tries Redis again. When Redis answers again, that is logged once, the
// cooldowns entered and the requests and tokens counted locally in the current minute are added to Redis (best
// effort), and shared state resumes.
type RedisState struct {
	client    *redis.Client
	prefix    string
	timeout   time.Duration
	readCache time.Duration
	retry     time.Duration
	log       *slog.Logger
	password  string
	now       func() time.Time

	// local serves calls while Redis is unreachable; it starts empty after every recovery.
	local atomic.Pointer[MemoryState]
	// latency holds the moving averages, which are never shared.
	latency *MemoryState

	degraded  atomic.Bool
	retryAt   atomic.Int64 // Unix nanoseconds after which a call may try Redis again
	fallbacks atomic.Uint64

	usage     readCache[usageEntry]
	cooldowns readCache[time.Time]
}

var _ State = (*RedisState)(nil)

type usageEntry struct {
	minute int64
	MinuteUsage
}

// NewRedisState returns a State shared through the Redis server o describes. It does not wait for a
// connection beyond one quick PING, whose failure is logged and starts the state degraded (it recovers by
// itself); it fails only on invalid options.
func NewRedisState(o RedisOptions, log *slog.Logger) (*RedisState, error) {
	return newRedisState(o, log, time.Now)
}

func newRedisState(o RedisOptions, log *slog.Logger, now func() time.Time) (*RedisState, error) {
	if log == nil {
		log = slog.Default()
	}
	r := &RedisState{
		prefix:    o.KeyPrefix,
		timeout:   o.Timeout,
		readCache: o.ReadCache,
		retry:     o.RetryInterval,
		log:       log,
		now:       now,
		latency:   &MemoryState{now: now},
	}
	if r.prefix == "" {
		r.prefix = DefaultRedisKeyPrefix
	}
	if r.timeout <= 0 {
		r.timeout = DefaultRedisTimeout
	}
	if r.readCache == 0 {
		r.readCache = defaultReadCache
	}
	if r.retry <= 0 {
		r.retry = defaultRetryInterval
	}
	opts, err := o.clientOptions()
	if err != nil {
		return nil, err
	}
	r.password = opts.Password
	opts.DialTimeout = dialTimeout
	opts.DialerRetries = 1
	opts.ReadTimeout = r.timeout
	opts.WriteTimeout = r.timeout
	opts.PoolTimeout = r.timeout
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = -1 // a failed call is served locally rather than retried
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if o.PoolSize > 0 {
		opts.PoolSize = o.PoolSize
	}
	r.client = redis.NewClient(opts)
	r.local.Store(&MemoryState{now: now})

	ctx, cancel := context.WithTimeout(context.Background(), max(r.timeout, dialTimeout))
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		r.fail(err)
	}
	return r, nil
}

// clientOptions turns the options into go-redis's, keeping credentials out of errors.
func (o RedisOptions) clientOptions() (*redis.Options, error) {
	return redisopts.Options("router state", o.URL, o.Addr, o.Username, o.Password, o.DB)
}

// Close closes the connections to Redis.
func (r *RedisState) Close() error { return r.client.Close() }

// Degraded reports whether calls are being served locally because Redis failed.
func (r *RedisState) Degraded() bool { return r.degraded.Load() }

// Fallbacks counts the times the state fell back to local state because Redis failed.
func (r *RedisState) Fallbacks() uint64 { return r.fallbacks.Load() }

func (r *RedisState) minuteKey(id string, minute int64) string {
	return r.prefix + "{" + id + "}:m:" + strconv.FormatInt(minute, 10)
}

func (r *RedisState) failKey(id string, minute int64) string {
	return r.prefix + "{" + id + "}:f:" + strconv.FormatInt(minute, 10)
}

func (r *RedisState) cooldownKey(id string) string { return r.prefix + "{" + id + "}:cd" }

// callContext bounds a Redis call by Timeout, whether or not the caller is still waiting.
func (r *RedisState) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
}

// begin reports whether a call goes to Redis, and whether it probes a Redis that failed: while degraded, one
// call per RetryInterval does.
func (r *RedisState) begin() (use, probe bool) {
	if !r.degraded.Load() {
		return true, false
	}
	now := time.Now().UnixNano()
	at := r.retryAt.Load()
	if now < at || !r.retryAt.CompareAndSwap(at, now+int64(r.retry)) {
		return false, false
	}
	return true, true
}

// end records how a Redis call went and reports whether it succeeded; when it did not, the caller serves the
// call locally.
func (r *RedisState) end(probe bool, err error) bool {
	if err != nil {
		r.fail(err)
		return false
	}
	if probe {
		r.recover()
	}
	return true
}

// fail degrades the state, logging only the change.
func (r *RedisState) fail(err error) {
	if r.degraded.Load() {
		return
	}
	r.retryAt.Store(time.Now().Add(r.retry).UnixNano())
	if r.degraded.CompareAndSwap(false, true) {
		r.fallbacks.Add(1)
		r.log.Warn("router state: Redis unreachable, using local state",
			"error", sdk.Redact(err.Error(), r.password), "retry_in", r.retry)
	}
}

// recover resumes shared state after a successful probe and adds to Redis what was counted locally meanwhile.
func (r *RedisState) recover() {
	if !r.degraded.CompareAndSwap(true, false) {
		return
	}
	old := r.local.Swap(&MemoryState{now: r.now})
	r.log.Info("router state: Redis reachable again, using shared state")
	if err := r.reconcile(old); err != nil {
		r.fail(err)
	}
}

// reconcile adds the cooldowns still running and the current minute's usage of a local state to Redis. A
// cooldown already in Redis is kept. Calls that were still served by the local state while this ran are lost.
func (r *RedisState) reconcile(old *MemoryState) error {
	ctx, cancel := r.callContext(context.Background())
	defer cancel()
	now := r.now()
	minute := now.Unix() / 60
	pipe := r.client.Pipeline()
	old.deps.Range(func(k, v any) bool {
		id, d := k.(string), v.(*depState)
		d.mu.Lock()
		until, m, requests, tokens := d.cooldownUntil, d.minute, d.requests, d.tokens
		d.mu.Unlock()
		if left := until.Sub(now); left > 0 {
			pipe.SetNX(ctx, r.cooldownKey(id), until.UnixMilli(), max(left, time.Millisecond))
		}
		if m == minute && (requests != 0 || tokens != 0) {
			key := r.minuteKey(id, minute)
			pipe.HIncrBy(ctx, key, "requests", int64(requests))
			pipe.HIncrBy(ctx, key, "tokens", int64(tokens))
			pipe.PExpire(ctx, key, minuteKeyTTL)
		}
		return true
	})
	if pipe.Len() == 0 {
		return nil
	}
	_, err := pipe.Exec(ctx)
	return err
}

// reserveScript checks a minute's requests and tokens against rpm and tpm (0: unlimited) and counts one
// request and its tokens when both allow it, as MemoryState.Reserve does: a minute with no tokens yet admits
// any estimate. It returns {admitted (0 or 1), requests, tokens}.
var reserveScript = redis.NewScript(`
local v = redis.call('HMGET', KEYS[1], 'requests', 'tokens')
local requests, tokens = tonumber(v[1] or 0), tonumber(v[2] or 0)
local rpm, tpm, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if (rpm > 0 and requests + 1 > rpm) or (tpm > 0 and tokens > 0 and tokens + n > tpm) then
  return {0, requests, tokens}
end
requests = redis.call('HINCRBY', KEYS[1], 'requests', 1)
tokens = redis.call('HINCRBY', KEYS[1], 'tokens', n)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, requests, tokens}
`)

// addTokensScript adds tokens (maybe negative) to a minute, never going below zero. It returns {requests,
// tokens}.
var addTokensScript = redis.NewScript(`
local tokens = redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[1])
if tokens < 0 then
  redis.call('HSET', KEYS[1], 'tokens', 0)
  tokens = 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {tonumber(redis.call('HGET', KEYS[1], 'requests') or 0), tokens}
`)

// failedScript counts a failure in the minute's counter (KEYS[1]); when the count passes allowedFails
// (ARGV[1]) and the deployment is not cooling down (KEYS[2] absent), it starts the cooldown (ARGV[2]
// milliseconds; the key holds the end time ARGV[3]) and resets the count, as MemoryState.Failed does. It
// returns {entered (0 or 1), milliseconds of cooldown left (negative: none)}.
var failedScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
if n > tonumber(ARGV[1]) and redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[1])
  local ms = tonumber(ARGV[2])
  if ms <= 0 then
    return {1, -2}
  end
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ms)
  return {1, ms}
end
return {0, redis.call('PTTL', KEYS[2])}
`)

// ints returns a script's reply of n integers.
func ints(cmd *redis.Cmd, n int) ([]int64, error) {
	v, err := cmd.Int64Slice()
	if err == nil && len(v) != n {
		err = fmt.Errorf("router state: a script returned %d values, want %d", len(v), n)
	}
	return v, err
}

// Reserve implements State.Reserve, atomically across replicas.
func (r *RedisState) Reserve(ctx context.Context, id string, rpm, tpm, tokens int) (bool, time.Duration) {
	now := r.now()
	if use, probe := r.begin(); use {
		cctx, cancel := r.callContext(ctx)
		defer cancel()
		minute := now.Unix() / 60
		v, err := ints(reserveScript.Run(cctx, r.client, []string{r.minuteKey(id, minute)},
			rpm, tpm, tokens, minuteKeyTTL.Milliseconds()), 3)
		if r.end(probe, err) {
			r.usage.update(id, usageEntry{minute, MinuteUsage{Requests: int(v[1]), Tokens: int(v[2])}})
			if v[0] == 1 {
				return true, 0
			}
			return false, untilNextMinute(now)
		}
	}
	return r.local.Load().Reserve(ctx, id, rpm, tpm, tokens)
}

// AddTokens implements State.AddTokens.
func (r *RedisState) AddTokens(ctx context.Context, id string, tokens int) {
	if tokens == 0 {
		return
	}
	now := r.now()
	if use, probe := r.begin(); use {
		cctx, cancel := r.callContext(ctx)
		defer cancel()
		minute := now.Unix() / 60
		v, err := ints(addTokensScript.Run(cctx, r.client, []string{r.minuteKey(id, minute)},
			tokens, minuteKeyTTL.Milliseconds()), 2)
		if r.end(probe, err) {
			r.usage.update(id, usageEntry{minute, MinuteUsage{Requests: int(v[0]), Tokens: int(v[1])}})
			return
		}
	}
	r.local.Load().AddTokens(ctx, id, tokens)
}

// Usage implements State.Usage: from the local copy when it is fresh, else in one round trip.
func (r *RedisState) Usage(ctx context.Context, ids []string) []MinuteUsage {
	out := make([]MinuteUsage, len(ids))
	if len(ids) == 0 {
		return out
	}
	now := r.now()
	minute := now.Unix() / 60
	key := strconv.FormatInt(minute, 10) + "\x00" + strings.Join(ids, "\x00")
	valid := func(e usageEntry) bool { return e.minute == minute }
	vals, ok := r.usage.load(key, ids, now, r.readCache, valid, func() ([]usageEntry, bool) {
		return r.fetchUsage(ctx, ids, minute)
	})
	if !ok {
		return r.local.Load().Usage(ctx, ids)
	}
	for i, v := range vals {
		out[i] = v.MinuteUsage
	}
	return out
}

func (r *RedisState) fetchUsage(ctx context.Context, ids []string, minute int64) ([]usageEntry, bool) {
	use, probe := r.begin()
	if !use {
		return nil, false
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	pipe := r.client.Pipeline()
	cmds := make([]*redis.SliceCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HMGet(cctx, r.minuteKey(id, minute), "requests", "tokens")
	}
	if _, err := pipe.Exec(cctx); !r.end(probe, err) {
		return nil, false
	}
	out := make([]usageEntry, len(ids))
	for i, c := range cmds {
		v := c.Val()
		out[i] = usageEntry{minute: minute}
		if len(v) == 2 {
			out[i].Requests, out[i].Tokens = atoi(v[0]), atoi(v[1])
		}
	}
	return out, true
}

// atoi reads a hash field; a missing or malformed one is zero.
func atoi(v any) int {
	s, _ := v.(string)
	n, _ := strconv.Atoi(s)
	return n
}

// Failed implements State.Failed: of replicas recording failures at once, exactly one reports entering the
// cooldown.
func (r *RedisState) Failed(ctx context.Context, id string, allowedFails int, cooldown time.Duration) bool {
	now := r.now()
	if use, probe := r.begin(); use {
		cctx, cancel := r.callContext(ctx)
		defer cancel()
		ms := cooldown.Milliseconds()
		if cooldown > 0 && cooldown%time.Millisecond != 0 {
			ms++ // PX takes whole milliseconds; round up rather than drop a sub-millisecond cooldown
		}
		until := now.Add(cooldown)
		v, err := ints(failedScript.Run(cctx, r.client,
			[]string{r.failKey(id, now.Unix()/60), r.cooldownKey(id)},
			allowedFails, ms, until.UnixMilli(), minuteKeyTTL.Milliseconds()), 2)
		if r.end(probe, err) {
			var known time.Time
			if v[1] >= 0 { // a PTTL of 0: the key is there for less than a millisecond more
				known = expiry(r.now(), v[1])
			}
			r.cooldowns.update(id, known)
			return v[0] == 1
		}
	}
	return r.local.Load().Failed(ctx, id, allowedFails, cooldown)
}

// Cooldowns implements State.Cooldowns: from the local copy when it is fresh, else in one round trip. While
// Redis is unreachable it merges the local cooldowns with those last read from Redis.
func (r *RedisState) Cooldowns(ctx context.Context, ids []string) []time.Time {
	out := make([]time.Time, len(ids))
	if len(ids) == 0 {
		return out
	}
	now := r.now()
	vals, ok := r.cooldowns.load(strings.Join(ids, "\x00"), ids, now, r.readCache, nil, func() ([]time.Time, bool) {
		return r.fetchCooldowns(ctx, ids, now)
	})
	if !ok {
		vals = r.cooldowns.last(ids)
		for i, t := range r.local.Load().Cooldowns(ctx, ids) {
			if t.After(vals[i]) {
				vals[i] = t
			}
		}
	}
	for i, until := range vals {
		if now.Before(until) {
			out[i] = until
		}
	}
	return out
}

func (r *RedisState) fetchCooldowns(ctx context.Context, ids []string, now time.Time) ([]time.Time, bool) {
	use, probe := r.begin()
	if !use {
		return nil, false
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	pipe := r.client.Pipeline()
	cmds := make([]*redis.DurationCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.PTTL(cctx, r.cooldownKey(id))
	}
	if _, err := pipe.Exec(cctx); !r.end(probe, err) {
		return nil, false
	}
	out := make([]time.Time, len(ids))
	done := r.now()
	for i, c := range cmds {
		// A key with less than a millisecond left answers 0 (a missing one -2, one without expiry -1): it is still
		// there, and a failure now would find it.
		if left := c.Val(); left >= 0 {
			out[i] = expiry(done, left.Milliseconds())
		}
	}
	return out, true
}

// expiryMargin covers what makes a key outlive its PTTL as seen from here: PTTL truncates to milliseconds, and
// Redis deletes a key only once its clock (cached per event-loop cycle) is past the expiry time.
const expiryMargin = 5 * time.Millisecond

// expiry is when a key Redis said had ttlMS milliseconds left expires, seen from this replica: counted from
// after the answer arrived, plus expiryMargin, so that the local view never ends a cooldown before Redis does
// (a failure right after would otherwise find the key still there and start none).
func expiry(answered time.Time, ttlMS int64) time.Time {
	return answered.Add(time.Duration(ttlMS)*time.Millisecond + expiryMargin)
}

// Observe implements State.Observe; latencies stay in this replica.
func (r *RedisState) Observe(ctx context.Context, id string, perToken, ttft time.Duration) {
	r.latency.Observe(ctx, id, perToken, ttft)
}

// Latencies implements State.Latencies with this replica's averages.
func (r *RedisState) Latencies(ctx context.Context, ids []string) []Latency {
	return r.latency.Latencies(ctx, ids)
}

// readCache is the local copy of what Redis said about each deployment, and the fetches under way.
type readCache[T any] struct {
	mu      sync.Mutex
	entries map[string]cacheEntry[T]
	flights map[string]*flight[T]
}

type cacheEntry[T any] struct {
	at  time.Time // when the value was fetched; zero when it was only written through
	val T
}

// flight is a fetch whose result every caller asking for the same set while it runs shares.
type flight[T any] struct {
	done chan struct{}
	vals []T
	ok   bool
}

// load returns the values of ids: from the cache when every one was fetched less than ttl before now (and is
// valid), else from fetch, run once for all callers of the same key at the same time. The values returned are
// shared and must not be modified.
func (c *readCache[T]) load(key string, ids []string, now time.Time, ttl time.Duration, valid func(T) bool,
	fetch func() ([]T, bool)) ([]T, bool) {
	c.mu.Lock()
	if vals, ok := c.fresh(ids, now, ttl, valid); ok {
		c.mu.Unlock()
		return vals, true
	}
	if f, ok := c.flights[key]; ok {
		c.mu.Unlock()
		<-f.done
		return f.vals, f.ok
	}
	f := &flight[T]{done: make(chan struct{})}
	if c.flights == nil {
		c.flights = map[string]*flight[T]{}
	}
	c.flights[key] = f
	c.mu.Unlock()

	defer func() {
		c.mu.Lock()
		delete(c.flights, key)
		if f.ok {
			if c.entries == nil || len(c.entries)+len(ids) > maxCachedIDs {
				c.entries = make(map[string]cacheEntry[T], len(ids))
			}
			for i, id := range ids {
				c.entries[id] = cacheEntry[T]{at: now, val: f.vals[i]}
			}
		}
		c.mu.Unlock()
		close(f.done)
	}()
	f.vals, f.ok = fetch()
	return f.vals, f.ok
}

// fresh returns the cached values of ids if all are fresh; c.mu is held.
func (c *readCache[T]) fresh(ids []string, now time.Time, ttl time.Duration, valid func(T) bool) ([]T, bool) {
	if ttl <= 0 {
		return nil, false
	}
	out := make([]T, len(ids))
	for i, id := range ids {
		e, ok := c.entries[id]
		if !ok || e.at.IsZero() || now.Sub(e.at) >= ttl || now.Before(e.at) || (valid != nil && !valid(e.val)) {
			return nil, false
		}
		out[i] = e.val
	}
	return out, true
}

// update replaces the value of one id with what Redis just answered, keeping its fetch time: a value written
// through must not make the rest of a set look fresh.
func (c *readCache[T]) update(id string, val T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if c.entries == nil || (!ok && len(c.entries) >= maxCachedIDs) {
		c.entries = map[string]cacheEntry[T]{}
	}
	e.val = val
	c.entries[id] = e
}

// last returns the values last known of ids, however old (zero when unknown).
func (c *readCache[T]) last(ids []string) []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = c.entries[id].val
	}
	return out
}
