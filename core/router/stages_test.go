package router

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// backend is a scripted pipeline.Backend: call i fails with fails[i] when that is non-nil, and every call past the
// script succeeds. It records the deployment-visible facts of each call.
type backend struct {
	mu        sync.Mutex
	name      string
	fails     []error
	calls     int
	remaining []time.Duration // time left before the context's deadline at each call; -1 without one
	ctxs      []context.Context
	// stream, when set, makes the streamed answer of call n.
	stream func(ctx context.Context, n int) (sdk.Stream, error)
	// block makes non-streamed calls wait for their context.
	block bool
	embed *sdk.EmbeddingResponse
	// log, when set, is appended the backend's name on each call (shared by the backends of one test).
	log *[]string
}

func (b *backend) next(ctx context.Context) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.calls
	b.calls++
	left := time.Duration(-1)
	if dl, ok := ctx.Deadline(); ok {
		left = time.Until(dl)
	}
	b.remaining = append(b.remaining, left)
	b.ctxs = append(b.ctxs, ctx)
	if b.log != nil {
		*b.log = append(*b.log, b.name)
	}
	if n < len(b.fails) && b.fails[n] != nil {
		return n, b.fails[n]
	}
	return n, nil
}

func (b *backend) Calls() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls
}

func (b *backend) wait(ctx context.Context) error {
	if b.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func (b *backend) Chat(ctx context.Context, req *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	if _, err := b.next(ctx); err != nil {
		return nil, err
	}
	if err := b.wait(ctx); err != nil {
		return nil, err
	}
	return &sdk.ChatResponse{ID: b.name, Object: "chat.completion", Usage: &sdk.Usage{TotalTokens: 7}}, nil
}

func (b *backend) ChatStream(ctx context.Context, req *sdk.ChatRequest) (sdk.Stream, error) {
	n, err := b.next(ctx)
	if err != nil {
		return nil, err
	}
	if b.stream != nil {
		return b.stream(ctx, n)
	}
	return &sdk.SliceStream{Items: []*sdk.Chunk{contentChunk(b.name)}}, nil
}

func (b *backend) Complete(ctx context.Context, req *sdk.CompletionRequest) (*sdk.CompletionResponse, error) {
	if _, err := b.next(ctx); err != nil {
		return nil, err
	}
	return &sdk.CompletionResponse{ID: b.name, Object: "text_completion", Usage: &sdk.Usage{TotalTokens: 5}}, nil
}

func (b *backend) CompleteStream(ctx context.Context, req *sdk.CompletionRequest) (sdk.Stream, error) {
	return b.ChatStream(ctx, nil)
}

func (b *backend) Embed(ctx context.Context, req *sdk.EmbeddingRequest) (*sdk.EmbeddingResponse, error) {
	if _, err := b.next(ctx); err != nil {
		return nil, err
	}
	if b.embed != nil {
		out := *b.embed
		out.Data = append([]sdk.EmbeddingData(nil), b.embed.Data...)
		return &out, nil
	}
	return &sdk.EmbeddingResponse{Object: "list", Usage: &sdk.Usage{PromptTokens: 2}}, nil
}

func (b *backend) Rerank(ctx context.Context, req *sdk.RerankRequest) (*sdk.RerankResponse, error) {
	if _, err := b.next(ctx); err != nil {
		return nil, err
	}
	return &sdk.RerankResponse{ID: b.name, Results: []sdk.RerankResult{{Index: 0, RelevanceScore: 0.5}},
		Usage: &sdk.Usage{PromptTokens: 3, TotalTokens: 3}}, nil
}

func contentChunk(text string) *sdk.Chunk {
	return &sdk.Chunk{ID: "c", Object: "chat.completion.chunk", Choices: []sdk.ChunkChoice{{Delta: sdk.Delta{Content: text}}}}
}

// strategy adapts a function to sdk.Router.
type strategy func(ctx context.Context, req *sdk.RouteRequest, cs []sdk.Candidate) (int, error)

func (s strategy) Pick(ctx context.Context, req *sdk.RouteRequest, cs []sdk.Candidate) (int, error) {
	return s(ctx, req, cs)
}

func chatCall(model string) *pipeline.Call {
	return &pipeline.Call{Type: pipeline.CallChat, Model: model,
		Chat: &sdk.ChatRequest{Model: model, Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("hi")}}}}
}

