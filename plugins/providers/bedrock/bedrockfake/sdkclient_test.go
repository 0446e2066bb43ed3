package bedrockfake_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchyard/gateway/plugins/providers/bedrock/bedrockfake"
)

// closeTracker is a request body net/http cannot tell is in memory, as the SDK's is.
type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

// SDKHTTPClient sends the body whole with its length, closes the caller's body, and sends bodiless requests as
// they are.
func TestSDKHTTPClient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d %v %q", r.Method, r.ContentLength, r.TransferEncoding, b)
	}))
	t.Cleanup(srv.Close)
	c := bedrockfake.SDKHTTPClient()
	do := func(req *http.Request) string {
		t.Helper()
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	body := &closeTracker{Reader: strings.NewReader(`{"messages":[]}`)}
	req, err := http.NewRequest(http.MethodPost, srv.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // unknown: net/http would send it chunked
	if got, want := do(req), `POST 15 [] "{\"messages\":[]}"`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if !body.closed {
		t.Fatal("the caller's body was not closed")
	}
	if req.ContentLength != -1 || req.Body != body {
		t.Fatal("the caller's request was changed")
	}
	req, _ = http.NewRequest(http.MethodGet, srv.URL, nil)
	if got, want := do(req), `GET 0 [] ""`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
