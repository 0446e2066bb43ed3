package upstream

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/switchyard/gateway/core/callctx"
)

// h1Transport sends plain-HTTP requests (in-cluster model servers: vLLM, TGI, Ollama, NIM, a sidecar) over
// HTTP/1.1 on the calling goroutine, and everything else (https, proxied hosts, unknown-length bodies) through
// the net/http transport it wraps.
//
// Why not net/http for these too: its transport runs a write goroutine and a read goroutine per connection and
// hands the request, the response and the end of the body between them and the caller; under load those hand-offs
// were about a third of the bare gateway's CPU and most of its added time to first token (docs/benchmarks.md).
// Why not fasthttp's client: it neither streams a response body to a reader nor lets a blocked read be cancelled
// when the client goes away. This transport keeps the standard library's wire code (http.ReadResponse parses the
// answer, with chunked bodies and trailers) and owns only the connections: a LIFO idle pool per host, a stale
// check before reuse, and a context that closes the connection when it is done, which unblocks any read; an
// attempt's timeout that nothing else waits on (callctx) is the connection's deadline instead.
type h1Transport struct {
	fallback    http.RoundTripper
	proxy       func(*http.Request) (*url.URL, error)
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle     int
	idleTimeout time.Duration
	pools       sync.Map // canonical host:port → *h1Pool
}

func newH1Transport(fallback *http.Transport) *h1Transport {
	return &h1Transport{
		fallback:    fallback,
		proxy:       fallback.Proxy,
		dial:        fallback.DialContext,
		maxIdle:     fallback.MaxIdleConnsPerHost,
		idleTimeout: fallback.IdleConnTimeout,
	}
}

// h1Pool holds one host's idle connections, most recently used last. Its lock is per host and held only to push
// or pop a connection.
type h1Pool struct {
	addr   string
	direct bool // no proxy applies to this host
	mu     sync.Mutex
	idle   []*h1Conn
}

type h1Conn struct {
	conn     net.Conn
	raw      syscall.RawConn // for the liveness check; nil when the connection has no socket
	br       *bufio.Reader
	bw       *bufio.Writer
	idleAt   time.Time
	reused   bool
	pool     *h1Pool
	notified atomic.Bool // the context closed the connection
	deadline time.Time   // the connection's read and write deadline, zero for none
}

// abortConn is what cancelling a call does to its connection: closing it unblocks any read or write.
func abortConn(a any) {
	c := a.(*h1Conn)
	c.notified.Store(true)
	c.conn.Close()
}

// timedOut reports that err is the connection's deadline, the call's timeout, passing.
func timedOut(c *h1Conn, err error) bool {
	return !c.deadline.IsZero() && errors.Is(err, os.ErrDeadlineExceeded)
}

// setDeadline sets the connection's deadline when it changes.
func (c *h1Conn) setDeadline(t time.Time) error {
	if t.Equal(c.deadline) {
		return nil
	}
	if err := c.conn.SetDeadline(t); err != nil {
		return err
	}
	c.deadline = t
	return nil
}

// deadlineSlack is how much later than a call's deadline the connection's deadline may be: 1/64 of the time
// the call has left, at most a second. Setting a socket's deadline re-arms a runtime timer, about 0.5 µs a
// call; with the slack, consecutive calls on a connection keep the deadline the first one set (at most one
// change a second for long timeouts), and a timeout fires at most 1.6% (or a second) late.
func deadlineSlack(left time.Duration) time.Duration { return min(left/64, time.Second) }

// coverDeadline makes the connection's deadline t, or keeps one at most deadlineSlack later than t.
func (c *h1Conn) coverDeadline(t, now time.Time) error {
	if t.IsZero() {
		return c.setDeadline(t)
	}
	slack := deadlineSlack(t.Sub(now))
	if d := c.deadline.Sub(t); !c.deadline.IsZero() && d >= 0 && d <= slack {
		return nil
	}
	return c.setDeadline(t.Add(slack))
}

