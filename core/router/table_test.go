package router

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

func dep(id, group, provider string) *pipeline.Deployment {
	return &pipeline.Deployment{ID: id, Group: group, Target: &sdk.Target{Provider: provider, Model: id}, MaxRetries: -1}
}

// wildcard returns a route whose deployments record the '*' part they were made for in their ID.
func wildcard(pattern, provider string) *Wildcard {
	return &Wildcard{Pattern: pattern, Make: []WildcardFactory{func(star string) (*pipeline.Deployment, error) {
		return &pipeline.Deployment{ID: pattern + "|" + star, Target: &sdk.Target{Provider: provider, Model: star},
			Wildcard: true, MaxRetries: -1}, nil
	}}}
}

func testTable() *Table {
	return NewTable(
		[]*pipeline.Deployment{dep("a1", "gpt-4o", "openai"), dep("b1", "claude", "anthropic"), dep("a2", "gpt-4o", "azure")},
		[]*Wildcard{wildcard("*", "catchall"), wildcard("openai/*", "openai"), wildcard("openai/gpt-*", "openai-gpt")},
		map[string]Alias{
			"smart":  {Group: "gpt-4o"},
			"secret": {Group: "claude", Hidden: true},
			"claude": {Group: "gpt-4o"}, // clashes with a group: the group wins the listing, the alias the lookup
			"wild":   {Group: "openai/o3"},
		},
	)
}

func TestResolve(t *testing.T) {
	t.Parallel()
	tbl := testTable()
	cases := []struct {
		model, group string
		ids          []string
	}{
		{"gpt-4o", "gpt-4o", []string{"a1", "a2"}},
		{"smart", "gpt-4o", []string{"a1", "a2"}},
		{"secret", "claude", []string{"b1"}},
		{"claude", "gpt-4o", []string{"a1", "a2"}},
		{"openai/gpt-5", "openai/gpt-5", []string{"openai/gpt-*|5"}},
		{"openai/o3", "openai/o3", []string{"openai/*|o3"}},
		{"wild", "openai/o3", []string{"openai/*|o3"}},
		{"mistral/large", "mistral/large", []string{"*|mistral/large"}},
		{"openai/", "openai/", []string{"*|openai/"}}, // "openai/*" needs something for its '*'
	}
	for _, tc := range cases {
		t.Run(tc.model, func(t *testing.T) {
			t.Parallel()
			g, err := tbl.Resolve(tc.model)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range g.Deployments {
				ids = append(ids, d.ID)
			}
			if g.Name != tc.group || !reflect.DeepEqual(ids, tc.ids) {
				t.Errorf("group %q %q, want %q %q", g.Name, ids, tc.group, tc.ids)
			}
		})
	}
}

func TestResolveUnknownModel(t *testing.T) {
	t.Parallel()
	tbl := NewTable([]*pipeline.Deployment{dep("a", "gpt-4o", "openai")}, []*Wildcard{wildcard("openai/*", "openai")},
		map[string]Alias{"dangling": {Group: "gone"}})
	for _, model := range []string{"gpt-5", "anthropic/claude", "openai/", "", "dangling"} {
		_, err := tbl.Resolve(model)
		var e *sdk.Error
		if !errors.As(err, &e) {
			t.Fatalf("%q: err = %v, want an *sdk.Error", model, err)
		}
		if e.Kind != sdk.KindNotFound || e.HTTPStatus() != 404 || e.Code != "model_not_found" || e.Param != "model" ||
			e.Type() != "invalid_request_error" {
			t.Errorf("%q: error %#v is not OpenAI's model_not_found", model, e)
		}
		if e.Retryable() {
			t.Errorf("%q: a missing model is retryable", model)
		}
	}
	_, err := tbl.Resolve("gpt-5")
	if want := `The model "gpt-5" does not exist`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("message %q does not name the model", err)
	}
	// The client learns nothing about where an alias points.
	_, err = tbl.Resolve("dangling")
	if err == nil || !strings.Contains(err.Error(), `"dangling"`) || strings.Contains(err.Error(), "gone") {
		t.Errorf("alias error %q names the alias's target", err)
	}
}

func TestMatchWildcard(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pattern, model, star string
		ok                   bool
	}{
		{"*", "anything/at-all", "anything/at-all", true},
		{"*", "", "", false},
		{"openai/*", "openai/gpt-4o", "gpt-4o", true},
		{"openai/*", "openai/", "", false},
		{"openai/*", "azure/gpt-4o", "", false},
		{"*-latest", "claude-latest", "claude", true},
		{"a*z", "az", "", false},
		{"a*z", "abz", "b", true},
		{"no-star", "no-star", "", false},
	}
	for _, tc := range cases {
		star, ok := matchWildcard(tc.pattern, tc.model)
		if star != tc.star || ok != tc.ok {
			t.Errorf("matchWildcard(%q, %q) = %q, %v; want %q, %v", tc.pattern, tc.model, star, ok, tc.star, tc.ok)
		}
	}
}

