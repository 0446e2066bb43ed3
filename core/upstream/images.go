package upstream

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// ImageFetchOptions configure the guarded client that fetches the http(s) image URLs of a chat request for
// providers that only accept image bytes (sdk.Capabilities.FetchImages).
//
// The URLs come from clients, so the fetch is a server-side request made on a client's behalf: it may reach
// public addresses only. The address is checked when the connection is made, after DNS resolution, so a name
// that resolves to a public address when checked and to a private one when used (DNS rebinding) is refused too,
// and so is every redirect target.
type ImageFetchOptions struct {
	// MaxBytes caps one image (default 20 MiB).
	MaxBytes int64
	// Timeout bounds fetching one image, redirects and body included (default 10 s).
	Timeout time.Duration
	// MaxRedirects is how many redirects one fetch follows (default 3; negative follows none).
	MaxRedirects int
	// MaxImages caps the distinct image URLs fetched for one request (default 100).
	MaxImages int
	// AllowLoopback lets the fetcher reach loopback addresses. It exists for tests, whose image servers listen
	// on 127.0.0.1; a gateway must never set it.
	AllowLoopback bool
}

// Defaults of ImageFetchOptions.
const (
	DefaultImageMaxBytes     = 20 << 20
	DefaultImageTimeout      = 10 * time.Second
	DefaultImageMaxRedirects = 3
	DefaultImageMaxImages    = 100
	// imageFetchConcurrency bounds the images of one request fetched at once.
	imageFetchConcurrency = 4
)

// imageFetcher fetches images with a client that can only reach public addresses.
type imageFetcher struct {
	client    *http.Client
	maxBytes  int64
	timeout   time.Duration
	maxImages int
	redirects int
}

func newImageFetcher(o ImageFetchOptions) *imageFetcher {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultImageMaxBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultImageTimeout
	}
	switch {
	case o.MaxRedirects == 0:
		o.MaxRedirects = DefaultImageMaxRedirects
	case o.MaxRedirects < 0:
		o.MaxRedirects = 0
	}
	if o.MaxImages <= 0 {
		o.MaxImages = DefaultImageMaxImages
	}
	g := addressGuard{allowLoopback: o.AllowLoopback}
	dialer := &net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second, ControlContext: g.control}
	tr := &http.Transport{
		// No proxy: through a proxy the dial check would see the proxy's address, not the image host's.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        30 * time.Second,
		TLSHandshakeTimeout:    o.Timeout,
		ResponseHeaderTimeout:  o.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	f := &imageFetcher{maxBytes: o.MaxBytes, timeout: o.Timeout, maxImages: o.MaxImages, redirects: o.MaxRedirects}
	f.client = &http.Client{Transport: tr, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if len(via) > f.redirects {
			return errTooManyRedirects
		}
		if r.URL.Scheme != "http" && r.URL.Scheme != "https" {
			return fmt.Errorf("a redirect leads to a %q URL; only http and https are fetched", r.URL.Scheme)
		}
		// The dial check covers the redirect's address; nothing else of the first request is worth keeping.
		return nil
	}}
	return f
}

var (
	errTooManyRedirects = errors.New("too many redirects")
	errNotPublic        = errors.New("the host does not resolve to a public address")
)

// addressGuard refuses connections to addresses that are not public. It runs as the dialer's Control function,
// on the address actually being connected to.
type addressGuard struct{ allowLoopback bool }

func (g addressGuard) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w (network %s)", errNotPublic, network)
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return errNotPublic
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return errNotPublic
	}
	if g.allowLoopback && ip.Unmap().IsLoopback() {
		return nil
	}
	if !publicAddr(ip) {
		return errNotPublic
	}
	return nil
}

// nonPublic lists the ranges netip's predicates do not cover: shared (CGNAT), reserved, documentation and
// benchmarking ranges, and deprecated IPv6 site-local addresses.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and the broadcast address
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
}

// embedsIPv4 lists IPv6 ranges that carry an IPv4 address the traffic ends up at, with where it sits: NAT64's
// well-known prefix and IPv4-compatible addresses in the last four bytes, 6to4 in bytes 2 to 5.
var embedsIPv4 = []struct {
	prefix netip.Prefix
	at     int
}{
	{netip.MustParsePrefix("64:ff9b::/96"), 12},
	{netip.MustParsePrefix("::/96"), 12},
	{netip.MustParsePrefix("2002::/16"), 2},
}

// publicAddr reports whether ip is a public unicast address. IPv4-mapped IPv6 addresses are judged by their
// IPv4 address, and so are IPv6 forms that route to an embedded IPv4 address.
func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() || ip.IsUnspecified() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	if ip.Is6() {
		for _, e := range embedsIPv4 {
			if e.prefix.Contains(ip) {
				b := ip.As16()
				return publicAddr(netip.AddrFrom4([4]byte(b[e.at : e.at+4])))
			}
		}
	}
	return true
}