// RoundTrip implements http.RoundTripper.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil || req.URL.Scheme != "http" || (req.Body != nil && req.Body != http.NoBody && req.ContentLength <= 0) ||
		req.Header.Get("Upgrade") != "" {
		return t.fallback.RoundTrip(req)
	}
	if err := req.Context().Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	p, err := t.pool(req)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	if !p.direct {
		return t.fallback.RoundTrip(req)
	}
	var body []byte
	if bb, ok := req.Body.(*bytesBody); ok {
		body = bb.b
	} else if req.Body != nil && req.Body != http.NoBody {
		// The body is read once, so that a request whose pooled connection turns out dead can be sent again.
		body = make([]byte, 0, req.ContentLength)
		body, err = readFull(req.Body, body, req.ContentLength)
		if err != nil {
			return nil, err
		}
	}
	for attempt := 0; ; attempt++ {
		resp, retry, err := t.try(p, req, body)
		if err == nil || !retry || attempt > 0 || req.Context().Err() != nil {
			return resp, err
		}
	}
}

// try sends the request once. retry reports that it failed on a reused connection before the upstream answered
// anything: the upstream closed an idle connection as the request went out, and it did not see the request.
func (t *h1Transport) try(p *h1Pool, req *http.Request, body []byte) (*http.Response, bool, error) {
	ctx := req.Context()
	// An attempt's timeout that nothing waits on yet (callctx) is enforced as the connection's deadline, and its
	// parent is watched for cancellation: no timer and no context of its own for a call.
	watch, deadline, lazy := callctx.Watch(ctx)
	if !lazy {
		watch = ctx
	}
	now := time.Now()
	c, err := t.get(ctx, p, now)
	if err != nil {
		return nil, false, err
	}
	if err := c.coverDeadline(deadline, now); err != nil {
		c.conn.Close()
		return nil, false, err
	}
	stop := callctx.OnCancel(watch, abortConn, c)
	fail := func(err error, retry bool) (*http.Response, bool, error) {
		stop.Stop()
		c.conn.Close()
		if timedOut(c, err) {
			return nil, false, context.DeadlineExceeded
		}
		if ctx.Err() != nil && c.notified.Load() {
			return nil, false, ctx.Err()
		}
		return nil, retry && c.reused, err
	}
	if err := writeRequest(c.bw, req, body); err != nil {
		return fail(err, true)
	}
	// Only a connection that ends before the first byte of an answer lets the request go again: ReadResponse
	// reports an end before any byte and one in the middle of the status line alike, so look first.
	if _, err := c.br.Peek(1); err != nil {
		return fail(err, errors.Is(err, io.EOF) || isReset(err))
	}
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			return fail(err, false)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		resp.Body.Close() // 1xx informational answers have no body
	}
	reuse := !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		t.done(c, stop, reuse)
		return resp, false, nil
	}
	resp.Body = &h1Body{body: resp.Body, c: c, t: t, stop: stop, ctx: ctx, reuse: reuse}
	return resp, false, nil
}

// done ends a request on c: the connection goes back to its pool when it can carry another one.
func (t *h1Transport) done(c *h1Conn, stop callctx.Hook, reuse bool) {
	if !stop.Stop() || !reuse {
		c.conn.Close()
		return
	}
	t.put(c)
}

func (t *h1Transport) pool(req *http.Request) (*h1Pool, error) {
	host := req.URL.Host
	if v, ok := t.pools.Load(host); ok {
		return v.(*h1Pool), nil
	}
	if req.URL.Hostname() == "" {
		return nil, errors.New("http: no Host in request URL")
	}
	port := req.URL.Port()
	if port == "" {
		port = "80"
	}
	p := &h1Pool{addr: net.JoinHostPort(req.URL.Hostname(), port), direct: true}
	if t.proxy != nil {
		u, err := t.proxy(req)
		if err != nil {
			return nil, err
		}
		p.direct = u == nil
	}
	v, _ := t.pools.LoadOrStore(host, p)
	return v.(*h1Pool), nil
}

