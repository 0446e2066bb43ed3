// Package config loads the gateway's configuration: LiteLLM's config.yaml as it is (model_list, router_settings,
// litellm_settings, general_settings, environment_variables, os.environ/NAME references), plus Switchyard's
// plugins section.
//
// Loading is layered with koanf (the YAML file, then SWITCHYARD__SECTION__KEY environment overrides), decoded
// into the typed structs below and validated as a whole. A wrong type or a missing required key fails with the
// exact key path (model_list[2].litellm_params.model: required); a key we do not support is kept, reported once
// as a warning, and ignored, so that a LiteLLM file always loads.
//
// The package knows nothing of the gateway's core: it turns text into values and checks what can be checked
// without knowing which plugins exist.
package config

// Config is a whole configuration file.
type Config struct {
	ModelList            []ModelEntry      `koanf:"model_list"`
	RouterSettings       RouterSettings    `koanf:"router_settings"`
	LiteLLMSettings      LiteLLMSettings   `koanf:"litellm_settings"`
	GeneralSettings      GeneralSettings   `koanf:"general_settings"`
	EnvironmentVariables map[string]string `koanf:"environment_variables"`
	Plugins              []Plugin          `koanf:"plugins"`

	// Extra holds top-level keys we do not support.
	Extra map[string]any `koanf:",remain"`
}

// ModelEntry is one deployment of model_list.
type ModelEntry struct {
	// ModelName is the public name clients use; entries sharing a name form a model group. "*" and
	// "provider/*" are wildcard routes.
	ModelName     string        `koanf:"model_name"`
	LiteLLMParams LiteLLMParams `koanf:"litellm_params"`
	ModelInfo     ModelInfo     `koanf:"model_info"`

	Extra map[string]any `koanf:",remain"`
}

// LiteLLMParams says how to reach a deployment.
type LiteLLMParams struct {
	// Model is "provider/model-name" (a bare name means OpenAI, or the provider its name implies).
	Model        string `koanf:"model"`
	APIKey       string `koanf:"api_key"`
	APIBase      string `koanf:"api_base"`
	APIVersion   string `koanf:"api_version"`
	Organization string `koanf:"organization"`
	// RPM and TPM cap the deployment's requests and tokens per minute.
	RPM int `koanf:"rpm"`
	TPM int `koanf:"tpm"`
	// Timeout and StreamTimeout are in seconds.
	Timeout       float64 `koanf:"timeout"`
	StreamTimeout float64 `koanf:"stream_timeout"`
	MaxRetries    *int    `koanf:"max_retries"`
	// Weight biases simple-shuffle routing.
	Weight float64 `koanf:"weight"`
	// Order is the priority tier: lower orders are used first.
	Order int `koanf:"order"`
	// ExtraHeaders are sent with every upstream request.
	ExtraHeaders         map[string]string `koanf:"extra_headers"`
	DropParams           *DropParams       `koanf:"drop_params"`
	AdditionalDropParams []string          `koanf:"additional_drop_params"`
	// MockResponse makes the deployment answer with this text, without calling the provider.
	MockResponse string `koanf:"mock_response"`
	// InputCostPerToken and OutputCostPerToken override the price catalogue.
	InputCostPerToken  *float64 `koanf:"input_cost_per_token"`
	OutputCostPerToken *float64 `koanf:"output_cost_per_token"`

	// Extra holds everything else: provider credentials (aws_region_name, vertex_project, ...) and default
	// request parameters. It is handed to the provider.
	Extra map[string]any `koanf:",remain"`
}

// ModelInfo describes a deployment (LiteLLM's model_info).
type ModelInfo struct {
	// ID is the deployment's stable id.
	ID string `koanf:"id"`
	// Mode is "chat", "completion" or "embedding".
	Mode               string   `koanf:"mode"`
	BaseModel          string   `koanf:"base_model"`
	MaxTokens          int      `koanf:"max_tokens"`
	MaxInputTokens     int      `koanf:"max_input_tokens"`
	MaxOutputTokens    int      `koanf:"max_output_tokens"`
	InputCostPerToken  *float64 `koanf:"input_cost_per_token"`
	OutputCostPerToken *float64 `koanf:"output_cost_per_token"`
	// RPM and TPM here act as in litellm_params, as some configs put them.
	RPM              int    `koanf:"rpm"`
	TPM              int    `koanf:"tpm"`
	HealthCheckModel string `koanf:"health_check_model"`

	Extra map[string]any `koanf:",remain"`
}

