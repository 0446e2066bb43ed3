//go:build wasip1

package main

import (
	cheapest "github.com/switchyard/gateway/examples/plugins/route-cheapest"
	"github.com/switchyard/gateway/sdk/wasmguest"
)

// A c-shared WASM module's main is never called: the router is registered when the module is initialised.
func init() { wasmguest.ServeRouter(cheapest.Router{}) }

func main() {}
