package upstream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// The frame readers parse bytes an upstream (or whatever answers at its address) sends, so they must survive
// anything: these fuzz targets check that a reader never panics, always ends, never makes events out of nothing,
// and that well-formed streams read back as the events they encode.

// readBounded reads every event of input, with ready() asked after each, failing the test when the reader returns
// more than maxEvents events (it would be making events without consuming input) or does not finish in time.
func readBounded(t *testing.T, f sdk.Framing, input []byte, maxEvents int) ([]event, error) {
	t.Helper()
	type result struct {
		events []event
		err    error
	}
	done := make(chan result, 1)
	go func() {
		r := newFrameReader(f, bytes.NewReader(input))
		var out []event
		for {
			ev, err := r.Next()
			if err != nil {
				done <- result{out, err}
				return
			}
			out = append(out, event{ev.Type, string(ev.Data)})
			if len(out) > maxEvents {
				done <- result{out, errors.New("too many events")}
				return
			}
			r.ready()
		}
	}()
	select {
	case res := <-done:
		if res.err != nil && res.err.Error() == "too many events" {
			t.Fatalf("%d bytes made more than %d events", len(input), maxEvents)
		}
		return res.events, res.err
	case <-time.After(10 * time.Second):
		t.Fatalf("the reader did not finish %d bytes", len(input))
		return nil, nil
	}
}

// encodeSSE writes events in the canonical event-stream form. Fields must not hold a carriage return, nor a
// type a line feed.
func encodeSSE(events []event) []byte {
	var b bytes.Buffer
	for _, ev := range events {
		if ev.Type != "" {
			b.WriteString("event: " + ev.Type + "\n")
		}
		for _, line := range strings.Split(ev.Data, "\n") {
			b.WriteString("data: " + line + "\n")
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

// sseEventsFrom makes well-formed events from arbitrary bytes: NUL-separated pieces, each an event whose first
// line is its type when the piece starts with 'T', and whose other lines are its data.
func sseEventsFrom(input []byte) []event {
	var out []event
	for _, piece := range bytes.Split(bytes.ReplaceAll(input, []byte{'\r'}, nil), []byte{0}) {
		var ev event
		if rest, ok := bytes.CutPrefix(piece, []byte{'T'}); ok {
			typ, data, _ := bytes.Cut(rest, []byte{'\n'})
			ev = event{string(typ), string(data)}
		} else {
			ev = event{"", string(piece)}
		}
		out = append(out, ev)
	}
	return out
}

func FuzzSSEReader(f *testing.F) {
	for _, seed := range []string{
		"data: {\"a\":1}\n\n",
		"data: 1\n\ndata: 2\n\n",
		"data: a\ndata: b\ndata:c\n\n",
		"event: message_start\ndata: {}\n\nevent: custom-kind\ndata: x\n\n",
		"event: ping\n\n",
		": keep-alive\n\ndata: x\n: between\n\n",
		"id: 7\nretry: 100\ndata: x\n\n",
		"data\n\n",
		"event: delta\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n",
		"\n\n\ndata: x\n\n\n\n",
		"data: 1\n\ndata: [DONE]",
		"data: 1\n\nevent: x\n",
		"Tcontent_block_delta\n{\"delta\":1}\x00plain\nmulti\x00T\x00",
		"data: " + strings.Repeat("x", 20<<10) + "\n\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		// Every event needs a "data" or "event" field: at least four bytes.
		got, err := readBounded(t, sdk.FramingSSE, input, len(input)/4+1)
		if err != io.EOF {
			t.Fatalf("ended with %v, want io.EOF", err)
		}
		// What was read, written out again, reads back the same. Events holding a carriage return are left out:
		// the reader ends lines at LF and CRLF only, not at a lone CR (which the SSE specification also allows
		// and no upstream sends), so such a CR is part of the field.
		var clean []event
		for _, ev := range got {
			if strings.Contains(ev.Type, "\n") {
				t.Fatalf("event type %q spans lines", ev.Type)
			}
			if !strings.Contains(ev.Type+ev.Data, "\r") {
				clean = append(clean, ev)
			}
		}
		if again, err := readBounded(t, sdk.FramingSSE, encodeSSE(clean), len(clean)); err != io.EOF ||
			!reflect.DeepEqual(again, clean) {
			t.Fatalf("events %q read back as %q (%v)", clean, again, err)
		}
		want := sseEventsFrom(input)
		back, err := readBounded(t, sdk.FramingSSE, encodeSSE(want), len(want))
		if err != io.EOF || !reflect.DeepEqual(back, want) {
			t.Fatalf("events %q read back as %q (%v)", want, back, err)
		}
	})
}

// ndjsonEventsFrom makes well-formed documents from arbitrary bytes: its lines, trimmed, without blank ones.
func ndjsonEventsFrom(input []byte) []event {
	var out []event
	for _, line := range bytes.Split(input, []byte{'\n'}) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			out = append(out, event{"", string(line)})
		}
	}
	return out
}

