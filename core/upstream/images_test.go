package upstream

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// pngBytes starts like a PNG file, which is what http.DetectContentType looks at.
var pngBytes = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 64)...)

func pngDataURL(mediaType string) string {
	return "data:" + mediaType + ";base64," + base64.StdEncoding.EncodeToString(pngBytes)
}

// imageTranslator wants image bytes: it declares FetchImages and records the requests BuildChat is given.
type imageTranslator struct {
	chatTranslator
	mu   sync.Mutex
	seen []*sdk.ChatRequest
	// noFetch makes it declare no FetchImages, as an OpenAI-compatible translator forwarding Raw would.
	noFetch bool
}

func (tr *imageTranslator) Capabilities() sdk.Capabilities {
	return sdk.Capabilities{Chat: true, Stream: true, Vision: true, FetchImages: !tr.noFetch}
}

func (tr *imageTranslator) BuildChat(t *sdk.Target, req *sdk.ChatRequest) (*sdk.HTTPRequest, error) {
	tr.mu.Lock()
	tr.seen = append(tr.seen, req)
	tr.mu.Unlock()
	return tr.chatTranslator.BuildChat(t, req)
}

func (tr *imageTranslator) last() *sdk.ChatRequest {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.seen[len(tr.seen)-1]
}

// imageServer serves h and counts the requests it gets.
func imageServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.bodies)
}

func servePNG(contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		_, _ = w.Write(pngBytes)
	}
}

// visionReq asks about the given image URLs, each in its own user message after a system message.
func visionReq(stream bool, urls ...string) *sdk.ChatRequest {
	req := &sdk.ChatRequest{Model: "m", Stream: stream, Messages: []sdk.Message{{Role: "system", Content: sdk.TextContent("be brief")}}}
	for _, u := range urls {
		req.Messages = append(req.Messages, sdk.Message{Role: "user", Content: sdk.PartsContent(
			sdk.ContentPart{Type: "text", Text: "what is this?"},
			sdk.ContentPart{Type: "image_url", ImageURL: &sdk.ImageURL{URL: u, Detail: "low"}})})
	}
	req.Raw = []byte(`{"the":"body as received"}`)
	return req
}

func imageURLOf(req *sdk.ChatRequest, msg int) string {
	return req.Messages[msg].Content.Parts[1].ImageURL.URL
}

// testImages lets the fetcher reach the loopback test servers.
var testImages = ImageFetchOptions{AllowLoopback: true}

func TestImagesAreFetchedForProvidersThatWantBytes(t *testing.T) {
	t.Parallel()
	target, _ := serve(t, answer(200, "application/json", `{"text":"a cat"}`))
	typed, typedHits := imageServer(t, servePNG("image/png; charset=binary"))
	sniffed, _ := imageServer(t, servePNG("application/octet-stream"))

	tr := &imageTranslator{}
	b := newBackend(t, tr, target, Options{Images: testImages})
	for _, stream := range []bool{false, true} {
		req := visionReq(stream, typed.URL+"/cat.png?size=large", sniffed.URL+"/cat", "data:image/gif;base64,R0lGOD",
			typed.URL+"/cat.png?size=large")
		var err error
		if stream {
			var s sdk.Stream
			if s, err = b.ChatStream(context.Background(), req); err == nil {
				s.Close()
			}
		} else {
			_, err = b.Chat(context.Background(), req)
		}
		if err != nil {
			t.Fatalf("stream %v: %v", stream, err)
		}
		got := tr.last()
		want := []string{pngDataURL("image/png"), pngDataURL("image/png"), "data:image/gif;base64,R0lGOD", pngDataURL("image/png")}
		for i, w := range want {
			if u := imageURLOf(got, i+1); u != w {
				t.Fatalf("stream %v: image %d reached BuildChat as %.60q, want %.60q", stream, i, u, w)
			}
		}
		if got.Raw != nil {
			t.Fatal("the changed request kept the body as received")
		}
		if d := got.Messages[1].Content.Parts[1].ImageURL.Detail; d != "low" {
			t.Fatalf("detail = %q, want it kept", d)
		}
		// The caller's request is untouched: another deployment (an OpenAI fallback) still sees the URLs.
		if imageURLOf(req, 1) != typed.URL+"/cat.png?size=large" || imageURLOf(req, 2) != sniffed.URL+"/cat" ||
			req.Raw == nil {
			t.Fatalf("the caller's request was changed: %q %q", imageURLOf(req, 1), imageURLOf(req, 2))
		}
	}
	// The same URL twice in a request is fetched once (per request: two requests, two fetches).
	if n := typedHits.Load(); n != 2 {
		t.Fatalf("the repeated image was fetched %d times over two requests, want 2", n)
	}
}

