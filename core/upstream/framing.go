package upstream

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"github.com/switchyard/gateway/sdk"
)

// frameReader cuts a streamed body into events. The returned event's Data is valid until the next call.
type frameReader interface {
	Next() (sdk.StreamEvent, error)
	// ready reports whether a whole event is already buffered, so that Next will not wait for the network.
	ready() bool
	// release gives the read buffer back for another stream; the reader must not be used afterwards.
	release()
}

// readers holds the 16 KB read buffers of finished streams: one per stream was an eighth of the bytes the
// gateway allocated under streaming load.
var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

func releaseReader(r **bufio.Reader) {
	if *r != nil {
		(*r).Reset(nil)
		readers.Put(*r)
		*r = nil
	}
}

// buffered returns the bytes read from the network and not consumed yet, without copying them.
func buffered(r *bufio.Reader) []byte {
	b, _ := r.Peek(r.Buffered())
	return b
}

func newFrameReader(f sdk.Framing, r io.Reader) frameReader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(r)
	switch f {
	case sdk.FramingNDJSON:
		return &ndjsonReader{lines: lineReader{r: br}}
	case sdk.FramingAWSEventStream:
		return &eventStreamReader{r: br}
	}
	return &sseReader{lines: lineReader{r: br}}
}

// lineReader reads lines without their line ending, without copying short lines.
type lineReader struct {
	r    *bufio.Reader
	long []byte
}

func (l *lineReader) next() ([]byte, error) {
	line, err := l.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		l.long = append(l.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = l.r.ReadSlice('\n')
			l.long = append(l.long, line...)
		}
		line = l.long
	}
	if err != nil && (err != io.EOF || len(line) == 0) {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte{'\n'})
	return bytes.TrimSuffix(line, []byte{'\r'}), nil
}

// sseReader implements the event-stream format: "field: value" lines, events ended by a blank line, comments
// starting with ':'.
type sseReader struct {
	lines lineReader
	data  []byte
}

// Common event names, so that reading them does not allocate.
var sseTypes = map[string]string{}

func init() {
	for _, t := range []string{"message", "message_start", "message_delta", "message_stop", "content_block_start",
		"content_block_delta", "content_block_stop", "ping", "error", "completion", "done",
		"message-start", "content-start", "content-delta", "content-end", "tool-call-start", "tool-call-delta",
		"tool-call-end", "message-end", "stream-start", "stream-end"} {
		sseTypes[t] = t
	}
}

func (s *sseReader) ready() bool {
	b := buffered(s.lines.r)
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\r\n\r\n"))
}

