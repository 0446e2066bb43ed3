// Package callbacks delivers finished requests to success and failure callbacks (sdk.Callback plugins, built in
// or loaded from exec: and wasm: sources). Delivery is asynchronous and never on a request's path: the log stage
// hands each finished call to Observe, which only enqueues an event; a worker batches events, calls each
// callback (OnBatch for batch callbacks, else OnSuccess/OnFailure per event) and retries failed deliveries
// with backoff. A queue that is full drops the event with a warning rather than slowing requests down.
package callbacks

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/gateway/core/accesslog"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/sdk"
)

// Target is one configured callback.
type Target struct {
	Name     string
	Callback sdk.Callback
	// Success and Failure say which events it gets (success_callback, failure_callback; callbacks gives both).
	Success, Failure bool
}

// Options tune delivery.
type Options struct {
	// QueueSize bounds the events waiting for delivery (default 10000).
	QueueSize int
	// BatchSize is the most events per delivery (default 100); FlushInterval the longest an event waits for a
	// batch to fill (default 1 s).
	BatchSize     int
	FlushInterval time.Duration
	// Retries is how many times a failed delivery is retried (default 3), with exponential backoff from
	// RetryBackoff (default 200 ms).
	Retries      int
	RetryBackoff time.Duration
	// CallTimeout bounds one delivery (default 30 s).
	CallTimeout time.Duration
	// LogMessages includes prompts and answers in events (LiteLLM's turn_off_message_logging turns it off).
	LogMessages bool
}

// Dispatcher delivers events to callbacks. Each callback has its own queue and worker, so a slow or dead sink
// delays only itself.
type Dispatcher struct {
	workers []*worker
	opts    Options
	log     *slog.Logger
	done    chan struct{}
	wg      sync.WaitGroup
	closing sync.Once
	// Dropped counts events dropped because a queue was full or every retry failed.
	Dropped atomic.Int64
	// Delivered counts events delivered to a callback.
	Delivered atomic.Int64
}

type worker struct {
	t     Target
	queue chan *sdk.Event
}