// RouterSettings configures routing between deployments.
type RouterSettings struct {
	RoutingStrategy     string         `koanf:"routing_strategy"`
	RoutingStrategyArgs map[string]any `koanf:"routing_strategy_args"`
	NumRetries          *int           `koanf:"num_retries"`
	// Timeout, StreamTimeout, RetryAfter and CooldownTime are in seconds.
	Timeout                float64             `koanf:"timeout"`
	StreamTimeout          float64             `koanf:"stream_timeout"`
	RetryAfter             float64             `koanf:"retry_after"`
	AllowedFails           *int                `koanf:"allowed_fails"`
	AllowedFailsPolicy     map[string]int      `koanf:"allowed_fails_policy"`
	CooldownTime           *float64            `koanf:"cooldown_time"`
	DisableCooldowns       bool                `koanf:"disable_cooldowns"`
	RetryPolicy            map[string]int      `koanf:"retry_policy"`
	Fallbacks              []map[string]List   `koanf:"fallbacks"`
	ContextWindowFallbacks []map[string]List   `koanf:"context_window_fallbacks"`
	ContentPolicyFallbacks []map[string]List   `koanf:"content_policy_fallbacks"`
	DefaultFallbacks       List                `koanf:"default_fallbacks"`
	MaxFallbacks           *int                `koanf:"max_fallbacks"`
	ModelGroupAlias        map[string]GroupRef `koanf:"model_group_alias"`
	EnablePreCallChecks    bool                `koanf:"enable_pre_call_checks"`
	EnableTagFiltering     bool                `koanf:"enable_tag_filtering"`
	RedisHost              string              `koanf:"redis_host"`
	RedisPort              int                 `koanf:"redis_port"`
	RedisPassword          string              `koanf:"redis_password"`
	RedisURL               string              `koanf:"redis_url"`
	// RedisKeyPrefix starts the router's keys in Redis (default "switchyard:router:"); gateways sharing state
	// use the same prefix.
	RedisKeyPrefix string `koanf:"redis_key_prefix"`

	Extra map[string]any `koanf:",remain"`
}

// GroupRef is a model_group_alias target: a group name, optionally hidden from /v1/models.
type GroupRef struct {
	Model  string `koanf:"model"`
	Hidden bool   `koanf:"hidden"`
}

// LiteLLMSettings are LiteLLM's module-level settings.
type LiteLLMSettings struct {
	DropParams            *DropParams `koanf:"drop_params"`
	SetVerbose            bool        `koanf:"set_verbose"`
	JSONLogs              bool        `koanf:"json_logs"`
	Cache                 bool        `koanf:"cache"`
	CacheParams           CacheParams `koanf:"cache_params"`
	SuccessCallback       List        `koanf:"success_callback"`
	FailureCallback       List        `koanf:"failure_callback"`
	Callbacks             List        `koanf:"callbacks"`
	TurnOffMessageLogging bool        `koanf:"turn_off_message_logging"`
	RedactUserAPIKeyInfo  bool        `koanf:"redact_user_api_key_info"`
	// Retry and cooldown settings some configs put here rather than under router_settings; router_settings
	// wins when both are set.
	NumRetries             *int              `koanf:"num_retries"`
	RequestTimeout         float64           `koanf:"request_timeout"`
	AllowedFails           *int              `koanf:"allowed_fails"`
	CooldownTime           *float64          `koanf:"cooldown_time"`
	Fallbacks              []map[string]List `koanf:"fallbacks"`
	ContextWindowFallbacks []map[string]List `koanf:"context_window_fallbacks"`
	ContentPolicyFallbacks []map[string]List `koanf:"content_policy_fallbacks"`
	DefaultFallbacks       List              `koanf:"default_fallbacks"`
	MaxBudget              float64           `koanf:"max_budget"`
	BudgetDuration         string            `koanf:"budget_duration"`

	Extra map[string]any `koanf:",remain"`
}