// fetchError is why one image could not be fetched.
type fetchError struct {
	reason string
	err    error
}

func (e *fetchError) Error() string { return e.reason }
func (e *fetchError) Unwrap() error { return e.err }

// fetch downloads one image and returns it as a data: URL.
func (f *imageFetcher) fetch(ctx context.Context, u *url.URL) (string, error) {
	fctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(fctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", &fetchError{reason: "not a valid URL", err: err}
	}
	req.Header.Set("Accept", "image/*")
	req.Header.Set("User-Agent", "Switchyard-image-fetcher/1")
	resp, err := f.client.Do(req)
	if err != nil {
		return "", f.failure(ctx, fctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", &fetchError{reason: fmt.Sprintf("the server answered %d", resp.StatusCode)}
	}
	if resp.ContentLength > f.maxBytes {
		return "", &fetchError{reason: fmt.Sprintf("the image is larger than the limit of %s", size(f.maxBytes))}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		return "", f.failure(ctx, fctx, err)
	}
	if int64(len(body)) > f.maxBytes {
		return "", &fetchError{reason: fmt.Sprintf("the image is larger than the limit of %s", size(f.maxBytes))}
	}
	mt, err := imageType(resp.Header.Get("Content-Type"), body)
	if err != nil {
		return "", err
	}
	return "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(body), nil
}

// failure explains a failed fetch. The request's own cancellation is returned as it is: it is not the image's
// fault, and the caller reports it as the cancellation it is.
func (f *imageFetcher) failure(parent, fctx context.Context, err error) error {
	switch {
	case parent.Err() != nil:
		return parent.Err()
	case errors.Is(err, errNotPublic):
		return &fetchError{reason: errNotPublic.Error(), err: err}
	case errors.Is(err, errTooManyRedirects):
		return &fetchError{reason: fmt.Sprintf("it redirects more than %d times", f.redirects), err: err}
	case fctx.Err() != nil || isTimeout(err):
		return &fetchError{reason: fmt.Sprintf("it did not arrive within %s", f.timeout), err: err}
	}
	// url.Error's text repeats the whole URL, query string included; keep only the cause.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &fetchError{reason: "it could not be fetched: " + err.Error(), err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// imageType returns the image's media type: the Content-Type the server sent when it names an image, else the
// type sniffed from the bytes, which must be an image.
func imageType(contentType string, body []byte) (string, error) {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && strings.HasPrefix(mt, "image/") && len(mt) > 6 {
		return mt, nil
	}
	sniffed, _, _ := mime.ParseMediaType(http.DetectContentType(body))
	if strings.HasPrefix(sniffed, "image/") {
		return sniffed, nil
	}
	got := contentType
	if got == "" {
		got = sniffed
	}
	return "", &fetchError{reason: fmt.Sprintf("the content is not an image (%s)", got)}
}

func size(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// fetchCacheKey is the context key of a request's fetched images.
type fetchCacheKey struct{}

// fetchCache holds the images fetched for one client request, so that retries and other deployments of the
// same request do not fetch them again. Only successes are kept.
type fetchCache struct {
	mu sync.Mutex
	m  map[string]*fetchEntry // nil until an image is fetched
}

type fetchEntry struct {
	done    chan struct{}
	dataURL string
	err     error
}

// WithFetchCache returns a context under which backends share the images they fetch for providers that need
// image bytes. The router derives one per client request, so that a retry or a fallback deployment reuses the
// images instead of fetching them again.
func WithFetchCache(ctx context.Context) context.Context {
	if _, ok := ctx.Value(fetchCacheKey{}).(*fetchCache); ok {
		return ctx
	}
	return context.WithValue(ctx, fetchCacheKey{}, &fetchCache{}) // its map made by the first image
}

// get returns the data URL of u, fetching it unless the cache has it or another goroutine is fetching it.
func (c *fetchCache) get(ctx context.Context, f *imageFetcher, u *url.URL) (string, error) {
	key := u.String()
	c.mu.Lock()
	e, ok := c.m[key]
	if !ok {
		e = &fetchEntry{done: make(chan struct{})}
		if c.m == nil {
			c.m = map[string]*fetchEntry{}
		}
		c.m[key] = e
	}
	c.mu.Unlock()
	if ok {
		select {
		case <-e.done:
			return e.dataURL, e.err
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	e.dataURL, e.err = f.fetch(ctx, u)
	if e.err != nil {
		c.mu.Lock()
		delete(c.m, key)
		c.mu.Unlock()
	}
	close(e.done)
	return e.dataURL, e.err
}

// imageSpot is an http(s) image URL of a request: message msg, content part part. url is nil when raw does not
// parse.
type imageSpot struct {
	msg, part int
	raw       string
	url       *url.URL
}

// fetchableImages finds the image_url parts whose URL is http or https.
func fetchableImages(req *sdk.ChatRequest) []imageSpot {
	var spots []imageSpot
	for i := range req.Messages {
		c := &req.Messages[i].Content
		if !c.IsParts {
			continue
		}
		for j := range c.Parts {
			p := &c.Parts[j]
			if p.Type != "image_url" || p.ImageURL == nil {
				continue
			}
			s := strings.TrimSpace(p.ImageURL.URL)
			if len(s) < 7 || !strings.EqualFold(s[:7], "http://") && (len(s) < 8 || !strings.EqualFold(s[:8], "https://")) {
				continue
			}
			u, _ := url.Parse(s) // nil when it does not parse
			spots = append(spots, imageSpot{msg: i, part: j, raw: s, url: u})
		}
	}
	return spots
}

// inline returns req with its http(s) image URLs replaced by data: URLs. The request is not changed: the
// messages that change are copied, so other deployments of the same call still see the original URLs. A request
// without such URLs is returned as it is.
func (f *imageFetcher) inline(ctx context.Context, req *sdk.ChatRequest) (*sdk.ChatRequest, error) {
	spots := fetchableImages(req)
	if len(spots) == 0 {
		return req, nil
	}
	// One fetch per distinct URL, reported against its first place in the request.
	seen := map[string]bool{}
	var distinct []int // indexes in spots
	for k, s := range spots {
		if s.url == nil {
			return nil, imageError(s, "not a valid URL")
		}
		if !seen[s.url.String()] {
			seen[s.url.String()] = true
			distinct = append(distinct, k)
		}
	}
	if len(distinct) > f.maxImages {
		s := spots[distinct[f.maxImages]]
		return nil, sdk.NewError(sdk.KindBadRequest, fmt.Sprintf("messages[%d].content: the request has more "+
			"than %d image URLs to fetch; send fewer, or send them as data: URLs", s.msg, f.maxImages)).
			WithParam(fmt.Sprintf("messages[%d].content", s.msg)).WithCode("invalid_image_url")
	}
	cache, _ := ctx.Value(fetchCacheKey{}).(*fetchCache)
	if cache == nil {
		cache = &fetchCache{m: map[string]*fetchEntry{}}
	}
	// Fetch concurrently; once one fails the others are abandoned, since the request fails anyway.
	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	results := make([]string, len(distinct))
	errs := make([]error, len(distinct))
	sem := make(chan struct{}, imageFetchConcurrency)
	var wg sync.WaitGroup
	for n, k := range distinct {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-fctx.Done():
				errs[n] = fctx.Err()
				return
			}
			results[n], errs[n] = cache.get(fctx, f, spots[k].url)
			if errs[n] != nil {
				cancel(errSiblingFailed)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, sdk.AsError(err)
	}
	for n, err := range errs {
		var fe *fetchError
		if errors.As(err, &fe) {
			return nil, imageError(spots[distinct[n]], fe.reason)
		}
	}
	for _, err := range errs {
		if err != nil {
			return nil, sdk.AsError(err)
		}
	}

	byURL := make(map[string]string, len(distinct))
	for n, k := range distinct {
		byURL[spots[k].url.String()] = results[n]
	}
	out := *req
	out.Raw = nil // the body as received no longer matches
	out.Messages = slices.Clone(req.Messages)
	copied := map[int]bool{}
	for _, s := range spots {
		m := &out.Messages[s.msg]
		if !copied[s.msg] {
			m.Content.Parts = slices.Clone(m.Content.Parts)
			copied[s.msg] = true
		}
		p := &m.Content.Parts[s.part]
		img := *p.ImageURL
		img.URL = byURL[s.url.String()]
		p.ImageURL = &img
	}
	return &out, nil
}

// errSiblingFailed cancels the fetches of a request once one of them has failed.
var errSiblingFailed = errors.New("another image of the request could not be fetched")

// imageError is the client's error for an image that could not be fetched. It names the URL without its query
// string, fragment or user info, which may hold credentials.
func imageError(s imageSpot, reason string) *sdk.Error {
	param := fmt.Sprintf("messages[%d].content", s.msg)
	return &sdk.Error{Kind: sdk.KindBadRequest, Param: param, Code: "invalid_image_url",
		Message: fmt.Sprintf("%s: cannot fetch the image at %s: %s", param, displayURL(s), reason)}
}

// displayURL returns the spot's URL without user info, query string and fragment, shortened to at most 200
// bytes.
func displayURL(spot imageSpot) string {
	var s string
	if spot.url == nil {
		// Unparsable: cut by hand what may be secret.
		s, _, _ = strings.Cut(spot.raw, "?")
		s, _, _ = strings.Cut(s, "#")
		if scheme, rest, ok := strings.Cut(s, "://"); ok {
			host, _, _ := strings.Cut(rest, "/")
			if at := strings.LastIndex(host, "@"); at >= 0 {
				rest = rest[at+1:]
			}
			s = scheme + "://" + rest
		}
	} else {
		c := *spot.url
		c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
		s = c.String()
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