// peekAfter is how long a connection must have been idle before it is checked for a close by the upstream. Under
// load connections are idle for microseconds and the check would be a system call per request; upstreams close
// idle connections after seconds (uvicorn and Node after 5 s), and a connection closed sooner is found when the
// request fails on it before any answer, and the request is sent again on a new connection.
const peekAfter = time.Second

// get returns an idle connection to the pool's host that is still open, or a new one.
func (t *h1Transport) get(ctx context.Context, p *h1Pool, now time.Time) (*h1Conn, error) {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			break
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		idle := now.Sub(c.idleAt)
		if t.idleTimeout > 0 && idle > t.idleTimeout || c.br.Buffered() > 0 ||
			idle > peekAfter && (c.setDeadline(time.Time{}) != nil || !c.alive()) {
			c.conn.Close()
			continue
		}
		c.reused = true
		c.notified.Store(false)
		return c, nil
	}
	dialCtx := ctx
	if watch, deadline, ok := callctx.Watch(ctx); ok {
		var cancel context.CancelFunc
		dialCtx, cancel = context.WithDeadline(watch, deadline) // a dial waits on its context: not on the attempt's
		defer cancel()
	}
	conn, err := t.dial(dialCtx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	c := &h1Conn{conn: conn, br: bufio.NewReaderSize(conn, 16<<10), bw: bufio.NewWriterSize(conn, 4<<10), pool: p}
	if sc, ok := conn.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	return c, nil
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (t *h1Transport) put(c *h1Conn) {
	p := c.pool
	c.idleAt = time.Now()
	p.mu.Lock()
	if len(p.idle) >= t.maxIdle {
		p.mu.Unlock()
		c.conn.Close()
		return
	}
	p.idle = append(p.idle, c)
	// The oldest connection is first: close it once it has been idle too long, so that a burst's connections do
	// not stay open for ever after the burst.
	var old *h1Conn
	if t.idleTimeout > 0 && c.idleAt.Sub(p.idle[0].idleAt) > t.idleTimeout {
		old = p.idle[0]
		p.idle = append(p.idle[:0], p.idle[1:]...)
	}
	p.mu.Unlock()
	if old != nil {
		old.conn.Close()
	}
}

// CloseIdleConnections closes the idle connections of both transports.
func (t *h1Transport) CloseIdleConnections() {
	t.pools.Range(func(_, v any) bool {
		p := v.(*h1Pool)
		p.mu.Lock()
		idle := p.idle
		p.idle = nil
		p.mu.Unlock()
		for _, c := range idle {
			c.conn.Close()
		}
		return true
	})
	if ci, ok := t.fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// h1Body is an answer's body: at its end the connection goes back to the pool; closed early, the connection is
// closed, which also unblocks a read in progress on another goroutine.
type h1Body struct {
	body  io.ReadCloser
	c     *h1Conn
	t     *h1Transport
	stop  callctx.Hook
	ctx   context.Context
	reuse bool
	// state is 0 while the body is being read, 1 once read to its end, 2 once closed or broken.
	state atomic.Int32
}

func (b *h1Body) Read(p []byte) (int, error) {
	switch b.state.Load() {
	case 1:
		return 0, io.EOF
	case 2:
		return 0, errors.New("http: read on closed response body")
	}
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		if b.state.CompareAndSwap(0, 1) {
			b.t.done(b.c, b.stop, b.reuse)
		}
	case err != nil:
		if b.state.CompareAndSwap(0, 2) {
			b.stop.Stop()
			b.c.conn.Close()
		}
		if timedOut(b.c, err) {
			err = context.DeadlineExceeded
		} else if b.ctx.Err() != nil && b.c.notified.Load() {
			err = b.ctx.Err()
		}
	}
	return n, err
}

func (b *h1Body) Close() error {
	if b.state.CompareAndSwap(0, 2) {
		b.stop.Stop()
		b.c.conn.Close()
	}
	return nil
}

// writeRequest writes req with body as HTTP/1.1, the way net/http would: the request line, Host, User-Agent
// (Go's unless set), the caller's headers less those the transport owns, Content-Length.
func writeRequest(w *bufio.Writer, req *http.Request, body []byte) error {
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validMethod(method) {
		return fmt.Errorf("net/http: invalid method %q", method)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) {
		return errors.New("http: invalid Host header")
	}
	w.WriteString(method)
	w.WriteByte(' ')
	w.WriteString(req.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	if _, ok := req.Header["User-Agent"]; !ok {
		w.WriteString("User-Agent: Go-http-client/1.1\r\n")
	}
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer", "Connection":
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("net/http: invalid header field name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				// Like net/http, the value is not echoed: it may be a credential.
				return fmt.Errorf("net/http: invalid header field value for %q", k)
			}
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if req.Close {
		w.WriteString("Connection: close\r\n")
	}
	if body != nil || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		var n [20]byte
		w.WriteString("Content-Length: ")
		w.Write(strconv.AppendInt(n[:0], int64(len(body)), 10))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	w.Write(body)
	return w.Flush()
}

func validMethod(m string) bool {
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return m != ""
}

// readFull reads exactly n bytes of a request body into buf and closes it.
func readFull(r io.ReadCloser, buf []byte, n int64) ([]byte, error) {
	defer r.Close()
	if br, ok := r.(interface{ Len() int }); ok && int64(br.Len()) != n {
		return nil, fmt.Errorf("http: ContentLength=%d with Body length %d", n, br.Len())
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("http: ContentLength=%d with a shorter body: %w", n, err)
	}
	return buf, nil
}

// bytesBody is the body of the requests the client builds: the transport sends its bytes without copying them.
type bytesBody struct {
	bytes.Reader
	b []byte
}

func (*bytesBody) Close() error { return nil }

// again is the request's GetBody: the same bytes from the start.
func (bb *bytesBody) again() (io.ReadCloser, error) { return newBytesBody(bb.b), nil }

// newBytesBody returns b as a request body.
func newBytesBody(b []byte) *bytesBody {
	bb := &bytesBody{b: b}
	bb.Reset(b)
	return bb
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// send sends a translator's request. A plain-HTTP request goes straight to the HTTP/1.1 transport, without
// http.Client, which copies the request's headers on every call in case of a redirect; errors are wrapped as
// http.Client wraps them. The rare redirect is left to http.Client and its rules (which method, which body,
// how many hops), at the cost of asking the first address again.
func (c *Client) send(r *http.Request) (*http.Response, error) {
	h, ok := c.http.Transport.(*h1Transport)
	if !ok || r.URL.Scheme != "http" {
		return c.http.Do(r)
	}
	resp, err := h.RoundTrip(r)
	if err != nil {
		return nil, &url.Error{Op: urlErrorOp(r.Method), URL: redactedURL(r.URL), Err: err}
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect,
		http.StatusPermanentRedirect:
		if resp.Header.Get("Location") != "" && r.GetBody != nil {
			resp.Body.Close()
			body, err := r.GetBody()
			if err != nil {
				return nil, &url.Error{Op: urlErrorOp(r.Method), URL: redactedURL(r.URL), Err: err}
			}
			r.Body = body
			return c.http.Do(r)
		}
	}
	return resp, nil
}

// urlErrorOp is the Op of http.Client's errors: the method with only its first letter in upper case.
func urlErrorOp(method string) string {
	if method == "" {
		return "Get"
	}
	return method[:1] + strings.ToLower(method[1:])
}

// redactedURL is the URL as http.Client's errors show it: without a password.
func redactedURL(u *url.URL) string {
	if _, has := u.User.Password(); has {
		return strings.Replace(u.String(), u.User.String()+"@", u.User.Username()+":***@", 1)
	}
	return u.String()
}
