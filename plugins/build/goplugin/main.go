// Command goplugin is the first-party plugin set built as one go-plugin binary (make plugins): the OpenAI
// translator as a provider, simple-shuffle as a router and eventlog as a callback, served with the same sdk
// contract third parties use. The gateway runs it from config with source: exec:bin/plugins/goplugin.
package main

import (
	"github.com/switchyard/gateway/plugins/callbacks/eventlog"
	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/plugins/routing/shuffle"
	"github.com/switchyard/gateway/sdk"
)

func main() {
	sdk.Serve(sdk.Plugins{
		Provider: openai.NewModule(openai.OpenAI),
		Router:   shuffle.Router{},
		Callback: new(eventlog.Callback),
	})
}