func onDeployment(id, group string, b pipeline.Backend) *pipeline.Deployment {
	return &pipeline.Deployment{ID: id, Group: group, Backend: b, Target: &sdk.Target{Provider: "fake", Model: id},
		MaxRetries: -1}
}

func oneDeployment(b pipeline.Backend, s Settings) (*Router, *pipeline.Deployment) {
	d := onDeployment("d1", "m", b)
	return New(NewTable([]*pipeline.Deployment{d}, nil, nil), s), d
}

// route runs the route and call stages as the pipeline would.
func route(ctx context.Context, r *Router, c *pipeline.Call) error {
	if err := r.RouteStage().Before(ctx, c); err != nil {
		return err
	}
	return r.CallStage().Before(ctx, c)
}

func ptr[T any](v T) *T { return &v }

func TestCallStageAnswers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		call *pipeline.Call
		want any
	}{
		{"chat", chatCall("m"), &sdk.ChatResponse{}},
		{"completion", &pipeline.Call{Type: pipeline.CallCompletion, Model: "m",
			Completion: &sdk.CompletionRequest{Model: "m", Prompt: sdk.TextInput("p")}}, &sdk.CompletionResponse{}},
		{"embedding", &pipeline.Call{Type: pipeline.CallEmbedding, Model: "m",
			Embedding: &sdk.EmbeddingRequest{Model: "m", Input: sdk.TextInput("x")}}, &sdk.EmbeddingResponse{}},
		{"rerank", &pipeline.Call{Type: pipeline.CallRerank, Model: "m",
			Rerank: &sdk.RerankRequest{Model: "m", Query: "q", Documents: []sdk.RerankDocument{{Text: "d"}}}},
			&sdk.RerankResponse{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &backend{name: "b"}
			r, d := oneDeployment(b, Settings{})
			c := tc.call
			if err := route(context.Background(), r, c); err != nil {
				t.Fatal(err)
			}
			if reflect.TypeOf(c.Response) != reflect.TypeOf(tc.want) || c.Err != nil || !c.Done() {
				t.Fatalf("response %T, err %v", c.Response, c.Err)
			}
			if c.Group != "m" || c.Deployment != d || c.Attempts != 1 || c.Usage == nil || b.Calls() != 1 {
				t.Fatalf("group %q deployment %v attempts %d usage %v calls %d", c.Group, c.Deployment, c.Attempts,
					c.Usage, b.Calls())
			}
		})
	}
}

func TestRouteStage(t *testing.T) {
	t.Parallel()
	r, _ := oneDeployment(&backend{}, Settings{})
	c := chatCall("nope")
	err := r.RouteStage().Before(context.Background(), c)
	if e := sdk.AsError(err); e == nil || e.Code != "model_not_found" {
		t.Fatalf("err = %v", err)
	}
	if r.RouteStage().Name() != "route" || r.CallStage().Name() != "call" {
		t.Fatal("stage names")
	}
	// A call that skipped routing is a wiring bug, reported as such rather than a panic.
	err = r.CallStage().Before(context.Background(), chatCall("m"))
	if e := sdk.AsError(err); e == nil || e.Kind != sdk.KindInternal {
		t.Fatalf("unrouted call: %v", err)
	}
	// A swapped table serves the next calls.
	r.SetTable(NewTable([]*pipeline.Deployment{onDeployment("n", "nope", &backend{})}, nil, nil))
	if err := route(context.Background(), r, chatCall("nope")); err != nil {
		t.Fatalf("after SetTable: %v", err)
	}
}

