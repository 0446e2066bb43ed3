package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strconv"
	"time"
)

// rawConn is one keep-alive HTTP/1.1 connection driven by hand: the request is built once and written with a
// single write; the answer is parsed from a buffered reader without allocating (status line, the three headers
// that matter, a Content-Length or chunked body). Compared with net/http's client it saves the per-request
// request/response objects, header maps and the transport's two goroutines per connection, which on a shared
// 2-core machine is CPU taken from the servers being measured. It only understands what the targets send: no
// TLS, no redirects, no 1xx other than 100-continue, no compression.
type rawConn struct {
	addr string
	req  []byte
	c    net.Conn
	r    *bufio.Reader
	buf  []byte // chunk data
	sse  sseScanner
}

func newRawConn(u *url.URL, header map[string]string, body []byte) (*rawConn, error) {
	path := u.RequestURI()
	var b bytes.Buffer
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: switchyard-loadgen\r\n", path, u.Host)
	names := make([]string, 0, len(header))
	for k := range header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "%s: %s\r\n", k, header[k])
	}
	fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	return &rawConn{addr: addr, req: b.Bytes(), buf: make([]byte, 0, 4096)}, nil
}

func (c *rawConn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

var errClosed = errors.New("connection closed by the server")

// do sends the request and reads the whole answer. Any error closes the connection; the next call reconnects.
func (c *rawConn) do(ctx context.Context, stream bool, deadline time.Time) (s sample, err error) {
	if c.c == nil {
		d := net.Dialer{Timeout: 5 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			// A target that is down must not turn the workers into a busy loop.
			time.Sleep(10 * time.Millisecond)
			return s, err
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		c.c = conn
		if c.r == nil {
			c.r = bufio.NewReaderSize(conn, 32<<10)
		} else {
			c.r.Reset(conn)
		}
	}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	if err := c.c.SetDeadline(deadline); err != nil {
		return s, err
	}
	start := time.Now()
	if _, err := c.c.Write(c.req); err != nil {
		return s, err
	}
	status, length, chunked, keepAlive, err := c.readHead()
	if err != nil {
		return s, err
	}
	if stream {
		c.sse.reset(start)
	}
	switch {
	case chunked:
		s.bytes, s.chunks, err = c.readChunked(stream)
	case length >= 0:
		s.bytes, err = c.readLength(length, stream)
	default: // no length: the body ends with the connection
		s.bytes, err = c.readToEOF(stream)
		keepAlive = false
	}
	if err != nil {
		return s, err
	}
	s.latency = time.Since(start)
	if !keepAlive {
		c.close()
	}
	if status != 200 {
		return s, fmt.Errorf("HTTP %d", status)
	}
	if stream {
		if !c.sse.done {
			return s, errors.New("stream ended without [DONE]")
		}
		s.ttft, s.events = c.sse.ttft, c.sse.events
	}
	return s, nil
}

// readHead reads the status line and headers. length is -1 when the answer gives none.
func (c *rawConn) readHead() (status, length int, chunked, keepAlive bool, err error) {
	for {
		line, err := c.line()
		if err != nil {
			return 0, 0, false, false, err
		}
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
			return 0, 0, false, false, fmt.Errorf("bad status line %q", line)
		}
		status, err = strconv.Atoi(string(line[9:12]))
		if err != nil {
			return 0, 0, false, false, fmt.Errorf("bad status line %q", line)
		}
		keepAlive = line[7] == '1' // HTTP/1.1 keeps the connection unless told otherwise
		length = -1
		for {
			h, err := c.line()
			if err != nil {
				return 0, 0, false, false, err
			}
			if len(h) == 0 {
				break
			}
			name, value, ok := bytes.Cut(h, []byte{':'})
			if !ok {
				continue
			}
			value = bytes.TrimSpace(value)
			switch {
			case asciiEqualFold(name, "content-length"):
				if length, err = strconv.Atoi(string(value)); err != nil {
					return 0, 0, false, false, fmt.Errorf("bad Content-Length %q", value)
				}
			case asciiEqualFold(name, "transfer-encoding"):
				chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
			case asciiEqualFold(name, "connection"):
				if asciiEqualFold(value, "close") {
					keepAlive = false
				} else if asciiEqualFold(value, "keep-alive") {
					keepAlive = true
				}
			}
		}
		if status == 100 { // an interim answer: the real one follows
			continue
		}
		return status, length, chunked, keepAlive, nil
	}
}

// line returns the next line without its CRLF; it is valid until the next read.
func (c *rawConn) line() ([]byte, error) {
	l, err := c.r.ReadSlice('\n')
	if err != nil {
		if err == io.EOF && len(l) == 0 {
			return nil, errClosed
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	l = l[:len(l)-1]
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l, nil
}

func (c *rawConn) readLength(n int, stream bool) (int, error) {
	if !stream {
		_, err := c.r.Discard(n)
		return n, unexpected(err)
	}
	c.buf = grow(c.buf, n)
	if _, err := io.ReadFull(c.r, c.buf); err != nil {
		return 0, unexpected(err)
	}
	c.sse.feed(c.buf)
	return n, nil
}

// readChunked reads a chunked body, returning its size and its number of chunks.
func (c *rawConn) readChunked(stream bool) (total, chunks int, err error) {
	for {
		line, err := c.line()
		if err != nil {
			return total, chunks, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 { // chunk extensions
			line = line[:i]
		}
		size, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 32)
		if err != nil {
			return total, chunks, fmt.Errorf("bad chunk size %q", line)
		}
		if size == 0 {
			for { // trailers, then the empty line
				t, err := c.line()
				if err != nil {
					return total, chunks, err
				}
				if len(t) == 0 {
					return total, chunks, nil
				}
			}
		}
		n := int(size)
		if stream {
			c.buf = grow(c.buf, n)
			if _, err := io.ReadFull(c.r, c.buf); err != nil {
				return total, chunks, unexpected(err)
			}
			c.sse.feed(c.buf)
		} else if _, err := c.r.Discard(n); err != nil {
			return total, chunks, unexpected(err)
		}
		total += n
		chunks++
		if crlf, err := c.line(); err != nil || len(crlf) != 0 {
			return total, chunks, fmt.Errorf("chunk not followed by CRLF")
		}
	}
}

func (c *rawConn) readToEOF(stream bool) (int, error) {
	total := 0
	for {
		c.buf = grow(c.buf, 4096)
		n, err := c.r.Read(c.buf)
		total += n
		if stream {
			c.sse.feed(c.buf[:n])
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// sseScanner cuts a de-chunked event stream into events as bytes arrive and notes when the first event with
// content arrived. Events may span reads, so a partial event is kept until its blank line comes.
type sseScanner struct {
	start   time.Time
	pending []byte
	ttft    time.Duration
	events  int
	done    bool
}

func (s *sseScanner) reset(start time.Time) {
	s.start, s.pending, s.ttft, s.events, s.done = start, s.pending[:0], 0, 0, false
}

var (
	eventEnd      = []byte("\n\n")
	dataPrefix    = []byte("data:")
	doneMarker    = []byte("[DONE]")
	contentMarker = []byte(`"content":"`)
)

func (s *sseScanner) feed(p []byte) {
	// Most events arrive whole in one chunk: scan p in place and only copy a trailing partial event.
	if len(s.pending) > 0 {
		s.pending = append(s.pending, p...)
		p = s.pending
	}
	for {
		i := bytes.Index(p, eventEnd)
		if i < 0 {
			break
		}
		s.event(p[:i])
		p = p[i+2:]
	}
	s.pending = append(s.pending[:0], p...)
}

func (s *sseScanner) event(ev []byte) {
	ev = bytes.TrimLeft(ev, "\r\n")
	if !bytes.HasPrefix(ev, dataPrefix) {
		return // comments, event: lines without data
	}
	data := bytes.TrimSpace(ev[len(dataPrefix):])
	if bytes.Equal(data, doneMarker) {
		s.done = true
		return
	}
	s.events++
	if s.ttft == 0 && hasContent(data) {
		s.ttft = time.Since(s.start)
	}
}

// hasContent reports a chunk whose content is a non-empty string: the role-only first chunk of an OpenAI
// stream ("content":"") and the finish and usage chunks do not count as the first token.
func hasContent(data []byte) bool {
	for {
		i := bytes.Index(data, contentMarker)
		if i < 0 {
			return false
		}
		data = data[i+len(contentMarker):]
		if len(data) > 0 && data[0] != '"' {
			return true
		}
	}
}
