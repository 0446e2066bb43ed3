package quota

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// maxPipeline caps the scripts sent in one pipeline, so that one reply stays small enough to read within the
// client's read timeout and the first callers of a long queue are not held back by the last.
const maxPipeline = 128

// errQueued is the error of a call whose timeout passed before it was sent: it did not run.
var errQueued = fmt.Errorf("not sent within the timeout: %w", context.DeadlineExceeded)

// errInFlight is the error of a call whose timeout passed while its pipeline was in flight: it may have run.
var errInFlight = fmt.Errorf("no reply within the timeout: %w", context.DeadlineExceeded)

// The states of a call. A caller whose timeout passes abandons its call only while it is still queued; once the
// sender has taken it, it runs (and is counted) whatever the caller does.
const (
	callQueued int32 = iota
	callSent
	callAbandoned
)

// call is one script invocation waiting for its pipeline. Calls are pooled: a caller returns its call to the
// pool only after receiving its reply, so the sender never touches a call that is being reused.
type call struct {
	cmd      *redis.Cmd
	deadline time.Time
	state    atomic.Int32
	done     chan struct{} // receives one value when cmd holds its reply or error
	timer    *time.Timer   // the caller's timeout
}

var callPool = sync.Pool{New: func() any {
	c := &call{done: make(chan struct{}, 1), timer: time.NewTimer(time.Hour)}
	c.timer.Stop()
	return c
}}

// batcher sends script invocations to Redis in pipelines ("natural batching"): a call is sent at once when no
// pipeline is in flight; calls made while one is in flight wait for it and then go together in the next. There
// is one sender at a time: a caller that finds no pipeline in flight sends its own call (a lone caller thus
// waits on no timer and no other goroutine, only for its round trip); calls queued meanwhile are sent by a
// goroutine that runs until the queue is empty and then exits, so a batcher needs no closing.
//
// Each call's reply or error is its own; an error of the whole pipeline (the connection) is every call's.
type batcher struct {
	mu      sync.Mutex
	queue   []*call
	sending bool // there is a sender: a caller sending its own call, or the sender goroutine

	// Owned by the running sender (handed from one to the next under mu).
	pipe   redis.Pipeliner
	batch  []*call
	retry  []*call
	cmds   []redis.Cmder
	loaded bool // the scripts are known to be loaded on the server

	pipelines atomic.Int64 // pipelines sent, for tests
}

func newBatcher(client redis.UniversalClient) *batcher {
	return &batcher{pipe: client.Pipeline()}
}

// run sends cmd in a pipeline and waits for its reply, at most timeout: detached from any caller's cancellation,
// so that a caller going away neither leaves an admission counted but unanswered nor a settlement undone. When
// the timeout passes while the call is still queued it is dropped (it never runs); once sent it runs, and a
// caller whose timeout passes while its pipeline is in flight gets an error (as it would on a timed-out round
// trip of its own). A caller that sends its own pipeline waits for it as for a round trip of its own: as long as
// the client's timeouts let it.
func (b *batcher) run(cmd *redis.Cmd, timeout time.Duration) error {
	c := callPool.Get().(*call)
	c.cmd = cmd
	c.deadline = time.Now().Add(timeout)
	c.state.Store(callQueued)
	if b.enqueue(c) {
		b.lead()
		<-c.done
		c.cmd = nil
		callPool.Put(c)
		return cmd.Err()
	}
	c.timer.Reset(timeout)
	select {
	case <-c.done:
		c.timer.Stop()
		c.cmd = nil
		callPool.Put(c)
		return cmd.Err()
	case <-c.timer.C:
		if c.state.CompareAndSwap(callQueued, callAbandoned) {
			return errQueued
		}
		select {
		case <-c.done: // the reply came as the timeout passed
			c.cmd = nil
			callPool.Put(c)
			return cmd.Err()
		default:
			// The call is not returned to the pool: the sender still holds it.
			return errInFlight
		}
	}
}