// CacheParams configures the response cache (litellm_settings.cache_params).
type CacheParams struct {
	// Type is "local" (in memory) or "redis".
	Type      string `koanf:"type"`
	Host      string `koanf:"host"`
	Port      int    `koanf:"port"`
	Password  string `koanf:"password"`
	URL       string `koanf:"url"`
	Namespace string `koanf:"namespace"`
	// TTL is in seconds.
	TTL                float64 `koanf:"ttl"`
	DB                 int     `koanf:"db"`
	SupportedCallTypes List    `koanf:"supported_call_types"`
	// Mode "default_off" caches only requests that opt in.
	Mode string `koanf:"mode"`
	// MaxEntries, MaxBytes and MaxItemBytes bound the cache.
	MaxEntries   int `koanf:"max_entries"`
	MaxBytes     int `koanf:"max_bytes"`
	MaxItemBytes int `koanf:"max_item_bytes"`

	Extra map[string]any `koanf:",remain"`
}

// GeneralSettings are the proxy server's settings.
type GeneralSettings struct {
	MasterKey      string `koanf:"master_key"`
	DatabaseURL    string `koanf:"database_url"`
	StoreModelInDB bool   `koanf:"store_model_in_db"`
	// MaxParallelRequests caps the requests the gateway serves at once (global_max_parallel_requests is the
	// same).
	MaxParallelRequests       int     `koanf:"max_parallel_requests"`
	GlobalMaxParallelRequests int     `koanf:"global_max_parallel_requests"`
	MaxRequestSizeMB          float64 `koanf:"max_request_size_mb"`
	MaxResponseSizeMB         float64 `koanf:"max_response_size_mb"`
	// RequestTimeout caps a whole request, in seconds (0: none beyond the upstream timeouts).
	RequestTimeout         float64 `koanf:"request_timeout"`
	BackgroundHealthChecks bool    `koanf:"background_health_checks"`
	HealthCheckInterval    float64 `koanf:"health_check_interval"`
	Alerting               List    `koanf:"alerting"`
	AlertingThreshold      float64 `koanf:"alerting_threshold"`
	AlertTypes             List    `koanf:"alert_types"`
	// AlertingArgs tunes alerts (minor_outage_alert_threshold: failures in a row that make an outage).
	AlertingArgs                  map[string]any `koanf:"alerting_args"`
	DisableSpendLogs              bool           `koanf:"disable_spend_logs"`
	RequireAuthForMetricsEndpoint bool           `koanf:"require_auth_for_metrics_endpoint"`
	ShutdownTimeout               float64        `koanf:"shutdown_timeout"`
	DatabaseConnectionPoolLimit   int            `koanf:"database_connection_pool_limit"`
	AllowClientSideCredentials    bool           `koanf:"allow_client_side_credentials"`
	AllowedRoutes                 List           `koanf:"allowed_routes"`
	PublicRoutes                  List           `koanf:"public_routes"`

	Extra map[string]any `koanf:",remain"`
}

// Plugin declares a plugin loaded from outside the gateway binary or a built-in one configured by name.
type Plugin struct {
	// Name is how the rest of the file refers to the plugin: a model prefix for a provider, a routing_strategy
	// for a router, a callback name for a callback.
	Name string `koanf:"name"`
	// Kind is "provider", "router" or "callback".
	Kind string `koanf:"kind"`
	// Source is "builtin", "exec:<path>" (a go-plugin binary) or "wasm:<path>" (a WASM module).
	Source string `koanf:"source"`
	// SHA256 pins an exec binary or wasm module to its hash.
	SHA256 string `koanf:"sha256"`
	// Config is passed to the plugin.
	Config map[string]any `koanf:"config"`
	// Timeout bounds each call into an exec or wasm plugin, in seconds (default 30). A provider's own upstream
	// call is bounded by the request's timeout instead.
	Timeout float64 `koanf:"timeout"`
	// PoolSize is the most instances of a wasm module run at once (default: twice the CPU count).
	PoolSize int `koanf:"pool_size"`
	// MaxMemoryMB caps a wasm instance's memory (default 64).
	MaxMemoryMB int `koanf:"max_memory_mb"`
	// CacheDir keeps compiled wasm modules across restarts (default: compiled in memory at every start).
	CacheDir string `koanf:"cache_dir"`

	Extra map[string]any `koanf:",remain"`
}

// DropParams is LiteLLM's drop_params: true (drop every parameter the provider does not support) or a list of
// parameter names to drop.
type DropParams struct {
	All   bool
	Names []string
}

// List is a list of strings that a file may also give as one string.
type List []string
