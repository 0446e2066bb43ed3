package quota

import (
	"context"
	"crypto/rand"
	"errors"
	"math"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisAddr is the Redis server the Redis tests use.
const redisAddr = "127.0.0.1:6379"

// fakeClock is a settable clock shared by a test and the counters under test.
type fakeClock struct{ unixNano atomic.Int64 }

// newClock starts a clock one second into the current minute; real time, since Redis expires spend keys at
// absolute times.
func newClock() *fakeClock {
	c := &fakeClock{}
	c.unixNano.Store(time.Now().Truncate(time.Minute).Add(time.Second).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time      { return time.Unix(0, c.unixNano.Load()) }
func (c *fakeClock) Add(d time.Duration) { c.unixNano.Add(int64(d)) }
func (c *fakeClock) minute() int64       { return minuteOf(c.Now()) }
func (c *fakeClock) reset() time.Time    { return time.Unix((c.minute()+1)*60, 0) }
func (c *fakeClock) period(days int) int64 {
	return c.Now().Add(time.Duration(days) * 24 * time.Hour).Unix()
}
func usd(v float64) *float64                 { return &v }
func near(a, b float64) bool                 { return math.Abs(a-b) < 1e-9 }
func reqAt(c *fakeClock, s ...Scope) Request { return Request{Scopes: s, Now: c.Now()} }

// redisClient returns a client of the test Redis server, skipping the test when it is unreachable (failing it
// when CI=true).
func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: redisAddr, DialTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("Redis at %s is required in CI: %v", redisAddr, err)
		}
		t.Skipf("Redis at %s is unreachable (%v); skipping", redisAddr, err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return client
}

// redisPrefix returns a unique key prefix and deletes its keys when the test ends.
func redisPrefix(t testing.TB, client *redis.Client) string {
	prefix := "test:quota:" + rand.Text() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, err := client.Keys(ctx, prefix+"*").Result()
		if err == nil && len(keys) > 0 {
			client.Del(ctx, keys...)
		}
	})
	return prefix
}

// closedAddr returns an address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// deadRedis returns Redis counters pointed at a closed port.
func deadRedis(t testing.TB) *Redis {
	client := redis.NewClient(&redis.Options{Addr: closedAddr(t), DialTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = client.Close() })
	return NewRedis(client, "test:quota:dead:")
}

// admit admits r, failing the test on any error.
func admit(t *testing.T, c Counters, r Request) *Ticket {
	t.Helper()
	tk, err := c.Admit(context.Background(), r)
	if err != nil {
		t.Fatalf("admit: %v", err)
	}
	return tk
}

// deny admits r expecting a denial by scope id for reason.
func deny(t *testing.T, c Counters, r Request, reason Reason, id string) *Denial {
	t.Helper()
	tk, err := c.Admit(context.Background(), r)
	var d *Denial
	if !errors.As(err, &d) {
		t.Fatalf("admit: want a %s denial by %s, got ticket %v, error %v", reason, id, tk, err)
	}
	if d.Reason != reason || d.Scope.ID != id {
		t.Fatalf("denial: want %s by %s, got %s by %s", reason, id, d.Reason, d.Scope.ID)
	}
	return d
}

func settle(t *testing.T, c Counters, tk *Ticket, tokens int64, cost float64) {
	t.Helper()
	if err := c.Settle(context.Background(), tk, tokens, cost); err != nil {
		t.Fatalf("settle: %v", err)
	}
}

func spend(t *testing.T, c Counters, id string, period int64, baseline float64) float64 {
	t.Helper()
	v, err := c.Spend(context.Background(), id, period, baseline)
	if err != nil {
		t.Fatalf("spend: %v", err)
	}
	return v
}

func setSpend(t *testing.T, c Counters, id string, period int64, v float64) {
	t.Helper()
	if err := c.SetSpend(context.Background(), id, period, v); err != nil {
		t.Fatalf("set spend: %v", err)
	}
}

func wantFloat(t *testing.T, what string, got, want float64) {
	t.Helper()
	if !near(got, want) {
		t.Fatalf("%s = %.12g, want %.12g", what, got, want)
	}
}
