package admin

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/store"
	"github.com/switchyard/gateway/core/store/storetest"
)

func TestKeysAreStoredHashed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ctx := context.Background()
		const custom = "sk-my-chosen-key-0001"
		got := e.generate(`{"key": "` + custom + `", "key_alias": "chosen", "metadata": {"owner": "ops"}}`)
		if got["key"] != custom || got["token"] != store.HashKey(custom) {
			t.Fatalf("generate with a chosen key = %v", got)
		}
		random := e.generate(`{}`)["key"].(string)
		user := e.admin("POST", "/user/new", `{"user_id": "hashed-user"}`)["key"].(string)

		keys, _, err := st.ListKeys(ctx, store.KeyFilter{})
		if err != nil || len(keys) != 3 {
			t.Fatalf("stored keys: %d, %v", len(keys), err)
		}
		raws := []string{custom, random, user}
		for _, k := range keys {
			if !isToken(k.Token) {
				t.Errorf("stored token %q is not a SHA-256 hex", k.Token)
			}
			for _, raw := range raws {
				if strings.Contains(jsonBody(t, k), raw) {
					t.Errorf("the store holds raw key %s", store.MaskKey(raw))
				}
			}
		}
		for _, raw := range raws {
			if _, err := st.GetKeyByToken(ctx, store.HashKey(raw)); err != nil {
				t.Errorf("key %s not stored under its hash: %v", store.MaskKey(raw), err)
			}
		}
		// No answer but generate's shows a raw key.
		for _, path := range []string{
			"/key/list", "/key/list?return_full_object=true", "/key/info?key=" + custom, "/key/info?key=" + random,
			"/user/info?user_id=hashed-user", "/user/list",
		} {
			body := string(e.call("GET", path, master, "").body)
			for _, raw := range raws {
				if strings.Contains(body, raw) {
					t.Errorf("GET %s shows raw key %s", path, store.MaskKey(raw))
				}
			}
		}
		for _, path := range []string{"/key/update", "/key/block", "/key/unblock"} {
			body := string(e.call("POST", path, master, `{"key": "`+custom+`"}`).body)
			if strings.Contains(body, custom) {
				t.Errorf("POST %s echoes the raw key", path)
			}
		}
		// Errors about a key name it masked.
		r := e.call("GET", "/key/info?key=sk-not-a-real-key-999", master, "")
		wantErr(t, r, 404, "key")
		if strings.Contains(string(r.body), "sk-not-a-real-key-999") {
			t.Errorf("404 shows the raw key: %s", r.body)
		}
	})
}

func TestKeyLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ctx := context.Background()
		e.admin("POST", "/team/new", `{"team_id": "eng"}`)
		before := time.Now()
		created := e.generate(`{"models": ["gpt-4o"], "max_budget": 5, "duration": "30d", "key_alias": "ci",
			"team_id": "eng", "user_id": "bob", "model_max_budget": {"gpt-4o": {"budget_limit": 2, "time_period": "1d"}},
			"model_rpm_limit": {"gpt-4o": 7}, "aliases": {"fast": "gpt-4o"}, "soft_budget": 4, "max_parallel_requests": 3,
			"some_litellm_field_we_ignore": true}`)
		raw, token := created["key"].(string), created["token"].(string)
		exp, err := time.Parse(time.RFC3339Nano, created["expires"].(string))
		if err != nil || exp.Before(before.Add(30*24*time.Hour-time.Second)) || exp.After(time.Now().Add(30*24*time.Hour+time.Second)) {
			t.Errorf("expires = %v, want 30 days from now", created["expires"])
		}
		if created["model_max_budget"].(map[string]any)["gpt-4o"] != 2.0 || num(created["soft_budget"]) != 4 ||
			num(created["max_parallel_requests"]) != 3 || created["model_rpm_limit"].(map[string]any)["gpt-4o"] != 7.0 {
			t.Errorf("generate = %v", created)
		}

		t.Run("partial update keeps the other fields", func(t *testing.T) {
			e.hooks.reset()
			up := e.admin("POST", "/key/update", `{"key": "`+raw+`", "max_budget": 9, "metadata": {"v": 2}}`)
			if up["key"] != token || num(up["max_budget"]) != 9 || up["key_alias"] != "ci" ||
				up["models"].([]any)[0] != "gpt-4o" || up["metadata"].(map[string]any)["v"] != 2.0 {
				t.Errorf("update = %v", up)
			}
			if !e.hooks.wasChanged("key", token) {
				t.Error("update did not call Hooks.Changed")
			}
			if _, ok := e.hooks.spendSet("key", token); ok {
				t.Error("SetSpend called without spend in the update")
			}
			// null clears a nullable field; the token form names the key as well as the raw one.
			up = e.admin("POST", "/key/update", `{"key": "`+token+`", "max_budget": null, "budget_duration": "30m"}`)
			if up["max_budget"] != nil || up["budget_duration"] != "30m" || up["budget_reset_at"] == nil {
				t.Errorf("update with null = %v", up)
			}
		})
		t.Run("explicit spend reaches the hooks", func(t *testing.T) {
			e.admin("POST", "/key/update", `{"key": "`+raw+`", "spend": 1.25}`)
			if v, ok := e.hooks.spendSet("key", token); !ok || v != 1.25 {
				t.Errorf("SetSpend = %v, %v", v, ok)
			}
			k, _ := st.GetKeyByToken(ctx, token)
			if k.Spend != 1.25 {
				t.Errorf("stored spend = %v", k.Spend)
			}
		})
		t.Run("info reports live spend", func(t *testing.T) {
			info := e.admin("GET", "/key/info?key="+url.QueryEscape(raw), "")
			if num(info["info"].(map[string]any)["spend"]) != 1.25 || info["key"] != token {
				t.Errorf("info = %v", info)
			}
			e.hooks.setLive("key", token, 3.5)
			info = e.admin("GET", "/key/info?key="+token, "")
			if num(info["info"].(map[string]any)["spend"]) != 3.5 {
				t.Errorf("info spend = %v, want the live 3.5", info["info"])
			}
			// The key reads itself with no key parameter.
			self := e.ok("GET", "/key/info", raw, "")
			if self["key"] != token || num(self["info"].(map[string]any)["spend"]) != 3.5 {
				t.Errorf("self info = %v", self)
			}
		})
		t.Run("block and unblock", func(t *testing.T) {
			b := e.admin("POST", "/key/block", `{"key": "`+raw+`"}`)
			if b["blocked"] != true {
				t.Errorf("block = %v", b)
			}
			if k, _ := st.GetKeyByToken(ctx, token); !k.Blocked {
				t.Error("key not blocked in the store")
			}
			if b = e.admin("POST", "/key/unblock", `{"key": "`+token+`"}`); b["blocked"] != false {
				t.Errorf("unblock = %v", b)
			}
		})
		t.Run("list pages and filters", func(t *testing.T) {
			for i := 0; i < 4; i++ {
				e.generate(`{"user_id": "carol"}`)
			}
			all := e.admin("GET", "/key/list?size=2", "")
			if num(all["total_count"]) != 5 || num(all["total_pages"]) != 3 || num(all["current_page"]) != 1 ||
				len(all["keys"].([]any)) != 2 {
				t.Errorf("list = %v", all)
			}
			for _, k := range all["keys"].([]any) {
				if !isToken(k.(string)) {
					t.Errorf("list shows %v, want tokens", k)
				}
			}
			last := e.admin("GET", "/key/list?size=2&page=3", "")
			if len(last["keys"].([]any)) != 1 || num(last["current_page"]) != 3 {
				t.Errorf("last page = %v", last)
			}
			carol := e.admin("GET", "/key/list?user_id=carol", "")
			if num(carol["total_count"]) != 4 {
				t.Errorf("user filter = %v", carol)
			}
			eng := e.admin("GET", "/key/list?team_id=eng&return_full_object=true", "")
			if keys := eng["keys"].([]any); len(keys) != 1 || keys[0].(map[string]any)["token"] != token {
				t.Errorf("team filter = %v", eng)
			}
		})
		t.Run("delete by key and alias", func(t *testing.T) {
			other := e.generate(`{"key_alias": "to-go"}`)
			e.hooks.reset()
			del := e.admin("POST", "/key/delete", `{"keys": ["`+raw+`"], "key_aliases": ["to-go"]}`)
			if d := del["deleted_keys"].([]any); len(d) != 2 || d[0] != token || d[1] != other["token"] {
				t.Errorf("delete = %v", del)
			}
			for _, tk := range []string{token, other["token"].(string)} {
				if _, err := st.GetKeyByToken(ctx, tk); err == nil {
					t.Errorf("key %s still stored", tk)
				}
				if !e.hooks.wasChanged("key", tk) {
					t.Errorf("delete did not call Hooks.Changed for %s", tk)
				}
			}
			wantErr(t, e.call("GET", "/key/info", raw, ""), 401, "")
		})
	})
}

