package pipeline

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

// step is a stage that records its Before and After calls in a shared journal. A call travels on one goroutine,
// so the journal needs no lock.
type step struct {
	name        string
	journal     *[]string
	before      func(c *Call) error
	panicBefore bool
	panicAfter  bool
}

func (s *step) Name() string { return s.name }

func (s *step) Before(_ context.Context, c *Call) error {
	*s.journal = append(*s.journal, "before "+s.name)
	if s.panicBefore {
		panic("boom in " + s.name)
	}
	if s.before != nil {
		return s.before(c)
	}
	return nil
}

func (s *step) After(*Call) {
	*s.journal = append(*s.journal, "after "+s.name)
	if s.panicAfter {
		panic("boom in after " + s.name)
	}
}

func complete(c *Call) error { c.Complete("response"); return nil }

func TestPipelineOrder(t *testing.T) {
	t.Parallel()
	errRejected := sdk.NewError(sdk.KindRateLimit, "rejected")
	cases := []struct {
		name string
		// stages builds the pipeline's stages; "b" is always the second.
		stages  func(j *[]string) []Stage
		journal []string
		wantErr string
		wantRes bool
	}{
		{
			name: "all stages run, the last produces",
			stages: func(j *[]string) []Stage {
				return []Stage{&step{name: "a", journal: j}, &step{name: "b", journal: j},
					&step{name: "c", journal: j, before: complete}}
			},
			journal: []string{"before a", "before b", "before c", "after c", "after b", "after a"},
			wantRes: true,
		},
		{
			name: "an error stops the stages after it, and its own After still runs",
			stages: func(j *[]string) []Stage {
				return []Stage{&step{name: "a", journal: j},
					&step{name: "b", journal: j, before: func(*Call) error { return errRejected }},
					&step{name: "c", journal: j, before: complete}}
			},
			journal: []string{"before a", "before b", "after b", "after a"},
			wantErr: "rejected",
		},
		{
			name: "Complete short-circuits like a cache hit",
			stages: func(j *[]string) []Stage {
				return []Stage{&step{name: "a", journal: j}, &step{name: "b", journal: j, before: complete},
					&step{name: "c", journal: j}}
			},
			journal: []string{"before a", "before b", "after b", "after a"},
			wantRes: true,
		},
		{
			name: "Fail inside Before short-circuits as a returned error does",
			stages: func(j *[]string) []Stage {
				return []Stage{&step{name: "a", journal: j},
					&step{name: "b", journal: j, before: func(c *Call) error { c.Fail(errRejected); return nil }},
					&step{name: "c", journal: j}}
			},
			journal: []string{"before a", "before b", "after b", "after a"},
			wantErr: "rejected",
		},
		{
			name: "a panicking Before becomes the call's error",
			stages: func(j *[]string) []Stage {
				return []Stage{&step{name: "a", journal: j}, &step{name: "b", journal: j, panicBefore: true},
					&step{name: "c", journal: j, before: complete}}
			},
			journal: []string{"before a", "before b", "after b", "after a"},
			wantErr: "stage b panicked: boom in b",
		},
		{
			name: "a panicking After does not stop the others",
			stages: func(j *[]string) []Stage {
				return []Stage{&step{name: "a", journal: j}, &step{name: "b", journal: j, panicAfter: true},
					&step{name: "c", journal: j, before: complete}}
			},
			journal: []string{"before a", "before b", "before c", "after c", "after b", "after a"},
			wantRes: true,
		},
		{
			name: "no stage produces a response",
			stages: func(j *[]string) []Stage {
				return []Stage{&step{name: "a", journal: j}, &step{name: "b", journal: j}}
			},
			journal: []string{"before a", "before b", "after b", "after a"},
			wantErr: "no stage produced a response",
		},
		{
			name:    "an empty pipeline fails too",
			stages:  func(*[]string) []Stage { return nil },
			wantErr: "no stage produced a response",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var journal []string
			p := New(tc.stages(&journal)...)
			c := &Call{}
			p.Run(context.Background(), c)
			p.Finish(c)
			if !reflect.DeepEqual(journal, tc.journal) {
				t.Errorf("journal = %q, want %q", journal, tc.journal)
			}
			if !c.Done() {
				t.Error("the call is not done after Run")
			}
			switch {
			case tc.wantErr != "":
				if c.Err == nil || !strings.Contains(c.Err.Error(), tc.wantErr) {
					t.Errorf("err = %v, want one containing %q", c.Err, tc.wantErr)
				}
				if c.Response != nil {
					t.Errorf("a failed call has a response: %v", c.Response)
				}
			case c.Err != nil:
				t.Errorf("unexpected error: %v", c.Err)
			}
			if got := c.Response != nil; got != tc.wantRes {
				t.Errorf("response set = %v, want %v", got, tc.wantRes)
			}
			if c.End.IsZero() {
				t.Error("Finish did not record the end time")
			}
		})
	}
}

