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
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/callctx"
)

// testH1 returns the transport NewClient builds by default.
func testH1(t *testing.T) *h1Transport {
	t.Helper()
	c := NewClient(Options{})
	h, ok := c.http.Transport.(*h1Transport)
	if !ok {
		t.Fatalf("the default transport is %T, want *h1Transport", c.http.Transport)
	}
	t.Cleanup(h.CloseIdleConnections)
	return h
}

// countingServer is an httptest server that counts the connections it accepted.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func post(t *testing.T, rt http.RoundTripper, ctx context.Context, u string, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("RoundTrip: %v", err)
	}
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return string(b)
}

func TestH1ReusesConnectionsAndSpeaksHTTP11(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Echo-Len", fmt.Sprint(r.ContentLength))
		switch r.URL.Query().Get("mode") {
		case "chunked":
			w.Header().Set("Trailer", "X-Done")
			for i := 0; i < 3; i++ {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Done", "yes")
		case "empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			fmt.Fprintf(w, "%s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("Authorization"), b)
		}
	})
	h := testH1(t)
	for i := 0; i < 5; i++ {
		resp := post(t, h, context.Background(), srv.URL+"/v1/chat?x=1", `{"n":`+fmt.Sprint(i)+`}`)
		if got, want := readBody(t, resp), fmt.Sprintf(`POST /v1/chat?x=1  {"n":%d}`, i); got != want {
			t.Fatalf("answer %q, want %q", got, want)
		}
		if resp.Header.Get("X-Echo-Len") != "7" {
			t.Fatalf("the upstream saw Content-Length %q, want 7", resp.Header.Get("X-Echo-Len"))
		}
	}
	resp := post(t, h, context.Background(), srv.URL+"/?mode=chunked", "")
	if got := readBody(t, resp); got != "part0;part1;part2;" || resp.Trailer.Get("X-Done") != "yes" {
		t.Fatalf("chunked answer %q with trailer %q", got, resp.Trailer.Get("X-Done"))
	}
	resp = post(t, h, context.Background(), srv.URL+"/?mode=empty", "")
	if resp.StatusCode != http.StatusNoContent || readBody(t, resp) != "" {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for sequential requests, want 1", n)
	}
}