func TestImagesFetchedOncePerRequest(t *testing.T) {
	t.Parallel()
	flaky := 0
	var mu sync.Mutex
	target, up := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		flaky++
		n := flaky
		mu.Unlock()
		if n == 1 {
			answer(503, "application/json", `{"error":"busy"}`)(w, r)
			return
		}
		answer(200, "application/json", `{"text":"ok"}`)(w, r)
	})
	img, hits := imageServer(t, servePNG("image/png"))
	tr := &imageTranslator{}
	b := newBackend(t, tr, target, Options{Images: testImages})
	// The router gives each client request one such context; its attempts share the fetched images.
	ctx := WithFetchCache(context.Background())
	req := visionReq(false, img.URL+"/a.png")
	if _, err := b.Chat(ctx, req); asError(t, err).Kind != sdk.KindServiceUnavailable {
		t.Fatalf("first attempt: %v", err)
	}
	if _, err := b.Chat(ctx, req); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if hits.Load() != 1 || up.count() != 2 {
		t.Fatalf("image fetched %d times over %d attempts, want once", hits.Load(), up.count())
	}
	if imageURLOf(tr.last(), 1) != pngDataURL("image/png") {
		t.Fatal("the retry did not get the image")
	}
	if WithFetchCache(ctx) != ctx {
		t.Fatal("a nested WithFetchCache replaced the request's cache")
	}
}

