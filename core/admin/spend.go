package admin

import (
	"context"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/switchyard/gateway/core/store"
)

func (a *API) mountSpend(r fiber.Router) {
	r.Get("/global/spend", a.route(adminOnly, a.globalSpend))
	r.Get("/global/spend/logs", a.route(selfService, a.spendLogs))
	r.Get("/spend/logs", a.route(selfService, a.spendLogs))
	r.Get("/global/spend/keys", a.route(adminOnly, a.spendKeys))
	r.Get("/global/spend/teams", a.route(adminOnly, a.spendTeams))
	r.Get("/global/spend/models", a.route(adminOnly, a.spendModels))
	r.Get("/global/spend/report", a.route(adminOnly, a.spendReport))
}

// maxScan bounds the ledger rows read to find one request id (the store filters by time, key, user, team and
// model, not by request id).
const maxScan = 10000

// spendRowJSON is a ledger row as LiteLLM shows it (its spend logs row). api_key is the key's hash.
type spendRowJSON struct {
	RequestID         string         `json:"request_id"`
	CallType          string         `json:"call_type"`
	APIKey            string         `json:"api_key"`
	KeyAlias          string         `json:"key_alias"`
	Spend             float64        `json:"spend"`
	TotalTokens       int64          `json:"total_tokens"`
	PromptTokens      int64          `json:"prompt_tokens"`
	CompletionTokens  int64          `json:"completion_tokens"`
	CachedTokens      int64          `json:"cached_tokens"`
	StartTime         time.Time      `json:"startTime"`
	EndTime           time.Time      `json:"endTime"`
	RequestDurationMS int64          `json:"request_duration_ms"`
	Model             string         `json:"model"`
	ModelID           string         `json:"model_id"`
	ModelGroup        string         `json:"model_group"`
	Provider          string         `json:"custom_llm_provider"`
	User              string         `json:"user"`
	EndUser           string         `json:"end_user"`
	TeamID            string         `json:"team_id"`
	Status            string         `json:"status"`
	CacheHit          bool           `json:"cache_hit"`
	Metadata          map[string]any `json:"metadata"`
	RequestTags       []string       `json:"request_tags"`
}

func spendRowView(l store.SpendLog) spendRowJSON {
	return spendRowJSON{
		RequestID: l.RequestID, CallType: l.CallType, APIKey: hashedKey(l.APIKey), KeyAlias: l.KeyAlias, Spend: l.Spend,
		TotalTokens: l.TotalTokens, PromptTokens: l.PromptTokens, CompletionTokens: l.CompletionTokens,
		CachedTokens: l.CachedTokens, StartTime: l.StartTime, EndTime: l.EndTime, RequestDurationMS: l.LatencyMS,
		Model: l.Model, ModelID: l.DeploymentID, ModelGroup: l.ModelGroup, Provider: l.Provider, User: l.UserID,
		EndUser: l.EndUser, TeamID: l.TeamID, Status: l.Status, CacheHit: l.CacheHit, Metadata: nonNilMap(l.Metadata),
		RequestTags: nonNilList(l.RequestTags),
	}
}

// hashedKey makes sure a ledger key is shown hashed, even should a writer have stored a raw one.
func hashedKey(k string) string {
	if strings.HasPrefix(k, "sk-") {
		return store.HashKey(k)
	}
	return k
}

// spendFilter reads the filters every spend route shares: start_date and end_date (YYYY-MM-DD, UTC, both days
// included), api_key (raw or token), user_id, team_id and model.
func spendFilter(c *fiber.Ctx) (store.SpendFilter, error) {
	var f store.SpendFilter
	var err error
	if f.Start, err = day(c, "start_date"); err != nil {
		return f, err
	}
	end, err := day(c, "end_date")
	if err != nil {
		return f, err
	}
	if !end.IsZero() {
		f.End = end.AddDate(0, 0, 1)
		if end.Before(f.Start) {
			return f, badField("end_date", "end_date must not be before start_date.")
		}
	}
	if k := query(c, "api_key"); k != "" {
		f.APIKey = tokenOf(k)
	}
	f.UserID, f.TeamID, f.Model = query(c, "user_id"), query(c, "team_id"), query(c, "model")
	return f, nil
}