func TestH1ParallelRequests(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	h := testH1(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				want := fmt.Sprintf("g%d-%d", g, i)
				req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(want))
				resp, err := h.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != want {
					errs <- fmt.Errorf("answer %q (%v), want %q", b, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := conns.Load(); n > 16 {
		t.Fatalf("%d connections for 16 concurrent callers", n)
	}
}

// rawServer accepts connections and hands each to serve, with the number of the connection.
func rawServer(t *testing.T, serve func(n int, c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(n, c)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// readRequest reads one request from r, body included.
func readRequest(r *bufio.Reader) (*http.Request, []byte, error) {
	req, err := http.ReadRequest(r)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(req.Body)
	return req, b, err
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\nok"

func TestH1DropsIdleConnectionsTheUpstreamClosed(t *testing.T) {
	t.Parallel()
	var served atomic.Int32
	u := rawServer(t, func(_ int, c net.Conn) {
		// One answer per connection, without saying so, then the connection is closed: what an upstream does when
		// its keep-alive timeout ends.
		if _, _, err := readRequest(bufio.NewReader(c)); err == nil {
			served.Add(1)
			io.WriteString(c, okAnswer)
		}
	})
	h := testH1(t)
	for i := 0; i < 3; i++ {
		if i > 0 {
			time.Sleep(20 * time.Millisecond) // let the close arrive
		}
		if got := readBody(t, post(t, h, context.Background(), u, "{}")); got != "ok" {
			t.Fatalf("answer %d: %q", i, got)
		}
	}
	if n := served.Load(); n != 3 {
		t.Fatalf("served %d, want 3", n)
	}
}

func TestH1SendsAgainWhenAReusedConnectionClosesUnanswered(t *testing.T) {
	t.Parallel()
	var seen atomic.Int32
	u := rawServer(t, func(n int, c net.Conn) {
		r := bufio.NewReader(c)
		for i := 0; ; i++ {
			if _, _, err := readRequest(r); err != nil {
				return
			}
			seen.Add(1)
			if n == 0 && i == 1 {
				return // the second request on the first connection: closed as it arrived
			}
			io.WriteString(c, okAnswer)
		}
	})
	h := testH1(t)
	for i := 0; i < 2; i++ {
		if got := readBody(t, post(t, h, context.Background(), u, "{}")); got != "ok" {
			t.Fatalf("answer %d: %q", i, got)
		}
	}
	if n := seen.Load(); n != 3 {
		t.Fatalf("the upstream saw %d requests, want 3 (one sent again)", n)
	}
}

func TestH1FreshConnectionClosedUnansweredIsAnError(t *testing.T) {
	t.Parallel()
	var seen atomic.Int32
	u := rawServer(t, func(_ int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err == nil {
			seen.Add(1)
		}
	})
	h := testH1(t)
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
	if _, err := h.RoundTrip(req); err == nil {
		t.Fatal("no error for an upstream that closed without answering")
	}
	if n := seen.Load(); n != 1 {
		t.Fatalf("the upstream saw %d requests, want 1: a request is only sent again on a reused connection", n)
	}
}

// blockingStream answers with headers and a first event, then holds the connection until the test ends.
func blockingStream(t *testing.T) (string, chan struct{}) {
	t.Helper()
	closed := make(chan struct{}, 4)
	u := rawServer(t, func(_ int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
		io.WriteString(c, "d\r\ndata: first\n\n\r\n")
		// Wait for the client to close the connection.
		io.Copy(io.Discard, c)
		closed <- struct{}{}
	})
	return u, closed
}

func TestH1CancelUnblocksAStreamingRead(t *testing.T) {
	t.Parallel()
	u, closed := blockingStream(t)
	h := testH1(t)
	ctx, cancel := context.WithCancel(context.Background())
	resp := post(t, h, ctx, u, "{}")
	buf := make([]byte, 64)
	n, err := resp.Body.Read(buf)
	if err != nil || string(buf[:n]) != "data: first\n\n" {
		t.Fatalf("first read %q, %v", buf[:n], err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(buf)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("read after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read stayed blocked after the context was cancelled")
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream connection stayed open")
	}
	resp.Body.Close()
}

func TestH1CloseUnblocksARead(t *testing.T) {
	t.Parallel()
	u, closed := blockingStream(t)
	h := testH1(t)
	resp := post(t, h, context.Background(), u, "{}")
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(buf)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	resp.Body.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("no error reading a closed body")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read stayed blocked after Close")
	}
	<-closed
	if _, err := resp.Body.Read(buf); err == nil {
		t.Fatal("no error reading after Close")
	}
}

func TestH1CancelBeforeTheAnswer(t *testing.T) {
	t.Parallel()
	u := rawServer(t, func(_ int, c net.Conn) {
		readRequest(bufio.NewReader(c))
		io.Copy(io.Discard, c)
	})
	h := testH1(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader("{}"))
	start := time.Now()
	_, err := h.RoundTrip(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("returned after %v", d)
	}
}

func TestH1EarlyCloseDoesNotReuseTheConnection(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 100<<10))
	})
	h := testH1(t)
	resp := post(t, h, context.Background(), srv.URL, "{}")
	buf := make([]byte, 10)
	io.ReadFull(resp.Body, buf)
	resp.Body.Close()
	if got := readBody(t, post(t, h, context.Background(), srv.URL, "{}")); len(got) != 100<<10 {
		t.Fatalf("second answer has %d bytes", len(got))
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2: a body closed before its end leaves its connection unusable", n)
	}
}

func TestH1ConnectionCloseIsHonoured(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	h := testH1(t)
	for i := 0; i < 3; i++ {
		if got := readBody(t, post(t, h, context.Background(), srv.URL, "{}")); got != "bye" {
			t.Fatal(got)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
}

func TestH1SkipsInformationalAnswers(t *testing.T) {
	t.Parallel()
	u := rawServer(t, func(_ int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err == nil {
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n"+okAnswer)
		}
	})
	if got := readBody(t, post(t, testH1(t), context.Background(), u, "{}")); got != "ok" {
		t.Fatal(got)
	}
}

func TestH1RejectsHeaderInjection(t *testing.T) {
	t.Parallel()
	var seen atomic.Int32
	u := rawServer(t, func(_ int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err == nil {
			seen.Add(1)
		}
	})
	h := testH1(t)
	for _, hdr := range [][2]string{{"Authorization", "Bearer sk-secret\r\nX-Evil: 1"}, {"Bad Name", "v"}} {
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
		req.Header[hdr[0]] = []string{hdr[1]}
		_, err := h.RoundTrip(req)
		if err == nil {
			t.Fatalf("no error for header %q", hdr[0])
		}
		if strings.Contains(err.Error(), "sk-secret") {
			t.Fatalf("the error shows the header's value: %v", err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if n := seen.Load(); n != 0 {
		t.Fatalf("the upstream saw %d requests", n)
	}
}

func TestH1RequestOnTheWire(t *testing.T) {
	t.Parallel()
	got := make(chan string, 1)
	u := rawServer(t, func(_ int, c net.Conn) {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		var head bytes.Buffer
		for {
			line, err := r.ReadString('\n')
			head.WriteString(line)
			if err != nil || line == "\r\n" {
				break
			}
		}
		body := make([]byte, 9)
		io.ReadFull(r, body)
		got <- head.String() + string(body)
		io.WriteString(c, okAnswer)
	})
	req, _ := http.NewRequest(http.MethodPost, u+"/v1/messages?beta=true", newBytesBody([]byte(`{"a":"b"}`)))
	req.ContentLength = 9
	req.Header.Set("X-Api-Key", "k")
	readBody(t, mustRoundTrip(t, testH1(t), req))
	wire := <-got
	host := strings.TrimPrefix(u, "http://")
	for _, want := range []string{"POST /v1/messages?beta=true HTTP/1.1\r\nHost: " + host + "\r\n",
		"\r\nUser-Agent: Go-http-client/1.1\r\n", "\r\nX-Api-Key: k\r\n", "\r\nContent-Length: 9\r\n\r\n{\"a\":\"b\"}"} {
		if !strings.Contains(wire, want) {
			t.Fatalf("the request on the wire lacks %q:\n%s", want, wire)
		}
	}
}

func mustRoundTrip(t *testing.T, rt http.RoundTripper, req *http.Request) *http.Response {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// recordingRT answers every request itself and counts them.
type recordingRT struct{ n atomic.Int32 }

func (r *recordingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.n.Add(1)
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("fallback")), Request: req}, nil
}

func TestH1LeavesHTTPSProxiesAndUnknownLengthsToNetHTTP(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "direct") })
	proxied := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	fb := &recordingRT{}
	h := &h1Transport{fallback: fb, dial: (&net.Dialer{}).DialContext, maxIdle: 8, idleTimeout: time.Minute,
		proxy: func(r *http.Request) (*url.URL, error) {
			if r.URL.Hostname() == "localhost" {
				return url.Parse("http://proxy.invalid:3128")
			}
			return nil, nil
		}}
	unknown, _ := http.NewRequest(http.MethodPost, srv.URL, io.NopCloser(strings.NewReader("{}")))
	unknown.ContentLength = -1
	reqs := []*http.Request{unknown}
	for _, u := range []string{"https://api.example.invalid/v1", proxied} {
		r, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
		reqs = append(reqs, r)
	}
	for _, r := range reqs {
		if got := readBody(t, mustRoundTrip(t, h, r)); got != "fallback" {
			t.Fatalf("%s went direct: %q", r.URL, got)
		}
	}
	r, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
	if got := readBody(t, mustRoundTrip(t, h, r)); got != "direct" {
		t.Fatalf("a plain-HTTP request without proxy was answered by %q", got)
	}
	if fb.n.Load() != 3 || conns.Load() != 1 {
		t.Fatalf("fallback %d, direct connections %d", fb.n.Load(), conns.Load())
	}
}

func TestH1IdleTimeout(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	h := testH1(t)
	h.idleTimeout = 30 * time.Millisecond
	readBody(t, post(t, h, context.Background(), srv.URL, "{}"))
	time.Sleep(60 * time.Millisecond)
	readBody(t, post(t, h, context.Background(), srv.URL, "{}"))
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2: a connection idle past the timeout is not reused", n)
	}
}

func TestH1AliveCheck(t *testing.T) {
	t.Parallel()
	mode := make(chan string, 3)
	u := rawServer(t, func(_ int, c net.Conn) {
		switch <-mode {
		case "close":
		case "talk":
			io.WriteString(c, "unasked")
			io.Copy(io.Discard, c)
		default:
			io.Copy(io.Discard, c)
		}
	})
	h := testH1(t)
	p := &h1Pool{addr: strings.TrimPrefix(u, "http://")}
	for _, m := range []string{"open", "close", "talk"} {
		mode <- m
		c, err := h.get(context.Background(), p, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Millisecond)
		if got, want := c.alive(), m == "open"; got != want {
			t.Errorf("%s: alive() = %v, want %v", m, got, want)
		}
		c.conn.Close()
	}
}

func TestSendFollowsRedirectsLikeHTTPClient(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/v1/chat/completions/" {
			http.Redirect(w, r, "/v1/chat/completions", http.StatusTemporaryRedirect)
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, b)
	})
	c := NewClient(Options{})
	t.Cleanup(c.CloseIdle)
	req, _ := newRequest(context.Background(), http.MethodPost, srv.URL+"/v1/chat/completions/", []byte(`{"a":1}`), nil)
	resp, err := c.send(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := readBody(t, resp); got != `POST /v1/chat/completions {"a":1}` {
		t.Fatalf("after the redirect: %q", got)
	}
}

