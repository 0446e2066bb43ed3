package edge

import (
	"context"
	"encoding/json"
	"io"
	"sync"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// sseBody writes a call's stream as server-sent events. fasthttp writes a body implementing BodyWriterTo by
// calling WriteTo on the connection's goroutine, one flushed HTTP chunk per Write, so each event reaches the
// client as soon as it is read from upstream, without a pipe or an extra goroutine. A failed write means the
// client went away: the upstream call is cancelled. Close (called by fasthttp in every case) finishes the call.
type sseBody struct {
	call   *pipeline.Call
	p      *pipeline.Pipeline
	cancel context.CancelFunc

	buf     []byte // the events being built
	pending []byte // what Read has not returned yet
	pooled  *[]byte
	last    bool
	once    sync.Once
}

// SupportsBodyWriteTo tells fasthttp to use WriteTo.
func (b *sseBody) SupportsBodyWriteTo() bool { return true }

// maxBatch bounds how many bytes of events that arrived together are written at once.
const maxBatch = 64 << 10

// firstBatch is the most events the first write holds: a stream's opening events (the role, the first token)
// go out before the rest of what arrived with them is translated, so a fast upstream's burst does not delay
// the first token. Each later write may hold twice as many as the one before.
const firstBatch = 2

// WriteTo streams every event to w. Events the upstream sent together (the stream says the next one is at hand)
// go out in one write, in batches that start small and grow; an event is never held back waiting for another.
func (b *sseBody) WriteTo(w io.Writer) (int64, error) {
	ready, _ := b.call.Stream.(sdk.ReadyStream)
	b.takeBuffer()
	var total int64
	limit := firstBatch
	for !b.last {
		b.buf = b.next(b.buf[:0])
		for n := 1; n < limit && !b.last && ready != nil && len(b.buf) < maxBatch && ready.Ready(); n++ {
			b.buf = b.next(b.buf)
		}
		if limit < maxBatch { // every event is more than a byte, so maxBatch bytes end a batch before this
			limit *= 2
		}
		n, err := w.Write(b.buf)
		total += int64(n)
		if err != nil {
			b.clientGone()
			return total, err
		}
	}
	return total, nil
}

// batchBuffers recycles the buffers events are built in: a stream's batches grow to a few kilobytes, which
// would otherwise be allocated afresh for every stream.
var batchBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

func (b *sseBody) takeBuffer() {
	if b.pooled == nil {
		b.pooled = batchBuffers.Get().(*[]byte)
		b.buf = (*b.pooled)[:0]
	}
}

// Read is the io.Reader fallback, producing the same bytes as WriteTo.
func (b *sseBody) Read(p []byte) (int, error) {
	b.takeBuffer()
	for len(b.pending) == 0 {
		if b.last {
			return 0, io.EOF
		}
		b.buf = b.next(b.buf[:0])
		b.pending = b.buf
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

var (
	dataPrefix = []byte("data: ")
	eventEnd   = []byte("\n\n")
	doneEvent  = []byte("data: [DONE]\n\n")
)

// next reads one chunk and appends its event to dst. After the end ([DONE]) or an error, last is set.
func (b *sseBody) next(dst []byte) []byte {
	ch, err := b.call.Stream.Next()
	if err == io.EOF {
		b.last = true
		return append(dst, doneEvent...)
	}
	if err != nil {
		b.last = true
		e := sdk.AsError(err)
		b.call.Err = e
		return append(append(append(dst, dataPrefix...), encodeError(e, b.call.Credential)...), eventEnd...)
	}
	payload := []byte(ch.Raw)
	if payload == nil {
		if payload, err = json.Marshal(ch); err != nil {
			b.last = true
			e := sdk.Errorf(sdk.KindInternal, "encoding a stream chunk: %w", err)
			b.call.Err = e
			return append(append(append(dst, dataPrefix...), encodeError(e)...), eventEnd...)
		}
	}
	return append(append(append(dst, dataPrefix...), payload...), eventEnd...)
}

func (b *sseBody) clientGone() {
	b.last = true
	b.call.Status = 499
	if b.call.Err == nil {
		b.call.Err = &sdk.Error{Kind: sdk.KindTimeout, Status: 499, Message: "the client closed the connection"}
	}
	b.cancel()
}

// Close ends the upstream stream and finishes the call; fasthttp calls it once the response is written or
// abandoned.
func (b *sseBody) Close() error {
	b.once.Do(func() {
		if !b.last {
			b.clientGone()
		}
		b.call.Stream.Close()
		b.cancel()
		b.p.Finish(b.call)
		if b.pooled != nil && cap(b.buf) <= 2*maxBatch {
			*b.pooled = b.buf[:0]
			batchBuffers.Put(b.pooled)
		}
		b.buf, b.pending, b.pooled = nil, nil, nil
	})
	return nil
}
