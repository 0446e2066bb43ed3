package admin

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard/gateway/core/store"
	"github.com/switchyard/gateway/core/store/storetest"
)

// spendFixture makes two teams with a key each (and a team-less key) and ledger rows for all three.
type spendFixture struct {
	keyA, keyB, keyC string // raw keys: team A, team B, no team
}

func newSpendFixture(t *testing.T, e *env) spendFixture {
	t.Helper()
	e.admin("POST", "/team/new", `{"team_id": "team-a", "team_alias": "Alpha"}`)
	e.admin("POST", "/team/new", `{"team_id": "team-b"}`)
	e.admin("POST", "/user/new", `{"user_id": "shared-user", "teams": ["team-a", "team-b"], "auto_create_key": false}`)
	f := spendFixture{
		keyA: e.generate(`{"team_id": "team-a", "user_id": "shared-user", "key_alias": "ka"}`)["key"].(string),
		keyB: e.generate(`{"team_id": "team-b", "user_id": "shared-user"}`)["key"].(string),
		keyC: e.generate(`{}`)["key"].(string),
	}
	h := store.HashKey
	insertSpend(t, e.st,
		store.SpendLog{RequestID: "a1", APIKey: h(f.keyA), TeamID: "team-a", UserID: "shared-user", ModelGroup: "gpt-4o", Model: "openai/gpt-4o", Spend: 1, TotalTokens: 10, StartTime: date("2026-03-01T08:00:00Z")},
		store.SpendLog{RequestID: "a2", APIKey: h(f.keyA), TeamID: "team-a", UserID: "shared-user", ModelGroup: "claude", Spend: 2, TotalTokens: 20, StartTime: date("2026-03-02T08:00:00Z")},
		store.SpendLog{RequestID: "b1", APIKey: h(f.keyB), TeamID: "team-b", UserID: "shared-user", ModelGroup: "gpt-4o", Spend: 4, TotalTokens: 40, StartTime: date("2026-03-01T09:00:00Z")},
		store.SpendLog{RequestID: "b2", APIKey: h(f.keyB), TeamID: "team-b", UserID: "shared-user", ModelGroup: "gpt-4o", Spend: 8, TotalTokens: 80, StartTime: date("2026-03-02T09:00:00Z")},
		store.SpendLog{RequestID: "c1", APIKey: h(f.keyC), ModelGroup: "claude", Spend: 16, TotalTokens: 160, StartTime: date("2026-03-03T09:00:00Z")},
	)
	return f
}

func TestSpendRoutes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		f := newSpendFixture(t, e)
		h := store.HashKey

		t.Run("logs filters", func(t *testing.T) {
			for _, tc := range []struct {
				query string
				want  []string
			}{
				{"", []string{"a1", "a2", "b1", "b2", "c1"}},
				{"?api_key=" + url.QueryEscape(f.keyA), []string{"a1", "a2"}},
				{"?api_key=" + h(f.keyB), []string{"b1", "b2"}},
				{"?user_id=shared-user&model=gpt-4o", []string{"a1", "b1", "b2"}},
				{"?model=openai/gpt-4o", []string{"a1"}},
				{"?team_id=team-b&start_date=2026-03-02", []string{"b2"}},
				{"?start_date=2026-03-01&end_date=2026-03-01", []string{"a1", "b1"}},
				{"?request_id=b2", []string{"b2"}},
				{"?request_id=b2&api_key=" + h(f.keyA), nil},
				{"?limit=2", []string{"b2", "c1"}}, // newest first
			} {
				for _, path := range []string{"/spend/logs", "/global/spend/logs"} {
					if got := requestIDs(e.okList("GET", path+tc.query, master, "")); !slices.Equal(got, tc.want) {
						t.Errorf("GET %s%s = %v, want %v", path, tc.query, got, tc.want)
					}
				}
			}
		})
		t.Run("rows show hashes", func(t *testing.T) {
			insertSpend(t, st, store.SpendLog{RequestID: "raw", APIKey: "sk-a-raw-key-by-mistake", Spend: 0, StartTime: date("2026-01-01T00:00:00Z")})
			r := e.call("GET", "/spend/logs?request_id=raw", master, "")
			if strings.Contains(string(r.body), "sk-a-raw-key-by-mistake") {
				t.Errorf("a raw ledger key is shown: %s", r.body)
			}
		})
		t.Run("keys", func(t *testing.T) {
			got := e.okList("GET", "/global/spend/keys?limit=2", master, "")
			if len(got) != 2 {
				t.Fatalf("keys = %v", got)
			}
			top, second := got[0].(map[string]any), got[1].(map[string]any)
			if top["api_key"] != h(f.keyC) || num(top["total_spend"]) != 16 || top["key_alias"] != nil {
				t.Errorf("top key = %v", top)
			}
			if second["api_key"] != h(f.keyB) || num(second["total_spend"]) != 12 || second["key_name"] != store.MaskKey(f.keyB) {
				t.Errorf("second key = %v", second)
			}
			dated := e.okList("GET", "/global/spend/keys?start_date=2026-03-01&end_date=2026-03-01", master, "")
			if len(dated) != 2 || dated[1].(map[string]any)["key_alias"] != "ka" {
				t.Errorf("dated keys = %v", dated)
			}
		})
		t.Run("models", func(t *testing.T) {
			got := e.okList("GET", "/global/spend/models", master, "")
			if len(got) < 2 || got[0].(map[string]any)["model"] != "claude" || num(got[0].(map[string]any)["total_spend"]) != 18 ||
				got[1].(map[string]any)["model"] != "gpt-4o" || num(got[1].(map[string]any)["total_spend"]) != 13 {
				t.Errorf("models = %v", got)
			}
			if one := e.okList("GET", "/global/spend/models?limit=1", master, ""); len(one) != 1 {
				t.Errorf("models?limit=1 = %v", one)
			}
		})
		t.Run("teams", func(t *testing.T) {
			got := e.admin("GET", "/global/spend/teams?start_date=2026-03-01&end_date=2026-03-03", "")
			totals := got["total_spend_per_team"].([]any)
			if len(totals) != 3 {
				t.Fatalf("total_spend_per_team = %v", totals)
			}
			first := totals[0].(map[string]any)
			if first["team_id"] != "" || num(first["total_spend"]) != 16 {
				t.Errorf("first = %v", first)
			}
			if teams := got["teams"].([]any); !slices.Equal(teams, []any{"Unassigned", "team-b", "Alpha"}) {
				t.Errorf("teams = %v", teams)
			}
			daily := got["daily_spend"].([]any)
			if len(daily) != 3 {
				t.Fatalf("daily_spend = %v", daily)
			}
			d1 := daily[0].(map[string]any)
			if d1["date"] != "2026-03-01" || num(d1["Alpha"]) != 1 || num(d1["team-b"]) != 4 {
				t.Errorf("day 1 = %v", d1)
			}
		})
		t.Run("report", func(t *testing.T) {
			got := e.okList("GET", "/global/spend/report?start_date=2026-03-01&end_date=2026-03-02&group_by=team", master, "")
			if len(got) != 2 {
				t.Fatalf("report = %v", got)
			}
			day1 := got[0].(map[string]any)
			teams := day1["teams"].([]any)
			if day1["group_by_day"] != "2026-03-01" || len(teams) != 2 {
				t.Fatalf("day 1 = %v", day1)
			}
			names := []string{teams[0].(map[string]any)["team_name"].(string), teams[1].(map[string]any)["team_name"].(string)}
			if !slices.Equal(names, []string{"Alpha", "team-b"}) {
				t.Errorf("team names = %v", names)
			}
			byKey := e.okList("GET", "/global/spend/report?start_date=2026-03-03&end_date=2026-03-03&group_by=api_key", master, "")
			if len(byKey) != 1 {
				t.Fatalf("report by key = %v", byKey)
			}
			cell := byKey[0].(map[string]any)["api_keys"].([]any)[0].(map[string]any)
			if cell["api_key"] != h(f.keyC) || num(cell["total_spend"]) != 16 || num(cell["total_tokens"]) != 160 {
				t.Errorf("report cell = %v", cell)
			}
		})
	})
}

