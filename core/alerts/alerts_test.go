package alerts

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

const (
	clientKey = "sk-client-Abc123456789"
	deployKey = "sk-deploy-Xyz987654321"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type inbox struct {
	mu   sync.Mutex
	msgs []string
}

func (b *inbox) Send(text string) { b.mu.Lock(); defer b.mu.Unlock(); b.msgs = append(b.msgs, text) }

func (b *inbox) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

// count returns the messages containing every one of parts.
func (b *inbox) count(parts ...string) int {
	n := 0
outer:
	for _, m := range b.all() {
		for _, p := range parts {
			if !strings.Contains(m, p) {
				continue outer
			}
		}
		n++
	}
	return n
}

// newTest returns an alerter on a fake clock whose background scan never runs (the test calls tick).
func newTest(t *testing.T, o Options) (*Alerter, *inbox, *fakeClock) {
	t.Helper()
	box := &inbox{}
	clk := &fakeClock{t: time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)}
	o.Send, o.Now, o.ScanInterval = box.Send, clk.Now, time.Hour
	a := New(o)
	t.Cleanup(a.Close)
	return a, box, clk
}

func deployment(id, group string) *pipeline.Deployment {
	return &pipeline.Deployment{ID: id, Group: group, Target: &sdk.Target{Provider: "openai", Model: "gpt-4o",
		APIKey: deployKey}}
}

func failedCall(d *pipeline.Deployment, kind sdk.ErrorKind, msg string) *pipeline.Call {
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	return &pipeline.Call{ID: "call-1", Model: d.Group, Group: d.Group, Deployment: d, Credential: clientKey,
		Start: start, End: start.Add(time.Second), Err: &sdk.Error{Kind: kind, Provider: "openai", Message: msg}}
}

func okCall(d *pipeline.Deployment, took time.Duration) *pipeline.Call {
	start := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	return &pipeline.Call{ID: "call-2", Model: d.Group, Group: d.Group, Deployment: d, Credential: clientKey,
		Start: start, End: start.Add(took), Response: &sdk.ChatResponse{}}
}

func noKeys(t *testing.T, msgs []string) {
	t.Helper()
	for _, m := range msgs {
		if strings.Contains(m, clientKey) || strings.Contains(m, deployKey) || strings.Contains(m, "sk-") {
			t.Errorf("a key reached an alert: %q", m)
		}
	}
}

func TestExceptionAlertNamesDeploymentAndRedactsKeys(t *testing.T) {
	t.Parallel()
	a, box, _ := newTest(t, Options{Types: []Type{LLMExceptions}})
	d := deployment("dep-1", "gpt-4o")
	a.Observe(failedCall(d, sdk.KindInternal, "upstream exploded with key "+deployKey+" for caller "+clientKey))
	got := box.all()
	if len(got) != 1 {
		t.Fatalf("alerts = %q, want one", got)
	}
	for _, want := range []string{"llm_exceptions", "`gpt-4o`", "`dep-1`", "openai", "InternalServerError",
		"upstream exploded", "status 500"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("alert lacks %q: %s", want, got[0])
		}
	}
	noKeys(t, got)

	// Errors of the request itself, and calls that never reached a deployment, are not upstream failures.
	a.Observe(failedCall(deployment("dep-2", "gpt-4o"), sdk.KindBadRequest, "bad"))
	a.Observe(failedCall(deployment("dep-3", "gpt-4o"), sdk.KindContextWindowExceeded, "too long"))
	c := failedCall(d, sdk.KindAuthentication, "no key")
	c.Deployment = nil
	a.Observe(c)
	// Rate limits, timeouts and connection failures are.
	a.Observe(failedCall(deployment("dep-4", "gpt-4o"), sdk.KindRateLimit, "slow down"))
	a.Observe(failedCall(deployment("dep-5", "gpt-4o"), sdk.KindTimeout, "timed out"))
	a.Observe(failedCall(deployment("dep-6", "gpt-4o"), sdk.KindAPIConnection, "refused"))
	if n := len(box.all()); n != 4 {
		t.Errorf("%d alerts, want 4: %q", n, box.all())
	}
	if box.count("RateLimitError", "dep-4") != 1 || box.count("Timeout", "dep-5") != 1 ||
		box.count("APIConnectionError", "dep-6") != 1 {
		t.Errorf("missing alerts: %q", box.all())
	}
}

