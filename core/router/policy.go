package router

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// Defaults of LiteLLM's router, which configs written for it expect.
const (
	// DefaultAllowedFails is how many failures a deployment may have in a minute before it cools down.
	DefaultAllowedFails = 3
	// DefaultCooldown is how long a deployment cools down.
	DefaultCooldown = 5 * time.Second
	// DefaultMaxFallbacks bounds the fallback groups tried for one request.
	DefaultMaxFallbacks = 5
)

// policyClasses maps the class names of LiteLLM's retry_policy (<Class>Retries) and allowed_fails_policy
// (<Class>AllowedFails) to the error kinds each covers.
var policyClasses = map[string][]sdk.ErrorKind{
	"BadRequestError":             {sdk.KindBadRequest, sdk.KindUnprocessable, sdk.KindRequestTooLarge, sdk.KindNotFound},
	"AuthenticationError":         {sdk.KindAuthentication, sdk.KindPermissionDenied},
	"TimeoutError":                {sdk.KindTimeout},
	"RateLimitError":              {sdk.KindRateLimit},
	"ContentPolicyViolationError": {sdk.KindContentPolicy},
	"ContextWindowExceededError":  {sdk.KindContextWindowExceeded},
	"InternalServerError":         {sdk.KindInternal, sdk.KindAPIConnection, sdk.KindServiceUnavailable},
	"ServiceUnavailableError":     {sdk.KindServiceUnavailable},
	"APIConnectionError":          {sdk.KindAPIConnection},
	"PermissionDeniedError":       {sdk.KindPermissionDenied},
	"NotFoundError":               {sdk.KindNotFound},
	"UnprocessableEntityError":    {sdk.KindUnprocessable},
}

// ParsePolicy reads a retry_policy (suffix "Retries") or allowed_fails_policy (suffix "AllowedFails") map into
// counts per error kind; keys are class names with or without the suffix (RateLimitErrorRetries, RateLimitError). A more specific class (ServiceUnavailableError) wins over a broader one
// (InternalServerError) whatever the order of the keys.
func ParsePolicy(m map[string]int, suffix string) (map[sdk.ErrorKind]int, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := map[sdk.ErrorKind]int{}
	width := map[sdk.ErrorKind]int{}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		// LiteLLM's documented keys end in the suffix; configs written from its guides often leave it out.
		class, _ := strings.CutSuffix(k, suffix)
		kinds := policyClasses[class]
		if len(kinds) == 0 {
			var known []string
			for c, ks := range policyClasses {
				if len(ks) > 0 {
					known = append(known, c+suffix)
				}
			}
			sort.Strings(known)
			return nil, fmt.Errorf("%s: not one of %s", k, strings.Join(known, ", "))
		}
		if m[k] < 0 {
			return nil, fmt.Errorf("%s: must not be negative", k)
		}
		for _, kind := range kinds {
			if w, set := width[kind]; !set || len(kinds) < w {
				out[kind], width[kind] = m[k], len(kinds)
			}
		}
	}
	return out, nil
}

// neverRetried are the kinds a retry cannot fix: the request itself is at fault, so every deployment would
// refuse it the same way.
func neverRetried(k sdk.ErrorKind) bool {
	switch k {
	case sdk.KindBadRequest, sdk.KindUnprocessable, sdk.KindRequestTooLarge, sdk.KindContextWindowExceeded,
		sdk.KindContentPolicy, sdk.KindBudgetExceeded:
		return true
	}
	return false
}

// countsForCooldown reports failures that say something about the deployment (rather than the request or the
// client): rate limits, server errors, timeouts, unreachable upstreams, rejected credentials.
func countsForCooldown(e *sdk.Error) bool {
	if e.HTTPStatus() == 499 { // the client went away
		return false
	}
	switch e.Kind {
	case sdk.KindRateLimit, sdk.KindTimeout, sdk.KindInternal, sdk.KindAPIConnection, sdk.KindServiceUnavailable,
		sdk.KindAuthentication, sdk.KindPermissionDenied, sdk.KindNotFound:
		return true
	}
	return false
}

// retryBudget caps retry traffic per model group: every request earns a fifth of a retry, up to ten banked,
// and every retry spends one. When an upstream is down, retries stop at about 20% extra traffic instead of
// multiplying it by 1+num_retries. The zero value is a full budget.
type retryBudget struct {
	// debt is in thousandths of a retry.
	debt atomic.Int64
}

const (
	budgetPerRequest = 200    // a request earns 0.2 retries
	budgetCap        = 10_000 // at most 10 retries banked
	budgetPerRetry   = 1_000
)

// request credits one request.
func (b *retryBudget) request() {
	for {
		d := b.debt.Load()
		if d <= 0 {
			return
		}
		if b.debt.CompareAndSwap(d, max(d-budgetPerRequest, 0)) {
			return
		}
	}
}

// allow spends one retry, reporting false when the budget is exhausted.
func (b *retryBudget) allow() bool {
	for {
		d := b.debt.Load()
		if d+budgetPerRetry > budgetCap {
			return false
		}
		if b.debt.CompareAndSwap(d, d+budgetPerRetry) {
			return true
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
