package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/switchyard/gateway/bench/internal/workload"
	"github.com/switchyard/gateway/internal/fakeupstream"
)

// The replay must answer byte for byte what the fake answers, for the shapes it replays and for the ones it
// hands to the fake.
func TestReplayAnswersLikeTheFake(t *testing.T) {
	t.Parallel()
	opts := fakeupstream.Options{Key: "sk-up", Answer: workload.Answer(workload.AnswerChars),
		StreamChunks: workload.StreamChunks}
	fake := fakeupstream.New(opts)
	r := newReplay(fakeupstream.New(opts), fake, opts.Key, 0, 0)
	base := serveReplay(t, r)

	cases := []struct {
		name, key string
		body      []byte
	}{
		{"plain", "sk-up", workload.ChatBody(workload.Model, false)},
		{"stream with usage", "sk-up", workload.ChatBody(workload.Model, true)},
		{"stream", "sk-up", []byte(`{"model":"bench","stream":true,"messages":[{"role":"user","content":"hi"}]}`)},
		{"wrong key", "sk-wrong", workload.ChatBody(workload.Model, false)},
		{"n=2 (fallback)", "sk-up", []byte(`{"model":"bench","n":2,"messages":[{"role":"user","content":"hi"}]}`)},
	}
	for _, c := range cases {
		for range 2 { // the first answer of a shape is recorded, the second replayed
			want := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(c.body))
			req.Header.Set("Authorization", "Bearer "+c.key)
			fake.ServeHTTP(want, req)

			hreq, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions",
				bytes.NewReader(c.body))
			hreq.Header.Set("Authorization", "Bearer "+c.key)
			resp, err := http.DefaultClient.Do(hreq)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want.Code || !bytes.Equal(got, want.Body.Bytes()) ||
				resp.Header.Get("Content-Type") != want.Header().Get("Content-Type") {
				t.Fatalf("%s: replay answered %d %q\n%s\nthe fake %d %q\n%s", c.name, resp.StatusCode,
					resp.Header.Get("Content-Type"), got, want.Code, want.Header().Get("Content-Type"), want.Body)
			}
		}
	}
}

// serveReplay serves r on a free loopback port until the test ends and returns its base URL.
func serveReplay(t *testing.T, r *replay) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: r.serve}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}