func TestPanickingBeforeIsAnInternalError(t *testing.T) {
	t.Parallel()
	var journal []string
	p := New(&step{name: "x", journal: &journal, panicBefore: true})
	c := &Call{}
	p.Run(context.Background(), c)
	if c.Err == nil || c.Err.Kind != sdk.KindInternal || c.Err.HTTPStatus() != 500 {
		t.Fatalf("err = %#v, want an internal error", c.Err)
	}
}

func TestFinishIsIdempotent(t *testing.T) {
	t.Parallel()
	var journal []string
	p := New(&step{name: "a", journal: &journal}, &step{name: "b", journal: &journal, before: complete})
	c := &Call{}
	p.Run(context.Background(), c)
	p.Finish(c)
	end := c.End
	p.Finish(c)
	p.Finish(c)
	want := []string{"before a", "before b", "after b", "after a"}
	if !reflect.DeepEqual(journal, want) {
		t.Fatalf("journal = %q, want %q", journal, want)
	}
	if c.End != end {
		t.Fatalf("a second Finish moved End from %v to %v", end, c.End)
	}
}

func TestStagesIsACopy(t *testing.T) {
	t.Parallel()
	var journal []string
	a, b := &step{name: "a", journal: &journal}, &step{name: "b", journal: &journal}
	in := []Stage{a, b}
	p := New(in...)
	in[0] = b // the pipeline is immutable: changing the caller's slice must not reorder it
	got := p.Stages()
	got[1] = a
	if s := p.Stages(); s[0] != a || s[1] != b {
		t.Fatalf("stages changed through a caller's slice: %v", s)
	}
}

func TestCallResultsAndHeaders(t *testing.T) {
	t.Parallel()
	c := &Call{}
	c.SetHeader("x-a", "1")
	c.SetHeader("x-b", "2")
	c.SetHeader("x-a", "3")
	want := []Header{{"x-a", "3"}, {"x-b", "2"}}
	if !reflect.DeepEqual(c.Headers(), want) {
		t.Fatalf("headers = %v, want %v", c.Headers(), want)
	}

	type key struct{}
	if c.Value(key{}) != nil {
		t.Fatal("a value was set before Set")
	}
	c.Set(key{}, 42)
	if c.Value(key{}) != 42 {
		t.Fatalf("Value = %v", c.Value(key{}))
	}

	c.Fail(errors.New("plain"))
	if c.Err == nil || c.Err.Kind != sdk.KindInternal || !c.Done() {
		t.Fatalf("Fail of a plain error: %#v", c.Err)
	}
}

func TestControlsAndEndUser(t *testing.T) {
	t.Parallel()
	n := 3
	cases := []struct {
		name string
		call *Call
		user string
		n    *int
	}{
		{"chat", &Call{Chat: &sdk.ChatRequest{User: "u1", Controls: sdk.Controls{NumRetries: &n}}}, "u1", &n},
		{"completion", &Call{Completion: &sdk.CompletionRequest{User: "u2", Controls: sdk.Controls{NumRetries: &n}}}, "u2", &n},
		{"embedding", &Call{Embedding: &sdk.EmbeddingRequest{User: "u3", Controls: sdk.Controls{NumRetries: &n}}}, "u3", &n},
		{"rerank", &Call{Rerank: &sdk.RerankRequest{Controls: sdk.Controls{NumRetries: &n}}}, "", &n},
		{"none", &Call{}, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.call.EndUser(); got != tc.user {
				t.Errorf("EndUser = %q, want %q", got, tc.user)
			}
			if got := tc.call.Controls().NumRetries; got != tc.n {
				t.Errorf("Controls().NumRetries = %v, want %v", got, tc.n)
			}
		})
	}
}

func TestCallTypeString(t *testing.T) {
	t.Parallel()
	for typ, want := range map[CallType]string{CallChat: "chat", CallCompletion: "completion",
		CallEmbedding: "embedding", CallRerank: "rerank", CallType(99): "unknown"} {
		if got := typ.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", typ, got, want)
		}
	}
}

