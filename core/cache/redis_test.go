package cache

import (
	"bytes"
	"context"
	"fmt"
	"github.com/switchyard/gateway/internal/faultproxy"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const redisAddr = "127.0.0.1:6379"

// needRedis skips a test when Redis is not on 127.0.0.1:6379, except under CI=true, where it must be.
func needRedis(t *testing.T) {
	t.Helper()
	c, err := net.DialTimeout("tcp", redisAddr, 500*time.Millisecond)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis is not reachable at %s (required under CI=true): %v", redisAddr, err)
		}
		t.Skipf("Redis is not reachable at %s; skipping: %v", redisAddr, err)
	}
	c.Close()
}

// testPrefix returns a key prefix of the test's own and deletes its keys when the test ends.
func testPrefix(t *testing.T) string {
	prefix := fmt.Sprintf("switchyard-test:cache:%s:%d:", t.Name(), rand.Int64())
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer c.Close()
		ctx := context.Background()
		keys, _ := c.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return prefix
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRedisStore(t *testing.T) {
	t.Parallel()
	needRedis(t)
	prefix := testPrefix(t)
	r, err := NewRedis(RedisOptions{Addr: redisAddr, KeyPrefix: prefix, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if _, ok := r.Get(ctx, "missing"); ok {
		t.Fatal("a hit on an empty prefix")
	}
	created := time.UnixMilli(time.Now().UnixMilli())
	r.Set(ctx, "a", Entry{Value: []byte("answer a"), Created: created}, 0)
	e, ok := r.Get(ctx, "a")
	if !ok || string(e.Value) != "answer a" || !e.Created.Equal(created) {
		t.Fatalf("get: %v %q %v", ok, e.Value, e.Created)
	}
	raw := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer raw.Close()
	if ttl := raw.TTL(ctx, prefix+"a").Val(); ttl <= 0 || ttl > time.Minute {
		t.Fatalf("the key is not under the prefix with the store's TTL: %v", ttl)
	}

	r.SetMany(ctx, []Item{{Key: "b", Entry: Entry{Value: []byte("B")}}, {Key: "c", Entry: Entry{Value: []byte("C")},
		TTL: 100 * time.Millisecond}})
	got := r.GetMany(ctx, []string{"a", "nope", "b", "c"})
	if string(got[0].Value) != "answer a" || got[1].Value != nil || string(got[2].Value) != "B" || string(got[3].Value) != "C" {
		t.Fatalf("get many: %q %q %q %q", got[0].Value, got[1].Value, got[2].Value, got[3].Value)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := r.Get(ctx, "c"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an entry outlived its TTL")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A value this version did not write is a miss.
	raw.Set(ctx, prefix+"foreign", "plain text", time.Minute)
	if _, ok := r.Get(ctx, "foreign"); ok {
		t.Fatal("a foreign value was read as an entry")
	}
	if r.Degraded() || r.Outages() != 0 {
		t.Fatal("a healthy Redis is reported down")
	}
}

// Redis going away mid-use makes the store a quick miss (logged and counted once); it recovers by itself.
func TestRedisOutageAndRecovery(t *testing.T) {
	t.Parallel()
	needRedis(t)
	proxy := faultproxy.New(t, redisAddr)
	logs := &syncBuffer{}
	r, err := NewRedis(RedisOptions{Addr: proxy.Addr(), KeyPrefix: testPrefix(t),
		RetryInterval: 100 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	r.Set(ctx, "k", Entry{Value: []byte("v")}, 0)
	if _, ok := r.Get(ctx, "k"); !ok {
		t.Fatal("no hit through the proxy")
	}

	proxy.Cut()
	for i := 0; i < 20; i++ {
		begin := time.Now()
		if _, ok := r.Get(ctx, "k"); ok {
			t.Fatal("a hit while Redis is cut off")
		}
		r.Set(ctx, "other", Entry{Value: []byte("x")}, 0)
		if took := time.Since(begin); took > time.Second {
			t.Fatalf("a call took %s while Redis was cut off", took)
		}
	}
	if !r.Degraded() || r.Outages() != 1 {
		t.Fatalf("degraded %v, outages %d; want true, 1", r.Degraded(), r.Outages())
	}

	proxy.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := r.Get(ctx, "k"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the store did not recover after Redis came back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.Degraded() || r.Outages() != 1 {
		t.Fatalf("after recovery: degraded %v, outages %d", r.Degraded(), r.Outages())
	}
	out := logs.String()
	if n := strings.Count(out, "Redis unreachable"); n != 1 {
		t.Fatalf("the outage was logged %d times:\n%s", n, out)
	}
	if n := strings.Count(out, "Redis reachable again"); n != 1 {
		t.Fatalf("the recovery was logged %d times:\n%s", n, out)
	}
}

func TestRedisOptionsErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		o    RedisOptions
		want string
	}{
		{RedisOptions{}, "no Redis address"},
		{RedisOptions{URL: "http://h:6379"}, "must start with redis://"},
		{RedisOptions{URL: "redis://user:hunter2secret@h:port/0"}, "invalid Redis URL"},
	} {
		_, err := NewRedis(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.o, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// The stage over Redis: a hit, and requests served as misses while Redis is cut off.
func TestStageOverRedis(t *testing.T) {
	t.Parallel()
	needRedis(t)
	proxy := faultproxy.New(t, redisAddr)
	r, err := NewRedis(RedisOptions{Addr: proxy.Addr(), KeyPrefix: testPrefix(t),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h := newHarness(t, Options{Store: r})
	h.chat(chatBody("hi", ""))
	if res := h.chat(chatBody("hi", "")); !res.call.CacheHit {
		t.Fatal("no hit through Redis")
	}
	h.chat(chatBody("hi", `,"stream":true`))
	h.calls(1)
	proxy.Cut()
	for i := 0; i < 3; i++ {
		if res := h.chat(chatBody("hi", "")); res.call.CacheHit || res.call.Err != nil {
			t.Fatalf("during the outage: hit %v, err %v", res.call.CacheHit, res.call.Err)
		}
	}
	h.calls(4)
}
