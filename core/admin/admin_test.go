package admin

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/switchyard/gateway/core/store"
	"github.com/switchyard/gateway/core/store/storetest"
)

// adminRoutes is every route only an admin may call, with a body that would otherwise be valid enough to reach
// the handler.
var adminRoutes = []struct{ method, path, body string }{
	{"POST", "/key/generate", `{}`},
	{"POST", "/key/update", `{"key": "sk-x"}`},
	{"POST", "/key/delete", `{"keys": ["sk-x"]}`},
	{"GET", "/key/list", ""},
	{"POST", "/key/regenerate", `{"key": "sk-x"}`},
	{"POST", "/key/sk-x/regenerate", ""},
	{"POST", "/key/block", `{"key": "sk-x"}`},
	{"POST", "/key/unblock", `{"key": "sk-x"}`},
	{"POST", "/team/new", `{}`},
	{"POST", "/team/update", `{"team_id": "t"}`},
	{"POST", "/team/delete", `{"team_ids": ["t"]}`},
	{"GET", "/team/list", ""},
	{"POST", "/team/member_add", `{"team_id": "t", "member": {"role": "user", "user_id": "u"}}`},
	{"POST", "/team/member_delete", `{"team_id": "t", "user_id": "u"}`},
	{"POST", "/user/new", `{}`},
	{"POST", "/user/update", `{"user_id": "u"}`},
	{"POST", "/user/delete", `{"user_ids": ["u"]}`},
	{"GET", "/user/list", ""},
	{"POST", "/customer/new", `{"user_id": "c"}`},
	{"POST", "/customer/update", `{"user_id": "c"}`},
	{"POST", "/customer/delete", `{"user_ids": ["c"]}`},
	{"GET", "/customer/info?end_user_id=c", ""},
	{"GET", "/customer/list", ""},
	{"POST", "/customer/block", `{"user_ids": ["c"]}`},
	{"POST", "/customer/unblock", `{"user_ids": ["c"]}`},
	{"POST", "/budget/new", `{}`},
	{"POST", "/budget/update", `{"budget_id": "b"}`},
	{"POST", "/budget/info", `{"budgets": ["b"]}`},
	{"GET", "/budget/info?budget_id=b", ""},
	{"GET", "/budget/list", ""},
	{"POST", "/budget/delete", `{"id": "b"}`},
	{"GET", "/global/spend", ""},
	{"GET", "/global/spend/keys", ""},
	{"GET", "/global/spend/teams", ""},
	{"GET", "/global/spend/models", ""},
	{"GET", "/global/spend/report?start_date=2026-03-01&end_date=2026-03-02", ""},
}

