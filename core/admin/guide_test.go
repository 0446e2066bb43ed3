package admin

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/store"
	"github.com/switchyard/gateway/core/store/storetest"
)

// The guide's curl bodies, byte for byte.
const (
	guideKeyGenerate = `{
    "models": ["gpt-4o", "claude-sonnet"],
    "max_budget": 100.0,
    "budget_duration": "monthly",
    "metadata": {
      "team": "backend",
      "user": "developer-1"
    },
    "tpm_limit": 50000,
    "rpm_limit": 100
  }`
	guideKeyRateLimits = `{
    "rpm_limit": 50,
    "tpm_limit": 20000,
    "max_budget": 10.0,
    "budget_duration": "daily"
  }`
	guideTeamNew = `{
    "team_alias": "backend-team",
    "rpm_limit": 200,
    "tpm_limit": 80000,
    "max_budget": 500.0,
    "budget_duration": "monthly"
  }`
	guideUserNew = `{
    "user_id": "user-123",
    "max_budget": 50.0,
    "budget_duration": "monthly",
    "models": ["gpt-4o-mini", "claude-sonnet"]
  }`
)

func TestGuideKeyGenerate(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		before := time.Now().UTC()
		got := e.generate(guideKeyGenerate)

		key, _ := got["key"].(string)
		if !strings.HasPrefix(key, "sk-") || len(key) < 3+22 {
			t.Fatalf("key = %q, want sk- and at least 22 random characters", key)
		}
		if got["token"] != store.HashKey(key) {
			t.Errorf("token = %v, want the key's SHA-256", got["token"])
		}
		if got["key_name"] != store.MaskKey(key) {
			t.Errorf("key_name = %v, want %q", got["key_name"], store.MaskKey(key))
		}
		if got["expires"] != nil {
			t.Errorf("expires = %v, want null (no duration)", got["expires"])
		}
		if num(got["max_budget"]) != 100 || num(got["tpm_limit"]) != 50000 || num(got["rpm_limit"]) != 100 {
			t.Errorf("limits = %v %v %v", got["max_budget"], got["tpm_limit"], got["rpm_limit"])
		}
		if got["budget_duration"] != "monthly" {
			t.Errorf("budget_duration = %v", got["budget_duration"])
		}
		if m, _ := got["models"].([]any); len(m) != 2 || m[0] != "gpt-4o" || m[1] != "claude-sonnet" {
			t.Errorf("models = %v", got["models"])
		}
		if md, _ := got["metadata"].(map[string]any); md["team"] != "backend" || md["user"] != "developer-1" {
			t.Errorf("metadata = %v", got["metadata"])
		}
		reset, err := time.Parse(time.RFC3339Nano, got["budget_reset_at"].(string))
		if err != nil {
			t.Fatalf("budget_reset_at = %v: %v", got["budget_reset_at"], err)
		}
		if reset.Day() != 1 || !reset.After(before) || reset.After(before.AddDate(0, 1, 1)) {
			t.Errorf("budget_reset_at = %v, want the first of next month", reset)
		}
		if !e.hooks.wasChanged("key", store.HashKey(key)) {
			t.Error("Hooks.Changed was not called for the new key")
		}

		// The key is stored under its hash, with the guide's settings.
		k, err := st.GetKeyByToken(context.Background(), store.HashKey(key))
		if err != nil {
			t.Fatalf("stored key: %v", err)
		}
		if *k.MaxBudget != 100 || *k.TPMLimit != 50000 || *k.RPMLimit != 100 || k.BudgetDuration != "monthly" {
			t.Errorf("stored key = %+v", k)
		}

		got = e.generate(guideKeyRateLimits)
		if num(got["rpm_limit"]) != 50 || num(got["tpm_limit"]) != 20000 || num(got["max_budget"]) != 10 ||
			got["budget_duration"] != "daily" {
			t.Errorf("rate-limited key = %v", got)
		}
		if got["key"] == key {
			t.Error("two generated keys are equal")
		}
	})
}

