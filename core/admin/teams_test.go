package admin

import (
	"context"
	"slices"
	"testing"

	"github.com/switchyard/gateway/core/store"
	"github.com/switchyard/gateway/core/store/storetest"
)

func memberIDs(team map[string]any) []string {
	var ids []string
	for _, m := range team["members_with_roles"].([]any) {
		mm := m.(map[string]any)
		ids = append(ids, mm["user_id"].(string)+":"+mm["role"].(string))
	}
	slices.Sort(ids)
	return ids
}

func TestTeams(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ctx := context.Background()
		e.admin("POST", "/user/new", `{"user_id": "ann", "user_email": "ann@example.com", "auto_create_key": false}`)
		team := e.admin("POST", "/team/new", `{"team_id": "core", "team_alias": "Core", "models": ["gpt-4o"],
			"metadata": {"cost_center": 7}, "members_with_roles": [{"role": "admin", "user_id": "ann"}]}`)
		if got := memberIDs(team); !slices.Equal(got, []string{"ann:admin"}) {
			t.Errorf("members = %v", got)
		}
		if md := team["metadata"].(map[string]any); len(md) != 1 || md["cost_center"] != 7.0 {
			t.Errorf("metadata = %v, want only the caller's", md)
		}
		if !e.hooks.wasChanged("team", "core") || !e.hooks.wasChanged("user", "ann") {
			t.Errorf("Changed = %v", e.hooks.changed)
		}
		if u, _ := st.GetUser(ctx, "ann"); !slices.Equal(u.Teams, []string{"core"}) {
			t.Errorf("ann's teams = %v", u.Teams)
		}

		t.Run("member_add creates users and updates their teams", func(t *testing.T) {
			got := e.admin("POST", "/team/member_add", `{"team_id": "core", "member": [
				{"role": "user", "user_id": "ben"}, {"role": "user", "user_email": "cy@example.com"}]}`)
			if len(got["updated_users"].([]any)) != 2 {
				t.Errorf("updated_users = %v", got["updated_users"])
			}
			ids := memberIDs(got)
			if len(ids) != 3 || !slices.Contains(ids, "ann:admin") || !slices.Contains(ids, "ben:user") {
				t.Errorf("members = %v", ids)
			}
			ben, err := st.GetUser(ctx, "ben")
			if err != nil || !slices.Equal(ben.Teams, []string{"core"}) {
				t.Errorf("ben = %+v, %v", ben, err)
			}
			cy, err := apiOf(e).userByEmail(ctx, "cy@example.com")
			if err != nil || !slices.Equal(cy.Teams, []string{"core"}) {
				t.Errorf("cy = %+v, %v", cy, err)
			}
			// A single member object; an existing member gets the new role.
			got = e.admin("POST", "/team/member_add", `{"team_id": "core", "member": {"role": "admin", "user_email": "cy@example.com"}}`)
			if ids := memberIDs(got); !slices.Contains(ids, cy.UserID+":admin") || len(ids) != 3 {
				t.Errorf("members after the role change = %v", ids)
			}
			if admins := got["admins"].([]any); len(admins) != 2 {
				t.Errorf("admins = %v", admins)
			}
		})
		t.Run("update keeps members when metadata is replaced", func(t *testing.T) {
			e.hooks.reset()
			got := e.admin("POST", "/team/update", `{"team_id": "core", "metadata": {"cost_center": 8}, "max_budget": 50, "spend": 2}`)
			data := got["data"].(map[string]any)
			if got["team_id"] != "core" || num(data["max_budget"]) != 50 || data["metadata"].(map[string]any)["cost_center"] != 8.0 ||
				len(memberIDs(data)) != 3 || data["team_alias"] != "Core" {
				t.Errorf("update = %v", got)
			}
			if v, ok := e.hooks.spendSet("team", "core"); !ok || v != 2 {
				t.Errorf("SetSpend = %v %v", v, ok)
			}
			if !e.hooks.wasChanged("team", "core") {
				t.Error("update did not call Changed")
			}
		})
		t.Run("info lists keys with live spend", func(t *testing.T) {
			k := e.generate(`{"team_id": "core"}`)
			e.hooks.setLive("team", "core", 11)
			e.hooks.setLive("key", k["token"].(string), 4)
			info := e.admin("GET", "/team/info?team_id=core", "")
			ti := info["team_info"].(map[string]any)
			if num(ti["spend"]) != 11 || ti["team_alias"] != "Core" {
				t.Errorf("team_info = %v", ti)
			}
			keys := info["keys"].([]any)
			if len(keys) != 1 || num(keys[0].(map[string]any)["spend"]) != 4 {
				t.Errorf("keys = %v", keys)
			}
		})
		t.Run("list", func(t *testing.T) {
			e.admin("POST", "/team/new", `{"team_id": "other"}`)
			if all := e.okList("GET", "/team/list", master, ""); len(all) != 2 {
				t.Errorf("list = %v", all)
			}
			mine := e.okList("GET", "/team/list?user_id=ben", master, "")
			if len(mine) != 1 || mine[0].(map[string]any)["team_id"] != "core" {
				t.Errorf("list?user_id = %v", mine)
			}
		})
		t.Run("member_delete", func(t *testing.T) {
			got := e.admin("POST", "/team/member_delete", `{"team_id": "core", "user_id": "ben"}`)
			if ids := memberIDs(got); slices.Contains(ids, "ben:user") || len(ids) != 2 {
				t.Errorf("members = %v", ids)
			}
			if ben, _ := st.GetUser(ctx, "ben"); len(ben.Teams) != 0 {
				t.Errorf("ben's teams = %v", ben.Teams)
			}
			got = e.admin("POST", "/team/member_delete", `{"team_id": "core", "user_email": "cy@example.com"}`)
			if ids := memberIDs(got); len(ids) != 1 {
				t.Errorf("members = %v", ids)
			}
		})
		t.Run("delete takes the team's keys and memberships", func(t *testing.T) {
			k := e.generate(`{"team_id": "core"}`)
			e.hooks.reset()
			got := e.admin("POST", "/team/delete", `{"team_ids": ["core"]}`)
			if d := got["deleted_teams"].([]any); len(d) != 1 || d[0] != "core" {
				t.Errorf("delete = %v", got)
			}
			if _, err := st.GetTeam(ctx, "core"); err == nil {
				t.Error("team still stored")
			}
			if _, err := st.GetKeyByToken(ctx, k["token"].(string)); err == nil {
				t.Error("team key still stored")
			}
			if !e.hooks.wasChanged("key", k["token"].(string)) || !e.hooks.wasChanged("team", "core") {
				t.Errorf("Changed = %v", e.hooks.changed)
			}
			if ann, _ := st.GetUser(ctx, "ann"); len(ann.Teams) != 0 {
				t.Errorf("ann's teams = %v", ann.Teams)
			}
			wantErr(t, e.call("GET", "/key/info", k["key"].(string), ""), 401, "")
		})
	})
}