func TestAuth(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.admin("POST", "/team/new", `{"team_id": "team-a"}`)
		e.admin("POST", "/user/new", `{"user_id": "alice", "auto_create_key": false}`)
		plain := e.generate(`{"team_id": "team-a", "user_id": "alice"}`)["key"].(string)
		e.admin("POST", "/user/new", `{"user_id": "root", "user_role": "proxy_admin", "auto_create_key": false}`)
		adminKey := e.generate(`{"user_id": "root"}`)["key"].(string)

		t.Run("no key", func(t *testing.T) {
			wantErr(t, e.call("GET", "/key/list", "", ""), 401, "")
			wantErr(t, e.call("GET", "/key/info", "", ""), 401, "")
		})
		t.Run("wrong key", func(t *testing.T) {
			r := e.call("GET", "/key/list", "sk-wrong-key-0000", "")
			wantErr(t, r, 401, "")
			if strings.Contains(string(r.body), "sk-wrong-key-0000") {
				t.Error("the presented key is echoed in the error")
			}
		})
		t.Run("blocked key", func(t *testing.T) {
			k := e.generate(`{}`)["key"].(string)
			e.admin("POST", "/key/block", jsonBody(t, map[string]string{"key": k}))
			wantErr(t, e.call("GET", "/key/info", k, ""), 401, "")
			e.admin("POST", "/key/unblock", jsonBody(t, map[string]string{"key": k}))
			e.ok("GET", "/key/info", k, "")
		})
		t.Run("non-admin is refused every management route", func(t *testing.T) {
			for _, rt := range adminRoutes {
				if r := e.call(rt.method, rt.path, plain, rt.body); r.status != 403 {
					t.Errorf("%s %s as a non-admin key: status %d, want 403: %s", rt.method, rt.path, r.status, r.body)
				}
			}
		})
		t.Run("admin-role key is allowed", func(t *testing.T) {
			got := e.ok("POST", "/key/generate", adminKey, `{"key_alias": "made-by-admin-role"}`)
			if got["key_alias"] != "made-by-admin-role" {
				t.Fatalf("generate = %v", got)
			}
			e.ok("GET", "/key/list", adminKey, "")
			e.ok("GET", "/global/spend", adminKey, "")
		})
		t.Run("non-admin reads its own key, user and team", func(t *testing.T) {
			own := e.ok("GET", "/key/info", plain, "")
			if own["key"] != store.HashKey(plain) {
				t.Errorf("/key/info = %v", own)
			}
			e.ok("GET", "/key/info?key="+url.QueryEscape(plain), plain, "")
			e.ok("GET", "/key/info?key="+store.HashKey(plain), plain, "")
			wantErr(t, e.call("GET", "/key/info?key="+url.QueryEscape(adminKey), plain, ""), 403, "")
			// Asking about a key that does not exist is refused too: no existence oracle.
			wantErr(t, e.call("GET", "/key/info?key=sk-nope-nope", plain, ""), 403, "")

			if got := e.ok("GET", "/user/info", plain, ""); got["user_id"] != "alice" {
				t.Errorf("/user/info (default) = %v", got)
			}
			e.ok("GET", "/user/info?user_id=alice", plain, "")
			wantErr(t, e.call("GET", "/user/info?user_id=root", plain, ""), 403, "")

			if got := e.ok("GET", "/team/info", plain, ""); got["team_id"] != "team-a" {
				t.Errorf("/team/info (default) = %v", got)
			}
			e.ok("GET", "/team/info?team_id=team-a", plain, "")
			wantErr(t, e.call("GET", "/team/info?team_id=team-b", plain, ""), 403, "")
		})
		t.Run("a key without team or user reads neither", func(t *testing.T) {
			bare := e.generate(`{}`)["key"].(string)
			wantErr(t, e.call("GET", "/user/info", bare, ""), 400, "user_id")
			wantErr(t, e.call("GET", "/user/info?user_id=alice", bare, ""), 403, "")
			wantErr(t, e.call("GET", "/team/info?team_id=team-a", bare, ""), 403, "")
		})
	})
}

