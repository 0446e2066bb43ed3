// Package otelfake is a stand-in for an OpenTelemetry collector's OTLP/HTTP traces receiver with JSON encoding
// (POST /v1/traces, Content-Type application/json), for tests.
//
// It is stricter than a real receiver, to catch a sender that strays from the OTLP JSON mapping: unknown field
// names (snake_case ones, say) are refused rather than ignored, 64-bit integers (times, intValue) must be decimal
// strings, trace and span ids hex strings of the right length and not all zeros, enums integers in range, every
// AnyValue has at most one member, attribute keys are unique, and empty envelopes are refused. A request that
// breaks a rule gets 400 with a Status message, as the specification's "Bad Data" case says, and is kept in
// Invalid. It can also be told to fail the next requests with a given status or to answer with a partial success.
package otelfake

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
)

// Path is the traces endpoint.
const Path = "/v1/traces"

// ExportRequest is an ExportTraceServiceRequest.
type ExportRequest struct {
	ResourceSpans []ResourceSpans `json:"resourceSpans"`
}

// ResourceSpans are the spans of one resource.
type ResourceSpans struct {
	Resource   Resource     `json:"resource"`
	ScopeSpans []ScopeSpans `json:"scopeSpans"`
	SchemaURL  string       `json:"schemaUrl,omitempty"`
}

// Resource describes the entity producing spans.
type Resource struct {
	Attributes             []KeyValue `json:"attributes"`
	DroppedAttributesCount uint32     `json:"droppedAttributesCount,omitempty"`
}

// ScopeSpans are the spans of one instrumentation scope.
type ScopeSpans struct {
	Scope     Scope  `json:"scope"`
	Spans     []Span `json:"spans"`
	SchemaURL string `json:"schemaUrl,omitempty"`
}

// Scope is an instrumentation scope.
type Scope struct {
	Name                   string     `json:"name"`
	Version                string     `json:"version,omitempty"`
	Attributes             []KeyValue `json:"attributes,omitempty"`
	DroppedAttributesCount uint32     `json:"droppedAttributesCount,omitempty"`
}

// Span is one span.
type Span struct {
	TraceID                string            `json:"traceId"`
	SpanID                 string            `json:"spanId"`
	TraceState             string            `json:"traceState,omitempty"`
	ParentSpanID           string            `json:"parentSpanId,omitempty"`
	Flags                  uint32            `json:"flags,omitempty"`
	Name                   string            `json:"name"`
	Kind                   int               `json:"kind"`
	StartTimeUnixNano      Int64String       `json:"startTimeUnixNano"`
	EndTimeUnixNano        Int64String       `json:"endTimeUnixNano"`
	Attributes             []KeyValue        `json:"attributes,omitempty"`
	DroppedAttributesCount uint32            `json:"droppedAttributesCount,omitempty"`
	Events                 []json.RawMessage `json:"events,omitempty"`
	DroppedEventsCount     uint32            `json:"droppedEventsCount,omitempty"`
	Links                  []json.RawMessage `json:"links,omitempty"`
	DroppedLinksCount      uint32            `json:"droppedLinksCount,omitempty"`
	Status                 *Status           `json:"status,omitempty"`
}

// Attr returns the value of a span attribute.
func (s Span) Attr(key string) (AnyValue, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return AnyValue{}, false
}

// Status is a span's status; Code is 0 (unset), 1 (ok) or 2 (error).
type Status struct {
	Message string `json:"message,omitempty"`
	Code    int    `json:"code,omitempty"`
}

// KeyValue is an attribute.
type KeyValue struct {
	Key   string   `json:"key"`
	Value AnyValue `json:"value"`
}

// AnyValue is an attribute value: at most one member is set.
type AnyValue struct {
	StringValue *string       `json:"stringValue,omitempty"`
	BoolValue   *bool         `json:"boolValue,omitempty"`
	IntValue    *Int64String  `json:"intValue,omitempty"`
	DoubleValue *float64      `json:"doubleValue,omitempty"`
	ArrayValue  *ArrayValue   `json:"arrayValue,omitempty"`
	KvlistValue *KeyValueList `json:"kvlistValue,omitempty"`
	BytesValue  *string       `json:"bytesValue,omitempty"`
}

// ArrayValue is a list of values.
type ArrayValue struct {
	Values []AnyValue `json:"values"`
}

