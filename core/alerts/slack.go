package alerts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// SlackOptions tune the Slack sender.
type SlackOptions struct {
	// Client sends the requests (default: a client with a 10 s timeout).
	Client *http.Client
	// QueueSize bounds the messages waiting to be sent (default 100); a message arriving at a full queue is
	// dropped and counted.
	QueueSize int
	// Retries is how many times a message is retried after a 5xx, a 429 or a network error (default 3), with
	// exponential backoff from RetryBackoff (default 500 ms), or the wait the webhook's Retry-After asks for,
	// up to MaxRetryAfter (default 30 s; a longer wait drops the message).
	Retries       int
	RetryBackoff  time.Duration
	MaxRetryAfter time.Duration
	// Logger logs failed deliveries (default slog.Default()); it never sees the webhook URL, which is a secret.
	Logger *slog.Logger
}

// Slack posts messages to a Slack incoming webhook ({"text": ...} as JSON) from one background worker, so that
// a slow or failing webhook never delays a request.
type Slack struct {
	url   string
	o     SlackOptions
	queue chan string
	// done asks the worker to drain and stop; abort cuts off a delivery or retry wait under way.
	done, abort chan struct{}
	stopped     chan struct{}
	closing     sync.Once
	aborting    sync.Once
	// Sent counts messages the webhook accepted; Dropped those lost (full queue, retries exhausted, refused).
	Sent, Dropped atomic.Int64
}

// NewSlack starts a sender posting to the webhook url.
func NewSlack(url string, o SlackOptions) *Slack {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 100
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 500 * time.Millisecond
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Slack{url: url, o: o, queue: make(chan string, o.QueueSize), done: make(chan struct{}),
		abort: make(chan struct{}), stopped: make(chan struct{})}
	go s.run()
	return s
}

// Send queues a message; it never blocks. A message sent after Close is dropped.
func (s *Slack) Send(text string) {
	select {
	case <-s.done:
		s.Dropped.Add(1)
		return
	default:
	}
	select {
	case s.queue <- text:
	default:
		if s.Dropped.Add(1)%100 == 1 {
			s.o.Logger.Warn("alert queue full; alerts dropped", "dropped", s.Dropped.Load())
		}
	}
}

func (s *Slack) run() {
	defer close(s.stopped)
	for {
		select {
		case text := <-s.queue:
			s.deliver(text)
		case <-s.done:
			for {
				select {
				case text := <-s.queue:
					s.deliver(text)
				default:
					return
				}
			}
		}
	}
}

// deliver posts one message, retrying what may pass on a later try.
func (s *Slack) deliver(text string) {
	body, _ := json.Marshal(map[string]string{"text": text})
	backoff := s.o.RetryBackoff
	var err error
	for attempt := 0; attempt <= s.o.Retries; attempt++ {
		var wait time.Duration
		wait, err = s.post(body)
		if err == nil {
			s.Sent.Add(1)
			return
		}
		if wait < 0 || attempt == s.o.Retries {
			break
		}
		wait = max(wait, backoff)
		backoff *= 2
		if wait > s.o.MaxRetryAfter {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-s.abort:
			t.Stop()
			s.Dropped.Add(1)
			return
		case <-t.C:
		}
	}
	s.Dropped.Add(1)
	s.o.Logger.Warn("alert delivery to Slack failed; alert dropped", "error", err)
}

// post makes one request. On failure it returns how long to wait before retrying (0: the backoff; negative: do
// not retry).
func (s *Slack) post(body []byte) (time.Duration, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.abort:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return -1, fmt.Errorf("slack webhook: bad request: %s", sdk.Redact(err.Error(), s.url))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.o.Client.Do(req)
	if err != nil {
		// The URL is the webhook's credential: keep it out of the error.
		return 0, fmt.Errorf("slack webhook: %s", sdk.Redact(err.Error(), s.url))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode/100 == 2:
		return 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return sdk.ParseRetryAfter(resp.Header, time.Now()), fmt.Errorf("slack webhook: HTTP %d: %s",
			resp.StatusCode, sdk.Redact(string(msg), s.url))
	}
	// 400 invalid_payload, 403 action_prohibited, 404 no_service, 410 channel_is_archived: the same message is
	// refused again.
	return -1, fmt.Errorf("slack webhook: HTTP %d: %s", resp.StatusCode, sdk.Redact(string(msg), s.url))
}

// Close sends what is queued, until ctx ends, and stops.
func (s *Slack) Close(ctx context.Context) {
	s.closing.Do(func() { close(s.done) })
	select {
	case <-s.stopped:
	case <-ctx.Done():
		s.aborting.Do(func() { close(s.abort) })
		<-s.stopped
		if n := len(s.queue); n > 0 {
			s.Dropped.Add(int64(n))
		}
		s.o.Logger.Warn("alert delivery cut short by shutdown")
	}
}
