// Package alerts raises LiteLLM's operational alerts (general_settings.alerting, alert_types, alerting_threshold)
// from what the gateway sees: failed upstream calls (llm_exceptions), slow answers (llm_too_slow), requests
// still running past the threshold (llm_requests_hanging), deployments put in cooldown (cooldown_deployment) and
// outages of a deployment or of a whole model group, with a message when they answer again (outage_alerts).
// A Watcher (governance.go) adds what needs the gateway's store: budgets crossed (budget_alerts), weekly and
// monthly spend reports (spend_reports) and a spend ledger that cannot write (failed_tracking_spend).
//
// The Alerter is fed by the log stage (Observe, an accesslog.Observer), by its own pipeline stage (Stage, which
// tracks calls under way) and by the router (OnCooldown). None of these blocks a request: alerts are
// deduplicated (the same type, group, deployment and error class at most once per window), capped per window
// globally (the excess is counted and summarised in one message when the window ends) and handed to a sender
// that queues them (Slack, in slack.go). Every message is redacted with sdk.Redact: the caller's key and the
// deployment's key never leave the gateway.
package alerts

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// Type is an alert type, as named in general_settings.alert_types.
type Type string

// The alert types this package raises.
const (
	LLMExceptions      Type = "llm_exceptions"
	LLMTooSlow         Type = "llm_too_slow"
	LLMRequestsHanging Type = "llm_requests_hanging"
	CooldownDeployment Type = "cooldown_deployment"
	OutageAlerts       Type = "outage_alerts"
)

// Supported lists the alert types this package raises, in a stable order. The GovernanceTypes among them are
// raised by a Watcher, which needs the gateway's store.
var Supported = []Type{LLMExceptions, LLMTooSlow, LLMRequestsHanging, CooldownDeployment, OutageAlerts,
	BudgetAlerts, SpendReports, FailedTrackingSpend}

// Unsupported lists LiteLLM alert types this gateway does not raise yet; configuring them has no effect.
var Unsupported = []Type{"daily_reports", "db_exceptions", "new_model_added", "region_outage_alerts",
	"fallback_reports"}

// Defaults.
const (
	DefaultThreshold      = 300 * time.Second
	DefaultDedupWindow    = time.Minute
	DefaultRateLimit      = 20
	DefaultRateWindow     = time.Minute
	DefaultOutageFailures = 3
)

// Options configure an Alerter.
type Options struct {
	// Send delivers one message text; it must not block (the Slack sender queues). Required.
	Send func(text string)
	// Types are the alert types raised; empty means all of Supported.
	Types []Type
	// Threshold is alerting_threshold: a request slower than this is too slow, one running longer is hanging
	// (default 300 s).
	Threshold time.Duration
	// DedupWindow is the least time between two alerts of the same type, group, deployment and error class
	// (default 1 minute).
	DedupWindow time.Duration
	// RateLimit is the most alerts sent per RateWindow (defaults 20 per minute); the rest are counted and
	// summarised once the window ends.
	RateLimit  int
	RateWindow time.Duration
	// OutageFailures is the number of consecutive failed requests of a deployment that makes an outage
	// (default 3).
	OutageFailures int
	// Deployments returns the configured deployments, so that a model group whose deployments all cool down is
	// reported as an outage; nil turns group outages off.
	Deployments func() []*pipeline.Deployment
	// ScanInterval is how often calls under way are checked for hanging and the rate window is rolled
	// (default: a quarter of Threshold, between 10 ms and 10 s).
	ScanInterval time.Duration
	// Now is the clock (default time.Now); tests pass a fake one.
	Now func() time.Time
	// Logger logs suppressed alerts at debug level (default slog.Default()).
	Logger *slog.Logger
}

// Alert is one alert before deduplication.
type Alert struct {
	Type Type
	// Group, Deployment, Provider and Class (an error class) identify what the alert is about; with Type they
	// form the deduplication key.
	Group, Deployment, Provider, Class string
	// Text is the message body.
	Text string
	// Secrets are redacted from the text (the caller's key, the deployment's key).
	Secrets []string
	// noDedup lets state changes (an outage, a recovery) through the deduplication window: each happens once per
	// transition already.
	noDedup bool
}

func (a *Alert) key() string {
	return strings.Join([]string{string(a.Type), a.Group, a.Deployment, a.Class}, "\x00")
}

// Alerter raises alerts. It is safe for concurrent use.
type Alerter struct {
	o       Options
	enabled map[Type]bool

	mu sync.Mutex
	// last is when each alert key was last sent.
	last map[string]time.Time
	// windowStart, sent and suppressed track the global rate limit.
	windowStart     time.Time
	sent            int
	suppressed      int
	suppressedTypes map[Type]int
	// fails counts the consecutive failed requests of each deployment; down marks deployments in outage.
	fails map[string]int
	down  map[string]bool
	// cooling is when each deployment's cooldown ends; groupDown marks model groups in outage.
	cooling   map[string]time.Time
	groupDown map[string]bool
	// running are the calls under way, by call id.
	running map[string]*running

	stop    chan struct{}
	stopped chan struct{}
	closing sync.Once
}

