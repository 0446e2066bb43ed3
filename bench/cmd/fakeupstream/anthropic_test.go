package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard/gateway/bench/internal/workload"
	"github.com/switchyard/gateway/internal/fakeupstream"
)

func startMessagesReplay(t *testing.T) string {
	t.Helper()
	opts := fakeupstream.Options{Key: "sk-up", Answer: workload.Answer(workload.AnswerChars),
		StreamChunks: workload.StreamChunks}
	r := newReplay(fakeupstream.New(opts), fakeupstream.New(opts), opts.Key, 0, 0)
	r.messages = newMessagesReplay(opts.Key, opts.Answer, opts.StreamChunks)
	return serveReplay(t, r)
}

func postMessages(t *testing.T, url, key, version, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/messages", strings.NewReader(body))
	req.Header.Set("x-api-key", key)
	if version != "" {
		req.Header.Set("anthropic-version", version)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

const messagesBody = `{"model":"bench","max_tokens":256,"system":"Be brief.",` +
	`"messages":[{"role":"user","content":"hi"}]%s}`

// The replayed Messages answer carries the benchmark's answer, recorded and replayed alike.
func TestMessagesReplayAnswer(t *testing.T) {
	t.Parallel()
	url := startMessagesReplay(t)
	for i := range 2 {
		resp, body := postMessages(t, url, "sk-up", "2023-06-01", withFields(messagesBody, ""))
		var a struct {
			Type    string `json:"type"`
			Content []struct {
				Type, Text string
			} `json:"content"`
			Usage struct {
				OutputTokens int `json:"output_tokens"`
			} `json:"usage"`
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &a) != nil || a.Type != "message" || len(a.Content) != 1 ||
			a.Content[0].Text != workload.Answer(workload.AnswerChars) || a.Usage.OutputTokens == 0 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
}

// The replayed stream is the fake's, with the answer in as many text deltas as the OpenAI fake's chunks.
func TestMessagesReplayStream(t *testing.T) {
	t.Parallel()
	url := startMessagesReplay(t)
	for i := range 2 {
		resp, body := postMessages(t, url, "sk-up", "2023-06-01", withFields(messagesBody, `,"stream":true`))
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
		var text strings.Builder
		deltas, events := 0, []string{}
		sc := bufio.NewScanner(bytes.NewReader(body))
		for sc.Scan() {
			line := sc.Text()
			if ev, ok := strings.CutPrefix(line, "event: "); ok {
				events = append(events, ev)
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || !strings.Contains(data, `"text_delta"`) {
				continue
			}
			var d struct {
				Delta struct{ Text string } `json:"delta"`
			}
			if err := json.Unmarshal([]byte(data), &d); err != nil {
				t.Fatal(err)
			}
			deltas++
			text.WriteString(d.Delta.Text)
		}
		if deltas != workload.StreamChunks || text.String() != workload.Answer(workload.AnswerChars) {
			t.Fatalf("request %d: %d deltas, text %q", i, deltas, text.String())
		}
		if events[0] != "message_start" || events[len(events)-1] != "message_stop" {
			t.Fatalf("request %d: events %v", i, events)
		}
	}
}

// Requests the fake refuses are refused as the fake refuses them.
func TestMessagesReplayErrors(t *testing.T) {
	t.Parallel()
	url := startMessagesReplay(t)
	cases := []struct {
		name, key, version string
		status             int
	}{
		{"wrong key", "sk-wrong", "2023-06-01", 401},
		{"no version", "sk-up", "", 400},
	}
	for _, c := range cases {
		resp, body := postMessages(t, url, c.key, c.version, withFields(messagesBody, ""))
		if resp.StatusCode != c.status || !strings.Contains(string(body), `"type":"error"`) {
			t.Fatalf("%s: %d %s", c.name, resp.StatusCode, body)
		}
	}
	// Chat completions are still served on the same server.
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions",
		bytes.NewReader(workload.ChatBody(workload.Model, false)))
	req.Header.Set("Authorization", "Bearer sk-up")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"chat.completion"`) {
		t.Fatalf("chat completion: %d %s", resp.StatusCode, b)
	}
}

func withFields(format, arg string) string { return strings.Replace(format, "%s", arg, 1) }
