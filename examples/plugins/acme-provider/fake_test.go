package acme_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/switchyard/gateway/sdk/plugintest"
)

// fakeAcme is an Acme Completions API server for the tests. It speaks the API as README.md specifies it and
// behaves by the conformance kit's convention (the constants of sdk/plugintest): it answers EchoPrefix + the
// last user message ("[system] " before it when there is a system message), reports PromptTokens and
// CompletionTokens, streams the text in several lines, and answers a model name holding a failure marker with
// Acme's error for the case:
//
//	fail-429 → 429 rate_limited (Retry-After: 1)    fail-401 → 401 unauthorized    fail-503 → 503 overloaded
//	fail-500 → 500 server_error    context-too-long → 400 context_too_long    content-policy → 400 blocked
//
// It wants the bearer token key and refuses bodies with members the API does not have.
func fakeAcme(key string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/generate", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+key {
			acmeError(w, http.StatusUnauthorized, "unauthorized", "invalid API key")
			return
		}
		var req struct {
			Model    string `json:"model"`
			Prompt   string `json:"prompt"`
			Messages []struct {
				Role    string `json:"role"`
				Content string `json:"content"`
			} `json:"messages"`
			MaxTokens   *int     `json:"max_tokens"`
			Temperature *float64 `json:"temperature"`
			Stream      bool     `json:"stream"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			acmeError(w, http.StatusBadRequest, "invalid_request", "malformed body: "+err.Error())
			return
		}
		switch {
		case req.Model == "":
			acmeError(w, http.StatusBadRequest, "invalid_request", "model is required")
			return
		case (req.Prompt == "") == (len(req.Messages) == 0):
			acmeError(w, http.StatusBadRequest, "invalid_request", "give either prompt or messages")
			return
		case req.Temperature != nil && (*req.Temperature < 0 || *req.Temperature > 2):
			acmeError(w, http.StatusBadRequest, "invalid_request", "temperature must be between 0 and 2")
			return
		}
		switch m := req.Model; {
		case strings.Contains(m, plugintest.FailRateLimit):
			w.Header().Set("Retry-After", "1")
			acmeError(w, http.StatusTooManyRequests, "rate_limited", "too many requests, slow down")
			return
		case strings.Contains(m, plugintest.FailAuth):
			acmeError(w, http.StatusUnauthorized, "unauthorized", "this key may not use "+m)
			return
		case strings.Contains(m, plugintest.FailOverloaded):
			acmeError(w, http.StatusServiceUnavailable, "overloaded", "all Acme engines are busy")
			return
		case strings.Contains(m, plugintest.FailServer):
			acmeError(w, http.StatusInternalServerError, "server_error", "the engine crashed")
			return
		case strings.Contains(m, plugintest.FailContextWindow):
			acmeError(w, http.StatusBadRequest, "context_too_long", "the prompt is 9000 tokens; "+m+" takes 4096")
			return
		case strings.Contains(m, plugintest.FailContentPolicy):
			acmeError(w, http.StatusBadRequest, "blocked", "the prompt was blocked by Acme's content policy")
			return
		}

		system, user := "", req.Prompt
		for _, msg := range req.Messages {
			switch msg.Role {
			case "system":
				system = msg.Content
			case "user":
				user = msg.Content
			case "assistant":
			default:
				acmeError(w, http.StatusBadRequest, "invalid_request", "unknown role "+msg.Role)
				return
			}
		}
		text, finish := plugintest.EchoPrefix+user, "stop"
		if system != "" {
			text = "[" + system + "] " + text
		}
		if req.MaxTokens != nil && *req.MaxTokens == 3 { // the convention's max_tokens truncation
			text, finish = plugintest.EchoPrefix, "length"
		}
		use := map[string]int{"input": plugintest.PromptTokens, "output": plugintest.CompletionTokens}
		const id = "gen_0123456789"
		if !req.Stream {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "text": text, "finish": finish, "usage": use})
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		line := func(v any) {
			b, _ := json.Marshal(v)
			_, _ = fmt.Fprintf(w, "%s\n", b)
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
		// The text in two lines at least, then the last line with finish and usage.
		half := len(text) / 2
		for half > 0 && !utf8.RuneStart(text[half]) {
			half--
		}
		line(map[string]any{"id": id, "text": text[:half]})
		line(map[string]any{"id": id, "text": text[half:]})
		line(map[string]any{"id": id, "text": "", "finish": finish, "usage": use})
	})
	return mux
}

func acmeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"type": typ, "message": msg}})
}