func (s *sseReader) Next() (sdk.StreamEvent, error) {
	s.data = s.data[:0]
	var ev sdk.StreamEvent
	hasData, hasType := false, false
	for {
		line, err := s.lines.next()
		if err != nil {
			if err == io.EOF && hasData {
				ev.Data = s.data
				return ev, nil
			}
			return sdk.StreamEvent{}, err
		}
		if len(line) == 0 {
			if hasData || hasType {
				ev.Data = s.data
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch string(field) {
		case "data":
			if hasData {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, value...)
			hasData = true
		case "event":
			if t, ok := sseTypes[string(value)]; ok {
				ev.Type = t
			} else {
				ev.Type = string(value)
			}
			hasType = true
		}
	}
}

// ndjsonReader reads one JSON document per non-blank line.
type ndjsonReader struct {
	lines lineReader
}

func (s *sseReader) release() { releaseReader(&s.lines.r) }

func (n *ndjsonReader) release() { releaseReader(&n.lines.r) }

func (e *eventStreamReader) release() { releaseReader(&e.r) }

func (n *ndjsonReader) ready() bool {
	return bytes.IndexByte(buffered(n.lines.r), '\n') >= 0
}

func (n *ndjsonReader) Next() (sdk.StreamEvent, error) {
	for {
		line, err := n.lines.next()
		if err != nil {
			return sdk.StreamEvent{}, err
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			return sdk.StreamEvent{Data: line}, nil
		}
	}
}

// eventStreamReader decodes AWS's application/vnd.amazon.eventstream framing: a 12-byte prelude (total length,
// headers length, prelude CRC32), headers, payload, and a CRC32 of the whole message.
type eventStreamReader struct {
	r   *bufio.Reader
	buf []byte
}

const maxEventStreamMessage = 16 << 20

var errEventStream = errors.New("malformed AWS event stream")

func (e *eventStreamReader) ready() bool {
	b := buffered(e.r)
	return len(b) >= 4 && uint32(len(b)) >= binary.BigEndian.Uint32(b)
}

func (e *eventStreamReader) Next() (sdk.StreamEvent, error) {
	var prelude [12]byte
	if _, err := io.ReadFull(e.r, prelude[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return sdk.StreamEvent{}, fmt.Errorf("%w: truncated prelude", errEventStream)
		}
		return sdk.StreamEvent{}, err
	}
	total := binary.BigEndian.Uint32(prelude[0:4])
	hlen := binary.BigEndian.Uint32(prelude[4:8])
	if crc32.ChecksumIEEE(prelude[:8]) != binary.BigEndian.Uint32(prelude[8:12]) {
		return sdk.StreamEvent{}, fmt.Errorf("%w: prelude checksum mismatch", errEventStream)
	}
	if total < 16 || total > maxEventStreamMessage || hlen > total-16 {
		return sdk.StreamEvent{}, fmt.Errorf("%w: bad lengths", errEventStream)
	}
	if cap(e.buf) < int(total) {
		e.buf = make([]byte, total)
	}
	msg := e.buf[:total]
	copy(msg, prelude[:])
	if _, err := io.ReadFull(e.r, msg[12:]); err != nil {
		return sdk.StreamEvent{}, fmt.Errorf("%w: truncated message", errEventStream)
	}
	if crc32.ChecksumIEEE(msg[:total-4]) != binary.BigEndian.Uint32(msg[total-4:]) {
		return sdk.StreamEvent{}, fmt.Errorf("%w: message checksum mismatch", errEventStream)
	}
	headers := msg[12 : 12+hlen]
	ev := sdk.StreamEvent{Data: msg[12+hlen : total-4]}
	var msgType, exception string
	for len(headers) > 0 {
		nlen := int(headers[0])
		if len(headers) < 1+nlen+1 {
			return sdk.StreamEvent{}, fmt.Errorf("%w: bad header", errEventStream)
		}
		name := string(headers[1 : 1+nlen])
		typ := headers[1+nlen]
		headers = headers[2+nlen:]
		var value []byte
		switch typ {
		case 0, 1: // bool true/false
		case 2: // byte
			headers = headers[min(1, len(headers)):]
		case 3: // int16
			headers = headers[min(2, len(headers)):]
		case 4: // int32
			headers = headers[min(4, len(headers)):]
		case 5, 8: // int64, timestamp
			headers = headers[min(8, len(headers)):]
		case 6, 7: // bytes, string
			if len(headers) < 2 {
				return sdk.StreamEvent{}, fmt.Errorf("%w: bad header", errEventStream)
			}
			vlen := int(binary.BigEndian.Uint16(headers))
			if len(headers) < 2+vlen {
				return sdk.StreamEvent{}, fmt.Errorf("%w: bad header", errEventStream)
			}
			value = headers[2 : 2+vlen]
			headers = headers[2+vlen:]
		case 9: // uuid
			headers = headers[min(16, len(headers)):]
		default:
			return sdk.StreamEvent{}, fmt.Errorf("%w: unknown header type %d", errEventStream, typ)
		}
		switch name {
		case ":event-type":
			ev.Type = string(value)
		case ":message-type":
			msgType = string(value)
		case ":exception-type":
			exception = string(value)
		}
	}
	if msgType == "exception" || msgType == "error" {
		// Exceptions carry their class in :exception-type; the translator sees them as an event of that type.
		ev.Type = exception
		if ev.Type == "" {
			ev.Type = "exception"
		}
	}
	return ev, nil
}