type running struct {
	model   string
	start   time.Time
	alerted bool
}

// New returns an Alerter and starts its background scan; Close stops it.
func New(o Options) *Alerter {
	if o.Threshold <= 0 {
		o.Threshold = DefaultThreshold
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = DefaultDedupWindow
	}
	if o.RateLimit <= 0 {
		o.RateLimit = DefaultRateLimit
	}
	if o.RateWindow <= 0 {
		o.RateWindow = DefaultRateWindow
	}
	if o.OutageFailures <= 0 {
		o.OutageFailures = DefaultOutageFailures
	}
	if o.ScanInterval <= 0 {
		o.ScanInterval = min(max(o.Threshold/4, 10*time.Millisecond), 10*time.Second)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Send == nil {
		o.Send = func(string) {}
	}
	a := &Alerter{o: o, enabled: map[Type]bool{}, last: map[string]time.Time{}, suppressedTypes: map[Type]int{},
		fails: map[string]int{}, down: map[string]bool{}, cooling: map[string]time.Time{},
		groupDown: map[string]bool{}, running: map[string]*running{},
		stop: make(chan struct{}), stopped: make(chan struct{})}
	types := o.Types
	if len(types) == 0 {
		types = Supported
	}
	for _, t := range types {
		a.enabled[t] = true
	}
	a.windowStart = o.Now()
	go a.loop()
	return a
}

// Enabled reports whether alerts of type t are raised.
func (a *Alerter) Enabled(t Type) bool { return a.enabled[t] }

func (a *Alerter) loop() {
	defer close(a.stopped)
	t := time.NewTicker(a.o.ScanInterval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.tick()
		}
	}
}

// Close stops the background scan, sending the summary of alerts suppressed in the current window.
func (a *Alerter) Close() {
	a.closing.Do(func() {
		close(a.stop)
		<-a.stopped
		a.mu.Lock()
		msg := a.rollLocked(true)
		a.mu.Unlock()
		if msg != "" {
			a.o.Send(msg)
		}
	})
}

// tick checks the calls under way for hanging ones and rolls the rate window.
func (a *Alerter) tick() {
	now := a.o.Now()
	var alerts []Alert
	a.mu.Lock()
	if a.enabled[LLMRequestsHanging] {
		for id, r := range a.running {
			if r.alerted || now.Sub(r.start) <= a.o.Threshold {
				continue
			}
			r.alerted = true
			alerts = append(alerts, Alert{Type: LLMRequestsHanging, Group: r.model, Class: id, noDedup: true,
				Text: fmt.Sprintf("*Request hanging* (llm_requests_hanging)\nA request to model `%s` has been running "+
					"for %s, over the alerting threshold of %s.\nCall id: `%s`", r.model, round(now.Sub(r.start)),
					round(a.o.Threshold), id)})
		}
		sort.Slice(alerts, func(i, j int) bool { return alerts[i].Class < alerts[j].Class })
	}
	summary := ""
	if now.Sub(a.windowStart) >= a.o.RateWindow {
		summary = a.rollLocked(false)
	}
	a.mu.Unlock()
	if summary != "" {
		a.o.Send(summary)
	}
	for i := range alerts {
		a.Raise(alerts[i])
	}
}

// rollLocked starts a new rate window and returns the summary of the alerts suppressed in the last one ("" when
// none was). The caller holds a.mu.
func (a *Alerter) rollLocked(final bool) string {
	now := a.o.Now()
	n, types := a.suppressed, a.suppressedTypes
	a.windowStart, a.sent, a.suppressed, a.suppressedTypes = now, 0, 0, map[Type]int{}
	for k, t := range a.last {
		if now.Sub(t) >= a.o.DedupWindow {
			delete(a.last, k)
		}
	}
	if n == 0 {
		return ""
	}
	names := make([]string, 0, len(types))
	for t, c := range types {
		names = append(names, fmt.Sprintf("%s: %d", t, c))
	}
	sort.Strings(names)
	when := "in the last " + round(a.o.RateWindow).String()
	if final {
		when = "before shutdown"
	}
	return fmt.Sprintf("*Alerts suppressed* (rate limit of %d per %s)\n%d more alerts were raised %s and not "+
		"sent (%s).", a.o.RateLimit, round(a.o.RateWindow), n, when, strings.Join(names, ", "))
}