func TestRegenerateInvalidatesTheOldKey(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		ctx := context.Background()
		e.admin("POST", "/team/new", `{"team_id": "ops"}`)
		first := e.generate(`{"key_alias": "rotating", "team_id": "ops", "models": ["gpt-4o"], "max_budget": 20,
			"budget_duration": "30d", "metadata": {"k": "v"}}`)
		oldRaw, oldToken := first["key"].(string), first["token"].(string)
		e.ok("GET", "/key/info", oldRaw, "")
		e.hooks.setLive("key", oldToken, 6.5)

		for _, via := range []string{"body", "path"} {
			t.Run(via, func(t *testing.T) {
				e.hooks.reset()
				var got map[string]any
				if via == "body" {
					got = e.admin("POST", "/key/regenerate", `{"key": "`+oldRaw+`", "max_budget": 25}`)
				} else {
					got = e.admin("POST", "/key/"+url.PathEscape(oldRaw)+"/regenerate", "")
				}
				newRaw, newToken := got["key"].(string), got["token"].(string)
				if !strings.HasPrefix(newRaw, "sk-") || newRaw == oldRaw || newToken != store.HashKey(newRaw) {
					t.Fatalf("regenerate = %v", got)
				}
				if got["key_alias"] != "rotating" || got["team_id"] != "ops" || got["models"].([]any)[0] != "gpt-4o" ||
					got["budget_duration"] != "30d" || got["metadata"].(map[string]any)["k"] != "v" {
					t.Errorf("settings not kept: %v", got)
				}
				if num(got["max_budget"]) != 25 {
					t.Errorf("max_budget = %v, want 25 (set by the first regeneration)", got["max_budget"])
				}
				if num(got["spend"]) != 6.5 {
					t.Errorf("spend = %v, want the old key's live 6.5", got["spend"])
				}
				if first["budget_reset_at"] != got["budget_reset_at"] {
					t.Errorf("budget_reset_at moved: %v → %v", first["budget_reset_at"], got["budget_reset_at"])
				}
				// The old key is gone from the store, the hooks were told, and it no longer authenticates.
				if _, err := st.GetKeyByToken(ctx, oldToken); err == nil {
					t.Error("the old key is still stored")
				}
				if !e.hooks.wasChanged("key", oldToken) || !e.hooks.wasChanged("key", newToken) {
					t.Errorf("Hooks.Changed calls: %v", e.hooks.changed)
				}
				wantErr(t, e.call("GET", "/key/info", oldRaw, ""), 401, "")
				if self := e.ok("GET", "/key/info", newRaw, ""); self["key"] != newToken {
					t.Errorf("the new key reads %v", self)
				}
				oldRaw, oldToken = newRaw, newToken
				e.hooks.setLive("key", oldToken, 6.5)
			})
		}
		t.Run("chosen new key and a new alias", func(t *testing.T) {
			got := e.admin("POST", "/key/regenerate", `{"key": "`+oldToken+`", "new_key": "sk-chosen-rotation-1", "key_alias": "rotated"}`)
			if got["key"] != "sk-chosen-rotation-1" || got["key_alias"] != "rotated" {
				t.Errorf("regenerate = %v", got)
			}
			e.generate(`{"key_alias": "occupied"}`)
			r := e.call("POST", "/key/regenerate", master, `{"key": "sk-chosen-rotation-1", "key_alias": "occupied"}`)
			wantErr(t, r, 400, "key_alias")
			if _, err := st.GetKeyByToken(ctx, store.HashKey("sk-chosen-rotation-1")); err != nil {
				t.Errorf("a refused regeneration removed the key: %v", err)
			}
			r = e.call("POST", "/key/regenerate", master, `{"key": "sk-chosen-rotation-1", "new_key": "sk-chosen-rotation-1"}`)
			wantErr(t, r, 400, "new_key")
			if _, err := st.GetKeyByToken(ctx, store.HashKey("sk-chosen-rotation-1")); err != nil {
				t.Errorf("a refused regeneration removed the key: %v", err)
			}
		})
	})
}
