package cache

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable clock for tests.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func value(s string) Entry               { return Entry{Value: []byte(s)} }
func get(t *testing.T, s Store, k string) string {
	t.Helper()
	e, ok := s.Get(context.Background(), k)
	if !ok {
		return "<miss>"
	}
	return string(e.Value)
}

func TestMemoryGetSetAndTTL(t *testing.T) {
	t.Parallel()
	clk := newClock()
	m := NewMemory(MemoryOptions{TTL: time.Minute, Now: clk.Now})
	ctx := context.Background()
	if got := get(t, m, "a"); got != "<miss>" {
		t.Fatalf("empty store: %q", got)
	}
	m.Set(ctx, "a", value("1"), 0)           // the store's TTL: a minute
	m.Set(ctx, "b", value("2"), time.Second) // its own
	if get(t, m, "a") != "1" || get(t, m, "b") != "2" {
		t.Fatal("stored entries are not found")
	}
	clk.Advance(time.Second)
	if get(t, m, "b") != "<miss>" {
		t.Fatal("an entry outlived its TTL")
	}
	if get(t, m, "a") != "1" {
		t.Fatal("an entry expired early")
	}
	m.Set(ctx, "a", value("one"), 0)
	if get(t, m, "a") != "one" || m.Len() != 1 {
		t.Fatalf("overwrite: %q, %d entries", get(t, m, "a"), m.Len())
	}
	clk.Advance(time.Minute)
	if get(t, m, "a") != "<miss>" || m.Len() != 0 || m.Bytes() != 0 {
		t.Fatalf("after expiry: %d entries, %d bytes", m.Len(), m.Bytes())
	}
}

func TestMemoryCopiesValues(t *testing.T) {
	t.Parallel()
	m := NewMemory(MemoryOptions{})
	b := []byte("original")
	m.Set(context.Background(), "k", Entry{Value: b}, 0)
	copy(b, "CHANGED!")
	if got := get(t, m, "k"); got != "original" {
		t.Fatalf("the store kept the caller's buffer: %q", got)
	}
}

// A small store has one shard, so its bounds are exact: the least recently used entry goes first.
func TestMemoryEvictsLeastRecentlyUsed(t *testing.T) {
	t.Parallel()
	m := NewMemory(MemoryOptions{MaxEntries: 3})
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		m.Set(ctx, k, value(k), 0)
	}
	get(t, m, "a") // a is now the most recently used; b the least
	m.Set(ctx, "d", value("d"), 0)
	if get(t, m, "b") != "<miss>" {
		t.Fatal("the least recently used entry was kept")
	}
	for _, k := range []string{"a", "c", "d"} {
		if get(t, m, k) != k {
			t.Fatalf("%s was evicted", k)
		}
	}
	if m.Len() != 3 {
		t.Fatalf("%d entries, want 3", m.Len())
	}
}

func TestMemoryBoundsBytes(t *testing.T) {
	t.Parallel()
	const size = 100 + entryOverhead + 1 // one-byte key
	m := NewMemory(MemoryOptions{MaxEntries: 100, MaxBytes: 3 * size})
	ctx := context.Background()
	big := strings.Repeat("x", 100)
	for _, k := range []string{"a", "b", "c", "d"} {
		m.Set(ctx, k, value(big), 0)
	}
	if m.Len() != 3 || m.Bytes() != 3*size {
		t.Fatalf("%d entries of %d bytes, want 3 of %d", m.Len(), m.Bytes(), 3*size)
	}
	if get(t, m, "a") != "<miss>" {
		t.Fatal("the oldest entry survived the byte bound")
	}
	m.Set(ctx, "huge", value(strings.Repeat("x", 4*size)), 0)
	if get(t, m, "huge") != "<miss>" || m.Len() != 3 {
		t.Fatal("an entry larger than the whole store was stored (or evicted the others)")
	}
}

// Expired entries at the cold end are dropped before live ones are evicted.
func TestMemoryDropsExpiredBeforeEvicting(t *testing.T) {
	t.Parallel()
	clk := newClock()
	m := NewMemory(MemoryOptions{MaxEntries: 2, Now: clk.Now})
	ctx := context.Background()
	m.Set(ctx, "short", value("s"), time.Second)
	m.Set(ctx, "long", value("l"), time.Hour)
	clk.Advance(2 * time.Second)
	m.Set(ctx, "new", value("n"), time.Hour)
	if get(t, m, "long") != "l" || get(t, m, "new") != "n" || m.Len() != 2 {
		t.Fatal("a live entry was evicted while an expired one was held")
	}
}

func TestMemoryShardsLargeStores(t *testing.T) {
	t.Parallel()
	if n := len(NewMemory(MemoryOptions{}).shards); n != maxShards {
		t.Fatalf("a default store has %d shards, want %d", n, maxShards)
	}
	if n := len(NewMemory(MemoryOptions{MaxEntries: 100}).shards); n != 1 {
		t.Fatalf("a store of 100 entries has %d shards, want 1", n)
	}
}

func TestMemoryConcurrentUse(t *testing.T) {
	t.Parallel()
	m := NewMemory(MemoryOptions{MaxEntries: 5000})
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := fmt.Sprintf("k%d", (i*7+w)%3000)
				if e, ok := m.Get(ctx, k); ok && string(e.Value) != k {
					t.Errorf("%s holds %q", k, e.Value)
					return
				}
				m.Set(ctx, k, value(k), 0)
			}
		}()
	}
	wg.Wait()
	if m.Len() > 5000 {
		t.Fatalf("%d entries past the bound", m.Len())
	}
}