func TestImagesLeftAloneForOtherProviders(t *testing.T) {
	t.Parallel()
	target, _ := serve(t, answer(200, "application/json", `{"text":"ok"}`))
	img, hits := imageServer(t, servePNG("image/png"))
	tr := &imageTranslator{noFetch: true}
	b := newBackend(t, tr, target, Options{Images: testImages})
	req := visionReq(false, img.URL+"/a.png")
	if _, err := b.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	// The very request, Raw and all, reaches a translator that forwards the body as received.
	if got := tr.last(); got != req || got.Raw == nil || hits.Load() != 0 {
		t.Fatalf("request replaced (%v), Raw %q, image fetched %d times", got != req, got.Raw, hits.Load())
	}

	// A request without http(s) images is passed through as it is too.
	tr = &imageTranslator{}
	b = newBackend(t, tr, target, Options{Images: testImages})
	req = visionReq(false, "data:image/png;base64,AAAA")
	if _, err := b.Chat(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if tr.last() != req {
		t.Fatal("a request with nothing to fetch was copied")
	}
}

// directImages is a Provider doing its own I/O that wants image bytes.
type directImages struct {
	provider
	seen chan string
}

func (p directImages) Capabilities() sdk.Capabilities {
	return sdk.Capabilities{Chat: true, FetchImages: true}
}

func (p directImages) Chat(ctx context.Context, t *sdk.Target, req *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	p.seen <- imageURLOf(req, 1)
	return p.provider.Chat(ctx, t, req)
}

func TestImagesFetchedForDirectProviders(t *testing.T) {
	t.Parallel()
	img, _ := imageServer(t, servePNG("image/png"))
	p := directImages{seen: make(chan string, 1)}
	b := newBackend(t, p, &sdk.Target{Provider: "direct"}, Options{Images: testImages})
	if _, err := b.Chat(context.Background(), visionReq(false, img.URL+"/a.png")); err != nil {
		t.Fatal(err)
	}
	if got := <-p.seen; got != pngDataURL("image/png") {
		t.Fatalf("the provider got %.60q", got)
	}
}

func TestImageFetchFailures(t *testing.T) {
	t.Parallel()
	target, _ := serve(t, answer(200, "application/json", `{"text":"ok"}`))
	release := make(chan struct{})
	srv, _ := imageServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/page":
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<html><body>not an image</body></html>"))
		case "/big":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(bytes.Repeat([]byte{1}, 2048))
		case "/big-chunked":
			w.Header().Set("Content-Type", "image/png")
			for range 4 {
				_, _ = w.Write(bytes.Repeat([]byte{1}, 512))
				w.(http.Flusher).Flush()
			}
		case "/slow":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/iam/security-credentials/", http.StatusFound)
		case "/to-private":
			http.Redirect(w, r, "http://10.0.0.1/internal.png", http.StatusMovedPermanently)
		case "/to-ftp":
			http.Redirect(w, r, "ftp://example.com/a.png", http.StatusFound)
		default:
			// /hop/n redirects n more times before serving the image.
			var n int
			if _, err := fmt.Sscanf(r.URL.Path, "/hop/%d", &n); err == nil {
				if n > 0 {
					http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
					return
				}
				servePNG("image/png")(w, r)
				return
			}
			http.NotFound(w, r)
		}
	})
	t.Cleanup(func() { close(release) }) // before the server's Close, which waits for its handlers
	opts := ImageFetchOptions{AllowLoopback: true, MaxBytes: 1024, Timeout: 300 * time.Millisecond}
	cases := []struct {
		name, url, want string
	}{
		{"not found", srv.URL + "/missing", "the server answered 404"},
		{"not an image", srv.URL + "/page", "the content is not an image (text/html)"},
		{"too large", srv.URL + "/big", "the image is larger than the limit of 1024 bytes"},
		{"too large, without a length", srv.URL + "/big-chunked", "the image is larger than the limit of 1024 bytes"},
		{"too slow", srv.URL + "/slow", "it did not arrive within 300ms"},
		{"redirect to the metadata address", srv.URL + "/to-metadata", "the host does not resolve to a public address"},
		{"redirect to a private address", srv.URL + "/to-private", "the host does not resolve to a public address"},
		{"redirect to another scheme", srv.URL + "/to-ftp", `only http and https are fetched`},
		{"too many redirects", srv.URL + "/hop/4", "it redirects more than 3 times"},
		{"nothing listening", "http://127.0.0.1:1/a.png", "it could not be fetched"},
		{"not a URL", "http://[::1/a.png", "not a valid URL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, &imageTranslator{}, target, Options{Images: opts})
			req := visionReq(false, "data:image/png;base64,AAAA", tc.url+"?X-Amz-Signature=secret#frag")
			_, err := b.Chat(context.Background(), req)
			e := asError(t, err)
			if e.Kind != sdk.KindBadRequest || e.HTTPStatus() != 400 || e.Param != "messages[2].content" ||
				e.ErrorCode() != "invalid_image_url" {
				t.Fatalf("error = %#v", e)
			}
			display := strings.SplitN(tc.url, "?", 2)[0]
			if !strings.Contains(e.Message, tc.want) || !strings.Contains(e.Message, display) ||
				strings.Contains(e.Message, "secret") || strings.Contains(e.Message, "frag") {
				t.Fatalf("message %q, want it to name %s without its query and say %q", e.Message, display, tc.want)
			}
		})
	}
	t.Run("three redirects are followed", func(t *testing.T) {
		t.Parallel()
		tr := &imageTranslator{}
		b := newBackend(t, tr, target, Options{Images: opts})
		if _, err := b.Chat(context.Background(), visionReq(false, srv.URL+"/hop/3")); err != nil {
			t.Fatal(err)
		}
		if imageURLOf(tr.last(), 1) != pngDataURL("image/png") {
			t.Fatal("the image behind three redirects was not inlined")
		}
	})
	t.Run("the caller's cancellation is not the image's fault", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t, &imageTranslator{}, target, Options{Images: ImageFetchOptions{AllowLoopback: true}})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := b.Chat(ctx, visionReq(false, srv.URL+"/slow"))
		if e := asError(t, err); e.Kind != sdk.KindTimeout {
			t.Fatalf("error = %#v", e)
		}
	})
	t.Run("user info is not repeated", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t, &imageTranslator{}, target, Options{Images: opts})
		u := strings.Replace(srv.URL, "http://", "http://user:hunter2@", 1) + "/missing"
		_, err := b.Chat(context.Background(), visionReq(false, u))
		if e := asError(t, err); strings.Contains(e.Message, "hunter2") || !strings.Contains(e.Message, "answered 404") {
			t.Fatalf("message %q", e.Message)
		}
		_, err = b.Chat(context.Background(), visionReq(false, "http://user:hunter2@[::1/a.png?sig=s3cret"))
		if e := asError(t, err); e.Message != "messages[1].content: cannot fetch the image at http://[::1/a.png: not a valid URL" {
			t.Fatalf("message %q", e.Message)
		}
	})
	t.Run("too many images", func(t *testing.T) {
		t.Parallel()
		b := newBackend(t, &imageTranslator{}, target, Options{Images: ImageFetchOptions{AllowLoopback: true, MaxImages: 2}})
		_, err := b.Chat(context.Background(), visionReq(false, srv.URL+"/hop/0?1", srv.URL+"/hop/0?2", srv.URL+"/hop/0?3"))
		if e := asError(t, err); e.Param != "messages[3].content" || !strings.Contains(e.Message, "more than 2 image URLs") {
			t.Fatalf("error = %#v", e)
		}
	})
}

