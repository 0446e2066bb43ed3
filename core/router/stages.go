package router

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/gateway/core/callctx"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/upstream"
	"github.com/switchyard/gateway/sdk"
)

// Settings are the router's defaults (router_settings, with litellm_settings as a fallback).
type Settings struct {
	// NumRetries is how many times a failed call is retried (on another deployment when there is one).
	NumRetries int
	// Timeout bounds a non-streamed upstream call; StreamTimeout the wait for each chunk of a stream.
	Timeout       time.Duration
	StreamTimeout time.Duration
	// RetryAfter is the least wait before a retry.
	RetryAfter time.Duration
	// Strategy picks deployments; nil means a uniform random pick.
	Strategy sdk.Router
	// MockFor binds the mock provider to a deployment and a mock_response text; nil means mock_response requests
	// fail.
	MockFor func(d *pipeline.Deployment, text string) pipeline.Backend

	// State keeps usage, cooldowns and latencies (default: in memory).
	State State
	// More than AllowedFails failures of a deployment within a minute put it in cooldown for CooldownTime
	// (defaults 3 and 5 s; a negative AllowedFails means none is allowed); AllowedFailsPolicy sets it per error
	// kind. DisableCooldowns turns cooldowns off.
	AllowedFails       int
	AllowedFailsPolicy map[sdk.ErrorKind]int
	CooldownTime       time.Duration
	DisableCooldowns   bool
	// RetryPolicy sets the retries per error kind, overriding NumRetries (never for errors of the request
	// itself, such as 400s, which are not retried).
	RetryPolicy map[sdk.ErrorKind]int
	// Fallbacks map a model group to the groups tried, in order, when it fails; ContextWindowFallbacks and
	// ContentPolicyFallbacks apply to those errors first; DefaultFallbacks to groups without fallbacks of their
	// own. MaxFallbacks bounds the groups tried (default 5).
	Fallbacks              map[string][]string
	ContextWindowFallbacks map[string][]string
	ContentPolicyFallbacks map[string][]string
	DefaultFallbacks       []string
	MaxFallbacks           int
	// EstimateTokens estimates a call's prompt tokens (for tpm limits, usage-based routing and pre-call
	// checks); nil means a rough estimate from the body size.
	EstimateTokens func(c *pipeline.Call) int
	// PreCallChecks skips deployments whose context window the prompt does not fit (Fits reports whether it
	// does; nil compares the estimate with Deployment.MaxInputTokens).
	PreCallChecks bool
	Fits          func(c *pipeline.Call, d *pipeline.Deployment) bool
	// OnCooldown, when set, is told when a deployment enters cooldown (on the replica that put it there),
	// with the failure that did it; for alerts. It must not block.
	OnCooldown func(d *pipeline.Deployment, cause *sdk.Error, cooldown time.Duration)
}

// DefaultTimeout is the upstream timeout when none is configured, as in LiteLLM.
const DefaultTimeout = 600 * time.Second

// Router holds the routing table (swappable on reload) and the settings.
type Router struct {
	table    atomic.Pointer[Table]
	settings Settings
	// inFlight counts the requests under way per deployment id (*atomic.Int64), for least-busy routing.
	inFlight sync.Map
	// static is true when the strategy reads no live statistics (sdk.StaticRouter): picks skip reading usage
	// and latencies, and calls skip recording tokens for deployments without a tpm limit.
	static bool
}