func TestNewCallIDIsAVersion7UUID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		if i == 500 {
			time.Sleep(2 * time.Millisecond) // the next ids are in a later millisecond: they sort after
		}
		id := NewCallID()
		if i == 500 && id <= prev {
			t.Fatalf("%q, drawn 2 ms after %q, does not sort after it", id, prev)
		}
		prev = id
		if ms, err := strconv.ParseInt(strings.ReplaceAll(id[:13], "-", ""), 16, 64); err != nil ||
			time.Since(time.UnixMilli(ms)).Abs() > time.Minute {
			t.Fatalf("%q does not start with the current Unix time in milliseconds (%v)", id, err)
		}
		if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
			t.Fatalf("%q is not in UUID form", id)
		}
		if id[14] != '7' || !strings.ContainsRune("89ab", rune(id[19])) {
			t.Fatalf("%q is not a version 7, RFC 9562 variant UUID", id)
		}
		if seen[id] {
			t.Fatalf("%q drawn twice", id)
		}
		seen[id] = true
	}
}

// interceptor is a step that also intercepts, recording it in the journal and optionally replacing the result.
type interceptor struct {
	step
	replace func(c *Call)
	panics  bool
}

func (s *interceptor) Intercept(c *Call) {
	*s.journal = append(*s.journal, "intercept "+s.name)
	if s.panics {
		panic("boom in intercept " + s.name)
	}
	if s.replace != nil {
		s.replace(c)
	}
}

func TestInterceptors(t *testing.T) {
	t.Parallel()
	errRejected := sdk.NewError(sdk.KindRateLimit, "rejected")
	cases := []struct {
		name    string
		stages  func(j *[]string) []Stage
		journal []string
		want    any
		wantErr bool
	}{
		{
			name: "the stages before the producer intercept, nearest first, then After runs",
			stages: func(j *[]string) []Stage {
				return []Stage{&interceptor{step: step{name: "a", journal: j}},
					&interceptor{step: step{name: "b", journal: j}, replace: func(c *Call) { c.Response = "wrapped" }},
					&step{name: "c", journal: j, before: complete}}
			},
			journal: []string{"before a", "before b", "before c", "intercept b", "intercept a", "after c", "after b", "after a"},
			want:    "wrapped",
		},
		{
			name: "a stage that completes the call does not intercept its own result",
			stages: func(j *[]string) []Stage {
				return []Stage{&interceptor{step: step{name: "a", journal: j}},
					&interceptor{step: step{name: "b", journal: j, before: complete}},
					&interceptor{step: step{name: "c", journal: j}}}
			},
			journal: []string{"before a", "before b", "intercept a", "after b", "after a"},
			want:    "response",
		},
		{
			name: "a failure is intercepted too",
			stages: func(j *[]string) []Stage {
				return []Stage{&interceptor{step: step{name: "a", journal: j}},
					&step{name: "b", journal: j, before: func(*Call) error { return errRejected }}}
			},
			journal: []string{"before a", "before b", "intercept a", "after b", "after a"},
			wantErr: true,
		},
		{
			name: "a panicking interceptor leaves the result as it stood",
			stages: func(j *[]string) []Stage {
				return []Stage{&interceptor{step: step{name: "a", journal: j}, panics: true},
					&step{name: "b", journal: j, before: complete}}
			},
			journal: []string{"before a", "before b", "intercept a", "after b", "after a"},
			want:    "response",
		},
		{
			name: "no stage produced a response: every stage intercepts the failure",
			stages: func(j *[]string) []Stage {
				return []Stage{&interceptor{step: step{name: "a", journal: j}}, &interceptor{step: step{name: "b", journal: j}}}
			},
			journal: []string{"before a", "before b", "intercept b", "intercept a", "after b", "after a"},
			wantErr: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var journal []string
			p := New(tc.stages(&journal)...)
			c := &Call{}
			p.Run(context.Background(), c)
			p.Finish(c)
			if !reflect.DeepEqual(journal, tc.journal) {
				t.Errorf("journal = %q, want %q", journal, tc.journal)
			}
			if (c.Err != nil) != tc.wantErr || c.Response != tc.want {
				t.Errorf("err %v, response %v; want error %v, response %v", c.Err, c.Response, tc.wantErr, tc.want)
			}
		})
	}
}
