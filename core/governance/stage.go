package governance

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/switchyard/gateway/core/callctx"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/quota"
	"github.com/switchyard/gateway/core/tokens"
	"github.com/switchyard/gateway/sdk"
)

// Stage is the pipeline's governance step: after decode, it applies the key's model aliases and allowed models,
// refuses blocked customers, and admits the call against every limit and budget of its key, the key's model,
// team, user and customer (the tightest wins); once the call ends it settles the tokens and cost used.
type Stage struct{ g *Governor }

// Stage returns the governance stage.
func (g *Governor) Stage() *Stage { return &Stage{g: g} }

// Name names the stage.
func (s *Stage) Name() string { return "governance" }

type ticketKey struct{}

// admittedKey marks a call the stage admitted: only those are billed in the ledger.
type admittedKey struct{}

// Admitted reports whether the governance stage admitted the call (refused calls are not billed).
func Admitted(c *pipeline.Call) bool { return c.Value(admittedKey{}) != nil }

// Before checks and admits the call.
func (s *Stage) Before(ctx context.Context, c *pipeline.Call) error {
	g := s.g
	now := g.o.Now()
	scopes := make([]quota.Scope, 0, 5)
	if p := c.Principal; p != nil && p.KeyHash != "" && p.KeyHash != g.masterToken {
		k, err := g.dir.Key(ctx, p.KeyHash)
		if err != nil || k == nil {
			return sdk.NewError(sdk.KindAuthentication, "Authentication error: the API key is not valid.")
		}
		if target, ok := k.Aliases[c.Model]; ok && target != "" {
			setModel(c, target)
		}
		team, user := g.dir.Team(k.TeamID), g.dir.User(k.UserID)
		if !allowed(k.Models, c.Model) {
			return denyModel("key", c.Model)
		}
		if team != nil && !allowed(team.Models, c.Model) {
			return denyModel("team", c.Model)
		}
		if user != nil && !allowed(user.Models, c.Model) {
			return denyModel("user", c.Model)
		}
		scopes = append(scopes, keyScope(k, now))
		if ms, ok := modelScope(k, c.Model, now); ok {
			scopes = append(scopes, ms)
		}
		if team != nil {
			scopes = append(scopes, teamScope(team, now))
		}
		if user != nil {
			scopes = append(scopes, userScope(user, now))
		}
	}
	if id := c.EndUser(); id != "" {
		if cu := g.dir.Customer(id); cu != nil {
			if cu.Blocked {
				return &sdk.Error{Kind: sdk.KindPermissionDenied, Code: "end_user_blocked", Param: "user",
					Message: "This end user is blocked from using the gateway."}
			}
			scopes = append(scopes, customerScope(cu, g.dir.Budget(cu.BudgetID), now))
		}
	}
	if len(scopes) == 0 {
		c.Set(admittedKey{}, true)
		return nil
	}
	reserve := 0.0
	if g.o.Estimate != nil && hasBudget(scopes) {
		reserve = g.o.Estimate(c)
	}
	t, err := g.o.Counters.Admit(ctx, quota.Request{Scopes: scopes, Reserve: reserve, Now: now})
	if err != nil {
		var d *quota.Denial
		if errors.As(err, &d) {
			return denial(d, now)
		}
		return &sdk.Error{Kind: sdk.KindServiceUnavailable, Message: "Limits cannot be checked right now; retry shortly.",
			Err: err}
	}
	c.Set(ticketKey{}, t)
	c.Set(admittedKey{}, true)
	var hs [6]pipeline.Header
	c.SetHeaders(rateHeaders(t.Remaining, now, &hs)...)
	return nil
}

// Intercept puts the cost of a non-streamed answer in x-litellm-response-cost.
func (s *Stage) Intercept(c *pipeline.Call) {
	if c.Response != nil && c.Usage != nil {
		c.SetHeader("x-litellm-response-cost", strconv.FormatFloat(pipeline.Cost(c), 'g', -1, 64))
	}
}

// After settles the call: its tokens and cost replace its reservations. A stream the client left before the
// upstream reported usage is billed for what it produced: its prompt counted with the model's tokenizer and a
// token per chunk of the answer streamed.
func (s *Stage) After(c *pipeline.Call) {
	if c.Usage == nil && c.StreamedChunks > 0 && !c.CacheHit {
		c.Usage, c.UsageEstimated = estimateUsage(c), true
	}
	t, _ := c.Value(ticketKey{}).(*quota.Ticket)
	if t == nil {
		return
	}
	var tokens int64
	if c.Usage != nil && !c.CacheHit {
		tokens = int64(c.Usage.TotalTokens)
	}
	// Leased counters settle in memory, so the timeout usually has nothing to wait for: a lazy one makes no
	// timer unless the counters do wait on it (a call to Redis).
	ctx, cancel := callctx.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.g.o.Counters.Settle(ctx, t, tokens, pipeline.Cost(c)); err != nil {
		s.g.log.Warn("governance: settling a call's usage in the counters failed (the ledger still has it)",
			"call_id", c.ID, "error", err)
	}
}

func hasBudget(scopes []quota.Scope) bool {
	for _, s := range scopes {
		if s.Budget != nil {
			return true
		}
	}
	return false
}