// enqueue queues c and reports whether no one was sending: the caller is then the sender, and c is first in
// the queue.
func (b *batcher) enqueue(c *call) bool {
	b.mu.Lock()
	b.queue = append(b.queue, c)
	lead := !b.sending
	b.sending = true
	b.mu.Unlock()
	return lead
}

// lead is run by a caller that found no pipeline in flight: it sends its own call (and whatever joined it
// meanwhile), sparing a lone caller the hand-off to a goroutine and back. Calls queued while that pipeline was in
// flight go on in a sender goroutine, so that this caller returns at once.
func (b *batcher) lead() {
	defer func() { // even if sending panicked: never leave the queue without a sender
		b.mu.Lock()
		more := len(b.queue) > 0
		b.sending = more
		b.mu.Unlock()
		if more {
			go b.send()
		}
	}()
	b.sendNext()
}

// send sends what is queued until the queue is empty.
func (b *batcher) send() {
	for b.sendNext() {
	}
}

// sendNext sends the first maxPipeline queued calls in one pipeline. When the queue is empty it reports false
// and gives up the sender's role.
func (b *batcher) sendNext() bool {
	b.mu.Lock()
	n := min(len(b.queue), maxPipeline)
	if n == 0 {
		b.sending = false
		b.mu.Unlock()
		return false
	}
	b.batch = append(b.batch[:0], b.queue[:n]...)
	rest := copy(b.queue, b.queue[n:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	b.mu.Unlock()
	b.exec()
	return true
}

// exec sends the batch as one pipeline and hands every call its reply. Calls that met NOSCRIPT (the server's
// scripts were flushed, by a restart or SCRIPT FLUSH) did not run: they are sent again, after the scripts, once.
func (b *batcher) exec() {
	now := time.Now()
	var deadline time.Time
	live := b.batch[:0]
	for _, c := range b.batch {
		if !c.state.CompareAndSwap(callQueued, callSent) {
			continue // abandoned by its caller
		}
		if !now.Before(c.deadline) {
			c.cmd.SetErr(errQueued)
			c.done <- struct{}{}
			continue
		}
		deadline = later(deadline, c.deadline)
		live = append(live, c)
	}
	defer clear(b.batch) // the calls go back to their pools: keep no references
	if len(live) == 0 {
		return
	}
	// The pipeline's context ends with the last caller's timeout (the others stop waiting on their own timers).
	// The client applies it to waiting for a connection and dialing; reads and writes have its own timeouts.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	b.pipeline(ctx, live)

	retry := b.retry[:0]
	for _, c := range live {
		if err := c.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			retry = append(retry, c)
			continue
		}
		c.done <- struct{}{}
	}
	if len(retry) > 0 {
		b.loaded = false
		b.pipeline(ctx, retry)
		for _, c := range retry {
			c.done <- struct{}{}
		}
		clear(retry)
	}
	b.retry = retry
}

// pipeline sends calls in one pipeline, after loading the scripts if they may be missing.
func (b *batcher) pipeline(ctx context.Context, calls []*call) {
	cmds := b.cmds[:0]
	var loadAdmit, loadSettle, loadLease *redis.StringCmd
	if !b.loaded {
		loadAdmit = redis.NewStringCmd(ctx, "script", "load", admitSource)
		loadSettle = redis.NewStringCmd(ctx, "script", "load", settleSource)
		loadLease = redis.NewStringCmd(ctx, "script", "load", leaseSource)
		cmds = append(cmds, loadAdmit, loadSettle, loadLease)
	}
	for _, c := range calls {
		cmds = append(cmds, c.cmd)
	}
	_ = b.pipe.BatchProcess(ctx, cmds...)
	_, err := b.pipe.Exec(ctx) // every command holds its own reply or error
	b.pipelines.Add(1)
	clear(cmds)
	b.cmds = cmds
	if loadAdmit != nil {
		b.loaded = loadAdmit.Err() == nil && loadSettle.Err() == nil && loadLease.Err() == nil
	}
	// A connection error may mean the server restarted with no scripts: load them with the next pipeline
	// rather than meet NOSCRIPT there.
	var rerr redis.Error
	if err != nil && !errors.As(err, &rerr) {
		b.loaded = false
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