// New starts a dispatcher.
func New(log *slog.Logger, targets []Target, o Options) *Dispatcher {
	if o.QueueSize <= 0 {
		o.QueueSize = 10000
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.Retries == 0 {
		o.Retries = 3
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 200 * time.Millisecond
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 30 * time.Second
	}
	d := &Dispatcher{opts: o, log: log, done: make(chan struct{})}
	for _, t := range targets {
		w := &worker{t: t, queue: make(chan *sdk.Event, o.QueueSize)}
		d.workers = append(d.workers, w)
		d.wg.Add(1)
		go d.run(w)
	}
	return d
}

// Observe enqueues the event of a finished call for the callbacks that want it; it never blocks.
func (d *Dispatcher) Observe(c *pipeline.Call) {
	var ev *sdk.Event
	for _, w := range d.workers {
		if c.Err == nil && !w.t.Success || c.Err != nil && !w.t.Failure {
			continue
		}
		if ev == nil {
			ev = EventOf(c, d.opts.LogMessages)
		}
		select {
		case w.queue <- ev:
		default:
			if d.Dropped.Add(1)%1000 == 1 {
				d.log.Warn("callback queue full; events dropped", "callback", w.t.Name, "dropped", d.Dropped.Load())
			}
		}
	}
}

func (d *Dispatcher) run(w *worker) {
	defer d.wg.Done()
	batch := make([]*sdk.Event, 0, d.opts.BatchSize)
	timer := time.NewTimer(d.opts.FlushInterval)
	defer timer.Stop()
	flush := func() {
		if len(batch) > 0 {
			d.deliver(w.t, batch)
			batch = make([]*sdk.Event, 0, d.opts.BatchSize)
		}
	}
	for {
		select {
		case ev := <-w.queue:
			batch = append(batch, ev)
			if len(batch) >= d.opts.BatchSize {
				flush()
			}
		case <-timer.C:
			flush()
			timer.Reset(d.opts.FlushInterval)
		case <-d.done:
			// Drain what is queued, in batches, then stop.
			for {
				select {
				case ev := <-w.queue:
					batch = append(batch, ev)
					if len(batch) >= d.opts.BatchSize {
						flush()
					}
					continue
				default:
				}
				break
			}
			flush()
			return
		}
	}
}

// deliver sends a batch to one callback, retrying failures that may pass on a later try.
func (d *Dispatcher) deliver(t Target, evs []*sdk.Event) {
	backoff := d.opts.RetryBackoff
	var err error
	for attempt := 0; attempt <= d.opts.Retries; attempt++ {
		if attempt > 0 {
			time.Sleep(backoff)
			backoff *= 2
		}
		if err = d.call(t, evs); err == nil {
			d.Delivered.Add(int64(len(evs)))
			return
		}
		d.log.Debug("callback delivery failed", "callback", t.Name, "attempt", attempt+1, "error", err)
		// A sink refusing the events themselves (a 400, bad credentials) refuses them again.
		if e, ok := err.(*sdk.Error); ok && !e.Retryable() {
			break
		}
	}
	d.Dropped.Add(int64(len(evs)))
	d.log.Warn("callback delivery failed; events dropped", "callback", t.Name, "events", len(evs), "error", err)
}

func (d *Dispatcher) call(t Target, evs []*sdk.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = sdk.Errorf(sdk.KindInternal, "callback panic: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.CallTimeout)
	defer cancel()
	if b, ok := t.Callback.(sdk.BatchCallback); ok {
		return b.OnBatch(ctx, evs)
	}
	// Per-event callbacks: an event already delivered is not delivered again when a later one fails.
	for len(evs) > 0 {
		ev := evs[0]
		if ev.Error == nil {
			err = t.Callback.OnSuccess(ctx, ev)
		} else {
			err = t.Callback.OnFailure(ctx, ev)
		}
		if err != nil {
			return err
		}
		evs = evs[1:]
		d.Delivered.Add(1)
	}
	return nil
}

// Close delivers what is queued (until ctx ends) and stops.
func (d *Dispatcher) Close(ctx context.Context) {
	d.closing.Do(func() { close(d.done) })
	ch := make(chan struct{})
	go func() { d.wg.Wait(); close(ch) }()
	select {
	case <-ch:
	case <-ctx.Done():
		queued := 0
		for _, w := range d.workers {
			queued += len(w.queue)
		}
		d.log.Warn("callback delivery cut short by shutdown", "queued", queued)
	}
}

// EventOf describes a finished call. It carries no credential: the key is identified by alias and hash.
func EventOf(c *pipeline.Call, messages bool) *sdk.Event {
	ev := &sdk.Event{
		CallID:     c.ID,
		CallType:   c.Type.String(),
		ModelGroup: c.Model,
		Stream:     c.Streaming,
		StartTime:  c.Start,
		EndTime:    c.End,
		Usage:      c.Usage,
		Status:     c.Status,
		Error:      c.Err,
		EndUser:    c.EndUser(),
		CacheHit:   c.CacheHit,
		Cost:       accesslog.Cost(c),
	}
	if d := c.Deployment; d != nil {
		ev.DeploymentID = d.ID
		if d.Target != nil {
			ev.Model, ev.Provider = d.Target.Model, d.Target.Provider
		}
	}
	if !c.FirstToken.IsZero() {
		ev.TimeToFirstToken = c.FirstToken.Sub(c.Start)
	}
	if p := c.Principal; p != nil {
		ev.KeyAlias, ev.KeyHash, ev.TeamID, ev.UserID = p.KeyAlias, p.KeyHash, p.TeamID, p.UserID
	}
	if ctl := c.Controls(); ctl != nil {
		ev.Metadata, ev.Tags = ctl.Metadata, ctl.Tags
	}
	if c.Chat != nil {
		ev.Params = chatParams(c.Chat)
		if messages {
			ev.Messages = c.Chat.Messages
			if r, ok := c.Response.(*sdk.ChatResponse); ok {
				if dr, err := r.Decoded(); err == nil && len(dr.Choices) > 0 {
					m := dr.Choices[0].Message
					ev.Output = &m
				}
			}
		}
	}
	return ev
}

func chatParams(r *sdk.ChatRequest) map[string]any {
	p := map[string]any{}
	if r.Temperature != nil {
		p["temperature"] = *r.Temperature
	}
	if r.TopP != nil {
		p["top_p"] = *r.TopP
	}
	if r.MaxTokens != nil {
		p["max_tokens"] = *r.MaxTokens
	}
	if r.MaxCompletionTokens != nil {
		p["max_completion_tokens"] = *r.MaxCompletionTokens
	}
	if len(p) == 0 {
		return nil
	}
	return p
}
