package alerts

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// webhook is a fake Slack incoming webhook: it answers the statuses of script in turn (then 200 "ok") and keeps
// the texts it accepted.
type webhook struct {
	mu       sync.Mutex
	script   []int
	header   http.Header // sent with scripted failures
	texts    []string
	attempts []time.Time
	types    []string
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.attempts = append(w.attempts, time.Now())
	w.types = append(w.types, r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost {
		rw.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	if len(w.script) > 0 {
		status := w.script[0]
		w.script = w.script[1:]
		for k, v := range w.header {
			rw.Header()[k] = v
		}
		rw.WriteHeader(status)
		_, _ = io.WriteString(rw, "invalid_payload")
		return
	}
	var msg struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(b, &msg); err != nil || msg.Text == "" {
		rw.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(rw, "invalid_payload")
		return
	}
	w.texts = append(w.texts, msg.Text)
	_, _ = io.WriteString(rw, "ok")
}

func (w *webhook) snapshot() (texts []string, attempts []time.Time, types []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.texts...), append([]time.Time(nil), w.attempts...), append([]string(nil), w.types...)
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func closeNow(t *testing.T, s *Slack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Close(ctx)
}

func TestSlackPostsTextAndRetriesServerErrors(t *testing.T) {
	t.Parallel()
	wh := &webhook{script: []int{500, 503}}
	srv := httptest.NewServer(wh)
	defer srv.Close()
	s := NewSlack(srv.URL+"/services/T000/B000/secret", SlackOptions{RetryBackoff: time.Millisecond, Logger: quiet()})
	s.Send("hello *world*")
	closeNow(t, s)
	texts, attempts, types := wh.snapshot()
	if len(texts) != 1 || texts[0] != "hello *world*" || len(attempts) != 3 {
		t.Fatalf("texts %q after %d attempts", texts, len(attempts))
	}
	for _, ct := range types {
		if ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
	}
	if s.Sent.Load() != 1 || s.Dropped.Load() != 0 {
		t.Errorf("sent %d dropped %d", s.Sent.Load(), s.Dropped.Load())
	}
}

func TestSlackHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	wh := &webhook{script: []int{429}, header: http.Header{"Retry-After": {"1"}}}
	srv := httptest.NewServer(wh)
	defer srv.Close()
	s := NewSlack(srv.URL, SlackOptions{RetryBackoff: time.Millisecond, Logger: quiet()})
	s.Send("after a wait")
	closeNow(t, s)
	texts, attempts, _ := wh.snapshot()
	if len(texts) != 1 || len(attempts) != 2 {
		t.Fatalf("texts %q after %d attempts", texts, len(attempts))
	}
	if gap := attempts[1].Sub(attempts[0]); gap < 900*time.Millisecond {
		t.Errorf("retried after %s, Retry-After asked for 1 s", gap)
	}
}

func TestSlackDoesNotRetryRefusedMessages(t *testing.T) {
	t.Parallel()
	wh := &webhook{script: []int{400, 404}}
	srv := httptest.NewServer(wh)
	defer srv.Close()
	s := NewSlack(srv.URL, SlackOptions{RetryBackoff: time.Millisecond, Logger: quiet()})
	s.Send("refused")
	s.Send("gone")
	s.Send("fine")
	closeNow(t, s)
	texts, attempts, _ := wh.snapshot()
	if len(attempts) != 3 || len(texts) != 1 || texts[0] != "fine" {
		t.Fatalf("texts %q after %d attempts", texts, len(attempts))
	}
	if s.Dropped.Load() != 2 || s.Sent.Load() != 1 {
		t.Errorf("sent %d dropped %d", s.Sent.Load(), s.Dropped.Load())
	}
}

func TestSlackGivesUpAfterRetries(t *testing.T) {
	t.Parallel()
	wh := &webhook{script: []int{500, 500, 500}}
	srv := httptest.NewServer(wh)
	defer srv.Close()
	s := NewSlack(srv.URL, SlackOptions{Retries: 2, RetryBackoff: time.Millisecond, Logger: quiet()})
	s.Send("lost")
	closeNow(t, s)
	if _, attempts, _ := wh.snapshot(); len(attempts) != 3 || s.Dropped.Load() != 1 {
		t.Fatalf("%d attempts, dropped %d", len(attempts), s.Dropped.Load())
	}
}

func TestSlackNeverBlocksAndBoundsItsQueue(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	s := NewSlack(srv.URL, SlackOptions{QueueSize: 2, Logger: quiet()})
	start := time.Now()
	for range 50 {
		s.Send("flood")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Send blocked for %s", took)
	}
	if d := s.Dropped.Load(); d < 47 {
		t.Errorf("dropped %d of 50 with a queue of 2", d)
	}
	// Shutdown does not wait for a dead webhook beyond its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	s.Close(ctx)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Close took %s", took)
	}
	s.Send("after close")
	if s.Sent.Load() != 0 {
		t.Errorf("sent %d", s.Sent.Load())
	}
}

func TestSlackErrorsDoNotLeakTheWebhookURL(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	// A closed port: the connection error quotes the URL.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/services/T000/B000/hooksecret123"
	srv.Close()
	s := NewSlack(url, SlackOptions{Retries: 1, RetryBackoff: time.Millisecond, Logger: log})
	s.Send("x")
	closeNow(t, s)
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "alert delivery to Slack failed") {
		t.Fatalf("no failure logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), "hooksecret123") {
		t.Errorf("the webhook URL reached the log: %s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