// Raise sends an alert unless its type is off, the same alert was sent within the deduplication window, or the
// rate limit is reached (then it is counted for the window's summary).
func (a *Alerter) Raise(al Alert) {
	if !a.enabled[al.Type] {
		return
	}
	now := a.o.Now()
	a.mu.Lock()
	summary := ""
	if now.Sub(a.windowStart) >= a.o.RateWindow {
		summary = a.rollLocked(false)
	}
	key := al.key()
	if t, ok := a.last[key]; ok && !al.noDedup && now.Sub(t) < a.o.DedupWindow {
		a.mu.Unlock()
		if summary != "" {
			a.o.Send(summary)
		}
		return
	}
	if a.sent >= a.o.RateLimit {
		a.suppressed++
		a.suppressedTypes[al.Type]++
		a.mu.Unlock()
		if summary != "" {
			a.o.Send(summary)
		}
		a.o.Logger.Debug("alert suppressed by the rate limit", "type", string(al.Type), "model_group", al.Group)
		return
	}
	a.sent++
	a.last[key] = now
	a.mu.Unlock()
	if summary != "" {
		a.o.Send(summary)
	}
	a.o.Send(sdk.Redact(al.Text, al.Secrets...))
}

// Observe is the accesslog observer: it raises llm_exceptions, llm_too_slow and outage_alerts for a finished
// call. It never blocks.
func (a *Alerter) Observe(c *pipeline.Call) {
	d := c.Deployment
	if d == nil {
		return // never reached an upstream: nothing here is about a deployment
	}
	group := c.Group
	if group == "" {
		group = d.Group
	}
	provider, deploymentKey := "", ""
	if d.Target != nil {
		provider, deploymentKey = d.Target.Provider, d.Target.APIKey
	}
	secrets := []string{c.Credential, deploymentKey}
	if c.Err != nil {
		if !upstreamFailure(c.Err) {
			return
		}
		class := c.Err.Kind.String()
		a.Raise(Alert{Type: LLMExceptions, Group: group, Deployment: d.ID, Provider: provider, Class: class,
			Secrets: secrets, Text: fmt.Sprintf("*LLM API exception* (llm_exceptions)\nModel group: `%s`\n"+
				"Deployment: `%s` (provider %s)\nError: %s (status %d): %s\nCall id: `%s`", group, d.ID, provider,
				class, c.Err.HTTPStatus(), c.Err.Error(), c.ID)})
		a.failed(group, d, provider, class, secrets)
		return
	}
	a.succeeded(group, d, provider)
	if c.Streaming {
		if !c.FirstToken.IsZero() && c.FirstToken.Sub(c.Start) > a.o.Threshold {
			a.Raise(Alert{Type: LLMTooSlow, Group: group, Deployment: d.ID, Provider: provider, Secrets: secrets,
				Text: fmt.Sprintf("*LLM response too slow* (llm_too_slow)\nModel group: `%s`\nDeployment: `%s` "+
					"(provider %s)\nTime to first token: %s, over the alerting threshold of %s.\nCall id: `%s`",
					group, d.ID, provider, round(c.FirstToken.Sub(c.Start)), round(a.o.Threshold), c.ID)})
		}
		return
	}
	if !c.End.IsZero() && !c.Start.IsZero() && c.End.Sub(c.Start) > a.o.Threshold {
		a.Raise(Alert{Type: LLMTooSlow, Group: group, Deployment: d.ID, Provider: provider, Secrets: secrets,
			Text: fmt.Sprintf("*LLM response too slow* (llm_too_slow)\nModel group: `%s`\nDeployment: `%s` "+
				"(provider %s)\nResponse time: %s, over the alerting threshold of %s.\nCall id: `%s`",
				group, d.ID, provider, round(c.End.Sub(c.Start)), round(a.o.Threshold), c.ID)})
	}
}

// upstreamFailure reports whether an error is a failure of the upstream (server errors, rate limits, timeouts,
// connection failures) rather than of the request.
func upstreamFailure(e *sdk.Error) bool {
	switch e.Kind {
	case sdk.KindInternal, sdk.KindTimeout, sdk.KindRateLimit, sdk.KindAPIConnection, sdk.KindServiceUnavailable:
		return true
	}
	return e.HTTPStatus() >= 500
}

// failed counts a failed request of d toward an outage.
func (a *Alerter) failed(group string, d *pipeline.Deployment, provider, class string, secrets []string) {
	a.mu.Lock()
	a.fails[d.ID]++
	n := a.fails[d.ID]
	start := n >= a.o.OutageFailures && !a.down[d.ID]
	if start {
		a.down[d.ID] = true
	}
	a.mu.Unlock()
	if start {
		a.Raise(Alert{Type: OutageAlerts, Group: group, Deployment: d.ID, Provider: provider, Class: "outage",
			Secrets: secrets, noDedup: true, Text: fmt.Sprintf("*Outage* (outage_alerts)\nDeployment `%s` of model "+
				"group `%s` (provider %s) failed %d requests in a row; the last error: %s.", d.ID, group, provider, n,
				class)})
	}
}

