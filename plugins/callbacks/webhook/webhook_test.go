package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/callbacks"
	"github.com/switchyard/gateway/plugins/callbacks/internal/sinktest"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

const (
	testSecret = "whsec-test-5c1d7e"
	sinkKey    = "sink-api-key-a1b2c3d4"
)

// receiver is a webhook endpoint as the package documentation tells receivers to write one: it checks the
// signature (when it knows the secret) and the body's shape, and answers 204.
func receiver(secret string) sinktest.Responder {
	return func(w http.ResponseWriter, r *sinktest.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
		if secret != "" {
			m := hmac.New(sha256.New, []byte(secret))
			m.Write([]byte(r.Header.Get("X-Switchyard-Timestamp") + "." + string(r.Body)))
			want := "sha256=" + hex.EncodeToString(m.Sum(nil))
			if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Switchyard-Signature"))) {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte("bad signature"))
				return
			}
		}
		var p struct {
			Events []json.RawMessage `json:"events"`
		}
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil || len(p.Events) == 0 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func eventsOf(t *testing.T, reqs []sinktest.Request) []*sdk.Event {
	t.Helper()
	var out []*sdk.Event
	for _, r := range reqs {
		var p payload
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatalf("body: %v", err)
		}
		out = append(out, p.Events...)
	}
	return out
}

func newTest(t *testing.T, cfg map[string]any) *Callback {
	t.Helper()
	c := New()
	if err := c.Provision(context.Background(), sdk.ProvisionContext{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Cleanup() })
	return c
}

func TestConformance(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, receiver(testSecret))
	plugintest.RunCallback(t, plugintest.Callback{
		Name: Name,
		New: func() sdk.Callback {
			c := New()
			c.now = func() time.Time { return time.Unix(1_767_225_600, 0) }
			return c
		},
		Config: map[string]any{"url": sink.URL + "/hooks/llm", "secret": testSecret, "timeout": 5,
			"headers": map[string]any{"x-api-key": sinkKey}},
		Check: func(t *testing.T, _ plugintest.Mode, sent []*sdk.Event, _ []plugintest.Record) {
			reqs := sink.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests for one batch, want 1", len(reqs))
			}
			if reqs[0].Status != http.StatusNoContent {
				t.Fatalf("the receiver answered %d", reqs[0].Status)
			}
			r := reqs[0]
			want, _ := json.Marshal(map[string]any{"events": sent})
			if !bytes.Equal(r.Body, want) {
				t.Errorf("body\n%s\nwant\n%s", r.Body, want)
			}
			if r.Path != "/hooks/llm" {
				t.Errorf("path %q", r.Path)
			}
			if r.Header.Get("X-Api-Key") != sinkKey {
				t.Errorf("configured header missing: %v", r.Header)
			}
			if r.Header.Get("X-Switchyard-Timestamp") != "1767225600" {
				t.Errorf("timestamp %q", r.Header.Get("X-Switchyard-Timestamp"))
			}
			if got := r.Header.Get("X-Switchyard-Signature"); got != Sign([]byte(testSecret), "1767225600", r.Body) {
				t.Errorf("signature %q", got)
			}
			got := eventsOf(t, reqs)
			if got[0].CallID != "call-ok" || got[0].Cost != 0.00123 || got[0].Usage.TotalTokens != 46 ||
				got[0].Output.Content.String() != "hi there" || got[0].KeyHash != "9f86d081884c7d65" {
				t.Errorf("success event %+v", got[0])
			}
			if got[1].Error == nil || got[1].Error.Kind != sdk.KindRateLimit || got[1].Status != 429 {
				t.Errorf("failure event %+v", got[1])
			}
		},
	})
}

func TestBatchesThroughTheDispatcher(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, receiver(""))
	c := newTest(t, map[string]any{"url": sink.URL})
	d := sinktest.Drive(t, Name, c, sinktest.Calls(250), callbacks.Options{LogMessages: true},
		func() bool { return len(sink.Requests()) >= 2 })
	reqs := sink.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests for 250 events in batches of 100, want 3", len(reqs))
	}
	seen := map[string]bool{}
	for i, want := range []int{100, 100, 50} {
		evs := eventsOf(t, reqs[i:i+1])
		if len(evs) != want || reqs[i].Status != http.StatusNoContent {
			t.Errorf("request %d: %d events (status %d), want %d", i, len(evs), reqs[i].Status, want)
		}
		for _, ev := range evs {
			seen[ev.CallID] = true
		}
	}
	if len(seen) != 250 || d.Delivered.Load() != 250 || d.Dropped.Load() != 0 {
		t.Errorf("%d distinct events arrived; delivered %d dropped %d", len(seen), d.Delivered.Load(), d.Dropped.Load())
	}
	if _, signed := reqs[0].Header["X-Switchyard-Signature"]; signed {
		t.Error("signed without a secret")
	}
	sinktest.AssertNoGatewaySecret(t, reqs)
}

func TestRetriesAfterA500AndLosesNothingAtShutdown(t *testing.T) {
	t.Parallel()
	sink := sinktest.NewSink(t, receiver(testSecret))
	sink.FailNext(1)
	c := newTest(t, map[string]any{"url": sink.URL, "secret": testSecret})
	// The flush interval is an hour and the batch holds 100: only Close can deliver these four.
	d := sinktest.Drive(t, Name, c, sinktest.Calls(4), callbacks.Options{}, nil)
	reqs := sink.Requests()
	if len(reqs) != 2 || reqs[0].Status != http.StatusInternalServerError || reqs[1].Status != http.StatusNoContent {
		t.Fatalf("want a refused request and its accepted retry, got %d requests", len(reqs))
	}
	if a, b := reqs[0].Header.Get(HeaderDelivery), reqs[1].Header.Get(HeaderDelivery); a == "" || a != b {
		t.Errorf("delivery ids %q and %q: a retry must keep its batch's id", a, b)
	}
	if n := len(eventsOf(t, reqs[1:])); n != 4 {
		t.Errorf("the retry carried %d events, want 4", n)
	}
	if d.Delivered.Load() != 4 || d.Dropped.Load() != 0 {
		t.Errorf("delivered %d dropped %d", d.Delivered.Load(), d.Dropped.Load())
	}
}

