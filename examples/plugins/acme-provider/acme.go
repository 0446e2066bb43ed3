// Package acme is an example third-party provider plugin for Switchyard, in a module of its own: a translator
// for the Acme Completions API (a made-up API, specified in README.md), served to the gateway as a go-plugin
// binary by cmd/acme-plugin.
//
// As a translator it holds no network code: BuildChat turns the gateway's OpenAI-shaped request into Acme's
// HTTP request, ParseChat, NewChatStream and ParseError read Acme's answers back, and the gateway sends the
// requests with its own HTTP client.
//
// Config (the plugin's `config:` map):
//
//	default_max_tokens  max_tokens to send when a request sets none (default: Acme's own default)
//
// Deployment (litellm_params): model is acme/<model>; api_base defaults to DefaultBase; api_key is required
// (write api_key: os.environ/ACME_API_KEY: the plugin process does not inherit the gateway's environment, the
// gateway reads the variable and hands the key over with the deployment).
package acme

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/switchyard/gateway/sdk"
)

// Name is the provider name (model prefix) the example's configuration uses.
const Name = "acme"

// DefaultBase is the Acme API's base URL.
const DefaultBase = "https://api.acme.example"

// Module registers the translator in a custom gateway build (sdk.Register(acme.Module)); the go-plugin binary
// serves New() directly.
var Module = sdk.ModuleInfo{ID: sdk.KindProviders + "." + Name, New: func() sdk.Module { return New() }}

// Config is the plugin's configuration.
type Config struct {
	// DefaultMaxTokens is sent as max_tokens when a request sets none (0: Acme's default).
	DefaultMaxTokens int `json:"default_max_tokens"`
}

// Translator translates between the OpenAI-shaped API and Acme's. After Provision it is read-only, so
// concurrent requests share it.
type Translator struct {
	cfg Config
	log *slog.Logger
}

var (
	_ sdk.Translator         = (*Translator)(nil)
	_ sdk.TargetPreparer     = (*Translator)(nil)
	_ sdk.CapabilityReporter = (*Translator)(nil)
	_ sdk.Provisioner        = (*Translator)(nil)
	_ sdk.Validator          = (*Translator)(nil)
)

// New returns a translator with the default config.
func New() *Translator { return &Translator{log: slog.New(slog.DiscardHandler)} }

// Provision reads the config.
func (tr *Translator) Provision(_ context.Context, pc sdk.ProvisionContext) error {
	if err := sdk.DecodeConfig(pc.Config, &tr.cfg); err != nil {
		return err
	}
	if pc.Logger != nil {
		tr.log = pc.Logger
	}
	return nil
}

// Validate checks the config.
func (tr *Translator) Validate() error {
	if tr.cfg.DefaultMaxTokens < 0 {
		return errors.New("config.default_max_tokens: must not be negative")
	}
	tr.log.Info("acme translator ready", "default_max_tokens", tr.cfg.DefaultMaxTokens)
	return nil
}

// Capabilities reports what Acme serves: plain and streamed chat, nothing more.
func (tr *Translator) Capabilities() sdk.Capabilities {
	return sdk.Capabilities{Chat: true, Stream: true}
}

// PrepareTarget fills the default base URL, once per deployment. A missing key is not an error here (the
// deployment may be configured before its key exists); requests report it.
func (tr *Translator) PrepareTarget(t *sdk.Target) error {
	if t.APIBase == "" {
		t.APIBase = DefaultBase
	}
	t.APIBase = strings.TrimRight(t.APIBase, "/")
	return nil
}