func TestCallStageRetries(t *testing.T) {
	t.Parallel()
	kindErr := func(k sdk.ErrorKind) error { return &sdk.Error{Kind: k, Message: k.String()} }
	cases := []struct {
		name       string
		fails      []error
		router     int  // Settings.NumRetries
		deployment int  // Deployment.MaxRetries
		request    *int // Controls.NumRetries
		calls      int
		wantKind   *sdk.ErrorKind // nil: success
	}{
		{name: "rate limit retried until success", fails: []error{kindErr(sdk.KindRateLimit)}, router: 2, deployment: -1, calls: 2},
		{name: "timeout", fails: []error{kindErr(sdk.KindTimeout), kindErr(sdk.KindTimeout)}, router: 2, deployment: -1, calls: 3},
		{name: "internal", fails: []error{errors.New("plain error")}, router: 1, deployment: -1, calls: 2},
		{name: "connection", fails: []error{kindErr(sdk.KindAPIConnection)}, router: 1, deployment: -1, calls: 2},
		{name: "unavailable", fails: []error{kindErr(sdk.KindServiceUnavailable)}, router: 1, deployment: -1, calls: 2},
		{name: "retries run out", fails: []error{kindErr(sdk.KindRateLimit), kindErr(sdk.KindRateLimit),
			kindErr(sdk.KindRateLimit)}, router: 2, deployment: -1, calls: 3, wantKind: ptr(sdk.KindRateLimit)},
		{name: "no retries configured", fails: []error{kindErr(sdk.KindServiceUnavailable)}, router: 0, deployment: -1,
			calls: 1, wantKind: ptr(sdk.KindServiceUnavailable)},
		{name: "bad request", fails: []error{kindErr(sdk.KindBadRequest)}, router: 3, deployment: -1, calls: 1,
			wantKind: ptr(sdk.KindBadRequest)},
		{name: "authentication", fails: []error{kindErr(sdk.KindAuthentication)}, router: 3, deployment: -1, calls: 1,
			wantKind: ptr(sdk.KindAuthentication)},
		{name: "content policy", fails: []error{kindErr(sdk.KindContentPolicy)}, router: 3, deployment: -1, calls: 1,
			wantKind: ptr(sdk.KindContentPolicy)},
		{name: "context window", fails: []error{kindErr(sdk.KindContextWindowExceeded)}, router: 3, deployment: -1,
			calls: 1, wantKind: ptr(sdk.KindContextWindowExceeded)},
		{name: "deployment max_retries beats the router", fails: []error{kindErr(sdk.KindRateLimit),
			kindErr(sdk.KindRateLimit), kindErr(sdk.KindRateLimit)}, router: 5, deployment: 1, calls: 2,
			wantKind: ptr(sdk.KindRateLimit)},
		{name: "deployment max_retries 0", fails: []error{kindErr(sdk.KindRateLimit)}, router: 5, deployment: 0, calls: 1,
			wantKind: ptr(sdk.KindRateLimit)},
		{name: "request num_retries beats the deployment", fails: []error{kindErr(sdk.KindRateLimit),
			kindErr(sdk.KindRateLimit), kindErr(sdk.KindRateLimit)}, router: 5, deployment: 5, request: ptr(1), calls: 2,
			wantKind: ptr(sdk.KindRateLimit)},
		{name: "request num_retries 0", fails: []error{kindErr(sdk.KindRateLimit)}, router: 5, deployment: 5,
			request: ptr(0), calls: 1, wantKind: ptr(sdk.KindRateLimit)},
		{name: "negative request num_retries means none", fails: []error{kindErr(sdk.KindRateLimit)}, router: 5,
			deployment: 5, request: ptr(-3), calls: 1, wantKind: ptr(sdk.KindRateLimit)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &backend{name: "b", fails: tc.fails}
			r, d := oneDeployment(b, Settings{NumRetries: tc.router})
			d.MaxRetries = tc.deployment
			c := chatCall("m")
			c.Chat.NumRetries = tc.request
			err := route(context.Background(), r, c)
			if b.Calls() != tc.calls || c.Attempts != tc.calls {
				t.Errorf("backend calls %d, attempts %d, want %d", b.Calls(), c.Attempts, tc.calls)
			}
			if tc.wantKind == nil {
				if err != nil || c.Response == nil {
					t.Fatalf("err = %v, response %v", err, c.Response)
				}
				return
			}
			if e := sdk.AsError(err); e == nil || e.Kind != *tc.wantKind {
				t.Fatalf("err = %v, want kind %v", err, *tc.wantKind)
			}
		})
	}
}

