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

	"github.com/switchyard/gateway/sdk"
)

type event struct{ Type, Data string }

// readAll reads events until the reader fails, copying each (Data is only valid until the next call).
func readEvents(f sdk.Framing, input []byte) ([]event, error) {
	r := newFrameReader(f, bytes.NewReader(input))
	var out []event
	for {
		ev, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, event{ev.Type, string(ev.Data)})
	}
}

func TestSSE(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 40<<10) // longer than the 16 KiB read buffer
	cases := []struct {
		name, input string
		want        []event
	}{
		{"one event", "data: {\"a\":1}\n\n", []event{{"", `{"a":1}`}}},
		{"several events", "data: 1\n\ndata: 2\n\n", []event{{"", "1"}, {"", "2"}}},
		{"multi-line data joined with newlines", "data: a\ndata: b\ndata:c\n\n", []event{{"", "a\nb\nc"}}},
		{"only the first space is dropped", "data:  two spaces\n\n", []event{{"", " two spaces"}}},
		{"event types", "event: message_start\ndata: {}\n\nevent: custom-kind\ndata: x\n\n",
			[]event{{"message_start", "{}"}, {"custom-kind", "x"}}},
		{"event type without data", "event: ping\n\n", []event{{"ping", ""}}},
		{"comments skipped", ": keep-alive\n\ndata: x\n: between\n\n", []event{{"", "x"}}},
		{"other fields ignored", "id: 7\nretry: 100\ndata: x\n\n", []event{{"", "x"}}},
		{"a data line without a colon is empty data", "data\n\n", []event{{"", ""}}},
		{"CRLF line endings", "event: delta\r\ndata: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n",
			[]event{{"delta", "a\nb"}, {"", "c"}}},
		{"blank lines between events", "\n\n\ndata: x\n\n\n\n", []event{{"", "x"}}},
		{"a line longer than the buffer", "data: " + long + "\n\ndata: after\n\n", []event{{"", long}, {"", "after"}}},
		{"a long line at EOF without newline", "data: " + long, []event{{"", long}}},
		{"last event without its blank line", "data: 1\n\ndata: 2\n", []event{{"", "1"}, {"", "2"}}},
		{"last line without newline", "data: 1\n\ndata: [DONE]", []event{{"", "1"}, {"", "[DONE]"}}},
		{"blank input", "\n\r\n\n", nil},
		{"empty input", "", nil},
		{"a dangling event type at EOF is dropped", "data: 1\n\nevent: x\n", []event{{"", "1"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := readEvents(sdk.FramingSSE, []byte(tc.input))
			if err != io.EOF {
				t.Fatalf("ended with %v, want io.EOF", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("events = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSSEReadError(t *testing.T) {
	t.Parallel()
	broken := errors.New("connection reset")
	r := newFrameReader(sdk.FramingSSE, io.MultiReader(strings.NewReader("data: 1\n\ndata: 2"), errReader{broken}))
	if ev, err := r.Next(); err != nil || string(ev.Data) != "1" {
		t.Fatalf("first event %q, %v", ev.Data, err)
	}
	if _, err := r.Next(); err != broken {
		t.Fatalf("err = %v, want the read error (a half event must not pass as whole)", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestNDJSON(t *testing.T) {
	t.Parallel()
	long := `{"x":"` + strings.Repeat("y", 20<<10) + `"}`
	cases := []struct {
		name, input string
		want        []event
	}{
		{"lines", "{\"a\":1}\n{\"a\":2}\n", []event{{"", `{"a":1}`}, {"", `{"a":2}`}}},
		{"blank lines skipped", "\n{\"a\":1}\n\n  \r\n{\"a\":2}\n\n", []event{{"", `{"a":1}`}, {"", `{"a":2}`}}},
		{"CRLF and spaces trimmed", " {\"a\":1} \r\n", []event{{"", `{"a":1}`}}},
		{"no final newline", "{\"a\":1}", []event{{"", `{"a":1}`}}},
		{"long line", long + "\n", []event{{"", long}}},
		{"blank only", "\n\n \n", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := readEvents(sdk.FramingNDJSON, []byte(tc.input))
			if err != io.EOF || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("events = %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

// header is one AWS event stream header.
type header struct {
	name  string
	typ   byte
	value []byte
}

func str(name, value string) header { return header{name, 7, []byte(value)} }

// encodeMessage builds one message of AWS's application/vnd.amazon.eventstream format: a prelude (total length,
// headers length, CRC32 of those 8 bytes), the headers (name length, name, value type, value; strings and bytes
// with a 2-byte length), the payload, and a CRC32 of everything before it.
func encodeMessage(headers []header, payload []byte) []byte {
	var hb bytes.Buffer
	for _, h := range headers {
		hb.WriteByte(byte(len(h.name)))
		hb.WriteString(h.name)
		hb.WriteByte(h.typ)
		if h.typ == 6 || h.typ == 7 {
			_ = binary.Write(&hb, binary.BigEndian, uint16(len(h.value)))
		}
		hb.Write(h.value)
	}
	total := 12 + hb.Len() + len(payload) + 4
	msg := make([]byte, 0, total)
	msg = binary.BigEndian.AppendUint32(msg, uint32(total))
	msg = binary.BigEndian.AppendUint32(msg, uint32(hb.Len()))
	msg = binary.BigEndian.AppendUint32(msg, crc32.ChecksumIEEE(msg[:8]))
	msg = append(msg, hb.Bytes()...)
	msg = append(msg, payload...)
	return binary.BigEndian.AppendUint32(msg, crc32.ChecksumIEEE(msg))
}

func eventMessage(typ, payload string) []byte {
	return encodeMessage([]header{str(":event-type", typ), str(":content-type", "application/json"),
		str(":message-type", "event")}, []byte(payload))
}

func TestAWSEventStream(t *testing.T) {
	t.Parallel()
	cat := func(msgs ...[]byte) []byte { return bytes.Join(msgs, nil) }
	cases := []struct {
		name  string
		input []byte
		want  []event
	}{
		{"events", cat(eventMessage("messageStart", `{"role":"assistant"}`), eventMessage("contentBlockDelta", `{"d":1}`)),
			[]event{{"messageStart", `{"role":"assistant"}`}, {"contentBlockDelta", `{"d":1}`}}},
		{"exception", encodeMessage([]header{str(":message-type", "exception"),
			str(":exception-type", "throttlingException")}, []byte(`{"message":"slow down"}`)),
			[]event{{"throttlingException", `{"message":"slow down"}`}}},
		{"exception without its type", encodeMessage([]header{str(":message-type", "exception")}, []byte(`{}`)),
			[]event{{"exception", `{}`}}},
		{"error message", encodeMessage([]header{str(":message-type", "error"), str(":exception-type", "boom"),
			str(":event-type", "ignored")}, nil), []event{{"boom", ""}}},
		{"empty message", encodeMessage(nil, nil), []event{{"", ""}}},
		{"other header types are skipped", encodeMessage([]header{
			{"t", 0, nil}, {"f", 1, nil}, {"b", 2, []byte{1}}, {"s", 3, []byte{0, 1}}, {"i", 4, []byte{0, 0, 0, 1}},
			{"l", 5, make([]byte, 8)}, {"bytes", 6, []byte{0xff}}, {"ts", 8, make([]byte, 8)}, {"id", 9, make([]byte, 16)},
			str(":event-type", "chunk")}, []byte("p")), []event{{"chunk", "p"}}},
		{"nothing", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := readEvents(sdk.FramingAWSEventStream, tc.input)
			if err != io.EOF || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("events = %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func TestAWSEventStreamMalformed(t *testing.T) {
	t.Parallel()
	good := eventMessage("chunk", `{"bytes":"aGk="}`)
	corrupt := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 0x01
		return b
	}
	// withLengths builds a prelude with a valid checksum over the given lengths, so that the length checks
	// themselves are reached.
	withLengths := func(total, hlen uint32) []byte {
		p := binary.BigEndian.AppendUint32(nil, total)
		p = binary.BigEndian.AppendUint32(p, hlen)
		p = binary.BigEndian.AppendUint32(p, crc32.ChecksumIEEE(p))
		return append(p, make([]byte, 64)...)
	}
	// withHeaders builds a message whose raw header bytes are given, with valid checksums.
	withHeaders := func(raw []byte) []byte {
		total := 12 + len(raw) + 4
		m := binary.BigEndian.AppendUint32(nil, uint32(total))
		m = binary.BigEndian.AppendUint32(m, uint32(len(raw)))
		m = binary.BigEndian.AppendUint32(m, crc32.ChecksumIEEE(m))
		m = append(m, raw...)
		return binary.BigEndian.AppendUint32(m, crc32.ChecksumIEEE(m))
	}
	cases := []struct {
		name, want string
		input      []byte
	}{
		{"bad prelude checksum", "prelude checksum mismatch", corrupt(9)},
		{"length changed under the prelude checksum", "prelude checksum mismatch", corrupt(3)},
		{"bad message checksum", "message checksum mismatch", corrupt(len(good) - 6)},
		{"bad trailing checksum", "message checksum mismatch", corrupt(len(good) - 1)},
		{"truncated prelude", "truncated prelude", good[:7]},
		{"truncated message", "truncated message", good[:len(good)-3]},
		{"total shorter than a message can be", "bad lengths", withLengths(15, 0)},
		{"absurd total", "bad lengths", withLengths(1<<31, 0)},
		{"headers longer than the message", "bad lengths", withLengths(32, 17)},
		{"header name past the end", "bad header", withHeaders([]byte{10, 'a'})},
		{"string length past the end", "bad header", withHeaders([]byte{1, 'a', 7, 0, 9, 'x'})},
		{"string without its length", "bad header", withHeaders([]byte{1, 'a', 7, 0})},
		{"unknown header type", "unknown header type 42", withHeaders([]byte{1, 'a', 42})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := readEvents(sdk.FramingAWSEventStream, tc.input)
			if !errors.Is(err, errEventStream) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a malformed stream error about %q", err, tc.want)
			}
		})
	}
	// A malformed message after a good one: the good one is delivered first.
	got, err := readEvents(sdk.FramingAWSEventStream, append(bytes.Clone(good), corrupt(9)...))
	if len(got) != 1 || !errors.Is(err, errEventStream) {
		t.Fatalf("events %q, err %v", got, err)
	}
}

// pieces returns its pieces one Read at a time, as a network connection delivering them in separate packets
// would.
type pieces struct{ parts [][]byte }

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.parts[0])
	if p.parts[0] = p.parts[0][n:]; len(p.parts[0]) == 0 {
		p.parts = p.parts[1:]
	}
	return n, nil
}

// ready must say yes only when a whole event is buffered: yes lets the edge batch the next event into the same
// write, so a wrong yes would hold an event back until the network delivered the rest of the next one.
func TestFramesReady(t *testing.T) {
	t.Parallel()
	msg1, msg2 := eventMessage("a", `{"x":1}`), eventMessage("b", `{"y":2}`)
	cases := []struct {
		name  string
		f     sdk.Framing
		parts []string
		want  []bool // ready() after each Next
	}{
		{"sse: whole, then partial", sdk.FramingSSE, []string{"data: a\n\ndata: b\n\ndata: c", "\n\n"},
			[]bool{true, false, false}},
		{"sse with CRLF", sdk.FramingSSE, []string{"data: a\r\n\r\ndata: b\r\n\r\n"}, []bool{true, false}},
		{"ndjson", sdk.FramingNDJSON, []string{"{\"a\":1}\n{\"b\"", ":2}\n{\"c\":3}\n"}, []bool{false, true, false}},
		{"event stream, split message", sdk.FramingAWSEventStream, []string{string(msg1) + string(msg2[:10]),
			string(msg2[10:])}, []bool{false, false}},
		{"event stream, whole messages", sdk.FramingAWSEventStream, []string{string(msg1) + string(msg2)},
			[]bool{true, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := &pieces{}
			for _, p := range tc.parts {
				src.parts = append(src.parts, []byte(p))
			}
			r := newFrameReader(tc.f, src)
			for i, want := range tc.want {
				if _, err := r.Next(); err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if got := r.ready(); got != want {
					t.Fatalf("after event %d: ready = %v, want %v", i, got, want)
				}
			}
		})
	}
}
