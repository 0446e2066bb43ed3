package cache

import (
	"bytes"
	"context"
	"hash/maphash"
	"sync"
	"time"
)

// MemoryOptions bound an in-memory store.
type MemoryOptions struct {
	// MaxEntries bounds the number of entries (default DefaultMaxEntries).
	MaxEntries int
	// MaxBytes bounds the bytes held, keys and values plus a fixed overhead per entry (default DefaultMaxBytes).
	MaxBytes int64
	// TTL is the lifetime of entries stored without one (default DefaultTTL).
	TTL time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// Defaults of the in-memory store.
const (
	DefaultMaxEntries = 10_000
	DefaultMaxBytes   = 256 << 20
	DefaultTTL        = 10 * time.Minute
)

const (
	// entryOverhead approximates what an entry costs besides its key and value (the list node, the map slot).
	entryOverhead = 96
	// maxShards is the number of shards of a large store; a small one has fewer, so that its bounds (divided
	// evenly among the shards) stay meaningful.
	maxShards = 16
	// minEntriesPerShard is the least MaxEntries / shards.
	minEntriesPerShard = 64
)

// Memory is an in-memory Store: least recently used entries are evicted past MaxEntries or MaxBytes, and expired
// ones are dropped when met. Keys are spread over shards, each with its own lock, so that concurrent requests
// seldom wait for one another.
type Memory struct {
	shards []memShard
	seed   maphash.Seed
	ttl    time.Duration
	now    func() time.Time
}

type memShard struct {
	mu         sync.Mutex
	items      map[string]*memItem
	head, tail *memItem // head is the most recently used
	bytes      int64
	maxEntries int
	maxBytes   int64
	_          [64]byte // keeps neighbouring shards' locks off one cache line
}

type memItem struct {
	key        string
	entry      Entry
	expires    time.Time
	size       int64
	prev, next *memItem
}

var _ Store = (*Memory)(nil)

// NewMemory returns an in-memory store.
func NewMemory(o MemoryOptions) *Memory {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	n := maxShards
	for n > 1 && o.MaxEntries/n < minEntriesPerShard {
		n /= 2
	}
	m := &Memory{shards: make([]memShard, n), seed: maphash.MakeSeed(), ttl: o.TTL, now: o.Now}
	for i := range m.shards {
		s := &m.shards[i]
		s.items = map[string]*memItem{}
		s.maxEntries = max(1, o.MaxEntries/n)
		s.maxBytes = max(1, o.MaxBytes/int64(n))
	}
	return m
}

func (m *Memory) shard(key string) *memShard {
	if len(m.shards) == 1 {
		return &m.shards[0]
	}
	return &m.shards[maphash.String(m.seed, key)%uint64(len(m.shards))]
}

// Get returns the entry stored under key unless it expired, making it the most recently used.
func (m *Memory) Get(_ context.Context, key string) (Entry, bool) {
	s := m.shard(key)
	now := m.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.items[key]
	if it == nil {
		return Entry{}, false
	}
	if !now.Before(it.expires) {
		s.remove(it)
		return Entry{}, false
	}
	s.toFront(it)
	return it.entry, true
}

// Set stores a copy of the entry, evicting the least recently used entries of its shard as needed. An entry
// larger than the shard's share of MaxBytes is not stored.
func (m *Memory) Set(_ context.Context, key string, e Entry, ttl time.Duration) {
	if ttl <= 0 {
		ttl = m.ttl
	}
	s := m.shard(key)
	size := int64(len(key)+len(e.Value)) + entryOverhead
	if size > s.maxBytes {
		return
	}
	e.Value = bytes.Clone(e.Value)
	now := m.now()
	it := &memItem{key: key, entry: e, expires: now.Add(ttl), size: size}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.items[key]; old != nil {
		s.remove(old)
	}
	s.items[key] = it
	s.pushFront(it)
	s.bytes += size
	// Expired entries at the cold end go first, then the least recently used until the bounds hold.
	for s.tail != nil && s.tail != it && !now.Before(s.tail.expires) {
		s.remove(s.tail)
	}
	for (len(s.items) > s.maxEntries || s.bytes > s.maxBytes) && s.tail != nil && s.tail != it {
		s.remove(s.tail)
	}
}

// Len returns the number of entries held, expired ones not yet dropped included.
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.items)
		s.mu.Unlock()
	}
	return n
}

// Bytes returns the bytes accounted to the entries held.
func (m *Memory) Bytes() int64 {
	var n int64
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += s.bytes
		s.mu.Unlock()
	}
	return n
}

func (s *memShard) pushFront(it *memItem) {
	it.prev, it.next = nil, s.head
	if s.head != nil {
		s.head.prev = it
	}
	s.head = it
	if s.tail == nil {
		s.tail = it
	}
}

func (s *memShard) unlink(it *memItem) {
	if it.prev != nil {
		it.prev.next = it.next
	} else {
		s.head = it.next
	}
	if it.next != nil {
		it.next.prev = it.prev
	} else {
		s.tail = it.prev
	}
	it.prev, it.next = nil, nil
}

func (s *memShard) toFront(it *memItem) {
	if s.head == it {
		return
	}
	s.unlink(it)
	s.pushFront(it)
}

func (s *memShard) remove(it *memItem) {
	s.unlink(it)
	delete(s.items, it.key)
	s.bytes -= it.size
}
