// Package gateway assembles a running gateway from a configuration: provider modules from the registry bound
// to their deployments, the routing table, the pipeline (log, auth, decode, limit, route, call) and the HTTP
// edge. cmd/gateway and the library mode both start here.
package gateway

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/accesslog"
	"github.com/switchyard/gateway/core/alerts"
	"github.com/switchyard/gateway/core/auth"
	"github.com/switchyard/gateway/core/cache"
	"github.com/switchyard/gateway/core/callbacks"
	"github.com/switchyard/gateway/core/catalog"
	"github.com/switchyard/gateway/core/edge"
	"github.com/switchyard/gateway/core/health"
	"github.com/switchyard/gateway/core/limits"
	"github.com/switchyard/gateway/core/metrics"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/pluginhost"
	"github.com/switchyard/gateway/core/quota"
	"github.com/switchyard/gateway/core/router"
	"github.com/switchyard/gateway/core/tokens"
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
	// ImageFetch configures fetching image URLs for providers that want image bytes (tests set AllowLoopback
	// to serve images from a local server).
	ImageFetch upstream.ImageFetchOptions
	// Observers receive every finished call (metrics, ledger, callbacks).
	Observers []accesslog.Observer
	// ReadTimeout bounds reading a request's headers and body (default 60 s): a client that sends too slowly
	// is disconnected rather than holding a connection.
	ReadTimeout time.Duration
	// Modules adds plugin modules to those of the registry (library mode, the plugintest kit); they take
	// precedence over registered modules of the same ID.
	Modules []sdk.ModuleInfo
	// LookupEnv reads the environment for settings LiteLLM takes from it (REDIS_HOST, REDIS_PORT, REDIS_PASSWORD,
	// REDIS_URL for a Redis cache, DATABASE_URL); nil means os.LookupEnv.
	LookupEnv func(name string) (string, bool)
	// DataDir is where the gateway keeps state: the SQLite database (unless database_url names another) and
	// the spend ledger's outbox. Empty, with no database_url, runs without virtual keys and ledger.
	DataDir string
	// RouterRedisTimeout bounds each call the router makes to its shared Redis while serving a request (0:
	// router.DefaultRedisTimeout); past it the call is served from local state. Raise it where Redis answers
	// slowly but must stay authoritative (tests on a loaded machine).
	RouterRedisTimeout time.Duration
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
	// cache is the response cache stage (nil when litellm_settings.cache is off).
	cache *cache.Stage
	// callbacks delivers events to success and failure callbacks (nil when none is configured).
	callbacks *callbacks.Dispatcher
	// gov holds keys, budgets and the spend ledger (nil without a data directory or database).
	gov *governed
	// metrics are served at /metrics.
	metrics *metrics.Metrics
	// alerts raises general_settings.alerting's alerts (nil when alerting is off).
	alerts *alerts.Alerter
	// slack delivers alerts (nil when alerting is off).
	slack *alerts.Slack
	// govAlerts watches budgets, spend reports and the spend ledger for alerts (nil when off or without gov).
	govAlerts *alerts.Watcher
	// modules holds provisioned plugin instances by id; wildcard routes add to it while serving.
	mu      sync.Mutex
	modules map[string]sdk.Module
	// extra are the modules of Options.Modules, by ID.
	extra map[string]sdk.ModuleInfo
	// closers release what the gateway opened besides plugins (the router's Redis connections).
	closers []func() error
	// routerRedisTimeout is Options.RouterRedisTimeout.
	routerRedisTimeout time.Duration
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
	g := &Gateway{cfg: cfg, log: o.Logger, modules: map[string]sdk.Module{}, extra: map[string]sdk.ModuleInfo{},
		routerRedisTimeout: o.RouterRedisTimeout}
	for _, m := range o.Modules {
		g.extra[m.ID] = m
	}
	g.client = upstream.NewClient(upstream.Options{
		MaxResponseBytes: int64(cfg.GeneralSettings.MaxResponseSizeMB * (1 << 20)),
		Transport:        o.Transport,
		Images:           o.ImageFetch,
	})
	if err := g.checkPlugins(); err != nil {
		return nil, err
	}

	table, err := g.buildTable(ctx)
	if err != nil {
		g.cleanup()
		return nil, err
	}
	g.alerts = g.buildAlerts(o.LookupEnv) // before the router: its cooldowns are alerts
	settings, err := g.routerSettings(ctx)
	if err != nil {
		g.cleanup()
		return nil, err
	}
	g.router = router.New(table, settings)

	if g.gov, err = g.buildGovernance(ctx, o); err != nil {
		g.cleanup()
		return nil, err
	}
	var lookup auth.Lookup
	if g.gov != nil {
		g.closers = append(g.closers, func() error { g.gov.close(context.Background()); return nil })
		lookup = g.gov.governor.Authenticate
	}
	g.govAlerts = g.buildGovernanceAlerts()
	g.auth = auth.New(cfg.GeneralSettings.MasterKey, lookup)
	if !g.auth.Enabled() {
		g.Warnings = append(g.Warnings, "general_settings.master_key is not set: every request is served without "+
			"authentication")
	}
	g.limits = limits.New(max(cfg.GeneralSettings.MaxParallelRequests, cfg.GeneralSettings.GlobalMaxParallelRequests))
	observers := o.Observers
	if g.gov != nil {
		observers = append(append([]accesslog.Observer(nil), observers...), g.gov.observe)
	}
	if g.callbacks, err = g.buildCallbacks(ctx); err != nil {
		g.cleanup()
		return nil, err
	}
	if g.callbacks != nil {
		observers = append(append([]accesslog.Observer(nil), observers...), g.callbacks.Observe)
	}
	if g.alerts != nil {
		observers = append(append([]accesslog.Observer(nil), observers...), g.alerts.Observe)
	}
	if g.cache, err = g.buildCache(o.LookupEnv); err != nil {
		g.cleanup()
		return nil, err
	}
	g.metrics = metrics.New()
	g.metrics.RouterStatus(g.router)
	if g.cache != nil {
		if r, ok := g.cache.Store().(*cache.Redis); ok {
			g.metrics.GaugeFunc("litellm_cache_redis_degraded", "1 while the cache's Redis is unreachable (every lookup misses).",
				func() float64 {
					if r.Degraded() {
						return 1
					}
					return 0
				})
			g.metrics.CounterFunc("litellm_cache_redis_outages_total", "Times the cache's Redis became unreachable.",
				func() float64 { return float64(r.Outages()) })
		}
	}
	if s := g.slack; s != nil {
		g.metrics.CounterFunc("litellm_alerts_sent_total", "Alert messages the Slack webhook accepted.",
			func() float64 { return float64(s.Sent.Load()) })
		g.metrics.CounterFunc("litellm_alerts_dropped_total",
			"Alert messages lost: the queue was full, the webhook refused them or every retry failed.",
			func() float64 { return float64(s.Dropped.Load()) })
	}
	if gv := g.gov; gv != nil {
		g.metrics.Collect(newBudgetCollector(gv.governor.Budgets))
		g.metrics.GaugeFunc("litellm_spend_ledger_pending", "Spend log rows kept in the outbox, not yet in the database.",
			func() float64 { st := gv.ledger.Stats(); return float64(st.Pending) + float64(st.Queued) })
		g.metrics.CounterFunc("litellm_spend_ledger_delivered_total", "Spend log rows written to the database.",
			func() float64 { return float64(gv.ledger.Stats().Delivered) })
		g.metrics.CounterFunc("litellm_spend_ledger_write_failures_total",
			"Failed attempts to write spend log rows to the database (the rows stay in the outbox).",
			func() float64 { return float64(gv.ledger.Stats().Failures) })
		if f, ok := gv.counters.(*quota.Failover); ok {
			g.metrics.GaugeFunc("litellm_limits_redis_degraded",
				"1 while the Redis holding rate limits and budgets is unreachable (counting locally).",
				func() float64 {
					if f.Degraded() {
						return 1
					}
					return 0
				})
		}
	}
	if d := g.callbacks; d != nil {
		g.metrics.CounterFunc("litellm_callback_delivered_total", "Events delivered to callbacks.",
			func() float64 { return float64(d.Delivered.Load()) })
		g.metrics.CounterFunc("litellm_callback_dropped_total",
			"Events callbacks did not get: the queue was full or every retry failed.",
			func() float64 { return float64(d.Dropped.Load()) })
	}
	stages := []pipeline.Stage{accesslog.New(o.Logger, observers...), g.metrics.Stage(), g.auth, pipeline.DecodeStage{}}
	if g.alerts != nil {
		stages = append(stages, g.alerts.Stage()) // hanging requests; after decode, which names the model
	}
	stages = append(stages, g.limits)
	if g.gov != nil {
		stages = append(stages, g.gov.governor.Stage())
	}
	if g.cache != nil {
		stages = append(stages, g.cache)
	}
	g.pipeline = pipeline.New(append(stages, g.router.RouteStage(), g.router.CallStage())...)
	g.Warnings = append(g.Warnings, notYetActedOn(cfg)...)

	bodyLimit := 10 << 20
	if mb := cfg.GeneralSettings.MaxRequestSizeMB; mb > 0 {
		bodyLimit = int(mb * (1 << 20))
	}
	var mounts []func(fiber.Router)
	if g.gov != nil {
		mounts = append(mounts, g.gov.mount)
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
		Health:         g.healthFunc(),
		Readiness:      g.readiness,
		Metrics:        g.metrics.Handler(),
		MetricsAuth:    cfg.GeneralSettings.RequireAuthForMetricsEndpoint,
		Mounts:         mounts,
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
	if g.callbacks != nil {
		g.callbacks.Close(ctx)
	}
	g.govAlerts.Close()
	g.gov.close(ctx)
	g.cleanup()
	return err
}