// Without the test-only allowance, loopback, private and metadata addresses are refused when connecting, for
// literal addresses and names alike, before any byte is sent to them.
func TestImageFetchRefusesNonPublicAddresses(t *testing.T) {
	t.Parallel()
	target, up := serve(t, answer(200, "application/json", `{"text":"ok"}`))
	local, hits := imageServer(t, servePNG("image/png"))
	port := local.URL[strings.LastIndex(local.URL, ":")+1:]
	urls := []string{
		local.URL + "/a.png",
		"http://localhost:" + port + "/a.png",
		"http://[::ffff:127.0.0.1]:" + port + "/a.png",
		"http://[::1]:" + port + "/a.png",
		"http://0.0.0.0:" + port + "/a.png",
		"http://169.254.169.254/latest/meta-data/",
		"http://10.1.2.3/a.png",
		"http://192.168.0.1/a.png",
		"http://172.16.5.4/a.png",
		"http://100.64.0.1/a.png",
		"https://[fd00:ec2::254]/latest/meta-data/",
		"http://[fe80::1]/a.png",
	}
	for _, u := range urls {
		t.Run(u, func(t *testing.T) {
			t.Parallel()
			b := newBackend(t, &imageTranslator{}, target, Options{})
			_, err := b.Chat(context.Background(), visionReq(false, u))
			e := asError(t, err)
			if e.Kind != sdk.KindBadRequest || e.Param != "messages[1].content" ||
				!strings.Contains(e.Message, "does not resolve to a public address") {
				t.Fatalf("error = %#v", e)
			}
		})
	}
	t.Cleanup(func() {
		if n := hits.Load(); n != 0 {
			t.Errorf("the loopback image server was reached %d times", n)
		}
		if _, body, _ := up.last(); body != "" {
			t.Errorf("a request with a refused image reached the upstream: %s", body)
		}
	})
}

func TestPublicAddr(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"8.8.8.8":              true,
		"1.1.1.1":              true,
		"172.32.0.1":           true,
		"100.128.0.1":          true,
		"2606:4700:4700::1111": true,
		"::ffff:8.8.8.8":       true,
		"64:ff9b::808:808":     true, // NAT64 of 8.8.8.8
		"2002:808:808::1":      true, // 6to4 of 8.8.8.8

		"127.0.0.1":              false,
		"127.255.0.9":            false,
		"::1":                    false,
		"0.0.0.0":                false,
		"0.1.2.3":                false,
		"::":                     false,
		"10.0.0.1":               false,
		"172.16.0.1":             false,
		"172.31.255.255":         false,
		"192.168.1.1":            false,
		"169.254.169.254":        false,
		"169.254.0.1":            false,
		"100.64.0.1":             false,
		"100.127.255.254":        false,
		"224.0.0.1":              false,
		"239.255.255.250":        false,
		"255.255.255.255":        false,
		"240.0.0.1":              false,
		"198.18.0.1":             false,
		"192.0.0.170":            false,
		"fc00::1":                false,
		"fd00:ec2::254":          false,
		"fe80::1":                false,
		"fe80::1%eth0":           false,
		"fec0::1":                false,
		"ff02::1":                false,
		"ff01::1":                false,
		"2001:db8::1":            false,
		"::ffff:127.0.0.1":       false,
		"::ffff:10.0.0.1":        false,
		"::ffff:169.254.169.254": false,
		"::ffff:100.64.0.1":      false,
		"::127.0.0.1":            false, // IPv4-compatible
		"64:ff9b::a9fe:a9fe":     false, // NAT64 of 169.254.169.254
		"64:ff9b::7f00:1":        false, // NAT64 of 127.0.0.1
		"2002:a00:1::1":          false, // 6to4 of 10.0.0.1
		"2002:7f00:1::":          false, // 6to4 of 127.0.0.1
	}
	for s, want := range cases {
		if got := publicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", s, got, want)
		}
	}
	g := addressGuard{}
	if err := g.control(context.Background(), "udp", "8.8.8.8:53", nil); err == nil {
		t.Error("a UDP dial was allowed")
	}
	if err := g.control(context.Background(), "tcp", "8.8.8.8:443", nil); err != nil {
		t.Errorf("a public address was refused: %v", err)
	}
	if err := (addressGuard{allowLoopback: true}).control(context.Background(), "tcp6", "[::ffff:127.0.0.1]:80", nil); err != nil {
		t.Errorf("loopback refused although allowed: %v", err)
	}
	if err := (addressGuard{allowLoopback: true}).control(context.Background(), "tcp4", "10.0.0.1:80", nil); err == nil {
		t.Error("allowing loopback allowed a private address")
	}
}
