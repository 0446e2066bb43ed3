package tgi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchyard/gateway/sdk/plugintest"
)

// fakeTGI is a TGI server for the tests, following the conformance kit's convention (plugintest.EchoPrefix and
// friends). It serves /models/<model>/generate and /models/<model>/generate_stream (the deployments' api_base is
// <fake>/models/{model}, so the fake sees the model name the convention's failure markers are in), and wants
// the bearer token key (any request, when key is empty: a TGI server has no authentication of its own).
//
// Failures are answered the way TGI and the Hugging Face proxy in front of it answer them:
//
//	fail-429          429 {"error": "..."} from the proxy, with Retry-After
//	fail-401          401 {"error": "..."} from the proxy
//	fail-503          TGI's queue is full: 429 {"error": "Model is overloaded", "error_type": "overloaded"}
//	fail-500          TGI's model failed: 424 {"error": "Request failed during generation: ...", "error_type": "generation"}
//	context-too-long  422 {"error": "Input validation error: `inputs` tokens + ...", "error_type": "validation"}
//
// TGI's own errors (overloaded, generation, validation) come as an error event of a 200 stream on
// /generate_stream, as TGI sends them. TGI has no content filter, so content-policy is answered normally.
func fakeTGI(key string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/models/")
		if r.Method != http.MethodPost || !ok {
			http.NotFound(w, r)
			return
		}
		model, stream := "", false
		if m, ok := strings.CutSuffix(rest, "/generate_stream"); ok {
			model, stream = m, true
		} else if m, ok := strings.CutSuffix(rest, "/generate"); ok {
			model = m
		} else {
			http.NotFound(w, r)
			return
		}
		if key != "" && r.Header.Get("Authorization") != "Bearer "+key {
			tgiError(w, http.StatusUnauthorized, "Invalid credentials in Authorization header", "")
			return
		}
		var req struct {
			Inputs     string `json:"inputs"`
			Parameters struct {
				MaxNewTokens     *int     `json:"max_new_tokens"`
				Temperature      *float64 `json:"temperature"`
				TopP             *float64 `json:"top_p"`
				Stop             []string `json:"stop"`
				Seed             *int64   `json:"seed"`
				FrequencyPenalty *float64 `json:"frequency_penalty"`
				Details          bool     `json:"details"`
			} `json:"parameters"`
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			tgiError(w, http.StatusUnprocessableEntity, "Failed to deserialize the JSON body: "+err.Error(), "")
			return
		}
		p := req.Parameters
		switch {
		case req.Inputs == "":
			tgiFailure(w, stream, http.StatusUnprocessableEntity, "Input validation error: `inputs` cannot be empty", "validation")
			return
		case p.Temperature != nil && *p.Temperature <= 0:
			tgiFailure(w, stream, http.StatusUnprocessableEntity, "Input validation error: `temperature` must be strictly positive", "validation")
			return
		case p.TopP != nil && (*p.TopP <= 0 || *p.TopP >= 1):
			tgiFailure(w, stream, http.StatusUnprocessableEntity, "Input validation error: `top_p` must be > 0.0 and < 1.0", "validation")
			return
		}
		switch {
		case strings.Contains(model, plugintest.FailRateLimit):
			w.Header().Set("Retry-After", "1")
			tgiError(w, http.StatusTooManyRequests, "Rate limit reached. Please log in or use a HF access token", "")
			return
		case strings.Contains(model, plugintest.FailAuth):
			tgiError(w, http.StatusUnauthorized, "Invalid credentials in Authorization header", "")
			return
		case strings.Contains(model, plugintest.FailOverloaded):
			tgiFailure(w, stream, http.StatusTooManyRequests, "Model is overloaded", "overloaded")
			return
		case strings.Contains(model, plugintest.FailServer):
			tgiFailure(w, stream, http.StatusFailedDependency, "Request failed during generation: Server error: CUDA out of memory", "generation")
			return
		case strings.Contains(model, plugintest.FailContextWindow):
			tgiFailure(w, stream, http.StatusUnprocessableEntity, "Input validation error: `inputs` tokens + "+
				"`max_new_tokens` must be <= 4096. Given: 4000 `inputs` tokens and 200 `max_new_tokens`", "validation")
			return
		}

		system, user := parsePrompt(req.Inputs)
		text := plugintest.EchoPrefix + user
		if system != "" {
			text = "[" + system + "] " + text
		}
		finish := "eos_token"
		switch {
		case p.MaxNewTokens != nil && *p.MaxNewTokens == 3: // the convention's max_tokens truncation
			text, finish = plugintest.EchoPrefix, "length"
		case len(p.Stop) > 0:
			finish = "stop_sequence"
		}
		if !stream {
			resp := map[string]any{"generated_text": text}
			if p.Details {
				resp["details"] = map[string]any{"finish_reason": finish, "generated_tokens": plugintest.CompletionTokens,
					"seed": nil, "prefill": []any{}, "tokens": []any{}}
			}
			// TGI's /generate reports the prompt's token count in a header.
			w.Header().Set("x-prompt-tokens", fmt.Sprint(plugintest.PromptTokens))
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(resp)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		pieces := split(text)
		token := func(i int, s string, special bool) map[string]any {
			return map[string]any{"id": 100 + i, "text": s, "logprob": -0.25, "special": special}
		}
		last := token(len(pieces), "</s>", true) // the end-of-sequence token ends an eos_token answer
		if finish != "eos_token" {
			last, pieces = token(len(pieces), pieces[len(pieces)-1], false), pieces[:len(pieces)-1]
		}
		for i, s := range pieces {
			sse(w, map[string]any{"index": i + 1, "token": token(i, s, false), "generated_text": nil, "details": nil})
		}
		var final = map[string]any{"index": len(pieces) + 1, "token": last, "generated_text": text, "details": nil}
		if p.Details {
			final["details"] = map[string]any{"finish_reason": finish, "generated_tokens": plugintest.CompletionTokens,
				"input_length": plugintest.PromptTokens, "seed": nil}
		}
		sse(w, final)
	})
}

