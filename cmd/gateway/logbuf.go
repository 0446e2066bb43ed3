package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Log lines are buffered: a write(2) per access-log line was about 5% of the gateway's CPU under load (a system
// call per request, next to the four the proxying itself needs). Lines at info and debug collect in memory and
// are written together when logBufferSize bytes have collected or logFlushInterval after the first of them,
// whichever comes first; a warning or an error is written at once, with whatever is waiting before it; and
// everything is written when the process stops. What a crash (SIGKILL, a runtime fatal error) can lose is the
// last logFlushInterval of info lines. This is what nginx's `access_log ... buffer= flush=` does.
const (
	logBufferSize    = 32 << 10
	logFlushInterval = 100 * time.Millisecond
)

// bufferedLog is an io.Writer that collects writes and passes them on in batches.
type bufferedLog struct {
	mu       sync.Mutex
	out      io.Writer
	buf      []byte
	size     int
	interval time.Duration
	timer    *time.Timer
	armed    bool
}

func newBufferedLog(out io.Writer, size int, interval time.Duration) *bufferedLog {
	b := &bufferedLog{out: out, size: size, interval: interval, buf: make([]byte, 0, size)}
	b.timer = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.timer.Stop()
	return b
}

// Write keeps p (a whole log line: slog's handlers write each record in one call) for the next flush.
func (b *bufferedLog) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf)+len(p) > b.size {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= b.size {
			return b.out.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	if !b.armed {
		b.armed = true
		b.timer.Reset(b.interval)
	}
	return len(p), nil
}

// Flush writes what is waiting.
func (b *bufferedLog) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.flushLocked()
}

func (b *bufferedLog) flushLocked() error {
	if b.armed {
		b.armed = false
		b.timer.Stop()
	}
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.out.Write(b.buf)
	b.buf = b.buf[:0]
	return err
}

// flushingHandler writes a buffered log's waiting lines out after every record at warning level or above, so
// that problems show at once (and in order after the lines before them).
type flushingHandler struct {
	slog.Handler
	buf *bufferedLog
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.buf.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(attrs), h.buf}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.buf}
}
