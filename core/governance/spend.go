package governance

import (
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/store"
)

// SpendLog is the ledger row of a finished call: who made it, what it asked for and where it went, the tokens
// the upstream reported and what they cost. The key appears only as its hash. Calls refused before admission
// (no key, a bad request, a limit) are not billed; call Billable first.
func SpendLog(c *pipeline.Call) store.SpendLog {
	row := store.SpendLog{
		RequestID:  c.ID,
		ModelGroup: c.Model,
		CallType:   c.Type.String(),
		EndUser:    c.EndUser(),
		StartTime:  c.Start,
		EndTime:    c.End,
		LatencyMS:  c.End.Sub(c.Start).Milliseconds(),
		Status:     "success",
		CacheHit:   c.CacheHit,
		Spend:      pipeline.Cost(c),
	}
	if p := c.Principal; p != nil {
		row.APIKey, row.KeyAlias, row.TeamID, row.UserID = p.KeyHash, p.KeyAlias, p.TeamID, p.UserID
	}
	if c.Group != "" {
		row.ModelGroup = c.Group
	}
	if d := c.Deployment; d != nil {
		row.DeploymentID = d.ID
		if d.Target != nil {
			row.Model, row.Provider = d.Target.Model, d.Target.Provider
		}
	}
	if u := c.Usage; u != nil {
		row.PromptTokens, row.CompletionTokens, row.TotalTokens = int64(u.PromptTokens), int64(u.CompletionTokens),
			int64(u.TotalTokens)
		if d := u.PromptTokensDetails; d != nil {
			row.CachedTokens = int64(d.CachedTokens)
		}
	}
	if c.Err != nil {
		row.Status = "failure"
	}
	ctl := c.Controls()
	if len(ctl.Metadata) > 0 {
		row.Metadata = ctl.Metadata
	}
	if c.UsageEstimated {
		md := make(map[string]any, len(row.Metadata)+1)
		for k, v := range row.Metadata {
			md[k] = v
		}
		md["usage_estimated"] = true
		row.Metadata = md
	}
	row.RequestTags = ctl.Tags
	return row
}

// Billable reports whether a finished call belongs in the ledger: the governance stage admitted it.
func Billable(c *pipeline.Call) bool { return c.ID != "" && Admitted(c) }
