// Package tgi is an example provider plugin for Switchyard, built to run as a WASM module: a translator for
// the native API of Hugging Face Text Generation Inference (TGI), POST /generate and POST /generate_stream.
//
// TGI's native API takes a prompt, not a conversation, so the chat messages are flattened into one prompt with
// a template (see Template). The answer's finish reason and token counts come from TGI's "details", which the
// translator always asks for.
//
// A WASM guest has no network: the translator only builds the upstream request and reads the answer; the
// gateway sends the request with its own HTTP client. It has no filesystem and does not inherit the gateway's
// environment either, so everything it needs comes from the deployment (sdk.Target) and the plugin's config.
//
// Config (the plugin's `config:` map):
//
//	template        "plain" (default) or "chatml": how messages become the prompt
//	max_new_tokens  max_new_tokens to send when a request sets no max_tokens (default: TGI's own default)
//
// Deployment (litellm_params): model is tgi/<name> (the name is reported back as the answer's model); api_base
// is the TGI server's URL (default http://localhost:8080); an api_base containing {model} has it replaced by the
// name, for a proxy that serves several TGI servers by path; api_key, when set, is sent as a bearer token
// (Hugging Face Inference Endpoints want one).
package tgi

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/switchyard/gateway/sdk"
)

// Name is the provider name (model prefix) the examples' configuration uses.
const Name = "tgi"

// DefaultBase is where a TGI server listens when started as its documentation shows (docker -p 8080:80).
const DefaultBase = "http://localhost:8080"

// Module registers the translator in a custom gateway build (sdk.Register(tgi.Module)); the WASM build serves
// New() directly.
var Module = sdk.ModuleInfo{ID: sdk.KindProviders + "." + Name, New: func() sdk.Module { return New() }}

// Config is the plugin's configuration.
type Config struct {
	// Template is TemplatePlain (the default) or TemplateChatML.
	Template string `json:"template"`
	// MaxNewTokens is sent when a request sets no max_tokens (0: TGI's default).
	MaxNewTokens int `json:"max_new_tokens"`
}

// Translator translates between the OpenAI-shaped API and TGI's native one. After Provision it is read-only,
// so concurrent requests share it.
type Translator struct {
	cfg Config
	log *slog.Logger
}

var (
	_ sdk.Translator         = (*Translator)(nil)
	_ sdk.Provisioner        = (*Translator)(nil)
	_ sdk.Validator          = (*Translator)(nil)
	_ sdk.CapabilityReporter = (*Translator)(nil)
)

// New returns a translator with the default config.
func New() *Translator {
	return &Translator{cfg: Config{Template: TemplatePlain}, log: slog.New(slog.DiscardHandler)}
}

// Provision reads the config.
func (tr *Translator) Provision(_ context.Context, pc sdk.ProvisionContext) error {
	cfg := Config{Template: TemplatePlain}
	if err := sdk.DecodeConfig(pc.Config, &cfg); err != nil {
		return err
	}
	tr.cfg = cfg
	if pc.Logger != nil {
		tr.log = pc.Logger
	}
	return nil
}

// Validate checks the config.
func (tr *Translator) Validate() error {
	switch tr.cfg.Template {
	case TemplatePlain, TemplateChatML:
	default:
		return fmt.Errorf("config.template: %q is not one of %s, %s", tr.cfg.Template, TemplatePlain, TemplateChatML)
	}
	if tr.cfg.MaxNewTokens < 0 {
		return fmt.Errorf("config.max_new_tokens: must not be negative")
	}
	tr.log.Debug("tgi translator configured", "template", tr.cfg.Template, "max_new_tokens", tr.cfg.MaxNewTokens)
	return nil
}

// Capabilities reports what the translator serves: plain and streamed chat. TGI's native API has no tool
// calling and the translator does not map JSON mode to TGI's grammar parameter.
func (tr *Translator) Capabilities() sdk.Capabilities {
	return sdk.Capabilities{Chat: true, Stream: true}
}