func TestGuideTeamUserAndSpend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		team := e.admin("POST", "/team/new", guideTeamNew)
		id, _ := team["team_id"].(string)
		if len(id) != 36 || team["team_alias"] != "backend-team" || num(team["rpm_limit"]) != 200 ||
			num(team["tpm_limit"]) != 80000 || num(team["max_budget"]) != 500 || team["budget_duration"] != "monthly" {
			t.Fatalf("team/new = %v", team)
		}
		if team["budget_reset_at"] == nil {
			t.Error("team budget_reset_at not scheduled")
		}

		user := e.admin("POST", "/user/new", guideUserNew)
		key, _ := user["key"].(string)
		if user["user_id"] != "user-123" || num(user["max_budget"]) != 50 || user["budget_duration"] != "monthly" ||
			!strings.HasPrefix(key, "sk-") {
			t.Fatalf("user/new = %v", user)
		}
		if m, _ := user["models"].([]any); len(m) != 2 || m[0] != "gpt-4o-mini" {
			t.Errorf("models = %v", user["models"])
		}
		k, err := st.GetKeyByToken(context.Background(), store.HashKey(key))
		if err != nil || k.UserID != "user-123" {
			t.Fatalf("the user's key: %+v, %v", k, err)
		}

		info := e.admin("GET", "/user/info?user_id=user-123", "")
		ui := info["user_info"].(map[string]any)
		if num(ui["max_budget"]) != 50 || ui["user_id"] != "user-123" {
			t.Errorf("user_info = %v", ui)
		}
		keys := info["keys"].([]any)
		if len(keys) != 1 || keys[0].(map[string]any)["token"] != store.HashKey(key) {
			t.Fatalf("keys = %v", keys)
		}
		if strings.Contains(string(e.call("GET", "/user/info?user_id=user-123", master, "").body), key) {
			t.Error("/user/info shows the raw key")
		}

		// Spend: the guide's queries.
		e.admin("POST", "/team/new", `{"team_id": "team-backend", "team_alias": "backend"}`)
		other := e.generate(`{"team_id": "team-backend"}`)["key"].(string)
		insertSpend(t, st,
			store.SpendLog{RequestID: "r1", APIKey: store.HashKey(key), UserID: "user-123", ModelGroup: "gpt-4o", Spend: 1.5, StartTime: date("2026-03-01T00:00:00Z")},
			store.SpendLog{RequestID: "r2", APIKey: store.HashKey(key), UserID: "user-123", ModelGroup: "claude-sonnet", Spend: 2, StartTime: date("2026-03-20T23:59:59Z")},
			store.SpendLog{RequestID: "r3", APIKey: store.HashKey(other), TeamID: "team-backend", ModelGroup: "gpt-4o", Spend: 4, StartTime: date("2026-03-10T12:00:00Z")},
			store.SpendLog{RequestID: "r4", APIKey: store.HashKey(other), TeamID: "team-backend", ModelGroup: "gpt-4o", Spend: 8, StartTime: date("2026-03-21T00:00:00Z")},
			store.SpendLog{RequestID: "r5", APIKey: store.HashKey(other), TeamID: "team-backend", ModelGroup: "gpt-4o", Spend: 16, StartTime: date("2026-02-28T23:59:59Z")},
		)
		if got := e.admin("GET", "/global/spend", ""); num(got["spend"]) != 31.5 {
			t.Errorf("/global/spend = %v, want 31.5", got)
		}
		if got := e.admin("GET", "/global/spend?api_key="+key, ""); num(got["spend"]) != 3.5 {
			t.Errorf("/global/spend?api_key = %v, want 3.5", got)
		}
		if got := e.admin("GET", "/global/spend?api_key="+store.HashKey(key), ""); num(got["spend"]) != 3.5 {
			t.Errorf("/global/spend?api_key=<token> = %v, want 3.5", got)
		}
		if got := e.admin("GET", "/global/spend?model=gpt-4o", ""); num(got["spend"]) != 29.5 {
			t.Errorf("/global/spend?model=gpt-4o = %v, want 29.5", got)
		}
		ti := e.admin("GET", "/team/info?team_id=team-backend", "")
		if tinfo := ti["team_info"].(map[string]any); num(tinfo["spend"]) != 28 || ti["team_id"] != "team-backend" {
			t.Errorf("/team/info = %v, want spend 28", ti)
		}
		logs := e.okList("GET", "/global/spend/logs?start_date=2026-03-01&end_date=2026-03-20", master, "")
		if ids := requestIDs(logs); !slices.Equal(ids, []string{"r1", "r2", "r3"}) {
			t.Errorf("/global/spend/logs = %v, want r1 r2 r3 (both days included)", ids)
		}
		for _, row := range logs {
			if k := row.(map[string]any)["api_key"].(string); !isToken(k) {
				t.Errorf("api_key %q is not a hash", k)
			}
		}
	})
}