// KeyValueList is a list of attributes.
type KeyValueList struct {
	Values []KeyValue `json:"values"`
}

// Interface returns the value as plain Go: string, bool, int64, float64, []any, map[string]any or nil.
func (v AnyValue) Interface() any {
	switch {
	case v.StringValue != nil:
		return *v.StringValue
	case v.BoolValue != nil:
		return *v.BoolValue
	case v.IntValue != nil:
		return int64(*v.IntValue)
	case v.DoubleValue != nil:
		return *v.DoubleValue
	case v.BytesValue != nil:
		return *v.BytesValue
	case v.ArrayValue != nil:
		out := make([]any, len(v.ArrayValue.Values))
		for i, e := range v.ArrayValue.Values {
			out[i] = e.Interface()
		}
		return out
	case v.KvlistValue != nil:
		out := make(map[string]any, len(v.KvlistValue.Values))
		for _, kv := range v.KvlistValue.Values {
			out[kv.Key] = kv.Value.Interface()
		}
		return out
	}
	return nil
}

func (v AnyValue) members() int {
	n := 0
	for _, set := range []bool{v.StringValue != nil, v.BoolValue != nil, v.IntValue != nil, v.DoubleValue != nil,
		v.ArrayValue != nil, v.KvlistValue != nil, v.BytesValue != nil} {
		if set {
			n++
		}
	}
	return n
}

// Int64String is a 64-bit integer, which the protobuf JSON mapping writes as a decimal string. Unlike a real
// receiver, the fake refuses a bare JSON number, so that a sender is held to the canonical form.
type Int64String int64

// UnmarshalJSON reads a quoted decimal integer.
func (n *Int64String) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a 64-bit integer must be a decimal string, got %s", b)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("a 64-bit integer must be a decimal string, got %q", s)
	}
	*n = Int64String(v)
	return nil
}

// MarshalJSON writes a quoted decimal integer.
func (n Int64String) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.FormatInt(int64(n), 10))
}

// Request is one accepted export.
type Request struct {
	Header http.Header
	Body   []byte
	Export ExportRequest
}

// Server is a fake OTLP/HTTP traces receiver.
type Server struct {
	*httptest.Server

	mu       sync.Mutex
	attempts int
	failures []int
	partial  *partial
	requests []Request
	invalid  []string
	changed  chan struct{}
}

type partial struct {
	rejected int64
	message  string
}

// New starts a fake receiver; it stops when the test ends.
func New(t interface{ Cleanup(func()) }) *Server {
	s := &Server{changed: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// FailNext makes the next n requests answer with the given status, accepting nothing.
func (s *Server) FailNext(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, status)
	}
}

// PartialSuccessNext makes the next accepted request answer 200 with a partialSuccess.
func (s *Server) PartialSuccessNext(rejected int64, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.partial = &partial{rejected, message}
}

// Attempts counts every request received.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Requests returns the accepted requests in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Spans returns every accepted span in arrival order.
func (s *Server) Spans() []Span {
	var out []Span
	for _, r := range s.Requests() {
		for _, rs := range r.Export.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				out = append(out, ss.Spans...)
			}
		}
	}
	return out
}

// Invalid returns why requests were refused as bad data.
func (s *Server) Invalid() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.invalid...)
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
			return fmt.Errorf("otelfake: %d of %d requests arrived: %w", got, n, ctx.Err())
		}
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.attempts++
	s.mu.Unlock()
	switch {
	case r.URL.Path != Path:
		answer(w, http.StatusNotFound, map[string]any{"message": "not found"})
		return
	case r.Method != http.MethodPost:
		answer(w, http.StatusMethodNotAllowed, map[string]any{"message": "method not allowed"})
		return
	case r.Header.Get("Content-Type") != "application/json":
		answer(w, http.StatusUnsupportedMediaType, map[string]any{"message": "want Content-Type application/json"})
		return
	}
	s.mu.Lock()
	if len(s.failures) > 0 {
		status := s.failures[0]
		s.failures = s.failures[1:]
		s.mu.Unlock()
		answer(w, status, map[string]any{"code": 14, "message": "injected failure"})
		return
	}
	s.mu.Unlock()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		answer(w, http.StatusBadRequest, map[string]any{"message": err.Error()})
		return
	}
	var req ExportRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err = dec.Decode(&req); err == nil {
		err = Validate(req)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.invalid = append(s.invalid, err.Error())
		answer(w, http.StatusBadRequest, map[string]any{"code": 3, "message": err.Error()})
		return
	}
	s.requests = append(s.requests, Request{Header: r.Header.Clone(), Body: body, Export: req})
	close(s.changed)
	s.changed = make(chan struct{})
	if p := s.partial; p != nil {
		s.partial = nil
		answer(w, http.StatusOK, map[string]any{"partialSuccess": map[string]any{
			"rejectedSpans": strconv.FormatInt(p.rejected, 10), "errorMessage": p.message}})
		return
	}
	answer(w, http.StatusOK, map[string]any{})
}