func TestTooSlow(t *testing.T) {
	t.Parallel()
	a, box, _ := newTest(t, Options{Types: []Type{LLMTooSlow}, Threshold: 2 * time.Second})
	a.Observe(okCall(deployment("fast", "g"), time.Second))
	if n := len(box.all()); n != 0 {
		t.Fatalf("a fast answer raised %q", box.all())
	}
	a.Observe(okCall(deployment("slow", "g"), 3*time.Second))
	if box.count("llm_too_slow", "`slow`", "Response time: 3s", "threshold of 2s") != 1 {
		t.Fatalf("alerts = %q", box.all())
	}
	// A stream is judged by its time to first token, not by how long it ran.
	long := okCall(deployment("stream-ok", "g"), time.Minute)
	long.Streaming, long.FirstToken = true, long.Start.Add(500*time.Millisecond)
	a.Observe(long)
	late := okCall(deployment("stream-late", "g"), 4*time.Second)
	late.Streaming, late.FirstToken = true, late.Start.Add(3*time.Second)
	a.Observe(late)
	if box.count("stream-ok") != 0 || box.count("`stream-late`", "Time to first token: 3s") != 1 {
		t.Fatalf("alerts = %q", box.all())
	}
	// A failed call is an exception, never slow.
	failed := failedCall(deployment("slow-fail", "g"), sdk.KindTimeout, "t")
	failed.End = failed.Start.Add(time.Hour)
	a.Observe(failed)
	if box.count("slow-fail") != 0 {
		t.Fatalf("alerts = %q", box.all())
	}
	noKeys(t, box.all())
}

