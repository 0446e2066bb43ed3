package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// netHTTP is the net/http client variant, kept to compare the load generator's own cost against the raw
// connections (loadgen --client nethttp).
type netHTTP struct {
	c *http.Client
}

func newNetHTTP(conns int) *netHTTP {
	return &netHTTP{c: &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns, // the default of 2 would open and close connections under load
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
		IdleConnTimeout:     90 * time.Second,
	}}}
}

type netHTTPDoer struct {
	h      *netHTTP
	url    string
	header http.Header
	body   []byte
	buf    []byte
	sse    sseScanner
}

func (h *netHTTP) doer(url string, header map[string]string, body []byte) doer {
	hh := http.Header{"Content-Type": {"application/json"}}
	for k, v := range header {
		hh.Set(k, v)
	}
	return &netHTTPDoer{h: h, url: url, header: hh, body: body, buf: make([]byte, 32<<10)}
}

func (d *netHTTPDoer) close() { d.h.c.CloseIdleConnections() }

func (d *netHTTPDoer) do(ctx context.Context, stream bool, deadline time.Time) (s sample, err error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return s, err
	}
	req.Header = d.header
	start := time.Now()
	resp, err := d.h.c.Do(req)
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	if stream {
		d.sse.reset(start)
	}
	for {
		n, err := resp.Body.Read(d.buf)
		s.bytes += n
		if stream {
			d.sse.feed(d.buf[:n])
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return s, err
		}
	}
	s.latency = time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	if stream {
		if !d.sse.done {
			return s, errors.New("stream ended without [DONE]")
		}
		s.ttft, s.events = d.sse.ttft, d.sse.events
	}
	return s, nil
}
