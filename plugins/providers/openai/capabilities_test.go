package openai_test

import (
	"testing"

	"github.com/switchyard/gateway/plugins/providers/openai"
	"github.com/switchyard/gateway/sdk"
)

// Every provider of the family declares its capabilities through the module the gateway loads, and the
// declaration agrees with what the module serves.
func TestCapabilitiesOfTheFamily(t *testing.T) {
	t.Parallel()
	for _, s := range specs {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			info, ok := sdk.LookupModule("providers." + s.name)
			if !ok {
				t.Fatalf("providers.%s is not registered", s.name)
			}
			r, ok := info.New().(sdk.CapabilityReporter)
			if !ok {
				t.Fatalf("module %T does not report its capabilities", info.New())
			}
			c := r.Capabilities()
			if !c.Chat || !c.Stream {
				t.Errorf("chat %v, stream %v: every provider of the family chats and streams", c.Chat, c.Stream)
			}
			if c.Embeddings != s.spec.Embeddings {
				t.Errorf("Embeddings = %v, but Spec.Embeddings = %v", c.Embeddings, s.spec.Embeddings)
			}
			if (c.StreamTools || c.ParallelTools) && !c.Tools {
				t.Errorf("streamed or parallel tool calls without tool calling: %+v", c)
			}
			if c.Rerank || c.FetchImages {
				t.Errorf("rerank %v, fetch images %v: the family's translator does neither", c.Rerank, c.FetchImages)
			}
			bare := sdk.Capabilities{Chat: true, Stream: true, Embeddings: s.spec.Embeddings}
			if c == bare {
				t.Errorf("no capability beyond chat: the provider is missing from the family table")
			}
			for _, p := range s.spec.Unsupported {
				if p == "tools" && c.Tools {
					t.Errorf("claims tool calling, but the spec refuses tools")
				}
			}
		})
	}
}

func TestCapabilitiesOfOtherSpecs(t *testing.T) {
	t.Parallel()
	unknown := openai.New(openai.Spec{Name: "somebody-new", Embeddings: true}).Capabilities()
	if want := (sdk.Capabilities{Chat: true, Stream: true, Embeddings: true}); unknown != want {
		t.Errorf("a spec the family table does not know claims %+v, want %+v", unknown, want)
	}
	own := openai.New(openai.Spec{Name: "groq", Capabilities: sdk.Capabilities{Chat: true, Tools: true,
		Embeddings: true}, Unsupported: []string{"tools"}}).Capabilities()
	if want := (sdk.Capabilities{Chat: true}); own != want {
		t.Errorf("Spec.Capabilities with Unsupported tools and no embeddings = %+v, want %+v", own, want)
	}
}