// setModel applies a key alias: the call goes to target instead.
func setModel(c *pipeline.Call, target string) {
	c.Model = target
	switch {
	case c.Chat != nil:
		c.Chat.Model = target
	case c.Completion != nil:
		c.Completion.Model = target
	case c.Embedding != nil:
		c.Embedding.Model = target
	case c.Rerank != nil:
		c.Rerank.Model = target
	}
}

func denyModel(who, model string) error {
	return &sdk.Error{Kind: sdk.KindPermissionDenied, Code: "model_not_allowed", Param: "model",
		Message: fmt.Sprintf("This %s is not allowed to access model %q.", who, model)}
}

// denial turns a refusal into the client's error: 429, naming the limit and whose it is.
func denial(d *quota.Denial, now time.Time) error {
	h := map[string]string{}
	var hs [6]pipeline.Header
	for _, kv := range rateHeaders(d.Remaining, now, &hs) {
		h[kv.Name] = kv.Value
	}
	if d.Reason == quota.ReasonBudget {
		max := 0.0
		if d.Scope.Budget != nil {
			max = *d.Scope.Budget
		}
		return &sdk.Error{Kind: sdk.KindBudgetExceeded, Code: "budget_exceeded", Header: h,
			Message: fmt.Sprintf("Budget has been exceeded! The %s's budget: current spend %s (+%s reserved by "+
				"requests in flight), max budget %s.", d.Scope.Label, usd(d.Spend), usd(d.Reserved), usd(max))}
	}
	var what string
	var limit int64
	retry := time.Duration(0)
	switch d.Reason {
	case quota.ReasonRPM:
		what, limit = "requests per minute", d.Scope.RPM
		retry = time.Until(d.Remaining.Reset)
	case quota.ReasonTPM:
		what, limit = "tokens per minute", d.Scope.TPM
		retry = time.Until(d.Remaining.Reset)
	default:
		what, limit = "parallel requests", d.Scope.Parallel
		retry = time.Second
	}
	return &sdk.Error{Kind: sdk.KindRateLimit, Code: "rate_limit_exceeded", Header: h, RetryAfter: max(retry, time.Second),
		Message: fmt.Sprintf("Rate limit exceeded: the %s's limit of %d %s is reached.", d.Scope.Label, limit, what)}
}

func usd(v float64) string { return "$" + strconv.FormatFloat(v, 'f', 6, 64) }

// rateHeaders returns the x-ratelimit-* headers of the tightest limits, in a fixed order, in dst. The values are
// written into one string and given as slices of it: one allocation instead of one per header.
func rateHeaders(r quota.Remaining, now time.Time, dst *[6]pipeline.Header) []pipeline.Header {
	withReset := !r.Reset.IsZero() && (r.LimitRequests > 0 || r.LimitTokens > 0)
	var a [6]int // where each value ends in buf
	buf := make([]byte, 0, 6*12)
	if r.LimitRequests > 0 {
		buf = strconv.AppendInt(buf, r.LimitRequests, 10)
		a[0] = len(buf)
		buf = strconv.AppendInt(buf, max(r.RemainingRequests, 0), 10)
		a[1] = len(buf)
	}
	if r.LimitTokens > 0 {
		buf = strconv.AppendInt(buf, r.LimitTokens, 10)
		a[2] = len(buf)
		buf = strconv.AppendInt(buf, max(r.RemainingTokens, 0), 10)
		a[3] = len(buf)
	}
	if withReset {
		buf = strconv.AppendInt(buf, int64(max(r.Reset.Sub(now), 0).Round(time.Second)/time.Second), 10)
		buf = append(buf, 's')
		a[4] = len(buf)
	}
	s := string(buf)
	hs := dst[:0]
	if r.LimitRequests > 0 {
		hs = append(hs, pipeline.Header{Name: "x-ratelimit-limit-requests", Value: s[:a[0]]},
			pipeline.Header{Name: "x-ratelimit-remaining-requests", Value: s[a[0]:a[1]]})
		if withReset {
			hs = append(hs, pipeline.Header{Name: "x-ratelimit-reset-requests", Value: s[max(a[1], a[3]):a[4]]})
		}
	}
	if r.LimitTokens > 0 {
		hs = append(hs, pipeline.Header{Name: "x-ratelimit-limit-tokens", Value: s[a[1]:a[2]]},
			pipeline.Header{Name: "x-ratelimit-remaining-tokens", Value: s[a[2]:a[3]]})
		if withReset {
			hs = append(hs, pipeline.Header{Name: "x-ratelimit-reset-tokens", Value: s[max(a[1], a[3]):a[4]]})
		}
	}
	return hs
}

// estimateUsage is the usage of a stream cut short: its prompt's tokens and one token per chunk that carried some
// of the answer (the chunk that only opens the stream, or only finishes it, carries none).
func estimateUsage(c *pipeline.Call) *sdk.Usage {
	model := c.Model
	if d := c.Deployment; d != nil && d.Target != nil {
		model = d.Target.Model
	}
	prompt := 0
	switch {
	case c.Chat != nil:
		prompt = tokens.CountMessages(model, c.Chat.Messages)
	case c.Completion != nil:
		for _, p := range c.Completion.Prompt.Texts {
			prompt += tokens.Count(model, p)
		}
	}
	return &sdk.Usage{PromptTokens: prompt, CompletionTokens: c.OutputChunks, TotalTokens: prompt + c.OutputChunks}
}