func TestHangingRequestAlertsOnce(t *testing.T) {
	t.Parallel()
	a, box, clk := newTest(t, Options{Types: []Type{LLMRequestsHanging}, Threshold: 10 * time.Second})
	st := a.Stage()
	c := &pipeline.Call{ID: "hung-1", Model: "gpt-4o", Start: clk.Now(), Credential: clientKey}
	if err := st.Before(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	quick := &pipeline.Call{ID: "quick-1", Model: "gpt-4o", Start: clk.Now()}
	_ = st.Before(context.Background(), quick)
	clk.Advance(5 * time.Second)
	st.After(quick)
	a.tick()
	if n := len(box.all()); n != 0 {
		t.Fatalf("alerted before the threshold: %q", box.all())
	}
	clk.Advance(6 * time.Second)
	a.tick()
	a.tick()
	if box.count("llm_requests_hanging", "`gpt-4o`", "`hung-1`", "running for 11s") != 1 || len(box.all()) != 1 {
		t.Fatalf("alerts = %q", box.all())
	}
	st.After(c)
	clk.Advance(time.Minute)
	a.tick()
	if n := len(box.all()); n != 1 {
		t.Fatalf("alerts after the call ended: %q", box.all())
	}
	// A stream that started in time is answered, however long it then runs.
	streaming := &pipeline.Call{ID: "stream-1", Model: "gpt-4o", Start: clk.Now(), Streaming: true}
	_ = st.Before(context.Background(), streaming)
	clk.Advance(time.Second)
	st.(pipeline.Interceptor).Intercept(streaming)
	clk.Advance(time.Hour)
	a.tick()
	st.After(streaming)
	if n := len(box.all()); n != 1 {
		t.Fatalf("a started stream was reported hanging: %q", box.all())
	}
	noKeys(t, box.all())
}

func TestCooldownAlert(t *testing.T) {
	t.Parallel()
	a, box, _ := newTest(t, Options{Types: []Type{CooldownDeployment}})
	d := deployment("dep-1", "gpt-4o")
	a.OnCooldown(d, &sdk.Error{Kind: sdk.KindServiceUnavailable, Provider: "openai",
		Message: "overloaded (key " + deployKey + ")"}, 5*time.Second)
	if box.count("cooldown_deployment", "`gpt-4o`", "`dep-1`", "Cooldown: 5s", "ServiceUnavailableError: openai: overloaded") != 1 {
		t.Fatalf("alerts = %q", box.all())
	}
	noKeys(t, box.all())
}

func TestDeploymentOutageAndRecovery(t *testing.T) {
	t.Parallel()
	a, box, _ := newTest(t, Options{Types: []Type{OutageAlerts}, OutageFailures: 3})
	d := deployment("dep-1", "gpt-4o")
	a.Observe(failedCall(d, sdk.KindInternal, "boom"))
	a.Observe(failedCall(d, sdk.KindInternal, "boom"))
	a.Observe(okCall(d, time.Millisecond)) // a success in between: not consecutive
	a.Observe(failedCall(d, sdk.KindInternal, "boom"))
	a.Observe(failedCall(d, sdk.KindInternal, "boom"))
	if n := len(box.all()); n != 0 {
		t.Fatalf("outage before %d consecutive failures: %q", 3, box.all())
	}
	for range 3 {
		a.Observe(failedCall(d, sdk.KindInternal, "boom"))
	}
	if box.count("*Outage*", "`dep-1`", "failed 3 requests in a row", "InternalServerError") != 1 || len(box.all()) != 1 {
		t.Fatalf("alerts = %q", box.all())
	}
	a.Observe(okCall(d, time.Millisecond))
	a.Observe(okCall(d, time.Millisecond))
	if box.count("*Recovered*", "`dep-1`") != 1 || len(box.all()) != 2 {
		t.Fatalf("alerts = %q", box.all())
	}
	// A second outage is reported even within the deduplication window: it is a new state change.
	for range 3 {
		a.Observe(failedCall(d, sdk.KindServiceUnavailable, "down"))
	}
	if box.count("*Outage*", "`dep-1`") != 2 {
		t.Fatalf("alerts = %q", box.all())
	}
}

func TestGroupOutageWhenEveryDeploymentCoolsDown(t *testing.T) {
	t.Parallel()
	d1, d2, other := deployment("dep-1", "gpt-4o"), deployment("dep-2", "gpt-4o"), deployment("dep-3", "claude")
	a, box, clk := newTest(t, Options{Types: []Type{OutageAlerts},
		Deployments: func() []*pipeline.Deployment { return []*pipeline.Deployment{d1, d2, other} }})
	cause := &sdk.Error{Kind: sdk.KindServiceUnavailable}
	a.OnCooldown(d1, cause, 5*time.Second)
	clk.Advance(6 * time.Second) // d1's cooldown is over when d2 enters its own
	a.OnCooldown(d2, cause, 5*time.Second)
	if n := len(box.all()); n != 0 {
		t.Fatalf("group outage while a deployment could serve: %q", box.all())
	}
	a.OnCooldown(d1, cause, 5*time.Second)
	a.OnCooldown(d2, cause, 5*time.Second)
	if box.count("*Outage*", "model group `gpt-4o`", "ServiceUnavailableError") != 1 || len(box.all()) != 1 {
		t.Fatalf("alerts = %q", box.all())
	}
	a.Observe(okCall(d2, time.Millisecond))
	if box.count("*Recovered*", "Model group `gpt-4o`") != 1 {
		t.Fatalf("alerts = %q", box.all())
	}
}

func TestDeduplication(t *testing.T) {
	t.Parallel()
	a, box, clk := newTest(t, Options{Types: []Type{LLMExceptions}, DedupWindow: time.Minute})
	d := deployment("dep-1", "gpt-4o")
	a.Observe(failedCall(d, sdk.KindInternal, "one"))
	a.Observe(failedCall(d, sdk.KindInternal, "two"))
	a.Observe(failedCall(d, sdk.KindRateLimit, "another class"))
	a.Observe(failedCall(deployment("dep-2", "gpt-4o"), sdk.KindInternal, "another deployment"))
	if n := len(box.all()); n != 3 {
		t.Fatalf("%d alerts, want 3: %q", n, box.all())
	}
	clk.Advance(59 * time.Second)
	a.Observe(failedCall(d, sdk.KindInternal, "three"))
	clk.Advance(2 * time.Second)
	a.Observe(failedCall(d, sdk.KindInternal, "four"))
	if box.count("three") != 0 || box.count("four") != 1 {
		t.Fatalf("alerts = %q", box.all())
	}
}

func TestRateLimitSummarisesSuppressedAlerts(t *testing.T) {
	t.Parallel()
	a, box, clk := newTest(t, Options{Types: []Type{LLMExceptions, CooldownDeployment}, RateLimit: 3,
		RateWindow: time.Minute})
	for i := range 5 {
		a.Observe(failedCall(deployment("dep-"+string(rune('a'+i)), "g"), sdk.KindInternal, "x"))
	}
	a.OnCooldown(deployment("dep-z", "g"), nil, time.Second)
	if n := len(box.all()); n != 3 {
		t.Fatalf("%d alerts sent, want 3: %q", n, box.all())
	}
	clk.Advance(30 * time.Second)
	a.tick()
	if n := len(box.all()); n != 3 {
		t.Fatalf("summary before the window ended: %q", box.all())
	}
	clk.Advance(31 * time.Second)
	a.tick()
	a.tick()
	if box.count("Alerts suppressed", "3 more alerts", "llm_exceptions: 2", "cooldown_deployment: 1") != 1 ||
		len(box.all()) != 4 {
		t.Fatalf("alerts = %q", box.all())
	}
	// The new window sends again.
	a.Observe(failedCall(deployment("dep-new", "g"), sdk.KindInternal, "x"))
	if box.count("dep-new") != 1 {
		t.Fatalf("alerts = %q", box.all())
	}
}

func TestSummaryAtClose(t *testing.T) {
	t.Parallel()
	box := &inbox{}
	a := New(Options{Send: box.Send, RateLimit: 1, ScanInterval: time.Hour})
	a.Observe(failedCall(deployment("a", "g"), sdk.KindInternal, "x"))
	a.Observe(failedCall(deployment("b", "g"), sdk.KindInternal, "x"))
	a.Close()
	a.Close()
	if box.count("1 more alerts were raised before shutdown") != 1 {
		t.Fatalf("alerts = %q", box.all())
	}
}

func TestTypesOff(t *testing.T) {
	t.Parallel()
	a, box, clk := newTest(t, Options{Types: []Type{CooldownDeployment}, Threshold: time.Second})
	d := deployment("dep-1", "g")
	for range 5 {
		a.Observe(failedCall(d, sdk.KindInternal, "x"))
	}
	a.Observe(okCall(d, time.Hour))
	c := &pipeline.Call{ID: "c", Model: "g", Start: clk.Now()}
	_ = a.Stage().Before(context.Background(), c)
	clk.Advance(time.Hour)
	a.tick()
	if n := len(box.all()); n != 0 {
		t.Fatalf("disabled types raised %q", box.all())
	}
	if !a.Enabled(CooldownDeployment) || a.Enabled(LLMExceptions) {
		t.Error("Enabled disagrees with Types")
	}
}

func TestBackgroundScanFindsHangingRequests(t *testing.T) {
	t.Parallel()
	box := &inbox{}
	a := New(Options{Send: box.Send, Threshold: 20 * time.Millisecond, ScanInterval: 5 * time.Millisecond})
	defer a.Close()
	c := &pipeline.Call{ID: "bg", Model: "m", Start: time.Now()}
	_ = a.Stage().Before(context.Background(), c)
	deadline := time.Now().Add(5 * time.Second)
	for box.count("`bg`") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	a.Stage().After(c)
	if box.count("llm_requests_hanging", "`bg`") != 1 {
		t.Fatalf("alerts = %q", box.all())
	}
}