func TestSendWrapsErrorsLikeHTTPClient(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := NewClient(Options{})
	u := "http://user:secret@" + addr + "/v1/chat/completions"
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
	_, err = c.send(req)
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("error %T %v, want a *url.Error", err, err)
	}
	want := `Post "http://user:***@` + addr + `/v1/chat/completions": `
	if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %q, want it to start with %q", err, want)
	}
	var ne net.Error
	if !errors.As(err, &ne) {
		t.Fatal("the network error is not reachable through the wrapping")
	}
}

func TestH1DoesNotSendAgainAfterPartOfAnAnswer(t *testing.T) {
	t.Parallel()
	var seen atomic.Int32
	u := rawServer(t, func(n int, c net.Conn) {
		r := bufio.NewReader(c)
		for i := 0; ; i++ {
			if _, _, err := readRequest(r); err != nil {
				return
			}
			seen.Add(1)
			if i == 1 {
				io.WriteString(c, "HTTP/1.1 200") // the upstream saw the request and died answering it
				return
			}
			io.WriteString(c, okAnswer)
		}
	})
	h := testH1(t)
	readBody(t, post(t, h, context.Background(), u, "{}"))
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("{}"))
	if _, err := h.RoundTrip(req); err == nil {
		t.Fatal("no error for a truncated answer")
	}
	if n := seen.Load(); n != 2 {
		t.Fatalf("the upstream saw %d requests, want 2: a request it began to answer is not sent again", n)
	}
}

