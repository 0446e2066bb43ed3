// Package wasmguest lets a Go program be a Switchyard plugin as a WASM module: a provider translator, a
// routing strategy or a callback, built with the standard toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o my-plugin.wasm .
//
// The program registers what it serves from an init function (a c-shared module's main is never called) and
// leaves main empty:
//
//	func init() { wasmguest.ServeProvider(mytranslator.New()) }
//	func main() {}
//
// The guest has no filesystem and no network: a WASM provider is a translator (the gateway does the HTTP),
// and a callback's way out is the gateway's log (sdk.ProvisionContext.Logger).
//
// # ABI (version 1)
//
// Language-neutral, so guests need not be Go. The guest exports:
//
//	sy_abi_version() -> i32                  returns ABIVersion
//	sy_buffer(size i32) -> i32               returns a guest-owned buffer of at least size bytes for the input
//	sy_call(op i32, len i32) -> i64          runs op on the len input bytes in the buffer; returns ptr<<32 | len
//	                                         of the output, guest-owned, valid until the next call
//
// and may import, from the host module HostModule, log(level i32, ptr i32, len i32) with a JSON object
// {"msg": string, "attrs": object} at ptr. Inputs and outputs are JSON envelopes described with the Op
// constants; outputs are {"ok": value} or {"error": sdk.Error}. The host passes the plugin's config at OpInit.
package wasmguest

import (
	"encoding/json"

	"github.com/switchyard/gateway/sdk"
)

// ABIVersion is the version of the ABI this package speaks.
const ABIVersion = 1

// HostModule is the name of the host module guests import from.
const HostModule = "switchyard_host_v1"

// Exported and imported function names.
const (
	ExportABIVersion = "sy_abi_version"
	ExportBuffer     = "sy_buffer"
	ExportCall       = "sy_call"
	ImportLog        = "log"
)

// Operations of sy_call, with their input envelopes.
const (
	// OpInit: {"kind": "provider"|"router"|"callback", "name": string, "config": object}
	// → {"shape": "translator", "features": [string], "capabilities": sdk.Capabilities}
	OpInit uint32 = 1
	// OpBuild: {"op": "chat"|"embedding"|"completion"|"rerank", "target": Target, "request": object}
	// → HTTPRequest {"method","url","header","body"(base64)}
	OpBuild uint32 = 2
	// OpParse: {"op", "target", "request", "response": {"status","header","body"}} → {"json": answer, "usage": usage}
	OpParse uint32 = 3
	// OpParseError: {"target", "response"} → sdk.Error
	OpParseError uint32 = 4
	// OpStreamOpen: {"op", "target", "request"} → {"framing": n}. One stream at a time per instance.
	OpStreamOpen uint32 = 5
	// OpStreamEvents: events and chunks in the binary framing of frames.go (not JSON).
	OpStreamEvents uint32 = 6
	// OpPick: {"request": sdk.RouteRequest, "candidates": [sdk.Candidate]} → index
	OpPick uint32 = 7
	// OpEvents: [sdk.Event] → null
	OpEvents uint32 = 8
)

// InitInput is OpInit's input.
type InitInput struct {
	Kind   string         `json:"kind"`
	Name   string         `json:"name"`
	Config map[string]any `json:"config,omitempty"`
}

// InitOutput is OpInit's output.
type InitOutput struct {
	Shape        string            `json:"shape,omitempty"`
	Features     []string          `json:"features"`
	Capabilities *sdk.Capabilities `json:"capabilities,omitempty"`
	SDKVersion   string            `json:"sdk_version"`
}

// CallInput is the input of OpBuild, OpParse, OpParseError and OpStreamOpen. Op is "chat", "embedding",
// "completion" or "rerank"; Request is the unified request's JSON.
type CallInput struct {
	Op       string            `json:"op,omitempty"`
	Target   *sdk.Target       `json:"target"`
	Request  json.RawMessage   `json:"request,omitempty"`
	Response *sdk.HTTPResponse `json:"response,omitempty"`
}

// Answer is a unified answer's JSON and its usage.
type Answer struct {
	JSON  json.RawMessage `json:"json"`
	Usage *sdk.Usage      `json:"usage,omitempty"`
	// usageJSON is Usage encoded, for the binary chunk framing.
	usageJSON []byte
}

// StreamInput is OpStreamEvents' input.
type StreamInput struct {
	Events []sdk.StreamEvent `json:"events,omitempty"`
	End    bool              `json:"end,omitempty"`
}

// StreamOutput is the output of OpStreamOpen (Framing) and OpStreamEvents (Chunks, Done).
type StreamOutput struct {
	Framing sdk.Framing `json:"framing"`
	Chunks  []Answer    `json:"chunks,omitempty"`
	Done    bool        `json:"done,omitempty"`
}

// PickInput is OpPick's input.
type PickInput struct {
	Request    *sdk.RouteRequest `json:"request"`
	Candidates []sdk.Candidate   `json:"candidates"`
}

// Envelope is every sy_call output: OK or Error.
type Envelope struct {
	OK    json.RawMessage `json:"ok,omitempty"`
	Error *sdk.Error      `json:"error,omitempty"`
}
