// Package router resolves the model a client asks for to a model group and its deployments (aliases, exact
// names, wildcard routes), and holds the route and call stages of the pipeline: picking a deployment with the
// configured routing strategy, calling it with timeouts, and retrying on another deployment when that may help.
package router

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// Group is a model group: the deployments sharing one model_name.
type Group struct {
	Name        string
	Deployments []*pipeline.Deployment
	// budget caps the group's retry traffic.
	budget retryBudget
}

// WildcardFactory makes the deployment that serves a concrete model through a wildcard route. star is the
// part of the requested model the route's '*' matched.
type WildcardFactory func(star string) (*pipeline.Deployment, error)

// Wildcard is a wildcard route: model_name "*" or "prefix/*".
type Wildcard struct {
	// Pattern is the model_name ("*", "openai/*").
	Pattern string
	// Make builds one deployment of the concrete group; a route with several entries has several factories.
	Make []WildcardFactory
}

// Alias maps a public name to a group.
type Alias struct {
	Group  string
	Hidden bool
}

// Table is the routing table: immutable once built, safe for concurrent use.
type Table struct {
	groups    map[string]*Group
	order     []string
	aliases   map[string]Alias
	wildcards []*Wildcard

	// concrete caches the groups made from wildcard routes, up to maxConcrete entries.
	concrete sync.Map
	made     atomic.Int32
}

const maxConcrete = 4096

// NewTable builds a table. Groups keep the order in which their names first appear.
func NewTable(deployments []*pipeline.Deployment, wildcards []*Wildcard, aliases map[string]Alias) *Table {
	t := &Table{groups: map[string]*Group{}, aliases: aliases, wildcards: wildcards}
	for _, d := range deployments {
		g, ok := t.groups[d.Group]
		if !ok {
			g = &Group{Name: d.Group}
			t.groups[d.Group] = g
			t.order = append(t.order, d.Group)
		}
		g.Deployments = append(g.Deployments, d)
	}
	// Longer wildcard prefixes are more specific and win.
	sort.SliceStable(t.wildcards, func(i, j int) bool {
		return len(t.wildcards[i].Pattern) > len(t.wildcards[j].Pattern)
	})
	return t
}

// Resolve returns the group serving model: an alias's group, the group of that name, or a group made from
// the most specific matching wildcard route.
func (t *Table) Resolve(requested string) (*Group, error) {
	model := requested
	if a, ok := t.aliases[model]; ok {
		model = a.Group
	}
	if g, ok := t.groups[model]; ok {
		return g, nil
	}
	if g, ok := t.concrete.Load(model); ok {
		return g.(*Group), nil
	}
	for _, w := range t.wildcards {
		star, ok := matchWildcard(w.Pattern, model)
		if !ok {
			continue
		}
		g := &Group{Name: model}
		for _, mk := range w.Make {
			d, err := mk(star)
			if err != nil {
				return nil, err
			}
			g.Deployments = append(g.Deployments, d)
		}
		// made counts cached groups only: counting every resolve past the bound (or a concurrent duplicate)
		// would wrap the int32 after enough requests for unknown models and let the cache grow again.
		if t.made.Add(1) <= maxConcrete {
			actual, loaded := t.concrete.LoadOrStore(model, g)
			if loaded {
				t.made.Add(-1)
			}
			g = actual.(*Group)
		} else {
			t.made.Add(-1)
		}
		return g, nil
	}
	// Name what the client asked for: naming an alias's target would reveal where a hidden alias points.
	return nil, &sdk.Error{Kind: sdk.KindNotFound, Code: "model_not_found", Param: "model", Message: fmt.Sprintf(
		"The model %q does not exist or is not served by this gateway. Call /v1/models to list the models.", requested)}
}

// matchWildcard matches "*" (anything) and "prefix*" patterns, returning what the '*' matched.
func matchWildcard(pattern, model string) (string, bool) {
	prefix, suffix, ok := strings.Cut(pattern, "*")
	if !ok || model == "" {
		return "", false
	}
	if len(model) < len(prefix)+len(suffix) || !strings.HasPrefix(model, prefix) || !strings.HasSuffix(model, suffix) {
		return "", false
	}
	star := model[len(prefix) : len(model)-len(suffix)]
	return star, star != ""
}

// ModelCard is one entry of /v1/models.
type ModelCard struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// Models lists the groups and visible aliases, in configuration order.
func (t *Table) Models(created int64) []ModelCard {
	out := make([]ModelCard, 0, len(t.order)+len(t.aliases))
	for _, name := range t.order {
		out = append(out, ModelCard{ID: name, Object: "model", Created: created, OwnedBy: ownedBy(t.groups[name])})
	}
	aliases := make([]string, 0, len(t.aliases))
	for a, ref := range t.aliases {
		if _, clash := t.groups[a]; !ref.Hidden && !clash {
			aliases = append(aliases, a)
		}
	}
	sort.Strings(aliases)
	for _, a := range aliases {
		out = append(out, ModelCard{ID: a, Object: "model", Created: created, OwnedBy: ownedBy(t.groups[t.aliases[a].Group])})
	}
	return out
}

// Model returns the card of one model, if the table serves it.
func (t *Table) Model(id string, created int64) (ModelCard, bool) {
	g, err := t.Resolve(id)
	if err != nil {
		return ModelCard{}, false
	}
	return ModelCard{ID: id, Object: "model", Created: created, OwnedBy: ownedBy(g)}, true
}

func ownedBy(g *Group) string {
	if g == nil || len(g.Deployments) == 0 || g.Deployments[0].Target == nil {
		return "switchyard"
	}
	return g.Deployments[0].Target.Provider
}

// Groups returns every configured group, in configuration order.
func (t *Table) Groups() []*Group {
	out := make([]*Group, 0, len(t.order))
	for _, name := range t.order {
		out = append(out, t.groups[name])
	}
	return out
}