func TestRetryMovesToAnotherDeployment(t *testing.T) {
	t.Parallel()
	for range 10 { // the first pick is random: make both orders likely
		var log []string
		fail := &sdk.Error{Kind: sdk.KindServiceUnavailable, Message: "down"}
		a := &backend{name: "a", log: &log, fails: []error{fail}}
		b := &backend{name: "b", log: &log, fails: []error{fail}}
		r := New(NewTable([]*pipeline.Deployment{onDeployment("a", "m", a), onDeployment("b", "m", b)}, nil, nil),
			Settings{NumRetries: 2})
		c := chatCall("m")
		if err := route(context.Background(), r, c); err != nil {
			t.Fatal(err)
		}
		// Both fail once: the retry goes to the untried deployment, and with both tried the third attempt may go
		// to either again, and succeeds.
		if len(log) != 3 || log[0] == log[1] || c.Deployment.ID != log[2] {
			t.Fatalf("attempts went to %q, answered by %s", log, c.Deployment.ID)
		}
	}
}

func TestPick(t *testing.T) {
	t.Parallel()
	in, out := 0.5, 1.5
	mk := func(id string, order int) *pipeline.Deployment {
		d := onDeployment(id, "g", nil)
		d.Order, d.Weight, d.RPM, d.TPM = order, 2, 30, 4000
		d.InputCostPerToken, d.OutputCostPerToken = &in, &out
		return d
	}
	d1, d2, d3, d4 := mk("o2", 2), mk("o1a", 1), mk("o1b", 1), mk("o3", 3)
	group := &Group{Name: "g", Deployments: []*pipeline.Deployment{d1, d2, d3, d4}}

	var seen [][]string
	var req *sdk.RouteRequest
	first := strategy(func(_ context.Context, r *sdk.RouteRequest, cs []sdk.Candidate) (int, error) {
		var ids []string
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		seen, req = append(seen, ids), r
		return 0, nil
	})
	cases := []struct {
		name     string
		tried    []*pipeline.Deployment
		want     *pipeline.Deployment
		strategy []string // candidates the strategy saw; nil when it was not asked
	}{
		{"lowest tier first", nil, d2, []string{"o1a", "o1b"}},
		{"untried first within the tier", []*pipeline.Deployment{d2}, d3, nil},
		{"next tier once a tier is tried", []*pipeline.Deployment{d2, d3}, d1, nil},
		{"last tier", []*pipeline.Deployment{d2, d3, d1}, d4, nil},
		{"all tried: start over from the lowest tier", []*pipeline.Deployment{d1, d2, d3, d4}, d2, []string{"o1a", "o1b"}},
	}
	for _, tc := range cases {
		seen = nil
		r := New(NewTable(nil, nil, nil), Settings{Strategy: first})
		c := chatCall("g")
		c.Streaming = true
		got, err := r.pick(context.Background(), c, &plan{group: group, tried: tc.tried})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got != tc.want {
			t.Errorf("%s: picked %s, want %s", tc.name, got.ID, tc.want.ID)
		}
		if tc.strategy == nil && seen != nil || tc.strategy != nil && !reflect.DeepEqual(seen, [][]string{tc.strategy}) {
			t.Errorf("%s: strategy saw %q, want %q", tc.name, seen, tc.strategy)
		}
	}
	if req == nil || req.Group != "g" || !req.Stream {
		t.Errorf("route request = %+v", req)
	}
}

