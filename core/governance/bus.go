package governance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"

	"github.com/redis/go-redis/v9"
)

// Message announces that an entity changed.
type Message struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	// From is the announcing replica (each ignores its own messages).
	From string `json:"from,omitempty"`
}

// Bus carries change announcements between replicas.
type Bus interface {
	Publish(ctx context.Context, m Message) error
	// Subscribe delivers other replicas' announcements until ctx ends.
	Subscribe(ctx context.Context) <-chan Message
}

// RedisBus is a Bus over Redis pub/sub. go-redis resubscribes after a lost connection; announcements made while
// a replica was cut off reach it through its periodic refresh instead.
type RedisBus struct {
	client  redis.UniversalClient
	channel string
	self    string
	log     *slog.Logger
}

// NewRedisBus returns a bus on the given channel.
func NewRedisBus(client redis.UniversalClient, channel string, log *slog.Logger) *RedisBus {
	if log == nil {
		log = slog.Default()
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &RedisBus{client: client, channel: channel, self: hex.EncodeToString(b[:]), log: log}
}

// Publish announces m.
func (b *RedisBus) Publish(ctx context.Context, m Message) error {
	m.From = b.self
	payload, _ := json.Marshal(m) // strings only: cannot fail
	return b.client.Publish(ctx, b.channel, payload).Err()
}

// Subscribe listens to the channel until ctx ends. The subscription is in place when Subscribe returns.
func (b *RedisBus) Subscribe(ctx context.Context) <-chan Message {
	out := make(chan Message, 64)
	ps := b.client.Subscribe(ctx, b.channel)
	if _, err := ps.Receive(ctx); err != nil { // the confirmation; go-redis keeps retrying behind Channel()
		b.log.Warn("governance: subscribing to key changes failed; retrying in the background", "error", err)
	}
	go func() {
		defer close(out)
		defer ps.Close()
		ch := ps.Channel()
		for {
			select {
			case <-ctx.Done():
				return
			case msg, ok := <-ch:
				if !ok {
					return
				}
				var m Message
				if err := json.Unmarshal([]byte(msg.Payload), &m); err != nil || m.From == b.self {
					continue
				}
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out
}
