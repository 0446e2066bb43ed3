// Package gateway assembles a running gateway from a configuration: provider modules from the registry bound
// to their deployments, the routing table, the pipeline (log, auth, decode, limit, route, call) and the HTTP
// edge. cmd/gateway and the library mode both start here.
package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/accesslog"
	"github.com/switchyard/gateway/core/auth"
	"github.com/switchyard/gateway/core/edge"
	"github.com/switchyard/gateway/core/limits"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/router"
	"github.com/switchyard/gateway/core/upstream"
	"github.com/switchyard/gateway/sdk"
)

// Options configure a gateway.
type Options struct {
	Config  *config.Config
	Logger  *slog.Logger
	Version string
	// Transport replaces the upstream HTTP transport (tests).
	Transport http.RoundTripper
	// Observers receive every finished call (metrics, ledger, callbacks).
	Observers []accesslog.Observer
	// ReadTimeout bounds reading a request's headers and body (default 60 s): a client that sends too slowly
	// is disconnected rather than holding a connection.
	ReadTimeout time.Duration
}

// DefaultNumRetries is the number of retries when the configuration gives none.
const DefaultNumRetries = 2

// Gateway is an assembled gateway.
type Gateway struct {
	cfg      *config.Config
	log      *slog.Logger
	client   *upstream.Client
	router   *router.Router
	pipeline *pipeline.Pipeline
	edge     *edge.Server
	auth     *auth.Stage
	limits   *limits.Stage
	// modules holds provisioned plugin instances by id; wildcard routes add to it while serving.
	mu      sync.Mutex
	modules map[string]sdk.Module
	// Warnings are problems that do not stop the gateway, each to be logged once.
	Warnings []string
}