func FuzzNDJSONReader(f *testing.F) {
	for _, seed := range []string{
		"{\"a\":1}\n{\"a\":2}\n",
		"\n{\"a\":1}\n\n  \r\n{\"a\":2}\n\n",
		" {\"a\":1} \r\n",
		"{\"a\":1}",
		`{"x":"` + strings.Repeat("y", 20<<10) + "\"}\n",
		"\n\n \n",
		"\u00a0{}\u0085\n\v\f\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		got, err := readBounded(t, sdk.FramingNDJSON, input, len(input))
		if err != io.EOF {
			t.Fatalf("ended with %v, want io.EOF", err)
		}
		for _, ev := range got {
			if ev.Data == "" || strings.Contains(ev.Data, "\n") || ev.Type != "" {
				t.Fatalf("event %q is not one non-blank line", ev)
			}
		}
		// Reading is the same as cutting the input into trimmed non-blank lines.
		want := ndjsonEventsFrom(input)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("read %q, want %q", got, want)
		}
		var enc bytes.Buffer
		for _, ev := range want {
			enc.WriteString(ev.Data + "\n")
		}
		back, err := readBounded(t, sdk.FramingNDJSON, enc.Bytes(), len(want))
		if err != io.EOF || !reflect.DeepEqual(back, want) {
			t.Fatalf("events %q read back as %q (%v)", want, back, err)
		}
	})
}

// fixChecksums walks input as a sequence of event stream messages, taking their lengths as they are and writing
// correct checksums, so that the fuzzer's mutations reach the header parsing behind them.
func fixChecksums(input []byte) []byte {
	b := bytes.Clone(input)
	for rest := b; len(rest) >= 16; {
		total := binary.BigEndian.Uint32(rest)
		if total < 16 || uint64(total) > uint64(len(rest)) {
			break
		}
		binary.BigEndian.PutUint32(rest[8:], crc32.ChecksumIEEE(rest[:8]))
		binary.BigEndian.PutUint32(rest[total-4:], crc32.ChecksumIEEE(rest[:total-4]))
		rest = rest[total:]
	}
	return b
}

// eventStreamFrom makes well-formed messages from arbitrary bytes: NUL-separated pieces, each a message whose
// type is the piece up to its first 0x01 byte and whose payload is the rest. A type starting with '!' makes an
// exception message of that class. Headers of every other kind are sprinkled in, for the reader to skip.
func eventStreamFrom(input []byte) ([]byte, []event) {
	var stream []byte
	var want []event
	others := []header{{"t", 0, nil}, {"b", 2, []byte{1}}, {"s", 3, []byte{0, 1}}, {"i", 4, []byte{0, 0, 0, 1}},
		{"l", 5, make([]byte, 8)}, {"raw", 6, []byte{0xff, 0}}, {"ts", 8, make([]byte, 8)}, {"id", 9, make([]byte, 16)}}
	for i, piece := range bytes.Split(input, []byte{0}) {
		typ, payload, _ := bytes.Cut(piece, []byte{1})
		typ = typ[:min(len(typ), 1000)]
		var hs []header
		ev := event{string(typ), string(payload)}
		if exc, ok := bytes.CutPrefix(typ, []byte{'!'}); ok {
			hs = append(hs, str(":message-type", "exception"), str(":exception-type", string(exc)))
			ev.Type = string(exc)
			if ev.Type == "" {
				ev.Type = "exception"
			}
		} else {
			hs = append(hs, str(":event-type", string(typ)), str(":message-type", "event"))
		}
		hs = append(hs, others[i%len(others)], str(":content-type", "application/json"))
		stream = append(stream, encodeMessage(hs, payload)...)
		want = append(want, ev)
	}
	return stream, want
}

func FuzzEventStreamReader(f *testing.F) {
	seeds := [][]byte{
		eventMessage("messageStart", `{"role":"assistant"}`),
		append(eventMessage("contentBlockDelta", `{"d":1}`), eventMessage("messageStop", `{}`)...),
		encodeMessage([]header{str(":message-type", "exception"), str(":exception-type", "throttlingException")},
			[]byte(`{"message":"slow down"}`)),
		encodeMessage(nil, nil),
		encodeMessage([]header{{"t", 0, nil}, {"f", 1, nil}, {"b", 2, []byte{1}}, {"s", 3, []byte{0, 1}},
			{"i", 4, []byte{0, 0, 0, 1}}, {"l", 5, make([]byte, 8)}, {"bytes", 6, []byte{0xff}},
			{"ts", 8, make([]byte, 8)}, {"id", 9, make([]byte, 16)}, str(":event-type", "chunk")}, []byte("p")),
		[]byte("chunk\x01{\"bytes\":\"aGk=\"}\x00!throttlingException\x01{}\x00\x01"),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		// A message is at least 16 bytes.
		for _, in := range [][]byte{input, fixChecksums(input)} {
			_, err := readBounded(t, sdk.FramingAWSEventStream, in, len(in)/16+1)
			if err != io.EOF && !errors.Is(err, errEventStream) {
				t.Fatalf("ended with %v, want io.EOF or a malformed stream error", err)
			}
		}
		stream, want := eventStreamFrom(input)
		back, err := readBounded(t, sdk.FramingAWSEventStream, stream, len(want))
		if err != io.EOF || !reflect.DeepEqual(back, want) {
			t.Fatalf("events %q read back as %q (%v)", want, back, err)
		}
	})
}