func TestEventsWithoutMessagesSendNone(t *testing.T) {
	t.Parallel()
	for _, logMessages := range []bool{false, true} {
		t.Run(fmt.Sprintf("log_messages=%v", logMessages), func(t *testing.T) {
			t.Parallel()
			sink := sinktest.NewSink(t, receiver(""))
			c := newTest(t, map[string]any{"url": sink.URL, "headers": map[string]any{"Authorization": "Bearer " + sinkKey}})
			sinktest.Drive(t, Name, c, sinktest.Calls(3), callbacks.Options{LogMessages: logMessages}, nil)
			reqs := sink.Accepted()
			has := sinktest.Contains(reqs, sinktest.Prompt) || sinktest.Contains(reqs, sinktest.Answer)
			if has != logMessages {
				t.Errorf("prompt or answer sent: %v, want %v", has, logMessages)
			}
			for _, r := range reqs {
				var p struct {
					Events []map[string]json.RawMessage `json:"events"`
				}
				if err := json.Unmarshal(r.Body, &p); err != nil {
					t.Fatal(err)
				}
				for _, ev := range p.Events {
					_, msgs := ev["messages"]
					_, out := ev["output"]
					if !logMessages && (msgs || out) {
						t.Errorf("event %s has messages or output with message logging off", ev["call_id"])
					}
				}
				if r.Header.Get("Authorization") != "Bearer "+sinkKey {
					t.Errorf("Authorization %q", r.Header.Get("Authorization"))
				}
			}
			sinktest.AssertNoGatewaySecret(t, reqs)
		})
	}
}

func TestSignature(t *testing.T) {
	t.Parallel()
	// The documented construction, computed independently of Sign.
	body := []byte(`{"events":[]}`)
	m := hmac.New(sha256.New, []byte("k"))
	m.Write([]byte("1700000000." + string(body)))
	if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); Sign([]byte("k"), "1700000000", body) != want {
		t.Errorf("Sign = %s, want %s", Sign([]byte("k"), "1700000000", body), want)
	}
	if Sign([]byte("k"), "1700000000", body) == Sign([]byte("k"), "1700000001", body) {
		t.Error("the timestamp is not signed")
	}

	// A receiver holding another secret refuses the request, and the callback reports it.
	sink := sinktest.NewSink(t, receiver("another-secret"))
	c := newTest(t, map[string]any{"url": sink.URL, "secret": testSecret})
	err := c.OnBatch(context.Background(), plugintest.Events())
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("OnBatch = %v, want the receiver's 401", err)
	}
}

func TestErrorsHoldNoConfiguredSecret(t *testing.T) {
	t.Parallel()
	// The receiver refuses and echoes what it got, as a misbehaving one might.
	sink := sinktest.NewSink(t, func(w http.ResponseWriter, r *sinktest.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = fmt.Fprintf(w, "denied %s %s", r.Path, r.Header.Get("X-Token"))
	})
	c := newTest(t, map[string]any{"url": sink.URL + "/T0001/B0002/tok3n-in-path",
		"headers": map[string]any{"X-Token": "header-value-secret"}})
	err := c.OnBatch(context.Background(), plugintest.Events())
	if err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("OnBatch = %v, want the 403", err)
	}
	if strings.Contains(err.Error(), "tok3n-in-path") || strings.Contains(err.Error(), "header-value-secret") {
		t.Errorf("the error quotes a configured secret: %v", err)
	}

	closed := newTest(t, map[string]any{"url": "http://127.0.0.1:1/tok3n-in-path"})
	if err := closed.OnBatch(context.Background(), plugintest.Events()); err == nil || strings.Contains(err.Error(), "tok3n") {
		t.Errorf("OnBatch to a closed port = %v, want an error without the URL", err)
	}
}

func TestConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		config map[string]any
		err    string
	}{
		{"no config", nil, "config.url: required"},
		{"no url", map[string]any{"secret": "s"}, "config.url: required"},
		{"not http", map[string]any{"url": "ftp://example.com/x"}, "config.url"},
		{"no host", map[string]any{"url": "https:///x"}, "config.url"},
		{"reserved header", map[string]any{"url": "https://example.com", "headers": map[string]any{"content-type": "text/plain"}}, "Content-Type"},
		{"signature header", map[string]any{"url": "https://example.com", "headers": map[string]any{"X-Switchyard-Signature": "x"}}, "X-Switchyard-Signature"},
		{"bad header name", map[string]any{"url": "https://example.com", "headers": map[string]any{"Bad Name": "x"}}, "valid header name"},
		{"header injection", map[string]any{"url": "https://example.com", "headers": map[string]any{"X-A": "a\r\nX-B: b"}}, "line break"},
		{"unknown key", map[string]any{"url": "https://example.com", "endpoint": "x"}, "unknown field"},
		{"negative timeout", map[string]any{"url": "https://example.com", "timeout": -2}, "timeout"},
		{"valid", map[string]any{"url": "https://example.com/hook?token=t", "headers": map[string]any{"X-A": "a"}, "timeout": 2.5}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := New().Provision(context.Background(), sdk.ProvisionContext{Config: tt.config})
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Provision = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Provision = %v, want an error about %s", err, tt.err)
			}
		})
	}
}
