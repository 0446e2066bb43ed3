package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/switchyard/gateway/bench/internal/workload"
)

// checkAnswers asks the target for one plain and one streamed answer and fails unless both carry the fake's
// answer text exactly: a translating or caching target must give the client what the pass-through path gives.
func checkAnswers(ctx context.Context, name string, ep endpoint) error {
	want := workload.Answer(workload.AnswerChars)
	body, err := post(ctx, ep, false)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	var plain struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(body, &plain); err != nil || len(plain.Choices) != 1 ||
		plain.Choices[0].Message.Content != want {
		return fmt.Errorf("%s: the answer is not the fake's: %.300s", name, body)
	}
	if body, err = post(ctx, ep, true); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	got, err := streamedText(string(body))
	if err != nil || got != want {
		return fmt.Errorf("%s: the streamed answer is not the fake's (%v): %q", name, err, got)
	}
	return nil
}

func post(ctx context.Context, ep endpoint, stream bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url+chatPath,
		strings.NewReader(string(workload.ChatBody(model, stream))))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+ep.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("answered %d: %.300s", resp.StatusCode, body)
	}
	return body, nil
}

// streamedText joins the content deltas of an OpenAI chat completion stream, which must end with [DONE].
func streamedText(body string) (string, error) {
	var text strings.Builder
	done := false
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		var chunk struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return text.String(), fmt.Errorf("an event: %w", err)
		}
		for _, c := range chunk.Choices {
			text.WriteString(c.Delta.Content)
		}
	}
	if !done {
		return text.String(), fmt.Errorf("no [DONE]")
	}
	return text.String(), sc.Err()
}