func TestValidationNamesTheField(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.admin("POST", "/team/new", `{"team_id": "t1"}`)
		e.generate(`{"key": "sk-existing-key-1", "key_alias": "taken"}`)
		e.generate(`{"key": "sk-existing-key-2"}`)
		e.admin("POST", "/user/new", `{"user_id": "u1", "auto_create_key": false}`)
		e.admin("POST", "/customer/new", `{"user_id": "c1"}`)
		e.admin("POST", "/budget/new", `{"budget_id": "b1"}`)
		for _, tc := range []struct {
			name, method, path, body string
			status                   int
			param                    string
		}{
			{"bad JSON", "POST", "/key/generate", `{"models": [`, 400, ""},
			{"not an object", "POST", "/key/generate", `["gpt-4o"]`, 400, ""},
			{"max_budget not a number", "POST", "/key/generate", `{"max_budget": "lots"}`, 400, "max_budget"},
			{"negative max_budget", "POST", "/key/generate", `{"max_budget": -1}`, 400, "max_budget"},
			{"bad budget_duration", "POST", "/key/generate", `{"budget_duration": "fortnightly"}`, 400, "budget_duration"},
			{"zero budget_duration", "POST", "/key/generate", `{"budget_duration": "0d"}`, 400, "budget_duration"},
			{"bad duration", "POST", "/key/generate", `{"duration": "5y"}`, 400, "duration"},
			{"fractional tpm_limit", "POST", "/key/generate", `{"tpm_limit": 1.5}`, 400, "tpm_limit"},
			{"negative rpm_limit", "POST", "/key/generate", `{"rpm_limit": -5}`, 400, "rpm_limit"},
			{"models not a list", "POST", "/key/generate", `{"models": {"a": 1}}`, 400, "models"},
			{"metadata not an object", "POST", "/key/generate", `{"metadata": ["x"]}`, 400, "metadata"},
			{"bad model_max_budget", "POST", "/key/generate", `{"model_max_budget": {"gpt-4o": "x"}}`, 400, "model_max_budget"},
			{"bad model_rpm_limit", "POST", "/key/generate", `{"model_rpm_limit": {"gpt-4o": -1}}`, 400, "model_rpm_limit"},
			{"aliases not strings", "POST", "/key/generate", `{"aliases": {"a": 1}}`, 400, "aliases"},
			{"blocked not a bool", "POST", "/key/generate", `{"blocked": "yes"}`, 400, "blocked"},
			{"custom key without sk-", "POST", "/key/generate", `{"key": "my-key-123456"}`, 400, "key"},
			{"duplicate custom key", "POST", "/key/generate", `{"key": "sk-existing-key-1"}`, 400, "key"},
			{"duplicate key_alias", "POST", "/key/generate", `{"key_alias": "taken"}`, 400, "key_alias"},
			{"unknown team_id", "POST", "/key/generate", `{"team_id": "no-such-team"}`, 400, "team_id"},
			{"update without key", "POST", "/key/update", `{"max_budget": 1}`, 400, "key"},
			{"update unknown key", "POST", "/key/update", `{"key": "sk-unknown-123"}`, 404, "key"},
			{"update to a taken alias", "POST", "/key/update", `{"key": "sk-existing-key-2", "key_alias": "taken"}`, 400, "key_alias"},
			{"update to an unknown team", "POST", "/key/update", `{"key": "sk-existing-key-2", "team_id": "nope"}`, 400, "team_id"},
			{"negative spend", "POST", "/key/update", `{"key": "sk-existing-key-1", "spend": -3}`, 400, "spend"},
			{"null spend", "POST", "/key/update", `{"key": "sk-existing-key-1", "spend": null}`, 400, "spend"},
			{"delete nothing", "POST", "/key/delete", `{}`, 400, "keys"},
			{"delete unknown", "POST", "/key/delete", `{"keys": ["sk-existing-key-1", "sk-unknown-123"]}`, 404, "keys"},
			{"delete unknown alias", "POST", "/key/delete", `{"key_aliases": ["nope"]}`, 404, "key_aliases"},
			{"info unknown key", "GET", "/key/info?key=sk-unknown-123", "", 404, "key"},
			{"info of the master key, which is not stored", "GET", "/key/info", "", 404, "key"},
			{"list page zero", "GET", "/key/list?page=0", "", 400, "page"},
			{"list size junk", "GET", "/key/list?size=ten", "", 400, "size"},
			{"regenerate unknown", "POST", "/key/regenerate", `{"key": "sk-unknown-123"}`, 404, "key"},
			{"regenerate bad new_key", "POST", "/key/regenerate", `{"key": "sk-existing-key-1", "new_key": "abc"}`, 400, "new_key"},
			{"block unknown", "POST", "/key/block", `{"key": "sk-unknown-123"}`, 404, "key"},
			{"duplicate team", "POST", "/team/new", `{"team_id": "t1"}`, 400, "team_id"},
			{"team rpm_limit junk", "POST", "/team/new", `{"rpm_limit": "many"}`, 400, "rpm_limit"},
			{"team update without id", "POST", "/team/update", `{"max_budget": 1}`, 400, "team_id"},
			{"team update unknown", "POST", "/team/update", `{"team_id": "nope", "max_budget": 1}`, 404, "team_id"},
			{"team update metadata unknown", "POST", "/team/update", `{"team_id": "nope", "metadata": {}}`, 404, "team_id"},
			{"team info unknown", "GET", "/team/info?team_id=nope", "", 404, "team_id"},
			{"team info without id", "GET", "/team/info", "", 400, "team_id"},
			{"team delete unknown", "POST", "/team/delete", `{"team_ids": ["t1", "nope"]}`, 404, "team_ids"},
			{"member bad role", "POST", "/team/member_add", `{"team_id": "t1", "member": {"role": "owner", "user_id": "u1"}}`, 400, "member.role"},
			{"member without user", "POST", "/team/member_add", `{"team_id": "t1", "member": {"role": "user"}}`, 400, "member"},
			{"member to unknown team", "POST", "/team/member_add", `{"team_id": "nope", "member": {"role": "user", "user_id": "u1"}}`, 404, "team_id"},
			{"member_delete not member", "POST", "/team/member_delete", `{"team_id": "t1", "user_id": "u1"}`, 404, "user_id"},
			{"duplicate user", "POST", "/user/new", `{"user_id": "u1"}`, 400, "user_id"},
			{"bad user_role", "POST", "/user/new", `{"user_role": "king"}`, 400, "user_role"},
			{"user in unknown team", "POST", "/user/new", `{"teams": ["nope"]}`, 404, "teams"},
			{"user update without id", "POST", "/user/update", `{"max_budget": 1}`, 400, "user_id"},
			{"user update unknown", "POST", "/user/update", `{"user_id": "nope"}`, 404, "user_id"},
			{"user update unknown email", "POST", "/user/update", `{"user_email": "x@y.z"}`, 404, "user_email"},
			{"user info unknown", "GET", "/user/info?user_id=nope", "", 404, "user_id"},
			{"user delete unknown", "POST", "/user/delete", `{"user_ids": ["nope"]}`, 404, "user_ids"},
			{"user list page_size junk", "GET", "/user/list?page_size=-2", "", 400, "page_size"},
			{"customer without id", "POST", "/customer/new", `{"alias": "x"}`, 400, "user_id"},
			{"duplicate customer", "POST", "/customer/new", `{"user_id": "c1"}`, 400, "user_id"},
			{"customer unknown budget", "POST", "/customer/new", `{"user_id": "c2", "budget_id": "nope"}`, 400, "budget_id"},
			{"customer update unknown", "POST", "/customer/update", `{"user_id": "nope"}`, 404, "user_id"},
			{"customer update unknown budget", "POST", "/customer/update", `{"user_id": "c1", "budget_id": "nope"}`, 400, "budget_id"},
			{"customer info unknown", "GET", "/customer/info?end_user_id=nope", "", 404, "end_user_id"},
			{"customer delete unknown", "POST", "/customer/delete", `{"user_ids": ["nope"]}`, 404, "user_ids"},
			{"customer unblock unknown", "POST", "/customer/unblock", `{"user_ids": ["nope"]}`, 404, "user_ids"},
			{"customer block nothing", "POST", "/customer/block", `{"user_ids": []}`, 400, "user_ids"},
			{"duplicate budget", "POST", "/budget/new", `{"budget_id": "b1"}`, 400, "budget_id"},
			{"budget bad duration", "POST", "/budget/new", `{"budget_duration": "1y"}`, 400, "budget_duration"},
			{"budget update unknown", "POST", "/budget/update", `{"budget_id": "nope"}`, 404, "budget_id"},
			{"budget info unknown", "POST", "/budget/info", `{"budgets": ["nope"]}`, 404, "budgets"},
			{"budget info nothing", "GET", "/budget/info", "", 400, "budgets"},
			{"budget delete unknown", "POST", "/budget/delete", `{"id": "nope"}`, 404, "id"},
			{"bad start_date", "GET", "/global/spend/logs?start_date=03/01/2026", "", 400, "start_date"},
			{"bad end_date", "GET", "/global/spend?end_date=2026-13-01", "", 400, "end_date"},
			{"end before start", "GET", "/spend/logs?start_date=2026-03-02&end_date=2026-03-01", "", 400, "end_date"},
			{"bad limit", "GET", "/global/spend/keys?limit=0", "", 400, "limit"},
			{"report without start", "GET", "/global/spend/report?end_date=2026-03-01", "", 400, "start_date"},
			{"report without end", "GET", "/global/spend/report?start_date=2026-03-01", "", 400, "end_date"},
			{"report bad group_by", "GET", "/global/spend/report?start_date=2026-03-01&end_date=2026-03-02&group_by=model", "", 400, "group_by"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantErr(t, e.call(tc.method, tc.path, master, tc.body), tc.status, tc.param)
			})
		}
		// Nothing above changed the existing rows.
		k, err := st.GetKeyByToken(context.Background(), store.HashKey("sk-existing-key-1"))
		if err != nil || k.Spend != 0 || k.KeyAlias != "taken" {
			t.Errorf("existing key after the failures: %+v, %v", k, err)
		}
	})
}