// TestH1AttemptTimeoutWithoutATimer: an attempt's lazy timeout (callctx) is enforced as the connection's
// deadline, before the answer and in the middle of its body, and comes back as context.DeadlineExceeded; the
// context is never made wait-able; the parent's cancellation still aborts the call.
func TestH1AttemptTimeoutWithoutATimer(t *testing.T) {
	t.Parallel()
	silent := rawServer(t, func(_ int, c net.Conn) {
		readRequest(bufio.NewReader(c))
		io.Copy(io.Discard, c)
	})
	stalled, _ := blockingStream(t)
	h := testH1(t)
	for name, u := range map[string]string{"before the answer": silent, "in the body": stalled} {
		ctx, cancel := callctx.WithTimeout(context.Background(), 50*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader("{}"))
		start := time.Now()
		resp, err := h.RoundTrip(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: error %v, want context.DeadlineExceeded", name, err)
		}
		if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
			t.Errorf("%s: returned after %v", name, d)
		}
		if _, _, ok := callctx.Watch(ctx); !ok {
			t.Errorf("%s: the transport waited on the attempt's context", name)
		}
		cancel()
	}

	parent, cancelParent := context.WithCancel(context.Background())
	ctx, cancel := callctx.WithTimeout(parent, time.Hour)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, silent, strings.NewReader("{}"))
	time.AfterFunc(30*time.Millisecond, cancelParent)
	if _, err := h.RoundTrip(req); !errors.Is(err, context.Canceled) {
		t.Fatalf("parent cancelled: error %v, want context.Canceled", err)
	}
}

