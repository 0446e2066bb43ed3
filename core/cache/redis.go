package cache

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/switchyard/gateway/core/redisopts"
	"github.com/switchyard/gateway/sdk"
)

// RedisOptions configure a Redis store.
type RedisOptions struct {
	// Addr is the server's host:port, used when URL is empty.
	Addr string
	// Username and Password authenticate; with a URL they fill in only what the URL leaves out.
	Username, Password string
	// DB is the database number, used when URL is empty.
	DB int
	// URL ("redis://user:password@host:port/db", "rediss://..." for TLS) wins over Addr and DB when set.
	URL string
	// KeyPrefix starts every key (default DefaultRedisKeyPrefix); the cache key (with its namespace) follows.
	KeyPrefix string
	// TTL is the lifetime of entries stored without one (default DefaultTTL).
	TTL time.Duration
	// Timeout bounds every call to Redis (default DefaultRedisTimeout): past it the call is a miss.
	Timeout time.Duration
	// RetryInterval is how long, after Redis failed, calls skip it before one of them tries again (default 1 s).
	RetryInterval time.Duration
	// PoolSize is the most connections to Redis (default: go-redis's, 10 per CPU).
	PoolSize int
	// Logger reports outages and recoveries (default slog.Default()).
	Logger *slog.Logger
}

const (
	// DefaultRedisKeyPrefix starts the cache's keys in Redis when RedisOptions.KeyPrefix is empty.
	DefaultRedisKeyPrefix = "switchyard:cache:"
	// DefaultRedisTimeout bounds each Redis call when RedisOptions.Timeout is not set.
	DefaultRedisTimeout = 50 * time.Millisecond

	defaultRetryInterval = time.Second
	dialTimeout          = time.Second
	// valueVersion starts every stored value; the creation time (Unix milliseconds, 8 bytes big-endian)
	// follows, then the answer.
	valueVersion = 1
	valueHeader  = 9
)

// Redis is a Store in Redis, shared by gateway replicas. Every call is bounded by Timeout and detached from the
// caller's cancellation. When Redis fails (an error or a timeout) the store degrades: reads are misses and
// writes are dropped without waiting, the outage is logged once and counted (Outages), and after RetryInterval
// one call at a time tries Redis again; when it answers, that is logged once and caching resumes.
type Redis struct {
	client   *redis.Client
	prefix   string
	ttl      time.Duration
	timeout  time.Duration
	retry    time.Duration
	log      *slog.Logger
	password string

	degraded atomic.Bool
	retryAt  atomic.Int64 // Unix nanoseconds after which a call may try Redis again
	outages  atomic.Uint64
}

var (
	_ Store      = (*Redis)(nil)
	_ BatchStore = (*Redis)(nil)
)

// NewRedis returns a store in the Redis server o describes. It does not wait for a connection beyond one quick
// PING, whose failure is logged and starts the store degraded (it recovers by itself); it fails only on invalid
// options.
func NewRedis(o RedisOptions) (*Redis, error) {
	r := &Redis{prefix: o.KeyPrefix, ttl: o.TTL, timeout: o.Timeout, retry: o.RetryInterval, log: o.Logger}
	if r.prefix == "" {
		r.prefix = DefaultRedisKeyPrefix
	}
	if r.ttl <= 0 {
		r.ttl = DefaultTTL
	}
	if r.timeout <= 0 {
		r.timeout = DefaultRedisTimeout
	}
	if r.retry <= 0 {
		r.retry = defaultRetryInterval
	}
	if r.log == nil {
		r.log = slog.Default()
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
	opts.MaxRetries = -1 // a failed call is a miss, not retried
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if o.PoolSize > 0 {
		opts.PoolSize = o.PoolSize
	}
	r.client = redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), max(r.timeout, dialTimeout))
	defer cancel()
	if err := r.client.Ping(ctx).Err(); err != nil {
		r.fail(err)
	}
	return r, nil
}

// clientOptions turns the options into go-redis's, keeping credentials out of errors.
func (o RedisOptions) clientOptions() (*redis.Options, error) {
	return redisopts.Options("response cache", o.URL, o.Addr, o.Username, o.Password, o.DB)
}