// A key of one team must never read another team's (or key's) spend.
func TestTeamIsolationOfSpend(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		f := newSpendFixture(t, e)
		hashB := store.HashKey(f.keyB)

		for _, path := range []string{"/spend/logs", "/global/spend/logs"} {
			// Whatever it asks, key A gets its own rows only.
			for _, q := range []string{"", "?team_id=team-b", "?user_id=shared-user", "?model=gpt-4o", "?request_id=b1",
				"?api_key=" + url.QueryEscape(f.keyA), "?start_date=2026-03-01&end_date=2026-03-31"} {
				rows := e.okList("GET", path+q, f.keyA, "")
				for _, r := range rows {
					row := r.(map[string]any)
					if row["api_key"] != store.HashKey(f.keyA) || row["team_id"] != "team-a" {
						t.Errorf("GET %s%s as team A's key shows %v", path, q, row)
					}
				}
			}
			if got := requestIDs(e.okList("GET", path, f.keyA, "")); !slices.Equal(got, []string{"a1", "a2"}) {
				t.Errorf("GET %s as team A's key = %v", path, got)
			}
			// Naming another key is refused outright.
			wantErr(t, e.call("GET", path+"?api_key="+url.QueryEscape(f.keyB), f.keyA, ""), 403, "")
			wantErr(t, e.call("GET", path+"?api_key="+hashB, f.keyA, ""), 403, "")
		}
		wantErr(t, e.call("GET", "/team/info?team_id=team-b", f.keyA, ""), 403, "")
		wantErr(t, e.call("GET", "/key/info?key="+hashB, f.keyA, ""), 403, "")
		for _, path := range []string{"/global/spend", "/global/spend?team_id=team-b", "/global/spend/keys",
			"/global/spend/teams", "/global/spend/models", "/global/spend/report?start_date=2026-03-01&end_date=2026-03-02"} {
			wantErr(t, e.call("GET", path, f.keyA, ""), 403, "")
		}

		// The user both keys belong to, read through team A's key, shows nothing of team B.
		info := e.ok("GET", "/user/info", f.keyA, "")
		for _, k := range info["keys"].([]any) {
			if k.(map[string]any)["team_id"] == "team-b" {
				t.Errorf("/user/info as team A's key shows team B's key %v", k)
			}
		}
		for _, tm := range info["teams"].([]any) {
			if tm.(map[string]any)["team_id"] != "team-a" {
				t.Errorf("/user/info as team A's key shows team %v", tm.(map[string]any)["team_id"])
			}
		}
		if body := string(e.call("GET", "/user/info", f.keyA, "").body); strings.Contains(body, hashB) {
			t.Error("/user/info as team A's key mentions team B's key")
		}
		// Team A's own info is fine and holds only its keys.
		ti := e.ok("GET", "/team/info?team_id=team-a", f.keyA, "")
		if keys := ti["keys"].([]any); len(keys) != 1 || keys[0].(map[string]any)["token"] != store.HashKey(f.keyA) {
			t.Errorf("/team/info for team A = %v", ti)
		}
		// And team B's key sees only team B.
		if got := requestIDs(e.okList("GET", "/spend/logs", f.keyB, "")); !slices.Equal(got, []string{"b1", "b2"}) {
			t.Errorf("team B's key reads %v", got)
		}
	})
}