func (r *Router) inFlightOf(id string) *atomic.Int64 {
	if v, ok := r.inFlight.Load(id); ok {
		return v.(*atomic.Int64)
	}
	v, _ := r.inFlight.LoadOrStore(id, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// New returns a router over a table.
func New(t *Table, s Settings) *Router {
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.StreamTimeout <= 0 {
		s.StreamTimeout = s.Timeout
	}
	if s.State == nil {
		s.State = NewMemoryState()
	}
	switch {
	case s.AllowedFails == 0:
		s.AllowedFails = DefaultAllowedFails
	case s.AllowedFails < 0: // configured as 0: the first failure cools down
		s.AllowedFails = 0
	}
	if s.CooldownTime <= 0 {
		s.CooldownTime = DefaultCooldown
	}
	if s.MaxFallbacks <= 0 {
		s.MaxFallbacks = DefaultMaxFallbacks
	}
	r := &Router{settings: s}
	if sr, ok := s.Strategy.(sdk.StaticRouter); ok && sr.Static() {
		r.static = true
	}
	r.table.Store(t)
	return r
}

// Table returns the current routing table.
func (r *Router) Table() *Table { return r.table.Load() }

// SetTable swaps the routing table.
func (r *Router) SetTable(t *Table) { r.table.Store(t) }

type planKey struct{}

// plan is the route stage's decision, consumed by the call stage.
type plan struct {
	group *Group
	tried []*pipeline.Deployment
	// tokens is the estimated prompt size, reserved against tpm limits.
	tokens int
}

// RouteStage resolves the model group of a call.
type RouteStage struct{ r *Router }

// RouteStage returns the route stage.
func (r *Router) RouteStage() *RouteStage { return &RouteStage{r: r} }

func (s *RouteStage) Name() string { return "route" }

func (s *RouteStage) Before(ctx context.Context, c *pipeline.Call) error {
	g, err := s.r.Table().Resolve(c.Model)
	if err != nil {
		return err
	}
	c.Group = g.Name
	c.Set(planKey{}, &plan{group: g})
	return nil
}

func (s *RouteStage) After(*pipeline.Call) {}

// pick chooses the next deployment: among those not yet tried (all of them once every one has been) that are
// not cooling down and whose context window fits, the lowest order tier, then the strategy; the pick is then
// reserved against its rpm/tpm limits, and a full deployment is passed over for the next best.
func (r *Router) pick(ctx context.Context, c *pipeline.Call, p *plan) (*pipeline.Deployment, error) {
	pool := make([]*pipeline.Deployment, 0, len(p.group.Deployments))
	for _, d := range p.group.Deployments {
		if !contains(p.tried, d) {
			pool = append(pool, d)
		}
	}
	if len(pool) == 0 {
		pool = append(pool, p.group.Deployments...)
	}
	if r.settings.PreCallChecks {
		fits := pool[:0:0]
		for _, d := range pool {
			ok := d.MaxInputTokens == 0 || p.tokens <= d.MaxInputTokens
			if r.settings.Fits != nil {
				ok = r.settings.Fits(c, d)
			}
			if ok {
				fits = append(fits, d)
			}
		}
		if len(fits) == 0 {
			return nil, sdk.NewError(sdk.KindContextWindowExceeded, fmt.Sprintf(
				"the prompt (about %d tokens) is longer than the context window of every deployment of %q",
				p.tokens, p.group.Name))
		}
		pool = fits
	}
	ids := make([]string, len(pool))
	for i, d := range pool {
		ids[i] = d.ID
	}
	if !r.settings.DisableCooldowns {
		until := r.settings.State.Cooldowns(ctx, ids)
		warm := pool[:0:0]
		var soonest time.Time
		for i, d := range pool {
			if until[i].IsZero() {
				warm = append(warm, d)
			} else if soonest.IsZero() || until[i].Before(soonest) {
				soonest = until[i]
			}
		}
		if len(warm) == 0 {
			return nil, &sdk.Error{Kind: sdk.KindRateLimit, RetryAfter: time.Until(soonest).Round(time.Second),
				Message: fmt.Sprintf("No deployments available for model group %q: every deployment is cooling "+
					"down after failures", p.group.Name)}
		}
		pool = warm
	}
	var full time.Duration
	for len(pool) > 0 {
		d, i, err := r.choose(ctx, c, p, pool)
		if err != nil {
			return nil, err
		}
		if d.RPM <= 0 && d.TPM <= 0 {
			return d, nil
		}
		ok, retryAfter := r.settings.State.Reserve(ctx, d.ID, d.RPM, d.TPM, p.tokens)
		if ok {
			return d, nil
		}
		if full == 0 || retryAfter < full {
			full = retryAfter
		}
		pool = append(pool[:i:i], pool[i+1:]...)
	}
	e := &sdk.Error{Kind: sdk.KindRateLimit, RetryAfter: full, Message: fmt.Sprintf(
		"every deployment of model group %q is at its rpm/tpm limit for this minute", p.group.Name)}
	e.Header = map[string]string{"retry-after": strconv.Itoa(max(int(full.Round(time.Second)/time.Second), 1))}
	return nil, e
}

// choose applies the order tiers and the strategy to a pool, returning the deployment and its index in pool.
func (r *Router) choose(ctx context.Context, c *pipeline.Call, p *plan, pool []*pipeline.Deployment) (*pipeline.Deployment, int, error) {
	minOrder := pool[0].Order
	for _, d := range pool[1:] {
		minOrder = min(minOrder, d.Order)
	}
	tier := make([]int, 0, len(pool))
	for i, d := range pool {
		if d.Order == minOrder {
			tier = append(tier, i)
		}
	}
	if len(tier) == 1 {
		return pool[tier[0]], tier[0], nil
	}
	if r.settings.Strategy == nil {
		i := tier[rand.IntN(len(tier))]
		return pool[i], i, nil
	}
	ids := make([]string, len(tier))
	for k, i := range tier {
		ids[k] = pool[i].ID
	}
	var usage []MinuteUsage
	var lat []Latency
	if !r.static {
		usage = r.settings.State.Usage(ctx, ids)
		lat = r.settings.State.Latencies(ctx, ids)
	} else {
		usage, lat = make([]MinuteUsage, len(ids)), make([]Latency, len(ids))
	}
	cands := make([]sdk.Candidate, len(tier))
	for k, i := range tier {
		d := pool[i]
		cands[k] = sdk.Candidate{ID: d.ID, Weight: d.Weight, RPM: d.RPM, TPM: d.TPM, Order: d.Order,
			InFlight: int(r.inFlightOf(d.ID).Load()), RequestsThisMinute: usage[k].Requests,
			TokensThisMinute: usage[k].Tokens, Latency: lat[k].PerToken, TimeToFirstToken: lat[k].TTFT}
		if d.Target != nil {
			cands[k].Provider, cands[k].Model = d.Target.Provider, d.Target.Model
		}
		if d.InputCostPerToken != nil {
			cands[k].InputCostPerToken = *d.InputCostPerToken
		}
		if d.OutputCostPerToken != nil {
			cands[k].OutputCostPerToken = *d.OutputCostPerToken
		}
	}
	k, err := r.settings.Strategy.Pick(ctx, &sdk.RouteRequest{Group: p.group.Name, Stream: c.Streaming,
		EstimatedTokens: p.tokens}, cands)
	if err != nil {
		return nil, 0, err
	}
	if k < 0 || k >= len(tier) {
		return nil, 0, sdk.Errorf(sdk.KindInternal, "routing strategy picked candidate %d of %d", k, len(tier))
	}
	return pool[tier[k]], tier[k], nil
}

func contains(ds []*pipeline.Deployment, d *pipeline.Deployment) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// CallStage calls the deployment the router picks, retrying retryable failures.
type CallStage struct{ r *Router }

// CallStage returns the call stage.
func (r *Router) CallStage() *CallStage { return &CallStage{r: r} }

func (s *CallStage) Name() string { return "call" }

func (s *CallStage) After(*pipeline.Call) {}

func (s *CallStage) Before(ctx context.Context, c *pipeline.Call) error {
	p, _ := c.Value(planKey{}).(*plan)
	if p == nil {
		return sdk.NewError(sdk.KindInternal, "call stage: the call was not routed")
	}
	// Images fetched for one attempt (for providers that want image bytes) serve the retries too.
	ctx = upstream.WithFetchCache(ctx)
	p.tokens = s.r.estimate(c)
	retries, fallbacks := 0, 0
	defer func() {
		c.SetHeader("x-litellm-attempted-retries", strconv.Itoa(retries))
		c.SetHeader("x-litellm-attempted-fallbacks", strconv.Itoa(fallbacks))
	}()
	err := s.r.serveGroup(ctx, c, p, &retries)
	if err == nil {
		return nil
	}
	original := p.group.Name
	for _, name := range s.r.fallbacksFor(c, original, sdk.AsError(err)) {
		if fallbacks >= s.r.settings.MaxFallbacks || ctx.Err() != nil {
			break
		}
		g, rerr := s.r.Table().Resolve(name)
		if rerr != nil || g.Name == original {
			continue
		}
		fallbacks++
		c.Group = g.Name
		fp := &plan{group: g, tokens: p.tokens}
		c.Set(planKey{}, fp)
		if err = s.r.serveGroup(ctx, c, fp, &retries); err == nil {
			return nil
		}
	}
	return err
}

// estimate returns the call's estimated prompt tokens.
func (r *Router) estimate(c *pipeline.Call) int {
	if r.settings.EstimateTokens != nil {
		return r.settings.EstimateTokens(c)
	}
	return len(c.Body) / 4
}

// fallbacksFor returns the groups to try, in order, after group failed with err: the request's own fallbacks,
// else the lists configured for the error's kind and the group, else the default fallbacks. Errors of the
// request itself (a plain 400) and a client that went away get none.
func (r *Router) fallbacksFor(c *pipeline.Call, group string, err *sdk.Error) []string {
	switch {
	case err.HTTPStatus() == 499, err.Kind == sdk.KindBudgetExceeded:
		return nil
	case err.Kind == sdk.KindBadRequest || err.Kind == sdk.KindUnprocessable || err.Kind == sdk.KindRequestTooLarge:
		return nil
	}
	if ctl := c.Controls(); ctl != nil && len(ctl.Fallbacks) > 0 {
		return ctl.Fallbacks
	}
	switch err.Kind {
	case sdk.KindContextWindowExceeded:
		if l := r.settings.ContextWindowFallbacks[group]; len(l) > 0 {
			return l
		}
	case sdk.KindContentPolicy:
		if l := r.settings.ContentPolicyFallbacks[group]; len(l) > 0 {
			return l
		}
	}
	if l := r.settings.Fallbacks[group]; len(l) > 0 {
		return l
	}
	return r.settings.DefaultFallbacks
}

// serveGroup calls deployments of one group until one succeeds or retries are exhausted: a retryable failure
// is retried (on another deployment when there is one) within the retry policy and the group's retry budget,
// with exponential backoff honouring the upstream's Retry-After.
func (r *Router) serveGroup(ctx context.Context, c *pipeline.Call, p *plan, retries *int) error {
	p.group.budget.request()
	attempts := 0
	for {
		d, err := r.pick(ctx, c, p)
		if err != nil {
			return err
		}
		p.tried = append(p.tried, d)
		c.Deployment = d
		c.Attempts++
		attempts++
		err = r.attemptOn(ctx, c, d, p.tokens)
		if err == nil {
			return nil
		}
		e := sdk.AsError(err)
		if countsForCooldown(e) && !r.settings.DisableCooldowns {
			allowed := r.settings.AllowedFails
			if n, ok := r.settings.AllowedFailsPolicy[e.Kind]; ok {
				allowed = n
			}
			if r.settings.State.Failed(ctx, d.ID, allowed, r.settings.CooldownTime) && r.settings.OnCooldown != nil {
				r.settings.OnCooldown(d, e, r.settings.CooldownTime)
			}
		}
		if ctx.Err() != nil || !r.mayRetry(c, d, e, attempts) || !p.group.budget.allow() {
			return e
		}
		wait := r.backoff(attempts, e)
		if wait < 0 {
			return e
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return e
		case <-t.C:
		}
		*retries++
	}
}

// mayRetry reports whether a call that failed with e after attempts attempts on its group may be retried.
func (r *Router) mayRetry(c *pipeline.Call, d *pipeline.Deployment, e *sdk.Error, attempts int) bool {
	if neverRetried(e.Kind) {
		return false
	}
	limit := r.retries(c, d)
	if n, ok := r.settings.RetryPolicy[e.Kind]; ok && c.Controls().NumRetries == nil {
		limit = n
	} else if !e.Retryable() {
		return false
	}
	return attempts <= limit
}

// UpstreamTime is the key under which a call's time in non-streamed upstream calls (a time.Duration, retries
// included) is kept on the call (pipeline.Call.Value), for the gateway-overhead metric.
type UpstreamTime struct{}

// attemptOn makes one attempt on d, keeping the deployment's in-flight count, latency and token use.
func (r *Router) attemptOn(ctx context.Context, c *pipeline.Call, d *pipeline.Deployment, reserved int) error {
	inFlight := r.inFlightOf(d.ID)
	inFlight.Add(1)
	start := time.Now()
	c.Usage = nil
	err := r.attempt(ctx, c, d)
	if !c.Streaming {
		spent, _ := c.Value(UpstreamTime{}).(time.Duration)
		c.Set(UpstreamTime{}, spent+time.Since(start))
	}
	if err != nil {
		inFlight.Add(-1)
		return err
	}
	finish := func(complete bool) {
		inFlight.Add(-1)
		if !complete || c.Usage == nil {
			return
		}
		if used := c.Usage.TotalTokens; used > 0 && (d.TPM > 0 || r.settings.Strategy != nil && !r.static) {
			r.settings.State.AddTokens(context.WithoutCancel(ctx), d.ID, used-reserved)
		}
		var perToken, ttft time.Duration
		if n := c.Usage.CompletionTokens; n > 0 {
			perToken = time.Since(start) / time.Duration(n)
		}
		if !c.FirstToken.IsZero() {
			ttft = c.FirstToken.Sub(start)
		}
		r.settings.State.Observe(context.WithoutCancel(ctx), d.ID, perToken, ttft)
	}
	if m, ok := c.Stream.(*meteredStream); ok {
		m.onEnd = finish
		return nil
	}
	finish(true)
	return nil
}

// maxRetryAfter is the longest upstream Retry-After we wait for; beyond it the error goes to the client.
const maxRetryAfter = 60 * time.Second

// backoff returns the wait before retry number n: exponential with full jitter, at least the configured
// retry_after and the upstream's Retry-After; negative when the upstream asks for longer than we would wait.
func (r *Router) backoff(n int, err *sdk.Error) time.Duration {
	if err.RetryAfter > maxRetryAfter {
		return -1
	}
	base := 100 * time.Millisecond << min(n-1, 6)
	wait := time.Duration(rand.Int64N(int64(base)) + 1)
	wait = max(wait, r.settings.RetryAfter, err.RetryAfter)
	return min(wait, maxRetryAfter)
}

// attempt makes one upstream call and sets the call's result.
func (r *Router) attempt(ctx context.Context, c *pipeline.Call, d *pipeline.Deployment) error {
	b := d.Backend
	if mock := c.Controls().MockResponse; mock != nil || d.MockResponse != "" {
		text := d.MockResponse
		if mock != nil {
			text = *mock
		}
		if r.settings.MockFor == nil {
			return sdk.NewError(sdk.KindBadRequest, "mock_response: no mock provider is installed")
		}
		b = r.settings.MockFor(d, text)
	}
	if c.Streaming {
		return r.attemptStream(ctx, c, d, b)
	}
	timeout := c.TimeoutOverride
	if timeout <= 0 {
		timeout = d.Timeout
	}
	if timeout <= 0 {
		timeout = r.settings.Timeout
	}
	ctx, cancel := callctx.WithTimeout(ctx, timeout) // no timer unless the backend waits on it (callctx)
	defer cancel()
	switch c.Type {
	case pipeline.CallChat:
		resp, err := b.Chat(ctx, c.Chat)
		if err != nil {
			return err
		}
		c.Usage = resp.Usage
		c.Complete(resp)
	case pipeline.CallCompletion:
		resp, err := b.Complete(ctx, c.Completion)
		if err != nil {
			return err
		}
		c.Usage = resp.Usage
		c.Complete(resp)
	case pipeline.CallEmbedding:
		resp, err := b.Embed(ctx, c.Embedding)
		if err != nil {
			return err
		}
		if c.Embedding.EncodingFormat == "base64" && resp.Raw == nil {
			for i := range resp.Data {
				resp.Data[i].Embedding = resp.Data[i].Embedding.ToBase64()
			}
		}
		c.Usage = resp.Usage
		c.Complete(resp)
	case pipeline.CallRerank:
		resp, err := b.Rerank(ctx, c.Rerank)
		if err != nil {
			return err
		}
		if resp.Results == nil {
			resp.Results = []sdk.RerankResult{} // "results": [], never null
		}
		c.Usage = resp.Usage
		c.Complete(resp)
	}
	return nil
}

// attemptStream opens a stream and waits for its first chunk, so that a stream failing before it produced
// anything can still be retried.
func (r *Router) attemptStream(ctx context.Context, c *pipeline.Call, d *pipeline.Deployment, b pipeline.Backend) error {
	idle := c.TimeoutOverride
	if idle <= 0 {
		idle = d.StreamTimeout
	}
	if idle <= 0 {
		idle = r.settings.StreamTimeout
	}
	sctx, cancel := context.WithCancel(ctx)
	m := newMeteredStream(c, cancel, idle, wantsUsage(c))
	m.arm()
	var s sdk.Stream
	var err error
	switch c.Type {
	case pipeline.CallChat:
		s, err = b.ChatStream(sctx, c.Chat)
	case pipeline.CallCompletion:
		s, err = b.CompleteStream(sctx, c.Completion)
	default:
		err = sdk.NewError(sdk.KindBadRequest, "stream: this endpoint cannot stream").WithParam("stream")
	}
	m.disarm()
	if err != nil {
		m.Close()
		return m.timeoutOr(err)
	}
	m.inner = s
	if err := m.peek(); err != nil {
		m.Close()
		return err
	}
	c.CompleteStream(m)
	return nil
}

func wantsUsage(c *pipeline.Call) bool {
	switch {
	case c.Chat != nil:
		return c.Chat.WantsUsageInStream()
	case c.Completion != nil:
		return c.Completion.StreamOptions != nil && c.Completion.StreamOptions.IncludeUsage
	}
	return false
}
