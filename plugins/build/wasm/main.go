//go:build wasip1

// Command wasm is the first-party plugin set built as one WASM module (make plugins): the OpenAI translator as
// a provider, simple-shuffle as a router and eventlog as a callback, on the same sdk contract. Build with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/plugins/firstparty.wasm ./plugins/build/wasm
//
// and run from config with source: wasm:bin/plugins/firstparty.wasm.
package main

import (
	"github.com/switchyard/gateway/plugins/callbacks/eventlog"
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/plugins/routing/shuffle"
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/wasmguest"
)

func init() {
	wasmguest.ServeProvider(openai.NewModule(openai.OpenAI).(sdk.Translator))
	wasmguest.ServeRouter(shuffle.Router{})
	wasmguest.ServeCallback(new(eventlog.Callback))
}

func main() {}