func TestResolveWildcardFactoryError(t *testing.T) {
	t.Parallel()
	boom := sdk.NewError(sdk.KindAuthentication, "no key for this provider")
	calls := 0
	w := &Wildcard{Pattern: "x/*", Make: []WildcardFactory{
		func(star string) (*pipeline.Deployment, error) { calls++; return dep("ok", "", "x"), nil },
		func(star string) (*pipeline.Deployment, error) { calls++; return nil, boom },
	}}
	tbl := NewTable(nil, []*Wildcard{w}, nil)
	for range 2 {
		if _, err := tbl.Resolve("x/m"); err != boom {
			t.Fatalf("err = %v, want the factory's", err)
		}
	}
	// A failure is not cached: the second resolve tried again.
	if calls != 4 {
		t.Fatalf("factories called %d times, want 4", calls)
	}
}

func TestResolveCachesWildcardGroups(t *testing.T) {
	t.Parallel()
	var made atomic.Int32
	w := &Wildcard{Pattern: "p/*", Make: []WildcardFactory{func(star string) (*pipeline.Deployment, error) {
		made.Add(1)
		return dep(star, "", "p"), nil
	}}}
	tbl := NewTable(nil, []*Wildcard{w}, nil)
	g1, _ := tbl.Resolve("p/m")
	g2, _ := tbl.Resolve("p/m")
	if g1 != g2 || made.Load() != 1 {
		t.Fatalf("same group %v, factory calls %d: a resolved wildcard group must be reused", g1 == g2, made.Load())
	}
}

func TestResolveSameWildcardConcurrently(t *testing.T) {
	t.Parallel()
	tbl := NewTable(nil, []*Wildcard{wildcard("p/*", "p")}, nil)
	const n = 32
	groups := make([]*Group, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			g, err := tbl.Resolve("p/model")
			if err != nil {
				t.Error(err)
			}
			groups[i] = g
		})
	}
	close(start)
	wg.Wait()
	for i, g := range groups {
		if g != groups[0] {
			t.Fatalf("resolve %d returned another group than resolve 0", i)
		}
	}
	if got := tbl.made.Load(); got != 1 {
		t.Fatalf("made = %d after resolving one model: duplicates must not use up the cache", got)
	}
}

func TestWildcardCacheIsBounded(t *testing.T) {
	t.Parallel()
	tbl := NewTable(nil, []*Wildcard{wildcard("*", "any")}, nil)
	for i := range maxConcrete + 100 {
		if _, err := tbl.Resolve(fmt.Sprintf("m-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	cached := 0
	tbl.concrete.Range(func(any, any) bool { cached++; return true })
	if cached != maxConcrete {
		t.Fatalf("%d groups cached, want the bound %d", cached, maxConcrete)
	}
	if got := tbl.made.Load(); got != maxConcrete {
		t.Fatalf("made = %d, want %d: resolves past the bound must not keep counting", got, maxConcrete)
	}
	// Past the bound, models still resolve, freshly each time.
	g1, err := tbl.Resolve("late")
	if err != nil {
		t.Fatal(err)
	}
	g2, _ := tbl.Resolve("late")
	if g1 == g2 || g1.Name != "late" || g1.Deployments[0].ID != "*|late" {
		t.Fatalf("past the bound: %+v (cached: %v)", g1, g1 == g2)
	}
	// And cached ones are still served from the cache.
	a, _ := tbl.Resolve("m-0")
	b, _ := tbl.Resolve("m-0")
	if a != b {
		t.Fatal("a cached group was rebuilt")
	}
}

func TestModels(t *testing.T) {
	t.Parallel()
	tbl := testTable()
	got := tbl.Models(1700000000)
	want := []ModelCard{
		{ID: "gpt-4o", Object: "model", Created: 1700000000, OwnedBy: "openai"},
		{ID: "claude", Object: "model", Created: 1700000000, OwnedBy: "anthropic"},
		{ID: "smart", Object: "model", Created: 1700000000, OwnedBy: "openai"},
		// An alias of a wildcard group has no configured group to take its owner from.
		{ID: "wild", Object: "model", Created: 1700000000, OwnedBy: "switchyard"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Models =\n%+v\nwant\n%+v", got, want)
	}
}

func TestModel(t *testing.T) {
	t.Parallel()
	tbl := testTable()
	cases := []struct {
		id, owner string
		ok        bool
	}{
		{"gpt-4o", "openai", true},
		{"secret", "anthropic", true}, // hidden from the list, but served
		{"openai/gpt-9", "openai-gpt", true},
		{"elsewhere/x", "catchall", true},
	}
	for _, tc := range cases {
		card, ok := tbl.Model(tc.id, 7)
		if ok != tc.ok || card.OwnedBy != tc.owner || (ok && (card.ID != tc.id || card.Object != "model" || card.Created != 7)) {
			t.Errorf("Model(%q) = %+v, %v; want owner %q, %v", tc.id, card, ok, tc.owner, tc.ok)
		}
	}
	strict := NewTable([]*pipeline.Deployment{dep("a", "only", "")}, nil, nil)
	if _, ok := strict.Model("other", 0); ok {
		t.Error("Model found a model the table does not serve")
	}
}

func TestGroupsKeepConfigurationOrder(t *testing.T) {
	t.Parallel()
	tbl := testTable()
	var names []string
	for _, g := range tbl.Groups() {
		names = append(names, g.Name)
	}
	if !reflect.DeepEqual(names, []string{"gpt-4o", "claude"}) {
		t.Fatalf("groups = %q", names)
	}
	if ownedBy(&Group{Deployments: []*pipeline.Deployment{{}}}) != "switchyard" {
		t.Fatal("a deployment without a target must be owned by the gateway")
	}
}