// Close releases the plugins and connections of a gateway that never served HTTP (library mode).
func (g *Gateway) Close() {
	if g.callbacks != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.callbacks.Close(ctx)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g.govAlerts.Close()
	g.gov.close(ctx)
	g.cleanup()
}

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
	for _, c := range g.closers {
		_ = c()
	}
	g.closers = nil
	g.client.CloseIdle()
}

// checkPlugins rejects plugin declarations this build cannot load.
func (g *Gateway) checkPlugins() error {
	var problems []string
	for i, p := range g.cfg.Plugins {
		path := fmt.Sprintf("plugins[%d]", i)
		kind, file := p.SourceKind()
		switch kind {
		case config.SourceExec, config.SourceWASM:
			if _, err := pluginhost.CheckFile(file, p.SHA256); err != nil {
				key := ".source"
				if p.SHA256 != "" && !os.IsNotExist(err) {
					key = ".sha256"
				}
				problems = append(problems, fmt.Sprintf("%s%s: %v", path, key, err))
			}
			continue
		case config.SourceBuiltin:
		default:
			problems = append(problems, fmt.Sprintf("%s.source: %s plugins cannot be loaded by this build", path, kind))
			continue
		}
		if _, ok := g.lookup(moduleID(p.Kind, p.Name)); !ok {
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
	if p := g.declared(kind, name); p != nil && p.Config != nil {
		return p.Config
	}
	// LiteLLM configures its strategies with router_settings.routing_strategy_args.
	if rs := g.cfg.RouterSettings; kind == "router" && name == rs.RoutingStrategy && len(rs.RoutingStrategyArgs) > 0 {
		return rs.RoutingStrategyArgs
	}
	return nil
}

// declared returns the plugins entry of a plugin, or nil.
func (g *Gateway) declared(kind, name string) *config.Plugin {
	for i, p := range g.cfg.Plugins {
		if p.Kind == kind && p.Name == name {
			return &g.cfg.Plugins[i]
		}
	}
	return nil
}

// external returns the plugins entry of a plugin loaded from outside the binary (exec: or wasm:), or nil.
func (g *Gateway) external(kind, name string) *config.Plugin {
	if p := g.declared(kind, name); p != nil {
		if k, _ := p.SourceKind(); k != config.SourceBuiltin {
			return p
		}
	}
	return nil
}

// hasModule reports whether a plugin is available: built in, or declared as exec: or wasm:.
func (g *Gateway) hasModule(kind, name string) bool {
	if g.external(kind, name) != nil {
		return true
	}
	_, ok := g.lookup(moduleID(kind, name))
	return ok
}

// lookup finds a module of Options.Modules or the registry.
func (g *Gateway) lookup(id string) (sdk.ModuleInfo, bool) {
	if m, ok := g.extra[id]; ok {
		return m, true
	}
	return sdk.LookupModule(id)
}

func (g *Gateway) hasProvider(name string) bool { return g.hasModule("provider", name) }

// loadExternal loads an exec: or wasm: plugin.
func (g *Gateway) loadExternal(ctx context.Context, p *config.Plugin) (sdk.Module, error) {
	kind, file := p.SourceKind()
	spec := pluginhost.Spec{Name: p.Name, Kind: p.Kind, Path: file, SHA256: p.SHA256, Config: p.Config,
		Timeout: seconds(p.Timeout), PoolSize: p.PoolSize, MaxMemoryMB: p.MaxMemoryMB, CacheDir: p.CacheDir,
		Logger: g.log.With("plugin", moduleID(p.Kind, p.Name))}
	if kind == config.SourceWASM {
		return pluginhost.LoadWASM(ctx, spec, g.client.NewBackend)
	}
	return pluginhost.LoadExec(spec, g.client.NewBackend)
}

// module returns the provisioned instance of a registered module, making it on first use.
func (g *Gateway) module(ctx context.Context, kind, name string) (sdk.Module, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	id := registryKind(kind) + "." + name
	if m, ok := g.modules[id]; ok {
		return m, nil
	}
	if p := g.external(kind, name); p != nil {
		m, err := g.loadExternal(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		g.modules[id] = m
		return m, nil
	}
	info, ok := g.lookup(id)
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
	provider, model := splitModel(litellmModel, g.hasProvider)
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
		MaxInputTokens:     e.ModelInfo.MaxInputTokens,
	}
	// The catalogue fills what the configuration leaves out: context window and prices (for pre-call checks
	// and cost-based routing).
	catalogModel := model
	if e.ModelInfo.BaseModel != "" {
		catalogModel = e.ModelInfo.BaseModel
	}
	info, known := catalog.Lookup(provider, catalogModel)
	overrides, err := priceOverrides(e)
	if err != nil {
		return nil, fmt.Errorf("model_list entry %q: %w", e.ModelName, err)
	}
	if known || !overrides.IsZero() {
		price := info.With(overrides)
		d.Price = &price
		d.MaxOutputTokens = price.MaxOutputTokens
	}
	if known {
		if d.MaxInputTokens == 0 {
			d.MaxInputTokens = info.MaxInputTokens
		}
		if d.InputCostPerToken == nil && info.InputCostPerToken > 0 {
			d.InputCostPerToken = &info.InputCostPerToken
		}
		if d.OutputCostPerToken == nil && info.OutputCostPerToken > 0 {
			d.OutputCostPerToken = &info.OutputCostPerToken
		}
	}
	if lp.MaxRetries != nil {
		d.MaxRetries = *lp.MaxRetries
	}
	if d.ID == "" {
		d.ID = deploymentID(e, litellmModel, idSalt)
	}
	t.ID = d.ID

	if !g.hasProvider(provider) {
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

// priceOverrides reads a deployment's own prices and limits: model_info's, then litellm_params', which win.
func priceOverrides(e config.ModelEntry) (catalog.Overrides, error) {
	m := map[string]any{}
	add := func(extra map[string]any, in, out *float64) {
		for k, v := range extra {
			m[k] = v
		}
		if in != nil {
			m["input_cost_per_token"] = *in
		}
		if out != nil {
			m["output_cost_per_token"] = *out
		}
	}
	mi := e.ModelInfo
	if mi.MaxOutputTokens > 0 {
		m["max_output_tokens"] = mi.MaxOutputTokens
	} else if mi.MaxTokens > 0 {
		m["max_tokens"] = mi.MaxTokens
	}
	if mi.MaxInputTokens > 0 {
		m["max_input_tokens"] = mi.MaxInputTokens
	}
	add(mi.Extra, mi.InputCostPerToken, mi.OutputCostPerToken)
	add(e.LiteLLMParams.Extra, e.LiteLLMParams.InputCostPerToken, e.LiteLLMParams.OutputCostPerToken)
	return catalog.ParseOverrides(m)
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
	if g.alerts != nil {
		s.OnCooldown = g.alerts.OnCooldown
	}
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
	if err := g.resilience(&s); err != nil {
		return s, err
	}

	name := rs.RoutingStrategy
	if name == "" {
		name = "simple-shuffle"
	}
	if !g.hasModule("router", name) {
		g.Warnings = append(g.Warnings, fmt.Sprintf("router_settings.routing_strategy: %q is not available (have: %s); "+
			"using simple-shuffle", name, strings.Join(moduleNames(sdk.KindRouting), ", ")))
		name = "simple-shuffle"
	}
	// A build without the simple-shuffle plugin still routes: the router then picks uniformly at random.
	if g.hasModule("router", name) {
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

	if g.hasProvider("mock") {
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

// resilience reads the cooldown, retry policy and fallback settings (router_settings, else litellm_settings).
func (g *Gateway) resilience(s *router.Settings) error {
	rs, ls := g.cfg.RouterSettings, g.cfg.LiteLLMSettings
	var problems []string
	switch {
	case rs.AllowedFails != nil:
		s.AllowedFails = *rs.AllowedFails
	case ls.AllowedFails != nil:
		s.AllowedFails = *ls.AllowedFails
	}
	if s.AllowedFails == 0 && (rs.AllowedFails != nil || ls.AllowedFails != nil) {
		s.AllowedFails = -1 // 0 configured: the first failure cools down (the router reads <= 0 as the default)
	}
	switch {
	case rs.CooldownTime != nil:
		s.CooldownTime = seconds(*rs.CooldownTime)
	case ls.CooldownTime != nil:
		s.CooldownTime = seconds(*ls.CooldownTime)
	}
	s.DisableCooldowns = rs.DisableCooldowns
	var err error
	if s.AllowedFailsPolicy, err = router.ParsePolicy(rs.AllowedFailsPolicy, "AllowedFails"); err != nil {
		problems = append(problems, "router_settings.allowed_fails_policy."+err.Error())
	}
	if s.RetryPolicy, err = router.ParsePolicy(rs.RetryPolicy, "Retries"); err != nil {
		problems = append(problems, "router_settings.retry_policy."+err.Error())
	}
	for _, k := range []string{"BadRequestErrorRetries", "ContentPolicyViolationErrorRetries", "ContextWindowExceededErrorRetries"} {
		if rs.RetryPolicy[k] > 0 {
			g.Warnings = append(g.Warnings, fmt.Sprintf("router_settings.retry_policy.%s: errors of the request "+
				"itself are never retried (every deployment would refuse it again); use fallbacks instead", k))
		}
	}
	pick := func(a, b []map[string]config.List) []map[string]config.List {
		if len(a) > 0 {
			return a
		}
		return b
	}
	lists := func(key string, l []map[string]config.List) map[string][]string {
		out := map[string][]string{}
		for i, m := range l {
			for group, to := range m {
				if len(to) == 0 {
					problems = append(problems, fmt.Sprintf("router_settings.%s[%d].%s: an empty fallback list", key, i, group))
				}
				out[group] = append(out[group], to...)
			}
		}
		return out
	}
	s.Fallbacks = lists("fallbacks", pick(rs.Fallbacks, ls.Fallbacks))
	s.ContextWindowFallbacks = lists("context_window_fallbacks", pick(rs.ContextWindowFallbacks, ls.ContextWindowFallbacks))
	s.ContentPolicyFallbacks = lists("content_policy_fallbacks", pick(rs.ContentPolicyFallbacks, ls.ContentPolicyFallbacks))
	s.DefaultFallbacks = rs.DefaultFallbacks
	if len(s.DefaultFallbacks) == 0 {
		s.DefaultFallbacks = ls.DefaultFallbacks
	}
	if rs.MaxFallbacks != nil {
		s.MaxFallbacks = *rs.MaxFallbacks
		if s.MaxFallbacks == 0 {
			s.Fallbacks, s.ContextWindowFallbacks, s.ContentPolicyFallbacks, s.DefaultFallbacks = nil, nil, nil, nil
		}
	}
	if o, ok := g.redisOptions(); ok {
		st, err := router.NewRedisState(o, g.log)
		if err != nil {
			problems = append(problems, "router_settings.redis_url: "+err.Error())
		} else {
			g.closers = append(g.closers, st.Close)
			s.State = st
		}
	}
	s.PreCallChecks = rs.EnablePreCallChecks
	if s.PreCallChecks {
		// Counting is exact for OpenAI's models and an estimate for the others (core/tokens); a prompt whose
		// size in bytes already fits is not counted at all.
		s.Fits = func(c *pipeline.Call, d *pipeline.Deployment) bool {
			if d.MaxInputTokens == 0 {
				return true
			}
			switch {
			case c.Chat != nil:
				return tokens.WithinLimit(d.Target.Model, c.Chat.Messages, d.MaxInputTokens)
			case c.Completion != nil:
				n := 0
				for _, p := range c.Completion.Prompt.Texts {
					n += tokens.Count(d.Target.Model, p)
				}
				return n <= d.MaxInputTokens
			}
			return true
		}
		go func() { _ = tokens.Warm() }() // build the encoders before the first request needs them
	}
	return configError(problems)
}

// readiness reports whether the gateway can serve as configured: it is not ready while the Redis the router
// shares its state through, or the cache's Redis, is unreachable (it still serves, from local state and without
// the cache; readiness tells a load balancer which replicas are degraded).
func (g *Gateway) readiness(ctx context.Context) (map[string]any, error) {
	details := map[string]any{}
	var problems []string
	if gv := g.gov; gv != nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := gv.store.Ping(pctx)
		cancel()
		details["db"] = gv.store.Backend()
		st := gv.ledger.Stats()
		details["spend_logs_pending"] = st.Pending + int64(st.Queued)
		if err != nil {
			details["db"] = gv.store.Backend() + " unreachable"
			problems = append(problems, "the database is unreachable (spend is kept in the outbox)")
		}
	}
	if shared, degraded, _ := g.router.SharedState(); shared {
		details["router_redis"] = "connected"
		if degraded {
			details["router_redis"] = "unreachable"
			problems = append(problems, "the router's Redis is unreachable (serving from local state)")
		}
	}
	if g.cache != nil {
		if r, ok := g.cache.Store().(*cache.Redis); ok {
			details["cache"] = "redis"
			if r.Degraded() {
				details["cache"] = "redis unreachable"
				problems = append(problems, "the cache's Redis is unreachable (every lookup misses)")
			}
		} else {
			details["cache"] = "local"
		}
	}
	if len(problems) > 0 {
		return details, errors.New(strings.Join(problems, "; "))
	}
	return details, nil
}

// healthFunc returns GET /health's handler: every deployment checked now, or, with background health checks,
// the last round of checks made every health_check_interval seconds (default 300).
func (g *Gateway) healthFunc() func(ctx context.Context) any {
	gs := g.cfg.GeneralSettings
	checker := &health.Checker{Deployments: g.router.Deployments}
	if !gs.BackgroundHealthChecks {
		return func(ctx context.Context) any { return checker.Check(ctx) }
	}
	interval := seconds(gs.HealthCheckInterval)
	if interval <= 0 {
		interval = 300 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	g.closers = append(g.closers, func() error { cancel(); return nil })
	go checker.Run(ctx, interval)
	return func(ctx context.Context) any {
		if r := checker.Last(); r != nil {
			return r
		}
		return checker.Check(ctx)
	}
}

// redisOptions returns the Redis the router shares its state through: router_settings' redis_url or
// redis_host/redis_port/redis_password, else the cache's Redis (litellm_settings.cache_params with type
// redis).
func (g *Gateway) redisOptions() (router.RedisOptions, bool) {
	rs, cp := g.cfg.RouterSettings, g.cfg.LiteLLMSettings.CacheParams
	o := router.RedisOptions{KeyPrefix: rs.RedisKeyPrefix, Timeout: g.routerRedisTimeout}
	switch {
	case rs.RedisURL != "" || rs.RedisHost != "":
		o.URL, o.Password = rs.RedisURL, rs.RedisPassword
		if rs.RedisURL == "" {
			o.Addr = net.JoinHostPort(rs.RedisHost, strconv.Itoa(cmp.Or(rs.RedisPort, 6379)))
		}
	case g.cfg.LiteLLMSettings.Cache && cp.Type == "redis" && (cp.URL != "" || cp.Host != ""):
		o.URL, o.Password, o.DB = cp.URL, cp.Password, cp.DB
		if cp.URL == "" {
			o.Addr = net.JoinHostPort(cp.Host, strconv.Itoa(cmp.Or(cp.Port, 6379)))
		}
	default:
		return o, false
	}
	return o, true
}

// buildCallbacks makes the callback dispatcher of litellm_settings' success_callback, failure_callback and
// callbacks; names this build does not have are reported and ignored.
func (g *Gateway) buildCallbacks(ctx context.Context) (*callbacks.Dispatcher, error) {
	ls := g.cfg.LiteLLMSettings
	byName := map[string]*callbacks.Target{}
	var order []string
	for _, list := range []struct {
		key              string
		names            []string
		success, failure bool
	}{{"success_callback", ls.SuccessCallback, true, false}, {"failure_callback", ls.FailureCallback, false, true},
		{"callbacks", ls.Callbacks, true, true}} {
		for _, name := range list.names {
			if t, ok := byName[name]; ok {
				t.Success, t.Failure = t.Success || list.success, t.Failure || list.failure
				continue
			}
			if !g.hasModule("callback", name) {
				g.Warnings = append(g.Warnings, fmt.Sprintf("litellm_settings.%s: callback %q is not available; ignored",
					list.key, name))
				byName[name] = &callbacks.Target{Name: name}
				continue
			}
			m, err := g.module(ctx, "callback", name)
			if err != nil {
				return nil, fmt.Errorf("litellm_settings.%s: %w", list.key, err)
			}
			cb, ok := m.(sdk.Callback)
			if !ok {
				return nil, fmt.Errorf("litellm_settings.%s: module %q is not a sdk.Callback", list.key, name)
			}
			byName[name] = &callbacks.Target{Name: name, Callback: cb, Success: list.success, Failure: list.failure}
			order = append(order, name)
		}
	}
	if len(order) == 0 {
		return nil, nil
	}
	targets := make([]callbacks.Target, 0, len(order))
	for _, n := range order {
		targets = append(targets, *byName[n])
	}
	return callbacks.New(g.log, targets, callbacks.Options{LogMessages: !ls.TurnOffMessageLogging}), nil
}

func configError(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return &config.Error{Problems: problems}
}
