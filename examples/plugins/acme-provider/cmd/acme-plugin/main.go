// Command acme-plugin serves the Acme translator as a go-plugin binary. Build it from the module's directory:
//
//	go build -o acme-plugin ./cmd/acme-plugin
//
// The gateway starts it (never run it by hand: it says so and exits) from the plugins section of its
// configuration, and configures it with the entry's `config:` map.
package main

import (
	acme "example.com/acme-provider"
	"github.com/switchyard/gateway/sdk"
)

func main() { sdk.ServeProvider(acme.New()) }