func TestPickCandidateFields(t *testing.T) {
	t.Parallel()
	in, out := 0.25, 0.75
	d1 := &pipeline.Deployment{ID: "x", Target: &sdk.Target{Provider: "openai", Model: "gpt-4o"}, Weight: 3, RPM: 60,
		TPM: 1000, Order: 1, InputCostPerToken: &in, OutputCostPerToken: &out}
	d2 := &pipeline.Deployment{ID: "y", Order: 1} // no target, no prices
	var got []sdk.Candidate
	r := New(NewTable(nil, nil, nil), Settings{Strategy: strategy(func(_ context.Context, _ *sdk.RouteRequest, cs []sdk.Candidate) (int, error) {
		got = cs
		return 1, nil
	})})
	d, err := r.pick(context.Background(), chatCall("g"), &plan{group: &Group{Name: "g", Deployments: []*pipeline.Deployment{d1, d2}}})
	if err != nil || d != d2 {
		t.Fatalf("picked %v, %v", d, err)
	}
	want := []sdk.Candidate{
		{ID: "x", Provider: "openai", Model: "gpt-4o", Weight: 3, RPM: 60, TPM: 1000, Order: 1,
			InputCostPerToken: 0.25, OutputCostPerToken: 0.75},
		{ID: "y", Order: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("candidates =\n%+v\nwant\n%+v", got, want)
	}
}

func TestPickStrategyFailures(t *testing.T) {
	t.Parallel()
	boom := sdk.NewError(sdk.KindServiceUnavailable, "no healthy deployment")
	cases := []struct {
		name string
		pick func() (int, error)
		want error // nil: any KindInternal error
	}{
		{"strategy error", func() (int, error) { return 0, boom }, boom},
		{"negative index", func() (int, error) { return -1, nil }, nil},
		{"index past the end", func() (int, error) { return 2, nil }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &backend{}
			r := New(NewTable([]*pipeline.Deployment{onDeployment("a", "m", b), onDeployment("b", "m", b)}, nil, nil),
				Settings{Strategy: strategy(func(context.Context, *sdk.RouteRequest, []sdk.Candidate) (int, error) {
					return tc.pick()
				})})
			c := chatCall("m")
			err := route(context.Background(), r, c)
			if tc.want != nil && err != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if e := sdk.AsError(err); tc.want == nil && (e == nil || e.Kind != sdk.KindInternal) {
				t.Fatalf("err = %v, want an internal error", err)
			}
			if b.Calls() != 0 {
				t.Fatal("a deployment was called although no pick was made")
			}
		})
	}
}