// New assembles a gateway. Errors name the configuration key at fault.
func New(ctx context.Context, o Options) (*Gateway, error) {
	if o.Config == nil {
		o.Config = &config.Config{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cfg := o.Config
	g := &Gateway{cfg: cfg, log: o.Logger, modules: map[string]sdk.Module{}}
	g.client = upstream.NewClient(upstream.Options{
		MaxResponseBytes: int64(cfg.GeneralSettings.MaxResponseSizeMB * (1 << 20)),
		Transport:        o.Transport,
	})
	if err := g.checkPlugins(); err != nil {
		return nil, err
	}

	table, err := g.buildTable(ctx)
	if err != nil {
		g.cleanup()
		return nil, err
	}
	settings, err := g.routerSettings(ctx)
	if err != nil {
		g.cleanup()
		return nil, err
	}
	g.router = router.New(table, settings)

	g.auth = auth.New(cfg.GeneralSettings.MasterKey)
	if !g.auth.Enabled() {
		g.Warnings = append(g.Warnings, "general_settings.master_key is not set: every request is served without "+
			"authentication")
	}
	g.limits = limits.New(max(cfg.GeneralSettings.MaxParallelRequests, cfg.GeneralSettings.GlobalMaxParallelRequests))
	g.pipeline = pipeline.New(
		accesslog.New(o.Logger, o.Observers...),
		g.auth,
		pipeline.DecodeStage{},
		g.limits,
		g.router.RouteStage(),
		g.router.CallStage(),
	)
	g.warnCallbacks()
	g.Warnings = append(g.Warnings, notYetActedOn(cfg)...)

	bodyLimit := 10 << 20
	if mb := cfg.GeneralSettings.MaxRequestSizeMB; mb > 0 {
		bodyLimit = int(mb * (1 << 20))
	}
	var authenticate func(string) error
	if g.auth.Enabled() {
		authenticate = func(key string) error { _, err := g.auth.Authenticate(key); return err }
	}
	g.edge = edge.New(edge.Config{
		Pipeline:       g.pipeline,
		Models:         g.router.Table,
		Authenticate:   authenticate,
		BodyLimit:      bodyLimit,
		RequestTimeout: seconds(cfg.GeneralSettings.RequestTimeout),
		ReadTimeout:    o.ReadTimeout,
		Logger:         o.Logger,
		Version:        o.Version,
	})
	return g, nil
}

// Serve serves HTTP on ln until Shutdown.
func (g *Gateway) Serve(ln net.Listener) error { return g.edge.Serve(ln) }

// Edge returns the HTTP server.
func (g *Gateway) Edge() *edge.Server { return g.edge }

// Pipeline returns the request pipeline (library mode drives it directly).
func (g *Gateway) Pipeline() *pipeline.Pipeline { return g.pipeline }

// Router returns the router.
func (g *Gateway) Router() *router.Router { return g.router }

// Shutdown stops accepting requests, lets those under way finish until ctx ends, then releases the plugins.
func (g *Gateway) Shutdown(ctx context.Context) error {
	var err error
	if g.edge != nil {
		err = g.edge.Shutdown(ctx)
	}
	g.cleanup()
	return err
}

// Close releases the plugins and connections of a gateway that never served HTTP (library mode).
func (g *Gateway) Close() { g.cleanup() }

func (g *Gateway) cleanup() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, m := range g.modules {
		if c, ok := m.(sdk.CleanerUpper); ok {
			if err := c.Cleanup(); err != nil {
				g.log.Warn("plugin cleanup failed", "error", err)
			}
		}
	}
	g.modules = map[string]sdk.Module{}
	g.client.CloseIdle()
}

// checkPlugins rejects plugin declarations this build cannot load.
func (g *Gateway) checkPlugins() error {
	var problems []string
	for i, p := range g.cfg.Plugins {
		path := fmt.Sprintf("plugins[%d]", i)
		kind, _ := p.SourceKind()
		if kind != config.SourceBuiltin {
			problems = append(problems, fmt.Sprintf("%s.source: %s plugins cannot be loaded by this build", path, kind))
			continue
		}
		if _, ok := sdk.LookupModule(moduleID(p.Kind, p.Name)); !ok {
			problems = append(problems, fmt.Sprintf("%s.name: there is no built-in %s plugin %q (built in: %s)",
				path, p.Kind, p.Name, strings.Join(moduleNames(registryKind(p.Kind)), ", ")))
		}
	}
	return configError(problems)
}

func registryKind(kind string) string {
	switch kind {
	case "provider":
		return sdk.KindProviders
	case "router":
		return sdk.KindRouting
	case "callback":
		return sdk.KindCallbacks
	}
	return kind
}

func moduleID(kind, name string) string { return registryKind(kind) + "." + name }

func moduleNames(kind string) []string {
	var out []string
	for _, m := range sdk.Modules(kind) {
		out = append(out, m.Name())
	}
	return out
}

// pluginConfig returns the config map the plugins section gives a built-in module.
func (g *Gateway) pluginConfig(kind, name string) map[string]any {
	for _, p := range g.cfg.Plugins {
		if p.Kind == kind && p.Name == name {
			return p.Config
		}
	}
	return nil
}

// module returns the provisioned instance of a registered module, making it on first use.
func (g *Gateway) module(ctx context.Context, kind, name string) (sdk.Module, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	id := registryKind(kind) + "." + name
	if m, ok := g.modules[id]; ok {
		return m, nil
	}
	info, ok := sdk.LookupModule(id)
	if !ok {
		return nil, fmt.Errorf("no module %s", id)
	}
	m := info.New()
	if p, ok := m.(sdk.Provisioner); ok {
		pc := sdk.ProvisionContext{Config: g.pluginConfig(kind, name), Logger: g.log.With("plugin", id)}
		if err := p.Provision(ctx, pc); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
	}
	if v, ok := m.(sdk.Validator); ok {
		if err := v.Validate(); err != nil {
			if c, ok := m.(sdk.CleanerUpper); ok {
				_ = c.Cleanup()
			}
			return nil, fmt.Errorf("%s: %w", id, err)
		}
	}
	g.modules[id] = m
	return m, nil
}

func hasProvider(name string) bool {
	_, ok := sdk.LookupModule(sdk.KindProviders + "." + name)
	return ok
}

// buildTable makes the deployments of model_list and the routing table.
func (g *Gateway) buildTable(ctx context.Context) (*router.Table, error) {
	var deployments []*pipeline.Deployment
	var wildcards []*router.Wildcard
	byPattern := map[string]*router.Wildcard{}
	ids := map[string]int{}
	var problems []string
	for i, e := range g.cfg.ModelList {
		path := fmt.Sprintf("model_list[%d]", i)
		if strings.Contains(e.ModelName, "*") {
			w := byPattern[e.ModelName]
			if w == nil {
				w = &router.Wildcard{Pattern: e.ModelName}
				byPattern[e.ModelName] = w
				wildcards = append(wildcards, w)
			}
			entry := e
			w.Make = append(w.Make, func(star string) (*pipeline.Deployment, error) {
				model := entry.LiteLLMParams.Model
				if strings.Contains(model, "*") {
					model = strings.Replace(model, "*", star, 1)
				}
				d, err := g.deployment(context.WithoutCancel(ctx), entry, model, entry.ModelName+"|"+star)
				if err != nil {
					return nil, err
				}
				d.Group, d.Wildcard = strings.Replace(entry.ModelName, "*", star, 1), true
				return d, nil
			})
			continue
		}
		d, err := g.deployment(ctx, e, e.LiteLLMParams.Model, "")
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s.litellm_params: %v", path, err))
			continue
		}
		if j, dup := ids[d.ID]; dup {
			if e.ModelInfo.ID != "" {
				problems = append(problems, fmt.Sprintf("%s.model_info.id: %q is also the id of model_list[%d]", path, d.ID, j))
				continue
			}
			for n := 2; ; n++ { // identical entries: number them, keeping ids stable across restarts
				if _, taken := ids[fmt.Sprintf("%s-%d", d.ID, n)]; !taken {
					d.ID = fmt.Sprintf("%s-%d", d.ID, n)
					break
				}
			}
		}
		ids[d.ID] = i
		deployments = append(deployments, d)
	}
	if err := configError(problems); err != nil {
		return nil, err
	}

	aliases := map[string]router.Alias{}
	for alias, ref := range g.cfg.RouterSettings.ModelGroupAlias {
		aliases[alias] = router.Alias{Group: ref.Model, Hidden: ref.Hidden}
	}
	return router.NewTable(deployments, wildcards, aliases), nil
}

