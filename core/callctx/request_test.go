package callctx

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRequestCancel(t *testing.T) {
	t.Parallel()
	var g Group
	r, cancel := g.NewRequest()
	if r.Err() != nil {
		t.Fatal(r.Err())
	}
	done := r.Done()
	var ran atomic.Int32
	h := OnCancel(r, func(a any) { a.(*atomic.Int32).Add(1) }, &ran)
	select {
	case <-done:
		t.Fatal("Done closed early")
	default:
	}
	cancel()
	cancel()
	if !errors.Is(r.Err(), context.Canceled) {
		t.Fatalf("err %v", r.Err())
	}
	select {
	case <-done:
	default:
		t.Fatal("Done open after cancel")
	}
	if ran.Load() != 1 {
		t.Fatalf("the OnCancel function ran %d times, want once, before Cancel returned", ran.Load())
	}
	if h.Stop() {
		t.Fatal("Stop after the function ran reports true")
	}
	// On a cancelled request, OnCancel runs the function at once; Done is closed.
	OnCancel(r, func(a any) { a.(*atomic.Int32).Add(1) }, &ran)
	if ran.Load() != 2 {
		t.Fatal("OnCancel on a cancelled request did not run the function")
	}
	r2, cancel2 := g.NewRequest()
	cancel2()
	select {
	case <-r2.Done():
	default:
		t.Fatal("Done first asked after cancel is open")
	}
}

func TestHookStop(t *testing.T) {
	t.Parallel()
	var g Group
	r, cancel := g.NewRequest()
	var ran atomic.Int32
	add := func(a any) { a.(*atomic.Int32).Add(1) }
	first := OnCancel(r, add, &ran)
	if !first.Stop() {
		t.Fatal("Stop before cancel reports false")
	}
	second := OnCancel(r, add, &ran)
	if first.Stop() {
		t.Fatal("a stopped hook's Stop reports true again")
	}
	// A second function while one is registered goes through context.AfterFunc, and runs too.
	third := make(chan struct{})
	OnCancel(r, func(any) { close(third) }, nil)
	cancel()
	if ran.Load() != 1 {
		t.Fatalf("ran %d, want the second hook once (the first was stopped)", ran.Load())
	}
	if second.Stop() {
		t.Fatal("Stop after cancel reports true")
	}
	select {
	case <-third:
	case <-time.After(5 * time.Second):
		t.Fatal("the function registered through context.AfterFunc did not run")
	}
}

// TestRequestChildren: the context package's children of a Request register through its AfterFunc (no
// goroutine each) and are cancelled with it; context.AfterFunc on it runs.
func TestRequestChildren(t *testing.T) {
	var g Group
	r, cancel := g.NewRequest()
	before := runtime.NumGoroutine()
	var children []context.Context
	for range 100 {
		c, cc := context.WithCancel(r)
		defer cc()
		children = append(children, c)
	}
	if n := runtime.NumGoroutine() - before; n > 20 {
		t.Fatalf("%d goroutines more after deriving 100 contexts", n)
	}
	fired := make(chan struct{})
	context.AfterFunc(r, func() { close(fired) })
	stop := context.AfterFunc(r, func() { t.Error("a stopped AfterFunc ran") })
	if !stop() {
		t.Fatal("stop reports false before cancel")
	}
	cancel()
	for i, c := range children {
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("child %d not cancelled", i)
		}
		if !errors.Is(c.Err(), context.Canceled) {
			t.Fatalf("child %d: %v", i, c.Err())
		}
	}
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("context.AfterFunc did not run")
	}
	// Derived after the cancellation: cancelled at once.
	late, lc := context.WithCancel(r)
	defer lc()
	select {
	case <-late.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a child made after cancel is not cancelled")
	}
}

// TestGroupCancel: the group's Cancel reaches every request still running, and every one made afterwards,
// while requests come and go on other goroutines; a finished request leaves the group.
func TestGroupCancel(t *testing.T) {
	t.Parallel()
	var g Group
	var live []*Request
	for range 500 {
		r, _ := g.NewRequest()
		live = append(live, r)
	}
	for range 500 { // finished ones
		_, cancel := g.NewRequest()
		cancel()
	}
	var wg sync.WaitGroup
	stopChurn := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stopChurn:
					return
				default:
				}
				_, cancel := g.NewRequest()
				cancel()
			}
		})
	}
	g.Cancel()
	close(stopChurn)
	wg.Wait()
	for i, r := range live {
		if !errors.Is(r.Err(), context.Canceled) {
			t.Fatalf("request %d not cancelled", i)
		}
	}
	r, _ := g.NewRequest()
	if r.Err() == nil {
		t.Fatal("a request made after the group's Cancel is live")
	}
	for i := range g.shards {
		if g.shards[i].head != nil {
			t.Fatalf("shard %d still lists a request", i)
		}
	}
}

// TestOnCancelThroughValues: under value contexts OnCancel still registers with the request itself; under a
// context that can be cancelled alone it registers with that context.
func TestOnCancelThroughValues(t *testing.T) {
	t.Parallel()
	var g Group
	r, cancel := g.NewRequest()
	type k struct{}
	ctx := context.WithValue(context.WithValue(r, k{}, 1), k{}, 2)
	ran := make(chan struct{}, 2)
	h := OnCancel(ctx, func(any) { ran <- struct{}{} }, nil)
	if h.std != nil || h.r != r {
		t.Fatal("under value contexts OnCancel went through context.AfterFunc")
	}
	child, cancelChild := context.WithCancel(ctx)
	hc := OnCancel(child, func(any) { ran <- struct{}{} }, nil)
	if hc.std == nil {
		t.Fatal("under a cancellable child OnCancel registered with the request")
	}
	cancelChild()
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the child did not run its function")
	}
	if !h.Stop() {
		t.Fatal("the request's hook ran when only the child was cancelled")
	}
	cancel()
}