// Validate checks an export against the OTLP rules the fake enforces.
func Validate(req ExportRequest) error {
	if len(req.ResourceSpans) == 0 {
		return errors.New("resourceSpans: empty")
	}
	for i, rs := range req.ResourceSpans {
		at := fmt.Sprintf("resourceSpans[%d]", i)
		if err := validateAttrs(at+".resource.attributes", rs.Resource.Attributes); err != nil {
			return err
		}
		if len(rs.ScopeSpans) == 0 {
			return fmt.Errorf("%s.scopeSpans: empty", at)
		}
		for j, ss := range rs.ScopeSpans {
			at := fmt.Sprintf("%s.scopeSpans[%d]", at, j)
			if len(ss.Spans) == 0 {
				return fmt.Errorf("%s.spans: empty", at)
			}
			for k, sp := range ss.Spans {
				if err := validateSpan(fmt.Sprintf("%s.spans[%d]", at, k), sp); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func validateSpan(at string, sp Span) error {
	if err := hexID(sp.TraceID, 16); err != nil {
		return fmt.Errorf("%s.traceId: %w", at, err)
	}
	if err := hexID(sp.SpanID, 8); err != nil {
		return fmt.Errorf("%s.spanId: %w", at, err)
	}
	if sp.ParentSpanID != "" {
		if err := hexID(sp.ParentSpanID, 8); err != nil {
			return fmt.Errorf("%s.parentSpanId: %w", at, err)
		}
	}
	if sp.Name == "" {
		return fmt.Errorf("%s.name: empty", at)
	}
	if sp.Kind < 0 || sp.Kind > 5 {
		return fmt.Errorf("%s.kind: %d is not a SpanKind", at, sp.Kind)
	}
	if sp.StartTimeUnixNano <= 0 || sp.EndTimeUnixNano < sp.StartTimeUnixNano {
		return fmt.Errorf("%s: times %d..%d", at, sp.StartTimeUnixNano, sp.EndTimeUnixNano)
	}
	if st := sp.Status; st != nil && (st.Code < 0 || st.Code > 2) {
		return fmt.Errorf("%s.status.code: %d is not a StatusCode", at, st.Code)
	}
	return validateAttrs(at+".attributes", sp.Attributes)
}

func hexID(s string, size int) error {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != size {
		return fmt.Errorf("%q is not %d hex-encoded bytes", s, size)
	}
	for _, x := range b {
		if x != 0 {
			return nil
		}
	}
	return errors.New("all zeros")
}

func validateAttrs(at string, kvs []KeyValue) error {
	seen := map[string]bool{}
	for _, kv := range kvs {
		if kv.Key == "" {
			return fmt.Errorf("%s: an empty key", at)
		}
		if seen[kv.Key] {
			return fmt.Errorf("%s: key %q twice", at, kv.Key)
		}
		seen[kv.Key] = true
		if err := validateValue(at+"."+kv.Key, kv.Value); err != nil {
			return err
		}
	}
	return nil
}

func validateValue(at string, v AnyValue) error {
	if v.members() > 1 {
		return fmt.Errorf("%s: more than one member set", at)
	}
	if v.DoubleValue != nil && (math.IsNaN(*v.DoubleValue) || math.IsInf(*v.DoubleValue, 0)) {
		return fmt.Errorf("%s: not a finite double", at)
	}
	if v.ArrayValue != nil {
		for i, e := range v.ArrayValue.Values {
			if err := validateValue(fmt.Sprintf("%s[%d]", at, i), e); err != nil {
				return err
			}
		}
	}
	if v.KvlistValue != nil {
		return validateAttrs(at, v.KvlistValue.Values)
	}
	return nil
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