// evil strings: SQL metacharacters, quotes, backslashes, LIKE wildcards and non-ASCII text.
var evil = []string{
	`'; DROP TABLE keys;--`,
	`" OR "1"="1`,
	`back\slash\\ and \' quote`,
	`100%_wild*card`,
	`ユーザー🙂 ümlaut`,
	`<script>alert('x')</script> & more`,
}

func TestSQLMetacharactersAreData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		for i, s := range evil {
			t.Run(strings.Fields(s)[0], func(t *testing.T) {
				team := e.admin("POST", "/team/new", jsonBody(t, map[string]any{
					"team_id": s, "team_alias": s, "models": []string{s}, "metadata": map[string]any{s: s},
				}))
				if team["team_id"] != s || team["team_alias"] != s || team["models"].([]any)[0] != s ||
					team["metadata"].(map[string]any)[s] != s {
					t.Fatalf("team/new = %v", team)
				}
				info := e.admin("GET", "/team/info?team_id="+url.QueryEscape(s), "")
				if info["team_info"].(map[string]any)["team_alias"] != s {
					t.Errorf("team/info = %v", info)
				}

				user := e.admin("POST", "/user/new", jsonBody(t, map[string]any{
					"user_id": s, "user_email": s, "metadata": map[string]any{"note": s}, "key_alias": "user-" + s,
				}))
				if user["user_id"] != s || user["user_email"] != s || user["key_alias"] != "user-"+s {
					t.Fatalf("user/new = %v", user)
				}
				ui := e.admin("GET", "/user/info?user_id="+url.QueryEscape(s), "")
				if ui["user_info"].(map[string]any)["metadata"].(map[string]any)["note"] != s || len(ui["keys"].([]any)) != 1 {
					t.Errorf("user/info = %v", ui)
				}

				key := e.generate(jsonBody(t, map[string]any{
					"key_alias": s, "team_id": s, "user_id": s, "models": []string{s},
					"metadata": map[string]any{s: []any{s}}, "aliases": map[string]string{s: s},
				}))
				if key["key_alias"] != s || key["team_id"] != s || key["aliases"].(map[string]any)[s] != s {
					t.Fatalf("key/generate = %v", key)
				}
				list := e.admin("GET", "/key/list?team_id="+url.QueryEscape(s)+"&return_full_object=true", "")
				if keys := list["keys"].([]any); len(keys) != 1 || keys[0].(map[string]any)["key_alias"] != s {
					t.Errorf("key/list?team_id = %v", list)
				}
				if del := e.admin("POST", "/key/delete", jsonBody(t, map[string]any{"key_aliases": []string{s}})); len(del["deleted_keys"].([]any)) != 1 {
					t.Errorf("key/delete by alias = %v", del)
				}

				cust := e.admin("POST", "/customer/new", jsonBody(t, map[string]any{"user_id": s, "alias": s}))
				if cust["user_id"] != s || cust["alias"] != s {
					t.Fatalf("customer/new = %v", cust)
				}
				if ci := e.admin("GET", "/customer/info?end_user_id="+url.QueryEscape(s), ""); ci["alias"] != s {
					t.Errorf("customer/info = %v", ci)
				}
				budget := e.admin("POST", "/budget/new", jsonBody(t, map[string]any{"budget_id": s, "model_max_budget": map[string]float64{s: 1}}))
				if budget["budget_id"] != s || budget["model_max_budget"].(map[string]any)[s] != 1.0 {
					t.Fatalf("budget/new = %v", budget)
				}

				insertSpend(t, st, store.SpendLog{RequestID: s, APIKey: store.HashKey("sk-evil"), UserID: s, TeamID: s,
					ModelGroup: s, Spend: float64(i + 1), StartTime: date("2026-03-05T10:00:00Z")})
				q := "?user_id=" + url.QueryEscape(s) + "&model=" + url.QueryEscape(s) + "&team_id=" + url.QueryEscape(s) +
					"&request_id=" + url.QueryEscape(s)
				rows := e.okList("GET", "/spend/logs"+q, master, "")
				if len(rows) != 1 || rows[0].(map[string]any)["request_id"] != s || rows[0].(map[string]any)["model_group"] != s {
					t.Errorf("spend/logs = %v", rows)
				}
				if got := e.admin("GET", "/global/spend?model="+url.QueryEscape(s), ""); num(got["spend"]) != float64(i+1) {
					t.Errorf("global/spend?model = %v", got)
				}
			})
		}
		// Every table is intact and holds exactly what was written.
		ctx := context.Background()
		if _, n, err := st.ListTeams(ctx, store.Page{}); err != nil || n != len(evil) {
			t.Errorf("teams: %d, %v", n, err)
		}
		if _, n, err := st.ListUsers(ctx, store.Page{}); err != nil || n != len(evil) {
			t.Errorf("users: %d, %v", n, err)
		}
		if _, n, err := st.ListKeys(ctx, store.KeyFilter{}); err != nil || n != len(evil) { // the users' keys
			t.Errorf("keys: %d, %v", n, err)
		}
		if _, n, err := st.ListCustomers(ctx, store.Page{}); err != nil || n != len(evil) {
			t.Errorf("customers: %d, %v", n, err)
		}
		if _, n, err := st.ListBudgets(ctx, store.Page{}); err != nil || n != len(evil) {
			t.Errorf("budgets: %d, %v", n, err)
		}
	})
}

