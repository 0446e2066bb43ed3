// Package callctx holds the timeout contexts of a call's attempts, which cost next to nothing until something
// waits on them.
//
// The router runs every attempt under a timeout (600 s unless configured), and context.WithTimeout pays for it
// at once: a context registered with its parent, a channel, a runtime timer, all undone when the attempt ends
// a few hundred microseconds later; with the context the upstream transport hung on it (context.AfterFunc) that
// was about a tenth of the bare gateway's CPU under load. A context from WithTimeout here only remembers its
// deadline. The first call of Done (anything that waits on it: a select, a child context, context.AfterFunc)
// turns it into a context.WithDeadline of the same parent and deadline, which it is from then on. The upstream
// HTTP/1.1 transport, which waits only in reads and writes of its connection, asks Watch instead: it enforces
// the deadline on the connection and watches the parent for cancellation.
package callctx

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// WithTimeout is context.WithTimeout(parent, d), made lazily. As with context.WithTimeout, the deadline is the
// parent's when that comes first, and cancel should be called once the attempt is over.
func WithTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(d)
	if pd, ok := parent.Deadline(); ok && pd.Before(deadline) {
		deadline = pd
	}
	c := &timeoutCtx{parent: parent, deadline: deadline}
	return c, c.cancel
}

// Watch tells a caller that waits only in its own I/O how to honour ctx without making it wait-able: when ctx is
// a WithTimeout context that nothing has waited on, under value contexts only (nothing in between can cancel),
// it returns the context to watch for cancellation (the timeout's parent) and the deadline to enforce, and ok.
// Otherwise ok is false and ctx is to be watched as it is.
func Watch(ctx context.Context) (parent context.Context, deadline time.Time, ok bool) {
	c, _ := ctx.Value(key{}).(*timeoutCtx)
	if c == nil || c.real.Load() != nil {
		return nil, time.Time{}, false
	}
	// A context in between that cancels (WithCancel, WithTimeout, AfterFunc) has waited on c already; one that
	// hides c's cancellation (WithoutCancel) has no deadline.
	if d, has := ctx.Deadline(); !has || !d.Equal(c.deadline) {
		return nil, time.Time{}, false
	}
	return c.parent, c.deadline, true
}

type key struct{}

type timeoutCtx struct {
	parent   context.Context
	deadline time.Time

	real     atomic.Pointer[deadlineCtx] // once something has waited
	canceled atomic.Pointer[error]       // the error fixed when cancel came first
	mu       sync.Mutex                  // making real against cancel
}

type deadlineCtx struct {
	context.Context
	cancel context.CancelFunc
}

func (c *timeoutCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Done makes the context a real one, from now on.
func (c *timeoutCtx) Done() <-chan struct{} {
	if r := c.real.Load(); r != nil {
		return r.Done()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.real.Load()
	if r == nil {
		ctx, cancel := context.WithDeadline(c.parent, c.deadline)
		if c.canceled.Load() != nil {
			cancel()
		}
		r = &deadlineCtx{Context: ctx, cancel: cancel}
		c.real.Store(r)
	}
	return r.Done()
}

func (c *timeoutCtx) Err() error {
	if err := c.canceled.Load(); err != nil {
		return *err
	}
	if r := c.real.Load(); r != nil {
		return r.Err()
	}
	return c.lazyErr()
}

// lazyErr is what a context.WithDeadline would say now: the parent's error, else whether the deadline passed.
func (c *timeoutCtx) lazyErr() error {
	if err := c.parent.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *timeoutCtx) Value(k any) any {
	if _, ok := k.(key); ok {
		return c
	}
	if r := c.real.Load(); r != nil {
		// Once real, the context package's own lookups (a child registering with its parent, Cause) find the
		// real context's cancellation state.
		return r.Value(k)
	}
	return c.parent.Value(k)
}

func (c *timeoutCtx) String() string {
	return "callctx.WithTimeout(" + c.deadline.String() + ")"
}

func (c *timeoutCtx) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.real.Load(); r != nil {
		r.cancel()
		return
	}
	if c.canceled.Load() == nil {
		switch err := c.lazyErr(); err {
		case nil, context.Canceled:
			c.canceled.Store(&errCanceled)
		case context.DeadlineExceeded:
			c.canceled.Store(&errDeadline)
		default:
			c.canceled.Store(&err)
		}
	}
}

// The errors cancel fixes, kept here so that fixing one allocates nothing.
var (
	errCanceled = context.Canceled
	errDeadline = context.DeadlineExceeded
)
