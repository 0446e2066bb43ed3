// Command faultyplugin is a provider plugin that misbehaves on request, for the gateway's fault tests. It is the
// OpenAI translator, except for upstream models named after a fault:
//
//	crash    the process (or WASM instance) exits in BuildChat
//	hang     BuildChat sleeps for an hour
//	loop     BuildChat spins forever
//	garbage  ParseChat returns an answer that is not JSON
//	panic    BuildChat panics
//	oom      BuildChat allocates until memory runs out
//
// It builds as a go-plugin binary and, with GOOS=wasip1 -buildmode=c-shared, as a WASM module.
package main

import (
	"os"
	"time"

	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

type faulty struct{ *openai.Translator }

var sink [][]byte

func (f faulty) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	switch t.Model {
	case "crash":
		os.Exit(3)
	case "hang":
		time.Sleep(time.Hour)
	case "loop":
		for {
			spin()
		}
	case "panic":
		panic("boom")
	case "oom":
		limitMemory()
		for {
			sink = append(sink, make([]byte, 16<<20))
		}
	}
	return f.Translator.BuildChat(t, req)
}

var spins int

//go:noinline
func spin() { spins++ }

func (f faulty) ParseChat(t *sdk.Target, req *sdk.ChatRequest, resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	if t.Model == "garbage" {
		return &sdk.ChatResponse{Raw: []byte(`{"choices": [ not json`)}, nil
	}
	return f.Translator.ParseChat(t, req, resp)
}

func newFaulty() faulty { return faulty{openai.New(openai.OpenAI)} }
