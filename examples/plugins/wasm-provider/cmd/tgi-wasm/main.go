//go:build wasip1

// Command tgi-wasm is the TGI translator built as a WASM module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/plugins/tgi.wasm \
//	    ./examples/plugins/wasm-provider/cmd/tgi-wasm
//
// A c-shared module's main is never called: the translator is registered from init, when the gateway
// instantiates the module, and main stays empty.
package main

import (
	tgi "github.com/switchyard/gateway/examples/plugins/wasm-provider"
	"github.com/switchyard/gateway/sdk/wasmguest"
)

func init() { wasmguest.ServeProvider(tgi.New()) }

func main() {}
