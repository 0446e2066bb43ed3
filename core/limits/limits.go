// Package limits is the pipeline's limit stage. It caps the requests the gateway serves at once
// (general_settings.max_parallel_requests); per-key, per-team and per-deployment limits build on it.
package limits

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// Stage admits or rejects calls.
type Stage struct {
	maxParallel int64
	inFlight    atomic.Int64
}

// New returns the limit stage; maxParallel <= 0 means no global cap.
func New(maxParallel int) *Stage { return &Stage{maxParallel: int64(maxParallel)} }

func (s *Stage) Name() string { return "limit" }

type admittedKey struct{}

func (s *Stage) Before(_ context.Context, c *pipeline.Call) error {
	n := s.inFlight.Add(1)
	if s.maxParallel > 0 && n > s.maxParallel {
		s.inFlight.Add(-1)
		return &sdk.Error{Kind: sdk.KindRateLimit, Code: "max_parallel_requests", RetryAfter: time.Second,
			Message: fmt.Sprintf("The gateway is serving its maximum of %d parallel requests; retry shortly.", s.maxParallel)}
	}
	c.Set(admittedKey{}, true)
	return nil
}

func (s *Stage) After(c *pipeline.Call) {
	if c.Value(admittedKey{}) != nil {
		s.inFlight.Add(-1)
	}
}

// InFlight returns the number of calls admitted and not yet finished.
func (s *Stage) InFlight() int64 { return s.inFlight.Load() }
