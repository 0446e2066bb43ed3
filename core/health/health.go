// Package health checks the configured deployments with a cheap real call each (GET /health): a one-token chat
// completion, or an embedding of one word for deployments whose model_info.mode is embedding. Wildcard routes
// are not checked (there is no concrete model to call). With general_settings.background_health_checks the checks run every
// health_check_interval seconds and /health answers from the last round instead of calling every upstream.
package health

import (
	"context"
	"sync"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// Endpoint is one deployment's result, without secrets (no key, no headers).
type Endpoint struct {
	Model      string `json:"model"`
	ModelGroup string `json:"model_group"`
	ID         string `json:"model_id"`
	Provider   string `json:"custom_llm_provider"`
	APIBase    string `json:"api_base,omitempty"`
	// Error is the failure of an unhealthy endpoint, with the provider's message (keys redacted).
	Error string `json:"error,omitempty"`
	// Latency is how long the check took.
	LatencyMS float64 `json:"latency_ms"`
}

// Report is GET /health's answer, in LiteLLM's shape.
type Report struct {
	Healthy        []Endpoint `json:"healthy_endpoints"`
	Unhealthy      []Endpoint `json:"unhealthy_endpoints"`
	HealthyCount   int        `json:"healthy_count"`
	UnhealthyCount int        `json:"unhealthy_count"`
	// CheckedAt is when the checks ran.
	CheckedAt time.Time `json:"checked_at"`
}

// Checker checks deployments.
type Checker struct {
	// Deployments lists the deployments to check.
	Deployments func() []*pipeline.Deployment
	// Timeout bounds each check (default 30 s).
	Timeout time.Duration
	// Concurrency bounds the checks running at once (default 8).
	Concurrency int
	mu          sync.Mutex
	last        *Report
}

// Check runs every check now.
func (c *Checker) Check(ctx context.Context) *Report {
	deps := c.Deployments()
	results := make([]Endpoint, len(deps))
	ok := make([]bool, len(deps))
	sem := make(chan struct{}, max(c.Concurrency, 1))
	if c.Concurrency <= 0 {
		sem = make(chan struct{}, 8)
	}
	var wg sync.WaitGroup
	for i, d := range deps {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i], ok[i] = c.check(ctx, d)
		}()
	}
	wg.Wait()
	r := &Report{Healthy: []Endpoint{}, Unhealthy: []Endpoint{}, CheckedAt: time.Now().UTC()}
	for i := range deps {
		if ok[i] {
			r.Healthy = append(r.Healthy, results[i])
		} else {
			r.Unhealthy = append(r.Unhealthy, results[i])
		}
	}
	r.HealthyCount, r.UnhealthyCount = len(r.Healthy), len(r.Unhealthy)
	c.mu.Lock()
	c.last = r
	c.mu.Unlock()
	return r
}

// Last returns the last round's report (nil before the first).
func (c *Checker) Last() *Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Run checks every interval until ctx ends.
func (c *Checker) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		c.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Checker) check(ctx context.Context, d *pipeline.Deployment) (Endpoint, bool) {
	ep := Endpoint{ModelGroup: d.Group, ID: d.ID}
	if t := d.Target; t != nil {
		ep.Model, ep.Provider, ep.APIBase = t.Provider+"/"+t.Model, t.Provider, t.APIBase
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	var err error
	if d.Mode == "embedding" {
		_, err = d.Backend.Embed(ctx, &sdk.EmbeddingRequest{Model: d.Group, Input: sdk.TextInput("ping")})
	} else {
		one := 1
		req := &sdk.ChatRequest{Model: d.Group, MaxTokens: &one,
			Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("ping")}}}
		_, err = d.Backend.Chat(ctx, req)
	}
	ep.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		key := ""
		if d.Target != nil {
			key = d.Target.APIKey
		}
		ep.Error = sdk.Redact(sdk.AsError(err).Error(), key)
		return ep, false
	}
	return ep, true
}
