package router

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/upstream"
	"github.com/switchyard/gateway/sdk"
)

// bytesTranslator is a provider that wants image bytes: it sends the image URL it is given as the whole body.
type bytesTranslator struct{}

func (bytesTranslator) Capabilities() sdk.Capabilities {
	return sdk.Capabilities{Chat: true, Vision: true, FetchImages: true}
}

func (bytesTranslator) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	img := req.Messages[0].Content.Parts[0].ImageURL.URL
	return &sdk.HTTPRequest{URL: t.APIBase, Body: []byte(img)}, nil
}

func (bytesTranslator) ParseChat(t *sdk.Target, req *sdk.ChatRequest, resp *sdk.HTTPResponse) (*sdk.ChatResponse, error) {
	return &sdk.ChatResponse{ID: t.ID, Object: "chat.completion"}, nil
}

func (bytesTranslator) NewChatStream(*sdk.Target, *sdk.ChatRequest) sdk.StreamParser { return nil }

func (bytesTranslator) ParseError(*sdk.Target, *sdk.HTTPResponse) *sdk.Error { return nil }

// A request that is retried, here on another deployment of the same provider, fetches its images once; each
// deployment gets the image inlined while the call's own request keeps the URL.
func TestImagesFetchedOnceAcrossRetries(t *testing.T) {
	t.Parallel()
	var imageHits atomic.Int32
	img := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		imageHits.Add(1)
		w.Header().Set("Content-Type", "image/gif")
		_, _ = w.Write([]byte("GIF89a...."))
	}))
	t.Cleanup(img.Close)
	var mu sync.Mutex
	var bodies []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		buf := make([]byte, 512)
		for {
			n, err := r.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		mu.Lock()
		bodies = append(bodies, b.String())
		first := len(bodies) == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"ok": "yes"})
	}))
	t.Cleanup(up.Close)

	client := upstream.NewClient(upstream.Options{Images: upstream.ImageFetchOptions{AllowLoopback: true}})
	t.Cleanup(client.CloseIdle)
	var ds []*pipeline.Deployment
	for _, id := range []string{"a", "b"} {
		target := &sdk.Target{ID: id, Provider: "bytes", Model: "m", APIBase: up.URL}
		b, err := client.NewBackend(bytesTranslator{}, target)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, &pipeline.Deployment{ID: id, Group: "g", Target: target, Backend: b, MaxRetries: -1})
	}
	r := New(NewTable(ds, nil, nil), Settings{NumRetries: 2})
	c := &pipeline.Call{Type: pipeline.CallChat, Model: "g", Chat: &sdk.ChatRequest{Model: "g", Messages: []sdk.Message{{
		Role: "user", Content: sdk.PartsContent(sdk.ContentPart{Type: "image_url", ImageURL: &sdk.ImageURL{URL: img.URL + "/x.gif"}})}}}}
	if err := route(context.Background(), r, c); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if c.Attempts != 2 || len(bodies) != 2 || imageHits.Load() != 1 {
		t.Fatalf("%d attempts, %d upstream calls, image fetched %d times; want 2, 2, 1", c.Attempts, len(bodies), imageHits.Load())
	}
	for i, b := range bodies {
		if b != "data:image/gif;base64,R0lGODlhLi4uLg==" {
			t.Fatalf("attempt %d sent %q", i, b)
		}
	}
	if u := c.Chat.Messages[0].Content.Parts[0].ImageURL.URL; u != img.URL+"/x.gif" {
		t.Fatalf("the call's request now has %q", u)
	}
}