func TestStoreDownIs503WithoutSQL(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		// The master key authenticates without the store; every route then meets a closed database.
		st.Close()
		for _, rt := range []struct{ method, path, body string }{
			{"GET", "/key/list", ""},
			{"POST", "/key/generate", `{"key_alias": "x"}`},
			{"GET", "/team/info?team_id=t", ""},
			{"POST", "/user/new", `{"user_id": "u"}`},
			{"GET", "/customer/list", ""},
			{"GET", "/budget/list", ""},
			{"GET", "/global/spend/logs", ""},
			{"GET", "/global/spend/report?start_date=2026-03-01&end_date=2026-03-02", ""},
		} {
			r := e.call(rt.method, rt.path, master, rt.body)
			if msg := wantErr(t, r, 503, ""); msg != "The state database is unavailable; try again later." {
				t.Errorf("%s %s: message %q", rt.method, rt.path, msg)
			}
			low := strings.ToLower(string(r.body))
			for _, leak := range []string{"sql", "select", "insert", "closed", "pgx", "driver"} {
				if strings.Contains(low, leak) {
					t.Errorf("%s %s leaks %q: %s", rt.method, rt.path, leak, r.body)
				}
			}
		}
		// A non-admin key needs the store to authenticate: that is a 503 too, not a 401.
		wantErr(t, e.call("GET", "/key/info", "sk-some-key-123", ""), 503, "")
	})
}

func TestNilHooksAndMount(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		api := New(Options{Store: st, Authenticate: authenticator(st)})
		app := fiber.New(fiber.Config{DisableStartupMessage: true})
		api.Mount(app.Group("/"))
		e := &env{t: t, st: st, app: app, hooks: newFakeHooks()}
		k := e.generate(`{"max_budget": 3}`)
		info := e.admin("GET", "/key/info?key="+k["token"].(string), "")
		if num(info["info"].(map[string]any)["spend"]) != 0 {
			t.Errorf("info without hooks = %v", info)
		}
		e.admin("POST", "/key/update", jsonBody(t, map[string]any{"key": k["key"], "spend": 2}))
	})
}
