// Command jsonl-plugin serves the JSON-lines callback as a go-plugin binary:
//
//	go build -o bin/plugins/jsonl-callback ./examples/plugins/jsonl-callback/cmd/jsonl-plugin
//
// The gateway starts it (never run it by hand) and configures it with the `config:` map of its entry in the
// plugins section.
package main

import (
	jsonl "github.com/switchyard/gateway/examples/plugins/jsonl-callback"
	"github.com/switchyard/gateway/sdk"
)

func main() { sdk.ServeCallback(jsonl.New()) }
