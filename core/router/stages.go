package router

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
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
}

// DefaultTimeout is the upstream timeout when none is configured, as in LiteLLM.
const DefaultTimeout = 600 * time.Second

// Router holds the routing table (swappable on reload) and the settings.
type Router struct {
	table    atomic.Pointer[Table]
	settings Settings
}

// New returns a router over a table.
func New(t *Table, s Settings) *Router {
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.StreamTimeout <= 0 {
		s.StreamTimeout = s.Timeout
	}
	r := &Router{settings: s}
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

// pick chooses the next deployment: among those not yet tried (all of them once every one has been), the
// lowest order tier, then the strategy.
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
	minOrder := pool[0].Order
	for _, d := range pool[1:] {
		minOrder = min(minOrder, d.Order)
	}
	tier := pool[:0]
	for _, d := range pool {
		if d.Order == minOrder {
			tier = append(tier, d)
		}
	}
	if len(tier) == 1 {
		return tier[0], nil
	}
	if r.settings.Strategy == nil {
		return tier[rand.IntN(len(tier))], nil
	}
	cands := make([]sdk.Candidate, len(tier))
	for i, d := range tier {
		cands[i] = sdk.Candidate{ID: d.ID, Weight: d.Weight, RPM: d.RPM, TPM: d.TPM, Order: d.Order}
		if d.Target != nil {
			cands[i].Provider, cands[i].Model = d.Target.Provider, d.Target.Model
		}
		if d.InputCostPerToken != nil {
			cands[i].InputCostPerToken = *d.InputCostPerToken
		}
		if d.OutputCostPerToken != nil {
			cands[i].OutputCostPerToken = *d.OutputCostPerToken
		}
	}
	i, err := r.settings.Strategy.Pick(ctx, &sdk.RouteRequest{Group: p.group.Name, Stream: c.Streaming}, cands)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(tier) {
		return nil, sdk.Errorf(sdk.KindInternal, "routing strategy picked candidate %d of %d", i, len(tier))
	}
	return tier[i], nil
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
	var lastErr *sdk.Error
	for {
		d, err := s.r.pick(ctx, c, p)
		if err != nil {
			return err
		}
		p.tried = append(p.tried, d)
		c.Deployment = d
		c.Attempts++
		err = s.r.attempt(ctx, c, d)
		if err == nil {
			return nil
		}
		lastErr = sdk.AsError(err)
		if !lastErr.Retryable() || c.Attempts > s.r.retries(c, d) || ctx.Err() != nil {
			return lastErr
		}
		wait := s.r.backoff(c.Attempts, lastErr)
		if wait < 0 {
			return lastErr
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return lastErr
		case <-t.C:
		}
	}
}

// retries returns how many retries the call may make: the request's num_retries, else the deployment's
// max_retries, else the router's num_retries.
func (r *Router) retries(c *pipeline.Call, d *pipeline.Deployment) int {
	if n := c.Controls().NumRetries; n != nil {
		return max(*n, 0)
	}
	if d.MaxRetries >= 0 {
		return d.MaxRetries
	}
	return r.settings.NumRetries
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
	ctx, cancel := context.WithTimeout(ctx, timeout)
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