// apiOf builds an API on the env's store, to call its helpers directly.
func apiOf(e *env) *API { return New(Options{Store: e.st}) }

func TestUsers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ctx := context.Background()
		e.admin("POST", "/team/new", `{"team_id": "red"}`)
		e.admin("POST", "/team/new", `{"team_id": "blue"}`)

		u := e.admin("POST", "/user/new", `{"user_email": "dee@example.com", "user_role": "internal_user",
			"teams": ["red", "blue"], "models": ["gpt-4o"], "key_alias": "dee-key", "duration": "1h", "tpm_limit": 10}`)
		id := u["user_id"].(string)
		if len(id) != 36 || u["key_alias"] != "dee-key" || u["expires"] == nil || u["user_role"] != "internal_user" ||
			num(u["tpm_limit"]) != 10 {
			t.Fatalf("user/new = %v", u)
		}
		if teams := u["teams"].([]any); len(teams) != 2 {
			t.Errorf("teams = %v", teams)
		}
		k, err := st.GetKeyByToken(ctx, u["token"].(string))
		if err != nil || k.UserID != id || !slices.Equal(k.Models, []string{"gpt-4o"}) || k.KeyAlias != "dee-key" {
			t.Errorf("the user's key = %+v, %v", k, err)
		}
		red, _ := st.GetTeam(ctx, "red")
		if ms := teamMembers(red); len(ms) != 1 || ms[0].UserID != id {
			t.Errorf("red's members = %v", ms)
		}

		noKey := e.admin("POST", "/user/new", `{"user_id": "eve", "auto_create_key": false}`)
		if _, ok := noKey["key"]; ok {
			t.Errorf("auto_create_key false still made a key: %v", noKey)
		}

		t.Run("update by id and by email", func(t *testing.T) {
			got := e.admin("POST", "/user/update", `{"user_id": "eve", "max_budget": 12, "spend": 1, "budget_duration": "weekly"}`)
			data := got["data"].(map[string]any)
			if got["user_id"] != "eve" || num(data["max_budget"]) != 12 || data["budget_duration"] != "weekly" || num(data["spend"]) != 1 {
				t.Errorf("update = %v", got)
			}
			if v, ok := e.hooks.spendSet("user", "eve"); !ok || v != 1 {
				t.Errorf("SetSpend = %v %v", v, ok)
			}
			got = e.admin("POST", "/user/update", `{"user_email": "dee@example.com", "rpm_limit": 3}`)
			if got["user_id"] != id || num(got["data"].(map[string]any)["rpm_limit"]) != 3 ||
				got["data"].(map[string]any)["user_email"] != "dee@example.com" {
				t.Errorf("update by email = %v", got)
			}
		})
		t.Run("info and live spend", func(t *testing.T) {
			e.hooks.setLive("user", id, 9)
			info := e.admin("GET", "/user/info?user_id="+id, "")
			if num(info["user_info"].(map[string]any)["spend"]) != 9 || len(info["keys"].([]any)) != 1 ||
				len(info["teams"].([]any)) != 2 {
				t.Errorf("info = %v", info)
			}
		})
		t.Run("list", func(t *testing.T) {
			got := e.admin("GET", "/user/list?page=2&page_size=1", "")
			if num(got["total"]) != 2 || num(got["total_pages"]) != 2 || len(got["users"].([]any)) != 1 || num(got["page"]) != 2 {
				t.Errorf("list = %v", got)
			}
		})
		t.Run("delete takes keys and memberships", func(t *testing.T) {
			e.hooks.reset()
			got := e.admin("POST", "/user/delete", `{"user_ids": ["`+id+`"]}`)
			if d := got["deleted_users"].([]any); len(d) != 1 {
				t.Errorf("delete = %v", got)
			}
			if _, err := st.GetKeyByToken(ctx, k.Token); err == nil {
				t.Error("the user's key is still stored")
			}
			if !e.hooks.wasChanged("key", k.Token) || !e.hooks.wasChanged("user", id) {
				t.Errorf("Changed = %v", e.hooks.changed)
			}
			red, _ := st.GetTeam(ctx, "red")
			if ms := teamMembers(red); len(ms) != 0 {
				t.Errorf("red's members = %v", ms)
			}
		})
	})
}