// succeeded ends the outage of d, and of its group, if there was one.
func (a *Alerter) succeeded(group string, d *pipeline.Deployment, provider string) {
	a.mu.Lock()
	wasDown, groupWasDown := a.down[d.ID], a.groupDown[d.Group]
	delete(a.fails, d.ID)
	delete(a.down, d.ID)
	delete(a.cooling, d.ID)
	delete(a.groupDown, d.Group)
	a.mu.Unlock()
	if wasDown {
		a.Raise(Alert{Type: OutageAlerts, Group: group, Deployment: d.ID, Provider: provider, Class: "recovered",
			noDedup: true, Text: fmt.Sprintf("*Recovered* (outage_alerts)\nDeployment `%s` of model group `%s` "+
				"(provider %s) is answering again.", d.ID, group, provider)})
	}
	if groupWasDown {
		a.Raise(Alert{Type: OutageAlerts, Group: d.Group, Class: "group-recovered", noDedup: true,
			Text: fmt.Sprintf("*Recovered* (outage_alerts)\nModel group `%s` is answering again (deployment `%s`).",
				d.Group, d.ID)})
	}
}

// OnCooldown is the router's Settings.OnCooldown hook: it raises cooldown_deployment, and outage_alerts when every
// deployment of the group is cooling down. It never blocks.
func (a *Alerter) OnCooldown(d *pipeline.Deployment, cause *sdk.Error, cooldown time.Duration) {
	provider, key := "", ""
	if d.Target != nil {
		provider, key = d.Target.Provider, d.Target.APIKey
	}
	class, msg := "unknown", ""
	if cause != nil {
		class, msg = cause.Kind.String(), cause.Error()
	}
	a.Raise(Alert{Type: CooldownDeployment, Group: d.Group, Deployment: d.ID, Provider: provider, Class: class,
		Secrets: []string{key}, Text: fmt.Sprintf("*Deployment cooling down* (cooldown_deployment)\nModel group: "+
			"`%s`\nDeployment: `%s` (provider %s)\nCooldown: %s\nCause: %s: %s", d.Group, d.ID, provider,
			round(cooldown), class, msg)})

	now := a.o.Now()
	a.mu.Lock()
	a.cooling[d.ID] = now.Add(cooldown)
	allDown := false
	if a.o.Deployments != nil && !a.groupDown[d.Group] {
		a.mu.Unlock()
		ds := a.o.Deployments() // outside the lock: the router may be busy
		a.mu.Lock()
		n := 0
		allDown = true
		for _, x := range ds {
			if x.Group != d.Group {
				continue
			}
			n++
			if until, ok := a.cooling[x.ID]; !ok || !until.After(now) {
				allDown = false
			}
		}
		allDown = allDown && n > 0 && !a.groupDown[d.Group]
		if allDown {
			a.groupDown[d.Group] = true
		}
	}
	a.mu.Unlock()
	if allDown {
		a.Raise(Alert{Type: OutageAlerts, Group: d.Group, Class: "group-outage", noDedup: true,
			Text: fmt.Sprintf("*Outage* (outage_alerts)\nEvery deployment of model group `%s` is cooling down: "+
				"requests to it fail until one recovers (the last cause: %s).", d.Group, class)})
	}
}

// round keeps durations readable in messages.
func round(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// Stage returns the pipeline stage that tracks calls under way for llm_requests_hanging: a call is hanging when
// no result (response, error, or the start of a stream) has been produced alerting_threshold after it arrived.
// Place it right after the decode stage, which names the model, and before the stages that may wait (limits,
// routing, the upstream call).
func (a *Alerter) Stage() pipeline.Stage { return hangingStage{a} }

type hangingStage struct{ a *Alerter }

func (s hangingStage) Name() string { return "alerts" }

func (s hangingStage) Before(_ context.Context, c *pipeline.Call) error {
	if !s.a.enabled[LLMRequestsHanging] {
		return nil
	}
	start := c.Start
	if start.IsZero() {
		start = s.a.o.Now()
	}
	s.a.mu.Lock()
	s.a.running[c.ID] = &running{model: c.Model, start: start}
	s.a.mu.Unlock()
	return nil
}

// Intercept sees the call's result as soon as a later stage produced it: a response, an error or a stream that
// has started. From then on the call is answered, however long its stream runs, and no longer hanging.
func (s hangingStage) Intercept(c *pipeline.Call) { s.After(c) }

func (s hangingStage) After(c *pipeline.Call) {
	if !s.a.enabled[LLMRequestsHanging] {
		return
	}
	s.a.mu.Lock()
	delete(s.a.running, c.ID)
	s.a.mu.Unlock()
}
