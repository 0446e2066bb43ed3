package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawStream sends a streamed chat request over a raw connection and returns the HTTP chunks of the answer as
// they arrived, so that tests can see how events were grouped into writes.
func rawStream(t *testing.T, url, model string) []string {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	body := `{"model":"` + model + `","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", masterKey, len(body), body)
	tp := textproto.NewReader(bufio.NewReader(conn))
	status, err := tp.ReadLine()
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("status line %q: %v", status, err)
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil || h.Get("Transfer-Encoding") != "chunked" || h.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("headers %v: %v", h, err)
	}
	var chunks []string
	for {
		line, err := tp.ReadLine()
		if err != nil {
			t.Fatal(err)
		}
		n, err := strconv.ParseInt(line, 16, 64)
		if err != nil {
			t.Fatalf("chunk size %q", line)
		}
		if n == 0 {
			return chunks
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(tp.R, buf); err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, string(buf[:n]))
	}
}

// Events that are at hand together go out in one write; events that arrive apart go out as they arrive.
func TestSSEWritesBatchOnlyWhatIsAtHand(t *testing.T) {
	t.Parallel()
	e := start(t, `
model_list:
  - model_name: instant
    litellm_params: {model: mock/demo, mock_response: "one two three four five six"}
  - model_name: paced
    litellm_params: {model: mock/demo, mock_response: "one two three four five six", mock_chunk_delay: 0.02}
general_settings:
  master_key: sk-master-test
`)
	instant := rawStream(t, e.URL, "instant")
	paced := rawStream(t, e.URL, "paced")
	for name, chunks := range map[string][]string{"instant": instant, "paced": paced} {
		all := strings.Join(chunks, "")
		if !strings.HasSuffix(all, "data: [DONE]\n\n") || strings.Count(all, "data: ") != 9 {
			t.Fatalf("%s: body = %q", name, all)
		}
		for _, c := range chunks {
			if !strings.HasSuffix(c, "\n\n") {
				t.Fatalf("%s: a write ended inside an event: %q", name, c)
			}
		}
	}
	// The mock's stream is all in memory: the first write carries only the opening events (role, first word),
	// and what follows comes in writes that double in size: 2 + 4 + 3 events.
	if n := strings.Count(instant[0], "data: "); n > 2 {
		t.Errorf("instant stream's first write holds %d events, want at most 2: %q", n, instant[0])
	}
	if len(instant) != 3 {
		t.Errorf("instant stream in %d writes, want 3 (2, 4, then the last 3 events): %q", len(instant), instant)
	}
	// Paced events (a role chunk, six words, finish; usage hidden; then [DONE]) each wait 20 ms: one write each,
	// except the last ones, which the stream has at hand together.
	if len(paced) < 7 {
		t.Errorf("paced stream in %d writes, want one per paced event", len(paced))
	}
}
