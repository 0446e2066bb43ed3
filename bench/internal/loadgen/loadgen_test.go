package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/bench/internal/workload"
	"github.com/switchyard/gateway/internal/fakeupstream"
)

// The raw client parses HTTP by hand, so these tests pin that it reads what real servers send: fixed-length
// and chunked bodies, streamed events split across chunks, errors and closed connections, with both clients.

func fake(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(fakeupstream.New(fakeupstream.Options{Key: "sk-up",
		Answer: workload.Answer(workload.AnswerChars), StreamChunks: workload.StreamChunks}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1/chat/completions"
}

func TestRunCountsRequestsAndStreams(t *testing.T) {
	t.Parallel()
	url := fake(t)
	auth := map[string]string{"Authorization": "Bearer sk-up"}
	for _, client := range []string{"raw", "nethttp"} {
		t.Run(client, func(t *testing.T) {
			r, err := Run(context.Background(), Options{URL: url, Header: auth, Body: workload.ChatBody("bench", false),
				Conns: 2, Requests: 40, WarmupRequests: 4, Client: client})
			if err != nil {
				t.Fatal(err)
			}
			if r.Requests != 40 || r.Errors != 0 || r.Latency.N != 40 || r.Latency.P50 <= 0 {
				t.Fatalf("plain: %+v", r)
			}
			if r.BytesPerResponse < 600 {
				t.Fatalf("plain: %v bytes per answer", r.BytesPerResponse)
			}

			r, err = Run(context.Background(), Options{URL: url, Header: auth, Body: workload.ChatBody("bench", true),
				Stream: true, Conns: 1, Requests: 10, Client: client})
			if err != nil {
				t.Fatal(err)
			}
			// role chunk + 50 content chunks + finish chunk + usage chunk
			if r.Requests != 10 || r.Errors != 0 || r.EventsPerStream != 53 {
				t.Fatalf("stream: %+v", r)
			}
			if r.TTFT == nil || r.TTFT.N != 10 || r.TTFT.P50 <= 0 || r.TTFT.P50 > r.Latency.P50 {
				t.Fatalf("stream ttft: %+v latency %+v", r.TTFT, r.Latency)
			}
		})
	}
}

func TestRunReportsErrors(t *testing.T) {
	t.Parallel()
	url := fake(t)
	r, err := Run(context.Background(), Options{URL: url, Header: map[string]string{"Authorization": "Bearer wrong"},
		Body: workload.ChatBody("bench", false), Conns: 1, Requests: 5})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 0 || r.Errors != 5 || r.FirstError != "HTTP 401" {
		t.Fatalf("%+v", r)
	}
}

// A server that closes every connection after answering, and one that streams without chunking (body ended
// by the close): the raw client must reconnect and still read whole answers.
func TestRawClientReconnects(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		if strings.Contains(r.URL.Path, "stream") {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			// split an event across writes
			_, _ = w.Write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"\"}}]}\n\ndata: {\"cho"))
			w.(http.Flusher).Flush()
			time.Sleep(time.Millisecond)
			_, _ = w.Write([]byte("ices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n"))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	r, err := Run(context.Background(), Options{URL: srv.URL + "/plain", Body: []byte("{}"), Conns: 1, Requests: 5})
	if err != nil || r.Requests != 5 || r.Errors != 0 {
		t.Fatalf("plain: %+v %v", r, err)
	}
	r, err = Run(context.Background(), Options{URL: srv.URL + "/stream", Body: []byte("{}"), Stream: true, Conns: 1,
		Requests: 5})
	if err != nil || r.Requests != 5 || r.Errors != 0 || r.EventsPerStream != 2 || r.TTFT.N != 5 {
		t.Fatalf("stream: %+v %v", r, err)
	}
}

func TestDurationMode(t *testing.T) {
	t.Parallel()
	url := fake(t)
	r, err := Run(context.Background(), Options{URL: url, Header: map[string]string{"Authorization": "Bearer sk-up"},
		Body: workload.ChatBody("bench", false), Conns: 4, Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.Errors != 0 || r.Seconds != 0.2 || r.RPS != float64(r.Requests)/0.2 {
		t.Fatalf("%+v", r)
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	var s []time.Duration
	for i := 1000; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Microsecond)
	}
	got := Summarize(s)
	want := Summary{N: 1000, Mean: 500.5, P50: 500, P90: 900, P99: 990, Max: 1000}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if (Summarize(nil) != Summary{}) {
		t.Fatal("empty")
	}
}
