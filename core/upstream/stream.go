package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/switchyard/gateway/sdk"
)

// httpStream reads a streamed upstream body through a translator's StreamParser.
type httpStream struct {
	body    io.ReadCloser
	frames  frameReader
	parser  sdk.StreamParser
	t       *sdk.Target
	pending []*sdk.Chunk
	next    int
	done    bool
	close   sync.Once
	// batch and scratch are reused by parseBatch.
	batch   []sdk.StreamEvent
	scratch []byte
}

func newHTTPStream(body io.ReadCloser, p sdk.StreamParser, t *sdk.Target) *httpStream {
	return &httpStream{body: body, frames: newFrameReader(p.Framing(), body), parser: p, t: t}
}

func (s *httpStream) Next() (*sdk.Chunk, error) {
	for s.next >= len(s.pending) {
		if s.done {
			return nil, io.EOF
		}
		s.pending, s.next = s.pending[:0], 0
		ev, err := s.frames.Next()
		switch {
		case err == io.EOF:
			s.finish()
			s.pending, err = s.parser.End(s.pending)
			if err != nil {
				return nil, s.wrap(err)
			}
		case err != nil:
			s.finish()
			return nil, s.wrap(err)
		default:
			var done bool
			if bp, ok := s.parser.(batchParser); ok && s.frames.ready() {
				s.pending, done, err = s.parseBatch(bp, ev)
			} else {
				s.pending, done, err = s.parser.Parse(ev, s.pending)
			}
			if done || err != nil {
				s.finish()
			}
			if err != nil {
				return nil, s.wrap(err)
			}
		}
	}
	c := s.pending[s.next]
	s.pending[s.next] = nil
	s.next++
	return c, nil
}

// finish marks the stream read to its end and gives its read buffer back. It runs on the reading goroutine,
// after the last read: Close may run concurrently with Next, so the buffer is not released there.
func (s *httpStream) finish() {
	s.done = true
	s.frames.release()
}

// batchParser is implemented by parsers running in a plugin (go-plugin, WASM), where each call is a round trip:
// events that have already arrived go to them together.
type batchParser interface {
	ParseBatch(evs []sdk.StreamEvent, out []*sdk.Chunk) ([]*sdk.Chunk, bool, error)
}

// maxBatch bounds the events handed to a plugin parser in one call.
const maxBatch = 64

// parseBatch parses ev and the events already buffered behind it in one call. Event data is only valid until
// the frame reader's next call, so it is copied.
func (s *httpStream) parseBatch(bp batchParser, ev sdk.StreamEvent) ([]*sdk.Chunk, bool, error) {
	s.scratch = s.scratch[:0]
	evs := s.batch[:0]
	add := func(ev sdk.StreamEvent) {
		start := len(s.scratch)
		s.scratch = append(s.scratch, ev.Data...)
		evs = append(evs, sdk.StreamEvent{Type: ev.Type, Data: s.scratch[start:len(s.scratch):len(s.scratch)]})
	}
	add(ev)
	var end bool
	for len(evs) < maxBatch && s.frames.ready() {
		next, err := s.frames.Next()
		if err == io.EOF {
			end = true
			break
		}
		if err != nil {
			return s.pending, true, err
		}
		add(next)
	}
	// Data slices point into scratch, which may have moved while growing: rebuild them.
	off := 0
	for i := range evs {
		n := len(evs[i].Data)
		evs[i].Data = s.scratch[off : off+n : off+n]
		off += n
	}
	s.batch = evs
	out, done, err := bp.ParseBatch(evs, s.pending)
	if err != nil || done || !end {
		return out, done, err
	}
	out, err = s.parser.End(out)
	return out, true, err
}

// Ready reports whether Next will return without waiting for the network.
func (s *httpStream) Ready() bool {
	return s.next < len(s.pending) || s.done || s.frames.ready()
}

func (s *httpStream) Close() error {
	s.close.Do(func() {
		s.body.Close()
		// A parser running in a plugin holds a stream of its own there.
		if c, ok := s.parser.(io.Closer); ok {
			_ = c.Close()
		}
	})
	return nil
}

func (s *httpStream) wrap(err error) error {
	var e *sdk.Error
	if !errors.As(err, &e) {
		e = sdk.AsError(err)
		if e.Kind == sdk.KindInternal {
			e = &sdk.Error{Kind: sdk.KindAPIConnection, Message: "the upstream stream broke: " + err.Error(), Err: err}
		}
	}
	return attribute(e, s.t.Provider)
}

// chatter is the part of a backend that completions are served through.
type chatter interface {
	Chat(ctx context.Context, req *sdk.ChatRequest) (*sdk.ChatResponse, error)
	ChatStream(ctx context.Context, req *sdk.ChatRequest) (sdk.Stream, error)
}

func completeViaChat(ctx context.Context, b chatter, req *sdk.CompletionRequest) (*sdk.CompletionResponse, error) {
	chat, err := sdk.ChatFromCompletion(req)
	if err != nil {
		return nil, err
	}
	resp, err := b.Chat(ctx, chat)
	if err != nil {
		return nil, err
	}
	if resp, err = resp.Decoded(); err != nil {
		return nil, &sdk.Error{Kind: sdk.KindAPIConnection, Message: "the upstream answer could not be read: " + err.Error(), Err: err}
	}
	return sdk.CompletionFromChat(resp), nil
}

func completeStreamViaChat(ctx context.Context, b chatter, req *sdk.CompletionRequest) (sdk.Stream, error) {
	chat, err := sdk.ChatFromCompletion(req)
	if err != nil {
		return nil, err
	}
	s, err := b.ChatStream(ctx, chat)
	if err != nil {
		return nil, err
	}
	return &completionStream{inner: s}, nil
}

// completionStream turns chat chunks into text completion chunks (carried in Raw).
type completionStream struct {
	inner sdk.Stream
}

func (c *completionStream) Next() (*sdk.Chunk, error) {
	ch, err := c.inner.Next()
	if err != nil {
		return nil, err
	}
	d, err := ch.Decoded()
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(sdk.CompletionChunkFromChat(d))
	if err != nil {
		return nil, err
	}
	return &sdk.Chunk{Raw: raw, Usage: d.Usage}, nil
}

func (c *completionStream) Close() error { return c.inner.Close() }

func (c *completionStream) Ready() bool {
	r, ok := c.inner.(sdk.ReadyStream)
	return ok && r.Ready()
}
