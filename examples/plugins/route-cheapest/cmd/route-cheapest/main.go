//go:build !wasip1

// Command route-cheapest serves the cheapest-deployment routing strategy. Built normally it is a go-plugin
// binary:
//
//	go build -o bin/plugins/route-cheapest ./examples/plugins/route-cheapest/cmd/route-cheapest
//
// and built for WASI (main_wasip1.go) it is a WASM module:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o bin/plugins/route-cheapest.wasm \
//	    ./examples/plugins/route-cheapest/cmd/route-cheapest
package main

import (
	cheapest "github.com/switchyard/gateway/examples/plugins/route-cheapest"
	"github.com/switchyard/gateway/sdk"
)

func main() { sdk.ServeRouter(cheapest.Router{}) }
