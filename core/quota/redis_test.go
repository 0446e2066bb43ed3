package quota

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func newTestRedis(t *testing.T) (*Redis, *redis.Client, *fakeClock) {
	client := redisClient(t)
	r := NewRedis(client, redisPrefix(t, client))
	clk := newClock()
	r.now = clk.Now
	return r, client, clk
}

func TestRedisKeysExpire(t *testing.T) {
	t.Parallel()
	r, client, clk := newTestRedis(t)
	ctx := context.Background()
	p := clk.period(30)
	dated := Scope{ID: "team:ttl", Label: "team", RPM: 5, Budget: usd(1), Period: p}
	forever := Scope{ID: "key:ttl", Label: "key", Budget: usd(1)}
	req := reqAt(clk, dated, forever)
	req.Reserve = 0.1
	admit(t, r, req)

	ttl := func(id, kind string, n int64, withN bool) time.Duration {
		t.Helper()
		d, err := client.TTL(ctx, r.key(id, kind, n, withN)).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	m := clk.minute()
	if d := ttl(dated.ID, "rpm", m, true); d <= 0 || d > windowTTL {
		t.Fatalf("rpm window TTL %v", d)
	}
	if d := ttl(dated.ID, "inflight", 0, false); d <= 0 || d > holdTTL {
		t.Fatalf("in-flight TTL %v", d)
	}
	if d := ttl(dated.ID, "reserved", p, true); d <= 0 || d > holdTTL {
		t.Fatalf("reserved TTL %v", d)
	}
	untilEnd := time.Until(time.Unix(p, 0))
	if d := ttl(dated.ID, "spend", p, true); d < untilEnd || d > untilEnd+spendGrace+time.Minute {
		t.Fatalf("dated spend TTL %v, want the period's end plus a grace", d)
	}
	if d := ttl(forever.ID, "spend", 0, true); d != -1 {
		t.Fatalf("spend TTL %v for a budget that never resets, want none", d)
	}
	if !strings.HasPrefix(r.key("x", "rpm", 7, true), r.prefix+"q:{x}:rpm:7") {
		t.Fatalf("key layout %q", r.key("x", "rpm", 7, true))
	}
}

// TestRedisSettleNeverNegative: keys that expired while a request ran (a long request, an idle scope) are not
// driven below zero by its settlement.
func TestRedisSettleNeverNegative(t *testing.T) {
	t.Parallel()
	r, client, clk := newTestRedis(t)
	ctx := context.Background()
	p := clk.period(30)
	s := Scope{ID: "key:neg", Label: "key", Parallel: 1, Budget: usd(1), Period: p, Baseline: 0.25}
	req := reqAt(clk, s)
	req.Reserve = 0.5
	tk := admit(t, r, req)
	client.Del(ctx, r.key(s.ID, "inflight", 0, false), r.key(s.ID, "reserved", p, true),
		r.key(s.ID, "spend", p, true))
	settle(t, r, tk, 0, 0.1)
	for _, k := range []string{r.key(s.ID, "inflight", 0, false), r.key(s.ID, "reserved", p, true)} {
		if err := client.Get(ctx, k).Err(); !errors.Is(err, redis.Nil) {
			t.Fatalf("%s after settling: %v, want no key", k, err)
		}
	}
	wantFloat(t, "spend reseeded from the baseline", spend(t, r, s.ID, p, 0), 0.35)
	wantFloat(t, "reservation", admit(t, r, req).Reserved[0], 0.5)
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	r := deadRedis(t)
	ctx := context.Background()
	s := Scope{ID: "key:x", Label: "key", RPM: 1}
	_, err := r.Admit(ctx, Request{Scopes: []Scope{s}, Now: time.Now()})
	var d *Denial
	if err == nil || errors.As(err, &d) || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("admit: %v, want a redis error", err)
	}
	tk := &Ticket{Scopes: []Scope{s}, Reserved: []float64{0}}
	if err := r.Settle(ctx, tk, 1, 1); err == nil || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("settle: %v, want a redis error", err)
	}
	if _, err := r.Spend(ctx, s.ID, 0, 0); err == nil {
		t.Fatal("spend: no error")
	}
	if err := r.SetSpend(ctx, s.ID, 0, 1); err == nil {
		t.Fatal("set spend: no error")
	}
}

func TestRedisMalformedReply(t *testing.T) {
	scopes := []Scope{{ID: "a", Budget: usd(1)}}
	for name, reply := range map[string][]any{
		"short":           {int64(1)},
		"wrong types":     {"1", int64(0), "", "0", "0", int64(0), int64(0), "0"},
		"bad float":       {int64(1), int64(0), "", "0", "0", int64(0), int64(0), "x"},
		"scope of denial": {int64(0), int64(5), "rpm", "0", "0", int64(0), int64(0), "0"},
	} {
		if tk, err := parseAdmit(scopes, 1, reply); err == nil {
			t.Errorf("%s: ticket %+v, want an error", name, tk)
		}
	}
}