// TestH1DeadlineDoesNotOutliveItsCall: a pooled connection that carried a call with a short timeout serves the
// next calls, with no timeout or another one, after that deadline has passed.
func TestH1DeadlineDoesNotOutliveItsCall(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	h := testH1(t)
	ctx, cancel := callctx.WithTimeout(context.Background(), 30*time.Millisecond)
	if got := readBody(t, post(t, h, ctx, srv.URL, "{}")); got != "ok" {
		t.Fatalf("first answer %q", got)
	}
	cancel()
	time.Sleep(60 * time.Millisecond)
	if got := readBody(t, post(t, h, context.Background(), srv.URL, "{}")); got != "ok" {
		t.Fatalf("answer without a timeout %q", got)
	}
	ctx, cancel = callctx.WithTimeout(context.Background(), 30*time.Millisecond)
	if got := readBody(t, post(t, h, ctx, srv.URL, "{}")); got != "ok" {
		t.Fatalf("answer with a timeout %q", got)
	}
	cancel()
	time.Sleep(60 * time.Millisecond)
	ctx, cancel = callctx.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if got := readBody(t, post(t, h, ctx, srv.URL, "{}")); got != "ok" {
		t.Fatalf("answer with a later timeout %q", got)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want the one reused", n)
	}
}

// coverDeadline keeps the connection's deadline while it is at most the slack past the call's, and sets it
// (with the slack) otherwise: earlier, later or none.
func TestH1CoverDeadline(t *testing.T) {
	t.Parallel()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &h1Conn{conn: a}
	now := time.Now()
	set := func(want time.Time, label string) {
		t.Helper()
		if err := c.coverDeadline(want, now); err != nil {
			t.Fatal(err)
		}
		if want.IsZero() {
			if !c.deadline.IsZero() {
				t.Fatalf("%s: deadline %v, want none", label, c.deadline)
			}
			return
		}
		if late := c.deadline.Sub(want); late < 0 || late > deadlineSlack(want.Sub(now)) {
			t.Fatalf("%s: the connection's deadline is %v past the call's, slack %v", label, late,
				deadlineSlack(want.Sub(now)))
		}
	}
	first := now.Add(10 * time.Minute)
	set(first, "first call")
	if c.deadline != first.Add(time.Second) {
		t.Fatalf("first call: deadline %v past the call's, want a second", c.deadline.Sub(first))
	}
	kept := c.deadline
	for _, d := range []time.Duration{time.Millisecond, 500 * time.Millisecond, time.Second} {
		set(first.Add(d), "a call "+d.String()+" later")
		if c.deadline != kept {
			t.Fatalf("a call %v later moved the deadline", d)
		}
	}
	set(first.Add(time.Second+time.Millisecond), "a call past the deadline")
	set(first.Add(-time.Second), "an earlier call")
	set(now.Add(50*time.Millisecond), "a short timeout")
	if late := c.deadline.Sub(now.Add(50 * time.Millisecond)); late > time.Millisecond {
		t.Fatalf("a 50 ms timeout may fire %v late", late)
	}
	set(time.Time{}, "no timeout")
}