func day(c *fiber.Ctx, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, badField(name, name+" must be a date, YYYY-MM-DD.")
	}
	return t, nil
}

// globalSpend answers GET /global/spend: {"spend": total, "max_budget": null} over the filtered rows.
func (a *API) globalSpend(c *fiber.Ctx, q *request) error {
	f, err := spendFilter(c)
	if err != nil {
		return err
	}
	total, err := a.st.GlobalSpend(q.ctx, f)
	if err != nil {
		return a.fail(err)
	}
	return writeJSON(c, fiber.Map{"spend": total, "max_budget": nil})
}

// spendLogs answers GET /spend/logs and /global/spend/logs with ledger rows, newest first, filtered as
// spendFilter says and by request_id; limit caps the rows (default 1000). A non-admin key sees only its own
// rows, whatever it asks for.
func (a *API) spendLogs(c *fiber.Ctx, q *request) error {
	f, err := spendFilter(c)
	if err != nil {
		return err
	}
	lim, err := intQuery(c, "limit", 1000, maxScan)
	if err != nil {
		return err
	}
	if !q.p.Admin {
		if q.p.KeyHash == "" || f.APIKey != "" && f.APIKey != q.p.KeyHash {
			return forbidden("A key may only read its own spend.")
		}
		f.APIKey = q.p.KeyHash
	}
	reqID := query(c, "request_id")
	f.Limit = lim
	if reqID != "" {
		f.Limit = maxScan
	}
	rows, err := a.st.SpendLogs(q.ctx, f)
	if err != nil {
		return a.fail(err)
	}
	out := make([]spendRowJSON, 0, len(rows))
	for _, l := range rows {
		if (reqID == "" || l.RequestID == reqID) && len(out) < lim {
			out = append(out, spendRowView(l))
		}
	}
	return writeJSON(c, out)
}

// aggregateFilter is spendFilter with limit (default 10, LiteLLM's top-n).
func aggregateFilter(c *fiber.Ctx) (store.SpendFilter, error) {
	f, err := spendFilter(c)
	if err != nil {
		return f, err
	}
	f.Limit, err = intQuery(c, "limit", 10, 1000)
	return f, err
}

// spendKeys answers GET /global/spend/keys: the keys with the highest spend.
func (a *API) spendKeys(c *fiber.Ctx, q *request) error {
	f, err := aggregateFilter(c)
	if err != nil {
		return err
	}
	groups, err := a.st.SpendByKey(q.ctx, f)
	if err != nil {
		return a.fail(err)
	}
	out := make([]fiber.Map, 0, len(groups))
	for _, g := range groups {
		token := hashedKey(g.Name)
		row := fiber.Map{"api_key": token, "total_spend": g.Spend, "requests": g.Requests, "total_tokens": g.TotalTokens,
			"key_alias": nil, "key_name": nil}
		k, err := a.st.GetKeyByToken(q.ctx, token)
		switch {
		case err == nil:
			row["key_alias"], row["key_name"] = nullable(k.KeyAlias), nullable(k.KeyName)
		case !isNotFound(err):
			return a.fail(err)
		}
		out = append(out, row)
	}
	return writeJSON(c, out)
}

// spendModels answers GET /global/spend/models: the model groups with the highest spend.
func (a *API) spendModels(c *fiber.Ctx, q *request) error {
	f, err := aggregateFilter(c)
	if err != nil {
		return err
	}
	groups, err := a.st.SpendByModel(q.ctx, f)
	if err != nil {
		return a.fail(err)
	}
	out := make([]fiber.Map, 0, len(groups))
	for _, g := range groups {
		out = append(out, fiber.Map{"model": g.Name, "total_spend": g.Spend, "requests": g.Requests,
			"total_tokens": g.TotalTokens})
	}
	return writeJSON(c, out)
}

// teamNames labels teams as LiteLLM's spend views do: by alias, else id; rows without a team are
// "Unassigned". It remembers the teams it has read.
type teamNames struct {
	a     *API
	ctx   context.Context
	alias map[string]string
}

