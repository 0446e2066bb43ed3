// Package pipeline defines the gateway's request pipeline: one Call travelling through an ordered list of
// stages (auth, limit, route, call, log), each a small interface with its own default implementation.
//
// A stage's Before runs in order and may end the call early, with an error (a rejected key, an exhausted
// budget) or with a response (a cache hit). The stages before the one that ended it and that implement
// Interceptor then see the result before it is delivered. Once the response has been delivered, streamed or not,
// every stage whose Before ran gets its After, in reverse order. The edge (HTTP) and the library mode drive the
// same pipeline.
package pipeline

import (
	"context"
	"fmt"
)

// Stage is one step of the pipeline.
type Stage interface {
	// Name names the stage in logs and metrics.
	Name() string
	// Before runs in pipeline order. Returning an error ends the call with it; setting a response on the call
	// (c.Complete) ends it successfully. Either way the stages after this one do not run.
	Before(ctx context.Context, c *Call) error
	// After runs in reverse order once the response is delivered or the call failed, for every stage whose
	// Before ran (whatever it returned). It must not block: slow work goes to a background queue.
	After(c *Call)
}

// Interceptor is implemented by stages that act on the result the stages after them produced, before it is
// delivered: the cache stage stores an answer, records a streamed one as it is read, and reassembles embeddings
// it served in part. Once a stage completes or fails the call, Run calls Intercept of every stage before it that
// implements Interceptor, the nearest first. Intercept may replace c.Response or c.Stream (wrapping a stream
// keeps the call streaming); a stage is never handed the result it produced itself.
type Interceptor interface {
	Intercept(c *Call)
}

// Pipeline is an ordered list of stages. It is immutable and safe for concurrent use.
type Pipeline struct {
	stages []Stage
}

// New returns a pipeline of the given stages.
func New(stages ...Stage) *Pipeline {
	return &Pipeline{stages: append([]Stage(nil), stages...)}
}

// Stages returns the stages, in order.
func (p *Pipeline) Stages() []Stage { return append([]Stage(nil), p.stages...) }

// Run runs the Before steps until one fails or completes the call. The caller then delivers the result (c.Err,
// c.Response or c.Stream) and calls Finish exactly once.
func (p *Pipeline) Run(ctx context.Context, c *Call) {
	for i, s := range p.stages {
		c.ran = i + 1
		if err := safeBefore(ctx, s, c); err != nil {
			c.Fail(err)
		}
		if c.Done() {
			p.intercept(c, i)
			return
		}
	}
	c.Fail(fmt.Errorf("pipeline: no stage produced a response"))
	p.intercept(c, len(p.stages))
}

// intercept hands the call's result to the Interceptors among the stages before stage i, the nearest first.
func (p *Pipeline) intercept(c *Call, i int) {
	for j := i - 1; j >= 0; j-- {
		if ic, ok := p.stages[j].(Interceptor); ok {
			safeIntercept(ic, c)
		}
	}
}

// Finish runs the After steps of the stages that ran, in reverse order. It is idempotent.
func (p *Pipeline) Finish(c *Call) {
	if c.finished {
		return
	}
	c.finished = true
	c.markEnd()
	for i := c.ran - 1; i >= 0; i-- {
		safeAfter(p.stages[i], c)
	}
}

// safeBefore turns a panicking stage into an error for this call only: a bug in one stage (or a plugin behind
// it) must not take the gateway down.
func safeBefore(ctx context.Context, s Stage, c *Call) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("stage %s panicked: %v", s.Name(), r)
		}
	}()
	return s.Before(ctx, c)
}

// safeIntercept keeps a panicking Interceptor from losing the result: the call is delivered as it stood.
func safeIntercept(ic Interceptor, c *Call) {
	defer func() { _ = recover() }()
	ic.Intercept(c)
}

func safeAfter(s Stage, c *Call) {
	defer func() { _ = recover() }()
	s.After(c)
}
