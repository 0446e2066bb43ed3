package governance

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/quota"
	"github.com/switchyard/gateway/core/store"
	"github.com/switchyard/gateway/core/store/storetest"
	"github.com/switchyard/gateway/sdk"
)

const master = "sk-master"

func newGov(t *testing.T, st *store.Store, now func() time.Time) *Governor {
	t.Helper()
	g, err := New(context.Background(), Options{Store: st, MasterKey: master, Counters: quota.NewMemory(),
		Logger: slog.New(slog.DiscardHandler), Now: now,
		Estimate: func(*pipeline.Call) float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), storetest.SQLite(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }

func kindOf(err error) sdk.ErrorKind {
	var e *sdk.Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 255
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	now := time.Now()
	past := now.Add(-time.Minute)
	mustCreate := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustCreate(st.CreateTeam(ctx, store.Team{TeamID: "blocked-team", Blocked: true}))
	mustCreate(st.CreateUser(ctx, store.User{UserID: "admin-user", UserRole: "proxy_admin"}))
	mustCreate(st.CreateKey(ctx, store.Key{Token: store.HashKey("sk-good"), KeyAlias: "good", UserID: "admin-user"}))
	mustCreate(st.CreateKey(ctx, store.Key{Token: store.HashKey("sk-blocked"), Blocked: true}))
	mustCreate(st.CreateKey(ctx, store.Key{Token: store.HashKey("sk-old"), Expires: &past}))
	mustCreate(st.CreateKey(ctx, store.Key{Token: store.HashKey("sk-team"), TeamID: "blocked-team"}))
	g := newGov(t, st, time.Now)

	if p, err := g.Authenticate(ctx, master); err != nil || !p.Admin || p.KeyAlias != "master" {
		t.Fatalf("master: %+v, %v", p, err)
	}
	p, err := g.Authenticate(ctx, "sk-good")
	if err != nil || p.KeyHash != store.HashKey("sk-good") || p.KeyAlias != "good" || !p.Admin {
		t.Fatalf("a key of a proxy_admin user: %+v, %v", p, err)
	}
	for key, want := range map[string]string{"": "no API key", "sk-nope": "not valid", "sk-blocked": "blocked",
		"sk-old": "expired", "sk-team": "team is blocked"} {
		_, err := g.Authenticate(ctx, key)
		if kindOf(err) != sdk.KindAuthentication || !strings.Contains(err.Error(), want) {
			t.Errorf("key %q: %v, want 401 saying %q", key, err, want)
		}
		if key != "" && strings.Contains(err.Error(), key) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
	// A key created behind the directory's back (another replica) is found in the store on first use.
	mustCreate(st.CreateKey(ctx, store.Key{Token: store.HashKey("sk-late")}))
	if _, err := g.Authenticate(ctx, "sk-late"); err != nil {
		t.Fatalf("a key the directory did not load: %v", err)
	}
	// A change announced through Changed is seen at once.
	if err := st.BlockKey(ctx, store.HashKey("sk-late"), true); err != nil {
		t.Fatal(err)
	}
	g.Changed(KindKey, store.HashKey("sk-late"))
	if _, err := g.Authenticate(ctx, "sk-late"); kindOf(err) != sdk.KindAuthentication {
		t.Fatalf("a key blocked and announced still works: %v", err)
	}
	// Deleted keys go away.
	if _, err := st.DeleteKeys(ctx, []string{store.HashKey("sk-good")}); err != nil {
		t.Fatal(err)
	}
	g.Changed(KindKey, store.HashKey("sk-good"))
	if _, err := g.Authenticate(ctx, "sk-good"); kindOf(err) != sdk.KindAuthentication {
		t.Fatalf("a deleted key still works: %v", err)
	}
}

func call(key, model string) *pipeline.Call {
	return &pipeline.Call{ID: "c1", Model: model, Chat: &sdk.ChatRequest{Model: model},
		Principal: &pipeline.Principal{KeyHash: store.HashKey(key)}}
}

func TestStage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openStore(t)
	check := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	check(st.CreateTeam(ctx, store.Team{TeamID: "t", Models: []string{"gpt-4o", "openai/*"}, RPMLimit: i64(100)}))
	check(st.CreateKey(ctx, store.Key{Token: store.HashKey("sk-a"), TeamID: "t", Models: []string{"gpt-4o", "openai/*", "nick"},
		Aliases: map[string]string{"nick": "gpt-4o"}, MaxBudget: f64(1), RPMLimit: i64(10)}))
	check(st.CreateKey(ctx, store.Key{Token: store.HashKey("sk-b"), MaxBudget: f64(1), Spend: 1}))
	check(st.CreateCustomer(ctx, store.Customer{UserID: "cust", Blocked: true}))
	g := newGov(t, st, time.Now)
	s := g.Stage()

	c := call("sk-a", "nick")
	if err := s.Before(ctx, c); err != nil || c.Model != "gpt-4o" || c.Chat.Model != "gpt-4o" {
		t.Fatalf("alias: %v, model %q", err, c.Model)
	}
	var rpmHeader string
	for _, h := range c.Headers() {
		if h.Name == "x-ratelimit-limit-requests" {
			rpmHeader = h.Value
		}
	}
	if rpmHeader != "10" {
		t.Errorf("x-ratelimit-limit-requests = %q, want the tighter limit, the key's 10", rpmHeader)
	}
	c.Usage = &sdk.Usage{PromptTokens: 10, CompletionTokens: 5, TotalTokens: 15}
	price := 0.01
	c.Deployment = &pipeline.Deployment{InputCostPerToken: &price, OutputCostPerToken: &price}
	s.After(c)
	if v, ok := g.LiveSpend(ctx, KindKey, store.HashKey("sk-a")); !ok || v < 0.149 || v > 0.151 {
		t.Fatalf("key spend after one call = %v, %v; want 0.15", v, ok)
	}
	if v, _ := g.LiveSpend(ctx, KindTeam, "t"); v < 0.149 || v > 0.151 {
		t.Fatalf("team spend = %v, want 0.15", v)
	}
	if err := s.Before(ctx, call("sk-a", "openai/gpt-4.1")); err != nil {
		t.Fatalf("a wildcard model: %v", err)
	}
	if err := s.Before(ctx, call("sk-a", "claude")); kindOf(err) != sdk.KindPermissionDenied {
		t.Fatalf("a model outside the key's list: %v", err)
	}
	if err := s.Before(ctx, call("sk-b", "gpt-4o")); kindOf(err) != sdk.KindBudgetExceeded ||
		!strings.Contains(err.Error(), "key") {
		t.Fatalf("a key at its budget: %v", err)
	}
	cu := call("sk-a", "gpt-4o")
	cu.Chat.User = "cust"
	if err := s.Before(ctx, cu); kindOf(err) != sdk.KindPermissionDenied {
		t.Fatalf("a blocked customer: %v", err)
	}
	// The master key is not limited.
	m := &pipeline.Call{Model: "x", Chat: &sdk.ChatRequest{}, Principal: &pipeline.Principal{KeyHash: store.HashKey(master)}}
	if err := s.Before(ctx, m); err != nil {
		t.Fatalf("master key: %v", err)
	}
}

// A budget period that came due starts from zero before the store has reset it.
func TestPeriodRollover(t *testing.T) {
	t.Parallel()
	due := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p, fresh := period(&due, "daily", due.Add(-time.Second))
	if p != due.Unix() || !fresh {
		t.Fatalf("before the reset: %v %v", p, fresh)
	}
	p, fresh = period(&due, "daily", due.Add(30*time.Hour))
	if p != due.Add(48*time.Hour).Unix() || fresh {
		t.Fatalf("after the reset came due: %v %v", time.Unix(p, 0).UTC(), fresh)
	}
	if p, fresh := period(nil, "", due); p != 0 || !fresh {
		t.Fatalf("no schedule: %v %v", p, fresh)
	}
}

func TestAllowed(t *testing.T) {
	for _, c := range []struct {
		models []string
		model  string
		want   bool
	}{
		{nil, "x", true}, {[]string{"a"}, "a", true}, {[]string{"a"}, "b", false},
		{[]string{"all-proxy-models"}, "b", true}, {[]string{"openai/*"}, "openai/x", true},
		{[]string{"openai/*"}, "anthropic/x", false},
	} {
		if got := allowed(c.models, c.model); got != c.want {
			t.Errorf("allowed(%v, %q) = %v", c.models, c.model, got)
		}
	}
}