func (n *teamNames) name(id, unassigned string) (string, error) {
	if id == "" {
		return unassigned, nil
	}
	al, ok := n.alias[id]
	if !ok {
		t, err := n.a.st.GetTeam(n.ctx, id)
		if err != nil && !isNotFound(err) {
			return "", err
		}
		al = t.TeamAlias
		n.alias[id] = al
	}
	if al == "" {
		return id, nil
	}
	return al, nil
}

// spendTeams answers GET /global/spend/teams: {"daily_spend": [{"date", team: spend}], "teams": [names],
// "total_spend_per_team": [{"team_id", "team_alias", "total_spend"}]} with the top teams by spend.
func (a *API) spendTeams(c *fiber.Ctx, q *request) error {
	f, err := aggregateFilter(c)
	if err != nil {
		return err
	}
	groups, err := a.st.SpendByTeam(q.ctx, f)
	if err != nil {
		return a.fail(err)
	}
	f.Limit = 0
	days, err := a.st.SpendReport(q.ctx, f, store.ByTeam)
	if err != nil {
		return a.fail(err)
	}
	names := &teamNames{a: a, ctx: q.ctx, alias: map[string]string{}}
	totals, labels := make([]fiber.Map, 0, len(groups)), []string{}
	for _, g := range groups {
		label, err := names.name(g.Name, "Unassigned")
		if err != nil {
			return a.fail(err)
		}
		labels = append(labels, label)
		totals = append(totals, fiber.Map{"team_id": g.Name, "team_alias": nullable(names.alias[g.Name]),
			"total_spend": g.Spend})
	}
	daily := []fiber.Map{}
	for _, row := range days {
		label, err := names.name(row.Name, "Unassigned")
		if err != nil {
			return a.fail(err)
		}
		if len(daily) == 0 || daily[len(daily)-1]["date"] != row.Day {
			daily = append(daily, fiber.Map{"date": row.Day})
		}
		daily[len(daily)-1][label] = row.Spend
	}
	return writeJSON(c, fiber.Map{"daily_spend": daily, "teams": labels, "total_spend_per_team": totals})
}

// spendReport answers GET /global/spend/report?start_date=&end_date=&group_by=team|api_key: spend per day
// and team (or key), [{"group_by_day", "teams": [...]}] or [{"group_by_day", "api_keys": [...]}].
func (a *API) spendReport(c *fiber.Ctx, q *request) error {
	f, err := spendFilter(c)
	if err != nil {
		return err
	}
	if f.Start.IsZero() {
		return badField("start_date", "start_date is required.")
	}
	if f.End.IsZero() {
		return badField("end_date", "end_date is required.")
	}
	by, list := store.ByTeam, "teams"
	switch g := c.Query("group_by"); g {
	case "", "team":
	case "api_key":
		by, list = store.ByKey, "api_keys"
	default:
		return badField("group_by", "group_by must be team or api_key.")
	}
	rows, err := a.st.SpendReport(q.ctx, f, by)
	if err != nil {
		return a.fail(err)
	}
	names := &teamNames{a: a, ctx: q.ctx, alias: map[string]string{}}
	out := []fiber.Map{}
	for _, row := range rows {
		if len(out) == 0 || out[len(out)-1]["group_by_day"] != row.Day {
			out = append(out, fiber.Map{"group_by_day": row.Day, list: []fiber.Map{}})
		}
		cell := fiber.Map{"total_spend": row.Spend, "requests": row.Requests, "prompt_tokens": row.PromptTokens,
			"completion_tokens": row.CompletionTokens, "total_tokens": row.TotalTokens}
		if by == store.ByTeam {
			name, err := names.name(row.Name, "Unassigned Team")
			if err != nil {
				return a.fail(err)
			}
			cell["team_id"], cell["team_name"] = row.Name, name
		} else {
			cell["api_key"] = hashedKey(row.Name)
		}
		last := out[len(out)-1]
		last[list] = append(last[list].([]fiber.Map), cell)
	}
	return writeJSON(c, out)
}