// Close closes the connections to Redis.
func (r *Redis) Close() error { return r.client.Close() }

// Degraded reports whether Redis is being skipped because it failed.
func (r *Redis) Degraded() bool { return r.degraded.Load() }

// Outages counts the times Redis became unreachable (each outage once, however long), for metrics.
func (r *Redis) Outages() uint64 { return r.outages.Load() }

// Get reads an entry; an unreachable Redis is a miss.
func (r *Redis) Get(ctx context.Context, key string) (Entry, bool) {
	use, probe := r.begin()
	if !use {
		return Entry{}, false
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	b, err := r.client.Get(cctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		r.end(probe, nil)
		return Entry{}, false
	}
	if !r.end(probe, err) {
		return Entry{}, false
	}
	return decodeValue(b)
}

// GetMany reads several entries in one round trip.
func (r *Redis) GetMany(ctx context.Context, keys []string) []Entry {
	out := make([]Entry, len(keys))
	use, probe := r.begin()
	if !use || len(keys) == 0 {
		return out
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = r.prefix + k
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	vals, err := r.client.MGet(cctx, full...).Result()
	if !r.end(probe, err) {
		return out
	}
	for i, v := range vals {
		if s, ok := v.(string); ok && i < len(out) {
			out[i], _ = decodeValue([]byte(s))
		}
	}
	return out
}

// Set writes an entry; an unreachable Redis drops it.
func (r *Redis) Set(ctx context.Context, key string, e Entry, ttl time.Duration) {
	r.SetMany(ctx, []Item{{Key: key, Entry: e, TTL: ttl}})
}

// SetMany writes several entries in one round trip.
func (r *Redis) SetMany(ctx context.Context, items []Item) {
	use, probe := r.begin()
	if !use || len(items) == 0 {
		return
	}
	cctx, cancel := r.callContext(ctx)
	defer cancel()
	var err error
	if len(items) == 1 {
		it := items[0]
		err = r.client.Set(cctx, r.prefix+it.Key, encodeValue(it.Entry), r.ttlOf(it.TTL)).Err()
	} else {
		pipe := r.client.Pipeline()
		for _, it := range items {
			pipe.Set(cctx, r.prefix+it.Key, encodeValue(it.Entry), r.ttlOf(it.TTL))
		}
		_, err = pipe.Exec(cctx)
	}
	r.end(probe, err)
}

func (r *Redis) ttlOf(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		ttl = r.ttl
	}
	return max(ttl, time.Millisecond)
}

func encodeValue(e Entry) []byte {
	b := make([]byte, valueHeader, valueHeader+len(e.Value))
	b[0] = valueVersion
	binary.BigEndian.PutUint64(b[1:], uint64(e.Created.UnixMilli()))
	return append(b, e.Value...)
}

func decodeValue(b []byte) (Entry, bool) {
	if len(b) < valueHeader || b[0] != valueVersion {
		return Entry{}, false // written by another version: a miss, overwritten by the next store
	}
	created := time.UnixMilli(int64(binary.BigEndian.Uint64(b[1:valueHeader])))
	return Entry{Value: b[valueHeader:], Created: created}, true
}

// callContext bounds a Redis call by Timeout, whether or not the caller is still waiting.
func (r *Redis) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
}

// begin reports whether a call goes to Redis, and whether it probes a Redis that failed: while degraded, one
// call per RetryInterval does.
func (r *Redis) begin() (use, probe bool) {
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

// end records how a Redis call went and reports whether it succeeded.
func (r *Redis) end(probe bool, err error) bool {
	if err != nil {
		r.fail(err)
		return false
	}
	if probe && r.degraded.CompareAndSwap(true, false) {
		r.log.Info("response cache: Redis reachable again, caching resumes")
	}
	return true
}

// fail degrades the store, logging and counting only the change.
func (r *Redis) fail(err error) {
	if r.degraded.Load() {
		return
	}
	r.retryAt.Store(time.Now().Add(r.retry).UnixNano())
	if r.degraded.CompareAndSwap(false, true) {
		r.outages.Add(1)
		r.log.Warn("response cache: Redis unreachable, requests are served without the cache",
			"error", sdk.Redact(err.Error(), r.password), "retry_in", r.retry)
	}
}
