//go:build wasip1

package main

import "github.com/switchyard/gateway/sdk/wasmguest"

// limitMemory does nothing: the host's page limit bounds a WASM instance.
func limitMemory() {}

func init() { wasmguest.ServeProvider(newFaulty()) }

func main() {}
