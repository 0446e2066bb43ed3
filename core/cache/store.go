// Package cache is the gateway's response cache (LiteLLM's litellm_settings.cache with cache_params): a
// pipeline stage that answers a request from a stored answer to the same request, and stores the answers it did
// not have, in memory (Memory) or in Redis (Redis).
//
// What makes two requests "the same" is the cache key (see Key): a SHA-256 over the call type, the model asked
// for, the tenant (the caller's team, else its key) and a canonical form of every request member that reaches
// the provider, with JSON objects compared regardless of member order. Gateway controls that do not change the
// answer (stream, stream_options, metadata, tags, timeouts, retries, fallbacks, the cache controls themselves)
// are left out, so a streamed request hits an answer stored by a plain one and the other way round.
//
// Per request, the body's "cache" object steers the cache as in LiteLLM (see ParseControls): no-cache, no-store,
// ttl, s-maxage, namespace and use-cache (the only way in when the cache is configured with mode: default_off).
package cache

import (
	"context"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// Entry is a stored answer.
type Entry struct {
	// Value is the encoded answer. Stores hand out their own copy, which callers must not modify.
	Value []byte
	// Created is when the answer was stored (for s-maxage).
	Created time.Time
	// Usage is the usage of a chat or text completion answer, read from Value when the answer was stored, so
	// that a hit does not search the answer for it. Stores that keep entries as Go values (Memory) keep it;
	// stores that keep bytes (Redis) do not, and a hit then reads it from Value. Callers must not modify it.
	Usage *sdk.Usage
}

// Store keeps entries by key. Implementations are safe for concurrent use and never fail a request: a store
// that cannot answer (Redis unreachable) reports a miss and drops writes.
type Store interface {
	// Get returns the live entry stored under key.
	Get(ctx context.Context, key string) (Entry, bool)
	// Set stores an entry under key for ttl (<= 0: the store's own bound, if any). Writes are best effort.
	Set(ctx context.Context, key string, e Entry, ttl time.Duration)
}

// Item is one entry to store with SetMany.
type Item struct {
	Key   string
	Entry Entry
	TTL   time.Duration
}

// BatchStore is implemented by stores that read and write several entries in one round trip; embeddings
// requests with many inputs use it (each input is an entry of its own).
type BatchStore interface {
	// GetMany returns one entry per key, in order, with a nil Value for each miss.
	GetMany(ctx context.Context, keys []string) []Entry
	// SetMany stores the items.
	SetMany(ctx context.Context, items []Item)
}

// getMany reads several keys, in one round trip when the store can.
func getMany(ctx context.Context, s Store, keys []string) []Entry {
	if b, ok := s.(BatchStore); ok {
		return b.GetMany(ctx, keys)
	}
	out := make([]Entry, len(keys))
	for i, k := range keys {
		if e, ok := s.Get(ctx, k); ok {
			out[i] = e
		}
	}
	return out
}

// setMany writes several items, in one round trip when the store can.
func setMany(ctx context.Context, s Store, items []Item) {
	if len(items) == 0 {
		return
	}
	if b, ok := s.(BatchStore); ok {
		b.SetMany(ctx, items)
		return
	}
	for _, it := range items {
		s.Set(ctx, it.Key, it.Entry, it.TTL)
	}
}