func TestPickWithoutStrategyStaysInRange(t *testing.T) {
	t.Parallel()
	ds := []*pipeline.Deployment{onDeployment("a", "m", nil), onDeployment("b", "m", nil), onDeployment("c", "m", nil)}
	r := New(NewTable(ds, nil, nil), Settings{})
	p := &plan{group: &Group{Name: "m", Deployments: ds}}
	counts := map[string]int{}
	for range 3000 {
		d, err := r.pick(context.Background(), chatCall("m"), p)
		if err != nil {
			t.Fatal(err)
		}
		counts[d.ID]++
	}
	for _, d := range ds {
		if counts[d.ID] < 500 { // expected 1000 each; 500 is far beyond any plausible deviation
			t.Fatalf("uniform pick is skewed: %v", counts)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		settings   time.Duration // Settings.RetryAfter
		retryAfter time.Duration // the upstream's
		n          int
		lo, hi     time.Duration
	}{
		{"first retry", 0, 0, 1, 1, 100 * time.Millisecond},
		{"second retry doubles", 0, 0, 2, 1, 200 * time.Millisecond},
		{"growth stops at 6.4s", 0, 0, 30, 1, 6400 * time.Millisecond},
		{"configured retry_after is a floor", time.Second, 0, 1, time.Second, time.Second},
		{"upstream Retry-After is a floor", 0, 3 * time.Second, 1, 3 * time.Second, 3 * time.Second},
		{"the larger floor wins", 2 * time.Second, time.Second, 1, 2 * time.Second, 2 * time.Second},
		{"exactly a minute is waited", 0, time.Minute, 1, time.Minute, time.Minute},
		{"a huge configured floor is capped", 5 * time.Minute, 0, 1, time.Minute, time.Minute},
		{"past a minute: give up", 0, time.Minute + time.Millisecond, 1, -1, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := New(NewTable(nil, nil, nil), Settings{RetryAfter: tc.settings})
			for range 200 {
				got := r.backoff(tc.n, &sdk.Error{Kind: sdk.KindRateLimit, RetryAfter: tc.retryAfter})
				if got < tc.lo || got > tc.hi {
					t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tc.n, got, tc.lo, tc.hi)
				}
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	wait := 300 * time.Millisecond
	b := &backend{name: "b", fails: []error{&sdk.Error{Kind: sdk.KindRateLimit, RetryAfter: wait}}}
	r, _ := oneDeployment(b, Settings{NumRetries: 1})
	c := chatCall("m")
	begin := time.Now()
	if err := route(context.Background(), r, c); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < wait {
		t.Fatalf("retried after %v, before the upstream's Retry-After of %v", took, wait)
	}
	if b.Calls() != 2 {
		t.Fatalf("calls = %d", b.Calls())
	}
}

func TestLongRetryAfterGoesToTheClient(t *testing.T) {
	t.Parallel()
	limited := &sdk.Error{Kind: sdk.KindRateLimit, RetryAfter: 2 * time.Minute}
	b := &backend{name: "b", fails: []error{limited}}
	r, _ := oneDeployment(b, Settings{NumRetries: 3})
	begin := time.Now()
	err := route(context.Background(), r, chatCall("m"))
	if err != limited || b.Calls() != 1 {
		t.Fatalf("err %v after %d calls, want the rate limit at once", err, b.Calls())
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Fatalf("took %v", took)
	}
}

func TestCancellationDuringBackoff(t *testing.T) {
	t.Parallel()
	limited := &sdk.Error{Kind: sdk.KindRateLimit, RetryAfter: 30 * time.Second}
	b := &backend{name: "b", fails: []error{limited, limited}}
	r, _ := oneDeployment(b, Settings{NumRetries: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err := route(ctx, r, chatCall("m"))
	if took := time.Since(begin); took > 10*time.Second {
		t.Fatalf("the backoff outlived the request's context: %v", took)
	}
	if err != limited || b.Calls() != 1 {
		t.Fatalf("err %v after %d calls, want the last upstream error and no further attempt", err, b.Calls())
	}
}

func TestNoRetryOnceTheClientIsGone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancelling := &cancelOnCall{backend: backend{name: "b", fails: []error{sdk.NewError(sdk.KindAPIConnection, "reset")}},
		cancel: cancel}
	r, _ := oneDeployment(cancelling, Settings{NumRetries: 5})
	if err := route(ctx, r, chatCall("m")); err == nil || cancelling.Calls() != 1 {
		t.Fatalf("err %v after %d calls", err, cancelling.Calls())
	}
}

type cancelOnCall struct {
	backend
	cancel context.CancelFunc
}

func (b *cancelOnCall) Chat(ctx context.Context, req *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	defer b.cancel()
	return b.backend.Chat(ctx, req)
}

func TestNonStreamedTimeouts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name                        string
		override, deployment, route time.Duration
		want                        time.Duration
	}{
		{"request override first", time.Hour, 2 * time.Hour, 3 * time.Hour, time.Hour},
		{"then the deployment's", 0, 2 * time.Hour, 3 * time.Hour, 2 * time.Hour},
		{"then the router's", 0, 0, 3 * time.Hour, 3 * time.Hour},
		{"then LiteLLM's default", 0, 0, 0, DefaultTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &backend{name: "b"}
			r, d := oneDeployment(b, Settings{Timeout: tc.route})
			d.Timeout = tc.deployment
			c := chatCall("m")
			c.TimeoutOverride = tc.override
			if err := route(context.Background(), r, c); err != nil {
				t.Fatal(err)
			}
			// Generous: only the order of magnitude tells the sources apart.
			if left := b.remaining[0]; left > tc.want || left < tc.want-time.Minute {
				t.Fatalf("time left on the upstream call = %v, want about %v", left, tc.want)
			}
		})
	}
}

func TestNonStreamedTimeoutFires(t *testing.T) {
	t.Parallel()
	b := &backend{name: "b", block: true}
	r, d := oneDeployment(b, Settings{})
	d.Timeout, d.MaxRetries = 50*time.Millisecond, 0
	begin := time.Now()
	err := route(context.Background(), r, chatCall("m"))
	if e := sdk.AsError(err); e == nil || e.Kind != sdk.KindTimeout {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if took := time.Since(begin); took < 50*time.Millisecond || took > 10*time.Second {
		t.Fatalf("timed out after %v", took)
	}
}

// mockBackend is the mock provider bound to a text.
type mockBackend struct {
	backend
	text string
}

func (m *mockBackend) Chat(ctx context.Context, req *sdk.ChatRequest) (*sdk.ChatResponse, error) {
	if _, err := m.next(ctx); err != nil {
		return nil, err
	}
	return &sdk.ChatResponse{ID: "mock", Choices: []sdk.Choice{{Message: sdk.Message{Role: "assistant",
		Content: sdk.TextContent(m.text)}}}}, nil
}

func TestMockResponse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name            string
		requestMock     *string
		deploymentMock  string
		withMockFor     bool
		wantText        string
		wantErrContains string
	}{
		{name: "request mock through MockFor", requestMock: ptr("hello"), withMockFor: true, wantText: "hello"},
		{name: "deployment mock_response", deploymentMock: "from config", withMockFor: true,
			wantText: "from config"},
		{name: "the request beats the deployment", requestMock: ptr("asked"), deploymentMock: "configured",
			withMockFor: true, wantText: "asked"},
		{name: "the empty request mock still mocks", requestMock: ptr(""), withMockFor: true, wantText: ""},
		{name: "no mock provider", requestMock: ptr("x"), wantErrContains: "no mock provider"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			upstream := &backend{name: "upstream"}
			var s Settings
			var boundTo *pipeline.Deployment
			var boundText string
			var bound *mockBackend
			if tc.withMockFor {
				s.MockFor = func(d *pipeline.Deployment, text string) pipeline.Backend {
					boundTo, boundText = d, text
					bound = &mockBackend{text: text}
					return bound
				}
			}
			s.NumRetries = 3
			r, d := oneDeployment(upstream, s)
			d.MockResponse = tc.deploymentMock
			c := chatCall("m")
			c.Chat.MockResponse = tc.requestMock
			err := route(context.Background(), r, c)
			if upstream.Calls() != 0 {
				t.Fatal("the real deployment was called for a mock response")
			}
			if tc.wantErrContains != "" {
				e := sdk.AsError(err)
				if e == nil || e.Kind != sdk.KindBadRequest || c.Attempts != 1 {
					t.Fatalf("err = %v after %d attempts, want one 400", err, c.Attempts)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp := c.Response.(*sdk.ChatResponse)
			if got := resp.Choices[0].Message.Content.String(); got != tc.wantText {
				t.Fatalf("answer %q, want %q", got, tc.wantText)
			}
			if tc.withMockFor && (boundTo != d || boundText != tc.wantText || bound.Calls() != 1) {
				t.Fatalf("MockFor bound to %v with %q", boundTo, boundText)
			}
		})
	}
}

func TestEmbeddingEncoding(t *testing.T) {
	t.Parallel()
	floats := []float32{1, -0.5, 0.25}
	b64 := sdk.Embedding{Floats: floats}.ToBase64()
	cases := []struct {
		name   string
		format string
		raw    []byte
		want   sdk.Embedding
	}{
		{"base64 asked, floats returned: converted", "base64", nil, b64},
		{"float asked", "float", nil, sdk.Embedding{Floats: floats}},
		{"default format", "", nil, sdk.Embedding{Floats: floats}},
		// A raw upstream body goes to the client as it is, so its typed fields are left alone.
		{"raw answer left alone", "base64", []byte(`{"data":[]}`), sdk.Embedding{Floats: floats}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &backend{name: "b", embed: &sdk.EmbeddingResponse{Object: "list", Raw: tc.raw,
				Data: []sdk.EmbeddingData{{Object: "embedding", Embedding: sdk.Embedding{Floats: floats}},
					{Object: "embedding", Index: 1, Embedding: sdk.Embedding{Floats: floats}}}}}
			r, _ := oneDeployment(b, Settings{})
			c := &pipeline.Call{Type: pipeline.CallEmbedding, Model: "m",
				Embedding: &sdk.EmbeddingRequest{Model: "m", Input: sdk.TextInput("x"), EncodingFormat: tc.format}}
			if err := route(context.Background(), r, c); err != nil {
				t.Fatal(err)
			}
			for i, d := range c.Response.(*sdk.EmbeddingResponse).Data {
				if !reflect.DeepEqual(d.Embedding, tc.want) {
					t.Fatalf("data[%d] = %+v, want %+v", i, d.Embedding, tc.want)
				}
			}
		})
	}
}