// deployment builds one deployment of entry serving the given litellm model name.
func (g *Gateway) deployment(ctx context.Context, e config.ModelEntry, litellmModel, idSalt string) (*pipeline.Deployment, error) {
	lp := e.LiteLLMParams
	provider, model := splitModel(litellmModel, hasProvider)
	t := &sdk.Target{
		Provider:     provider,
		Model:        model,
		APIBase:      lp.APIBase,
		APIKey:       lp.APIKey,
		APIVersion:   lp.APIVersion,
		Organization: lp.Organization,
		Headers:      lp.ExtraHeaders,
		Params:       lp.Extra,
	}
	if t.Params == nil {
		t.Params = map[string]any{}
	}
	for _, dp := range []*config.DropParams{g.cfg.LiteLLMSettings.DropParams, lp.DropParams} {
		if dp != nil {
			t.DropParams = t.DropParams || dp.All
			t.AdditionalDropParams = append(t.AdditionalDropParams, dp.Names...)
		}
	}
	t.AdditionalDropParams = append(t.AdditionalDropParams, lp.AdditionalDropParams...)

	d := &pipeline.Deployment{
		ID:                 e.ModelInfo.ID,
		Group:              e.ModelName,
		Target:             t,
		Weight:             lp.Weight,
		RPM:                firstNonZero(lp.RPM, e.ModelInfo.RPM),
		TPM:                firstNonZero(lp.TPM, e.ModelInfo.TPM),
		Order:              lp.Order,
		Timeout:            seconds(lp.Timeout),
		StreamTimeout:      seconds(lp.StreamTimeout),
		MaxRetries:         -1,
		Mode:               e.ModelInfo.Mode,
		MockResponse:       lp.MockResponse,
		InputCostPerToken:  firstPrice(lp.InputCostPerToken, e.ModelInfo.InputCostPerToken),
		OutputCostPerToken: firstPrice(lp.OutputCostPerToken, e.ModelInfo.OutputCostPerToken),
	}
	if lp.MaxRetries != nil {
		d.MaxRetries = *lp.MaxRetries
	}
	if d.ID == "" {
		d.ID = deploymentID(e, litellmModel, idSalt)
	}
	t.ID = d.ID

	if !hasProvider(provider) {
		err := &sdk.Error{Kind: sdk.KindBadRequest, Code: "unsupported_provider", Provider: provider,
			Message: fmt.Sprintf("provider %q is not available in this build of Switchyard (model %q)", provider, litellmModel)}
		if idSalt == "" { // wildcard deployments are made per request; their provider is checked then
			g.Warnings = append(g.Warnings, fmt.Sprintf("model %q: provider %q is not available; requests to it will fail",
				e.ModelName, provider))
		}
		d.Backend = upstream.Unavailable(err)
		return d, nil
	}
	m, err := g.module(ctx, "provider", provider)
	if err != nil {
		return nil, err
	}
	if p, ok := m.(sdk.TargetPreparer); ok {
		if err := p.PrepareTarget(t); err != nil {
			return nil, fmt.Errorf("%s: %w", provider, err)
		}
	}
	if d.Backend, err = g.client.NewBackend(m, t); err != nil {
		return nil, err
	}
	return d, nil
}