// parsePrompt finds the system prompt and the last user message in a prompt of either template.
func parsePrompt(inputs string) (system, user string) {
	if strings.HasPrefix(inputs, "<|im_start|>") {
		if s, ok := strings.CutPrefix(inputs, "<|im_start|>system\n"); ok {
			system, _, _ = strings.Cut(s, "<|im_end|>")
		}
		if i := strings.LastIndex(inputs, "<|im_start|>user\n"); i >= 0 {
			user, _, _ = strings.Cut(inputs[i+len("<|im_start|>user\n"):], "<|im_end|>")
		}
		return system, user
	}
	if s, ok := strings.CutPrefix(inputs, "System: "); ok {
		system, _, _ = strings.Cut(s, "\n\n")
	}
	body := strings.TrimSuffix(inputs, "\n\nAssistant:")
	if i := strings.LastIndex("\n\n"+body, "\n\nUser: "); i >= 0 {
		user, _, _ = strings.Cut(body[i+len("User: "):], "\n\nAssistant: ")
	}
	return system, user
}

// split cuts a text into at least two pieces (words with their spaces), as tokens arrive.
func split(text string) []string {
	var out []string
	for text != "" {
		i := strings.IndexByte(text, ' ')
		if i < 0 {
			out = append(out, text)
			break
		}
		out = append(out, text[:i+1])
		text = text[i+1:]
	}
	if len(out) == 1 && len(out[0]) > 1 {
		out = []string{out[0][:1], out[0][1:]}
	}
	return out
}

func sse(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	_, _ = fmt.Fprintf(w, "data:%s\n\n", b)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// tgiError answers with a status and TGI's error body ({"error"} alone when errorType is empty, as the proxy
// answers).
func tgiError(w http.ResponseWriter, status int, msg, errorType string) {
	body := map[string]string{"error": msg}
	if errorType != "" {
		body["error_type"] = errorType
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// tgiFailure answers one of TGI's own errors: with its status, or as an error event of a 200 stream.
func tgiFailure(w http.ResponseWriter, stream bool, status int, msg, errorType string) {
	if !stream {
		tgiError(w, status, msg, errorType)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	sse(w, map[string]string{"error": msg, "error_type": errorType})
}