// Calls in a row on one pooled connection, each with its own timeout, leave its deadline as the first set it.
func TestH1ConsecutiveCallsKeepTheConnectionsDeadline(t *testing.T) {
	t.Parallel()
	srv, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	h := testH1(t)
	var first time.Time
	for i := range 5 {
		ctx, cancel := callctx.WithTimeout(context.Background(), time.Minute)
		if got := readBody(t, post(t, h, ctx, srv.URL, "{}")); got != "ok" {
			t.Fatalf("answer %q", got)
		}
		cancel()
		v, _ := h.pools.Load(strings.TrimPrefix(srv.URL, "http://"))
		p := v.(*h1Pool)
		p.mu.Lock()
		d := p.idle[0].deadline
		p.mu.Unlock()
		if i == 0 {
			first = d
		} else if d != first {
			t.Fatalf("call %d moved the connection's deadline by %v", i+1, d.Sub(first))
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want one", n)
	}
}

// newRequest, given the URL urlCache parsed, sets up a request as http.NewRequestWithContext does with a
// bytes.Reader of the same body.
func TestNewRequestLikeNetHTTP(t *testing.T) {
	t.Parallel()
	var cache urlCache
	for _, raw := range []string{"http://h:1/p?q=1", "http://h:/p", "http://u:pw@[::1]:/p#f", "https://h/p"} {
		for _, body := range []string{`{"a":1}`, ""} {
			for _, method := range []string{http.MethodPost, http.MethodGet} {
				want, _ := http.NewRequestWithContext(context.Background(), method, raw, strings.NewReader(body))
				got, err := newRequest(context.Background(), method, raw, []byte(body), &cache)
				if err != nil {
					t.Fatal(err)
				}
				if got.ContentLength != want.ContentLength || (got.Body == http.NoBody) != (want.Body == http.NoBody) ||
					!reflect.DeepEqual(got.URL, want.URL) || got.Host != want.Host || got.GetBody == nil ||
					got.Method != want.Method || got.Proto != want.Proto || got.Header == nil {
					t.Errorf("%s %s %q: length %d, no body %v, URL %#v, host %s; net/http: %d, %v, %#v, %s", method, raw,
						body, got.ContentLength, got.Body == http.NoBody, got.URL, got.Host, want.ContentLength,
						want.Body == http.NoBody, want.URL, want.Host)
				}
				for range 2 {
					rc, _ := got.GetBody()
					if b, _ := io.ReadAll(rc); string(b) != body {
						t.Errorf("%s %q: GetBody gave %q", method, body, b)
					}
				}
			}
		}
	}
	if _, err := newRequest(context.Background(), "BAD METHOD", "http://h:1/p", nil, &cache); err == nil {
		t.Error("a bad method is not an error")
	}
	if _, err := newRequest(context.Background(), http.MethodPost, "http://h:1/%zz", nil, &cache); err == nil {
		t.Error("a bad URL is not an error")
	}
}

// urlCache writes url.Parse's URL, parsed or remembered, into a URL of the caller's.
func TestURLCache(t *testing.T) {
	t.Parallel()
	var cache urlCache
	for i, raw := range []string{"http://h:1/a?q=1", "http://h:1/a?q=1", "http://h:1/a?q=1", "http://h:1/b", "http://h:1/%zz", "http://h:1/b", "http://h:1/a?q=1"} {
		want, wantErr := url.Parse(raw)
		got := &url.URL{Path: "/left/over"}
		err := cache.parse(got, raw)
		if wantErr != nil {
			want = &url.URL{Path: "/left/over"} // untouched
		}
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) {
			t.Fatalf("call %d, %s: %#v, %v; url.Parse: %#v, %v", i, raw, got, err, want, wantErr)
		}
		if err == nil {
			// A request may change its URL (a redirect, the host's empty port): the next call must not see it.
			got.Path, got.Host = "/changed", "other:2"
		}
	}
}