// countingState counts reads of usage and latencies and writes of tokens.
type countingState struct {
	State
	usage, latencies, tokens atomic.Int64
}

func (s *countingState) Usage(ctx context.Context, ids []string) []MinuteUsage {
	s.usage.Add(1)
	return s.State.Usage(ctx, ids)
}

func (s *countingState) Latencies(ctx context.Context, ids []string) []Latency {
	s.latencies.Add(1)
	return s.State.Latencies(ctx, ids)
}

func (s *countingState) AddTokens(ctx context.Context, id string, n int) {
	s.tokens.Add(1)
	s.State.AddTokens(ctx, id, n)
}

// staticStrategy picks the first candidate and declares it reads no statistics.
type staticStrategy struct{ static bool }

func (s staticStrategy) Pick(context.Context, *sdk.RouteRequest, []sdk.Candidate) (int, error) {
	return 0, nil
}
func (s staticStrategy) Static() bool { return s.static }

// A strategy that reads no live statistics (sdk.StaticRouter) costs no state reads or token writes; one that
// does gets them.
func TestStaticStrategySkipsStatistics(t *testing.T) {
	t.Parallel()
	for _, static := range []bool{true, false} {
		st := &countingState{State: NewMemoryState()}
		var log []string
		ds := []*pipeline.Deployment{onDeployment("a", "m", &backend{name: "a", log: &log}),
			onDeployment("b", "m", &backend{name: "b", log: &log})}
		r := New(NewTable(ds, nil, nil), Settings{Strategy: staticStrategy{static}, State: st})
		for range 3 {
			if err := route(context.Background(), r, chatCall("m")); err != nil {
				t.Fatal(err)
			}
		}
		reads := st.usage.Load() + st.latencies.Load() + st.tokens.Load()
		if static && reads != 0 {
			t.Errorf("a static strategy: %d usage, %d latency reads and %d token writes", st.usage.Load(),
				st.latencies.Load(), st.tokens.Load())
		}
		if !static && (st.usage.Load() != 3 || st.latencies.Load() != 3) {
			t.Errorf("a strategy reading statistics got %d usage and %d latency reads for 3 calls",
				st.usage.Load(), st.latencies.Load())
		}
	}
}