// deploymentID derives a stable id from what identifies a deployment (never from its credentials).
func deploymentID(e config.ModelEntry, model, salt string) string {
	lp := e.LiteLLMParams
	h := sha256.Sum256([]byte(strings.Join([]string{e.ModelName, model, lp.APIBase, lp.APIVersion,
		lp.Organization, salt}, "\x00")))
	return hex.EncodeToString(h[:8])
}

func firstNonZero(vs ...int) int {
	for _, v := range vs {
		if v != 0 {
			return v
		}
	}
	return 0
}

func firstPrice(vs ...*float64) *float64 {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// routerSettings reads router_settings, with litellm_settings as LiteLLM's older home of the same keys.
func (g *Gateway) routerSettings(ctx context.Context) (router.Settings, error) {
	rs, ls := g.cfg.RouterSettings, g.cfg.LiteLLMSettings
	s := router.Settings{NumRetries: DefaultNumRetries}
	switch {
	case rs.NumRetries != nil:
		s.NumRetries = *rs.NumRetries
	case ls.NumRetries != nil:
		s.NumRetries = *ls.NumRetries
	}
	s.Timeout = seconds(rs.Timeout)
	if s.Timeout == 0 {
		s.Timeout = seconds(ls.RequestTimeout)
	}
	s.StreamTimeout = seconds(rs.StreamTimeout)
	s.RetryAfter = seconds(rs.RetryAfter)

	name := rs.RoutingStrategy
	if name == "" {
		name = "simple-shuffle"
	}
	if _, ok := sdk.LookupModule(sdk.KindRouting + "." + name); !ok {
		g.Warnings = append(g.Warnings, fmt.Sprintf("router_settings.routing_strategy: %q is not available (have: %s); "+
			"using simple-shuffle", name, strings.Join(moduleNames(sdk.KindRouting), ", ")))
		name = "simple-shuffle"
	}
	// A build without the simple-shuffle plugin still routes: the router then picks uniformly at random.
	if _, ok := sdk.LookupModule(sdk.KindRouting + "." + name); ok {
		m, err := g.module(ctx, "router", name)
		if err != nil {
			return s, fmt.Errorf("router_settings.routing_strategy: %w", err)
		}
		r, ok := m.(sdk.Router)
		if !ok {
			return s, fmt.Errorf("router_settings.routing_strategy: module %q is not a sdk.Router", name)
		}
		s.Strategy = r
	}

	if hasProvider("mock") {
		m, err := g.module(ctx, "provider", "mock")
		if err != nil {
			return s, err
		}
		s.MockFor = func(d *pipeline.Deployment, text string) pipeline.Backend {
			t := *d.Target
			t.Provider = "mock"
			t.Params = make(map[string]any, len(d.Target.Params)+1)
			for k, v := range d.Target.Params {
				t.Params[k] = v
			}
			t.Params["mock_response"] = text
			b, err := g.client.NewBackend(m, &t)
			if err != nil {
				return upstream.Unavailable(err)
			}
			return b
		}
	}
	return s, nil
}

// warnCallbacks reports configured callbacks this build does not have.
func (g *Gateway) warnCallbacks() {
	ls := g.cfg.LiteLLMSettings
	seen := map[string]bool{}
	for _, list := range []struct {
		key   string
		names []string
	}{{"success_callback", ls.SuccessCallback}, {"failure_callback", ls.FailureCallback}, {"callbacks", ls.Callbacks}} {
		for _, name := range list.names {
			if seen[name] {
				continue
			}
			seen[name] = true
			if _, ok := sdk.LookupModule(sdk.KindCallbacks + "." + name); !ok {
				g.Warnings = append(g.Warnings, fmt.Sprintf("litellm_settings.%s: callback %q is not available; ignored",
					list.key, name))
			}
		}
	}
}

func configError(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return &config.Error{Problems: problems}
}
