package sdk

// The names under which a plugin binary serves each kind.
const (
	pluginProvider = "provider"
	pluginRouter   = "router"
	pluginCallback = "callback"
)

// Plugin shapes reported by Configure.
const (
	ShapeTranslator = "translator"
	ShapeProvider   = "provider"
)

// Optional features reported by Configure.
const (
	FeatureEmbedding     = "embedding"
	FeatureCompletion    = "completion"
	FeatureRerank        = "rerank"
	FeatureAuthorize     = "authorize"
	FeaturePrepareTarget = "prepare_target"
	FeatureBatch         = "batch"
	FeatureCapabilities  = "capabilities"
)
