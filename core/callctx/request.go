package callctx

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// A Group hands out the contexts of the calls a server is serving, and cancels all that are still running at
// once when it shuts down.
//
// Why not context.WithCancel of one server-wide context, as before: every call registered with that one
// context, in a map behind one lock shared by all requests, and the upstream transport then hung a second
// context on the call's (context.AfterFunc). Here calls are kept in lists split over shards by address, and
// a Request takes the one function the transport has to run on cancellation (OnCancel) without allocating.
type Group struct {
	canceled atomic.Bool
	shards   [groupShards]groupShard
}

const groupShards = 32

type groupShard struct {
	mu   sync.Mutex
	head *Request
	_    [48]byte // a cache line per shard
}

// NewRequest returns a call's context, cancelled by its CancelFunc, or by the group's Cancel. The context has
// no deadline and no values.
func (g *Group) NewRequest() (*Request, context.CancelFunc) {
	r := &Request{}
	r.shard = &g.shards[(uintptr(unsafe.Pointer(r))>>7)%groupShards]
	s := r.shard
	s.mu.Lock()
	r.next = s.head
	if s.head != nil {
		s.head.prev = r
	}
	s.head = r
	s.mu.Unlock()
	if g.canceled.Load() { // Cancel may have passed this shard already
		r.cancel(context.Canceled)
	}
	return r, r.Cancel
}

// Cancel cancels every call's context, and those of calls started from now on.
func (g *Group) Cancel() {
	g.canceled.Store(true)
	for i := range g.shards {
		s := &g.shards[i]
		s.mu.Lock()
		var all []*Request
		for r := s.head; r != nil; r = r.next {
			all = append(all, r)
		}
		s.mu.Unlock()
		for _, r := range all {
			r.cancel(context.Canceled)
		}
	}
}

// Request is a call's context (see Group).
type Request struct {
	shard      *groupShard
	prev, next *Request // in the shard's list while not cancelled; guarded by the shard's lock

	mu     sync.Mutex
	done   chan struct{} // made by the first Done
	err    atomic.Pointer[error]
	hook   Hook // OnCancel's function
	afters map[uint64]func()
	nextID uint64 // of afters and hooks
}

// Hook is a function OnCancel registered; its Stop unregisters it.
type Hook struct {
	r   *Request
	id  uint64
	f   func(any)
	arg any
	std func() bool // context.AfterFunc's stop, when the context was not a Request
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (r *Request) Deadline() (time.Time, bool) { return time.Time{}, false }

func (r *Request) Done() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done == nil {
		if r.err.Load() != nil {
			r.done = closedChan
		} else {
			r.done = make(chan struct{})
		}
	}
	return r.done
}

func (r *Request) Err() error {
	if err := r.err.Load(); err != nil {
		return *err
	}
	return nil
}

// Value has r under its own key, and nothing else.
func (r *Request) Value(k any) any {
	if _, ok := k.(requestKey); ok {
		return r
	}
	return nil
}

type requestKey struct{}

func (r *Request) String() string { return "callctx.Request" }

// Cancel cancels the call's context: the functions given to OnCancel run, those of context.AfterFunc start.
func (r *Request) Cancel() { r.cancel(context.Canceled) }

func (r *Request) cancel(err error) {
	r.mu.Lock()
	if r.err.Load() != nil {
		r.mu.Unlock()
		return
	}
	r.err.Store(&err)
	if r.done != nil {
		close(r.done)
	}
	hook, afters := r.hook, r.afters
	r.hook, r.afters = Hook{}, nil
	r.mu.Unlock()

	s := r.shard
	s.mu.Lock()
	if r.prev != nil {
		r.prev.next = r.next
	} else if s.head == r {
		s.head = r.next
	}
	if r.next != nil {
		r.next.prev = r.prev
	}
	r.prev, r.next = nil, nil
	s.mu.Unlock()

	if hook.f != nil {
		hook.f(hook.arg)
	}
	for _, f := range afters {
		go f()
	}
}

// AfterFunc is what context.AfterFunc, and the context package's children of r, register with: f starts in its
// own goroutine once r is cancelled (at once if it is).
func (r *Request) AfterFunc(f func()) (stop func() bool) {
	r.mu.Lock()
	if r.err.Load() != nil {
		r.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	if r.afters == nil {
		r.afters = make(map[uint64]func())
	}
	id := r.nextID
	r.nextID++
	r.afters[id] = f
	r.mu.Unlock()
	return func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		_, ok := r.afters[id]
		delete(r.afters, id)
		return ok
	}
}

// OnCancel arranges for f(arg) to run once ctx is cancelled, like context.AfterFunc; when ctx is a Request it
// costs no allocation, and f runs on the goroutine that cancels, so it must not block (closing a connection).
// A Request takes one such function at a time (also under value contexts): a second while the first is
// registered, or any other context, goes through context.AfterFunc.
func OnCancel(ctx context.Context, f func(any), arg any) Hook {
	r, ok := ctx.(*Request)
	if !ok {
		// Under value contexts only (whose Done is the request's): nothing in between can be cancelled alone.
		if v, _ := ctx.Value(requestKey{}).(*Request); v != nil && ctx.Done() == v.Done() {
			r, ok = v, true
		}
	}
	if ok {
		r.mu.Lock()
		switch {
		case r.err.Load() != nil:
			r.mu.Unlock()
			f(arg)
			return Hook{}
		case r.hook.f == nil:
			r.nextID++
			r.hook = Hook{r: r, id: r.nextID, f: f, arg: arg}
			r.mu.Unlock()
			return r.hook
		}
		r.mu.Unlock()
	}
	return Hook{std: context.AfterFunc(ctx, func() { f(arg) })}
}

// Stop unregisters the function, and reports whether it had not run yet (as context.AfterFunc's stop).
func (h Hook) Stop() bool {
	if h.std != nil {
		return h.std()
	}
	if h.r == nil { // it ran in OnCancel
		return false
	}
	h.r.mu.Lock()
	defer h.r.mu.Unlock()
	if h.r.hook.id != h.id { // ran, stopped, or replaced by a later one (ids start at 1; none is 0)
		return false
	}
	h.r.hook = Hook{}
	return true
}
