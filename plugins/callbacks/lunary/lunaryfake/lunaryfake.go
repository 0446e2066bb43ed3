// Package lunaryfake is a stand-in for Lunary's run ingestion API (POST /v1/runs/ingest), for tests. It checks
// what a client sends the way the real server does (a Bearer project key, a JSON body {"events": event or
// [events]}, events of a known type with a runId and a parseable timestamp, handled in timestamp order), keeps
// the runs the events build (a start creates a run, an end or error closes it, a second start of a run is
// refused in the per-event results) and can be told to fail the next requests with a given status.
package lunaryfake

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"time"
)

// Path is the ingestion endpoint.
const Path = "/v1/runs/ingest"

// Event is a run event as received.
type Event struct {
	Type        string          `json:"type"`
	Event       string          `json:"event"`
	RunID       string          `json:"runId"`
	ParentRunID string          `json:"parentRunId,omitempty"`
	Timestamp   string          `json:"timestamp"`
	Name        string          `json:"name,omitempty"`
	Input       json.RawMessage `json:"input,omitempty"`
	Output      json.RawMessage `json:"output,omitempty"`
	UserID      string          `json:"userId,omitempty"`
	Tags        []string        `json:"tags,omitempty"`
	Metadata    map[string]any  `json:"metadata,omitempty"`
	Params      map[string]any  `json:"params,omitempty"`
	TokensUsage *TokensUsage    `json:"tokensUsage,omitempty"`
	Error       *RunError       `json:"error,omitempty"`
	Runtime     string          `json:"runtime,omitempty"`
}

// TokensUsage is an end event's token counts.
type TokensUsage struct {
	Prompt       int `json:"prompt"`
	Completion   int `json:"completion"`
	PromptCached int `json:"promptCached,omitempty"`
}

// RunError is an error event's error.
type RunError struct {
	Message string `json:"message"`
	Stack   string `json:"stack,omitempty"`
}

// Request is one accepted ingestion request.
type Request struct {
	Header http.Header
	Body   []byte
	Events []Event
}

// Run is what a run's events add up to.
type Run struct {
	ID, Type, Name string
	// Status is "started", "success" or "error".
	Status             string
	Input, Output      json.RawMessage
	UserID             string
	Tags               []string
	Metadata, Params   map[string]any
	Usage              *TokensUsage
	Error              *RunError
	CreatedAt, EndedAt time.Time
}

// Server is a fake Lunary API.
type Server struct {
	*httptest.Server
	// PublicKey is the only project key accepted.
	PublicKey string

	mu       sync.Mutex
	attempts int
	failures []int
	requests []Request
	runs     map[string]*Run
	changed  chan struct{}
}

// New starts a fake accepting the given public key; it stops when the test ends.
func New(t interface{ Cleanup(func()) }, publicKey string) *Server {
	s := &Server{PublicKey: publicKey, runs: map[string]*Run{}, changed: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// FailNext makes the next n requests answer with the given status (after the key check), ingesting nothing.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, status)
	}
}

// Attempts counts every request received, failed ones included.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Requests returns the accepted requests, in the order they arrived.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Runs returns the runs by id.
func (s *Server) Runs() map[string]Run {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Run, len(s.runs))
	for id, r := range s.runs {
		out[id] = *r
	}
	return out
}

// WaitRequests waits until n requests have been accepted or ctx ends.
func (s *Server) WaitRequests(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := len(s.requests), s.changed
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("lunaryfake: %d of %d requests arrived: %w", got, n, ctx.Err())
		}
	}
}

type result struct {
	ID      string `json:"id,omitempty"`
	Success bool   `json:"success"`
	Error   string `json:"error,omitempty"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.attempts++
	s.mu.Unlock()
	switch {
	case r.URL.Path != Path:
		answer(w, http.StatusNotFound, map[string]string{"message": "not found"})
		return
	case r.Method != http.MethodPost:
		answer(w, http.StatusMethodNotAllowed, map[string]string{"message": "method not allowed"})
		return
	case r.Header.Get("Authorization") != "Bearer "+s.PublicKey:
		answer(w, http.StatusUnauthorized, map[string]string{"message": "This project does not exist"})
		return
	case r.Header.Get("Content-Type") != "application/json":
		answer(w, http.StatusUnsupportedMediaType, map[string]string{"message": "expected application/json"})
		return
	}
	s.mu.Lock()
	if len(s.failures) > 0 {
		status := s.failures[0]
		s.failures = s.failures[1:]
		s.mu.Unlock()
		answer(w, status, map[string]string{"message": "injected failure"})
		return
	}
	s.mu.Unlock()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		answer(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	events, err := decode(body)
	if err != nil {
		answer(w, http.StatusBadRequest, map[string]string{"message": err.Error()})
		return
	}
	// The server handles a batch in timestamp order (a stable sort, so a start and an end of the same
	// millisecond keep their order).
	type timed struct {
		Event
		at time.Time
	}
	ordered := make([]timed, len(events))
	for i, ev := range events {
		at, err := time.Parse(time.RFC3339Nano, ev.Timestamp)
		if err != nil {
			answer(w, http.StatusBadRequest, map[string]string{"message": fmt.Sprintf("events[%d].timestamp: %v", i, err)})
			return
		}
		ordered[i] = timed{ev, at}
	}
	sort.SliceStable(ordered, func(i, j int) bool { return ordered[i].at.Before(ordered[j].at) })

	s.mu.Lock()
	defer s.mu.Unlock()
	results := make([]result, 0, len(ordered))
	for _, ev := range ordered {
		results = append(results, s.apply(ev.Event, ev.at))
	}
	s.requests = append(s.requests, Request{Header: r.Header.Clone(), Body: body, Events: events})
	close(s.changed)
	s.changed = make(chan struct{})
	answer(w, http.StatusOK, map[string]any{"results": results})
}

// apply ingests one event; the caller holds s.mu.
func (s *Server) apply(ev Event, at time.Time) result {
	res := result{ID: ev.RunID}
	switch ev.Type {
	case "llm", "chain", "agent", "tool", "log", "embed", "retriever", "chat", "convo", "message", "thread":
	default:
		res.Error = fmt.Sprintf("unknown type %q", ev.Type)
		return res
	}
	if ev.RunID == "" {
		res.Error = "runId is missing"
		return res
	}
	run := s.runs[ev.RunID]
	switch ev.Event {
	case "start":
		if run != nil {
			res.Error = "Run with this ID already exists in the database."
			return res
		}
		s.runs[ev.RunID] = &Run{ID: ev.RunID, Type: ev.Type, Name: ev.Name, Status: "started", Input: ev.Input,
			UserID: ev.UserID, Tags: ev.Tags, Metadata: ev.Metadata, Params: ev.Params, CreatedAt: at}
	case "end":
		if run != nil {
			run.Status, run.Output, run.Usage, run.EndedAt = "success", ev.Output, ev.TokensUsage, at
		}
	case "error":
		if run != nil {
			run.Status, run.Error, run.EndedAt = "error", ev.Error, at
		}
	default:
		res.Error = fmt.Sprintf("unsupported event %q", ev.Event)
		return res
	}
	res.Success = true
	return res
}

// decode reads {"events": event} or {"events": [events]}, refusing unknown top-level members.
func decode(body []byte) ([]Event, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	raw, ok := top["events"]
	if !ok || len(top) != 1 {
		return nil, fmt.Errorf("body: want exactly one member, events")
	}
	var many []Event
	if err := json.Unmarshal(raw, &many); err == nil {
		return many, nil
	}
	var one Event
	if err := json.Unmarshal(raw, &one); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return []Event{one}, nil
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