func TestCustomersAndBudgets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ctx := context.Background()
		b := e.admin("POST", "/budget/new", `{"budget_id": "free-tier", "max_budget": 1, "rpm_limit": 5,
			"budget_duration": "1mo", "model_max_budget": {"gpt-4o": 0.5}}`)
		if b["budget_id"] != "free-tier" || num(b["max_budget"]) != 1 || b["budget_duration"] != "1mo" || b["budget_reset_at"] == nil {
			t.Fatalf("budget/new = %v", b)
		}
		if gen := e.admin("POST", "/budget/new", `{}`); len(gen["budget_id"].(string)) != 36 {
			t.Errorf("generated budget id = %v", gen["budget_id"])
		}
		if got := e.admin("POST", "/budget/update", `{"budget_id": "free-tier", "tpm_limit": 100}`); num(got["tpm_limit"]) != 100 || num(got["rpm_limit"]) != 5 {
			t.Errorf("budget/update = %v", got)
		}
		if got := e.okList("POST", "/budget/info", master, `{"budgets": ["free-tier"]}`); len(got) != 1 || num(got[0].(map[string]any)["tpm_limit"]) != 100 {
			t.Errorf("budget/info = %v", got)
		}
		if got := e.okList("GET", "/budget/info?budget_id=free-tier", master, ""); len(got) != 1 {
			t.Errorf("GET budget/info = %v", got)
		}
		if got := e.okList("GET", "/budget/list", master, ""); len(got) != 2 {
			t.Errorf("budget/list = %v", got)
		}

		c := e.admin("POST", "/customer/new", `{"user_id": "end-1", "alias": "Acme", "budget_id": "free-tier", "metadata": {"tier": "free"}}`)
		if c["user_id"] != "end-1" || c["alias"] != "Acme" || c["budget_id"] != "free-tier" || c["blocked"] != false {
			t.Fatalf("customer/new = %v", c)
		}
		if got := e.admin("POST", "/customer/update", `{"user_id": "end-1", "max_budget": 3, "spend": 0.5}`); num(got["max_budget"]) != 3 || got["alias"] != "Acme" {
			t.Errorf("customer/update = %v", got)
		}
		if v, ok := e.hooks.spendSet("customer", "end-1"); !ok || v != 0.5 {
			t.Errorf("SetSpend = %v %v", v, ok)
		}
		e.hooks.setLive("customer", "end-1", 0.75)
		info := e.admin("GET", "/customer/info?end_user_id=end-1", "")
		if num(info["spend"]) != 0.75 || info["litellm_budget_table"].(map[string]any)["budget_id"] != "free-tier" {
			t.Errorf("customer/info = %v", info)
		}
		if same := e.admin("GET", "/customer/info?user_id=end-1", ""); same["user_id"] != "end-1" {
			t.Errorf("customer/info?user_id = %v", same)
		}

		blocked := e.admin("POST", "/customer/block", `{"user_ids": ["end-1", "end-new"]}`)
		if len(blocked["blocked_users"].([]any)) != 2 {
			t.Errorf("block = %v", blocked)
		}
		for _, id := range []string{"end-1", "end-new"} {
			if c, err := st.GetCustomer(ctx, id); err != nil || !c.Blocked {
				t.Errorf("customer %s after block: %+v, %v", id, c, err)
			}
			if !e.hooks.wasChanged("customer", id) {
				t.Errorf("block did not call Changed for %s", id)
			}
		}
		e.admin("POST", "/customer/unblock", `{"user_ids": ["end-1"]}`)
		if c, _ := st.GetCustomer(ctx, "end-1"); c.Blocked {
			t.Error("end-1 still blocked")
		}
		if got := e.okList("GET", "/customer/list", master, ""); len(got) != 2 {
			t.Errorf("customer/list = %v", got)
		}

		del := e.admin("POST", "/budget/delete", `{"id": "free-tier"}`)
		if del["budget_id"] != "free-tier" || num(del["tpm_limit"]) != 100 {
			t.Errorf("budget/delete = %v", del)
		}
		if c, _ := st.GetCustomer(ctx, "end-1"); c.BudgetID != "" {
			t.Errorf("customer keeps a deleted budget: %q", c.BudgetID)
		}
		if !e.hooks.wasChanged("budget", "free-tier") {
			t.Error("budget delete did not call Changed")
		}
		if got := e.admin("POST", "/customer/delete", `{"user_ids": ["end-1", "end-new"]}`); len(got["deleted_customers"].([]any)) != 2 {
			t.Errorf("customer/delete = %v", got)
		}
		if _, n, _ := st.ListCustomers(ctx, store.Page{}); n != 0 {
			t.Errorf("%d customers left", n)
		}
	})
}
