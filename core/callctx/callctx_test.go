package callctx

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestErrWithoutWaiting(t *testing.T) {
	t.Parallel()
	ctx, cancel := WithTimeout(context.Background(), time.Hour)
	if err := ctx.Err(); err != nil {
		t.Fatalf("fresh: %v", err)
	}
	cancel()
	if err := ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}

	ctx, cancel = WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	time.Sleep(5 * time.Millisecond)
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past the deadline: %v", err)
	}
	cancel()
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled past the deadline: %v, want the deadline's error kept", err)
	}

	parent, cancelParent := context.WithCancel(context.Background())
	ctx, cancel = WithTimeout(parent, time.Hour)
	defer cancel()
	cancelParent()
	if err := ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("parent cancelled: %v", err)
	}
}

func TestDeadlineIsTheEarlier(t *testing.T) {
	t.Parallel()
	parent, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pd, _ := parent.Deadline()
	ctx, cancel2 := WithTimeout(parent, time.Hour)
	defer cancel2()
	if d, ok := ctx.Deadline(); !ok || !d.Equal(pd) {
		t.Fatalf("deadline %v %v, want the parent's %v", d, ok, pd)
	}
	ctx, cancel3 := WithTimeout(parent, time.Second)
	defer cancel3()
	if d, _ := ctx.Deadline(); !d.Before(pd) {
		t.Fatalf("deadline %v, want one before the parent's %v", d, pd)
	}
}

func TestDoneClosesAtTheDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done did not close at the deadline")
	}
	if err := ctx.Err(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if _, _, ok := Watch(ctx); ok {
		t.Fatal("Watch says ok for a context that was waited on")
	}
}

func TestDoneClosesOnParentAndCancel(t *testing.T) {
	t.Parallel()
	parent, cancelParent := context.WithCancel(context.Background())
	ctx, cancel := WithTimeout(parent, time.Hour)
	defer cancel()
	done := ctx.Done()
	cancelParent()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Done did not close when the parent was cancelled")
	}

	ctx, cancel = WithTimeout(context.Background(), time.Hour)
	done = ctx.Done()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Done did not close on cancel")
	}

	// Cancelled before anything waited: Done is closed at once.
	ctx, cancel = WithTimeout(context.Background(), time.Hour)
	cancel()
	select {
	case <-ctx.Done():
	default:
		t.Fatal("Done of a cancelled context is open")
	}
	if err := ctx.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v", err)
	}
}

// TestChildrenRegisterWithoutGoroutines: a context derived from a lazy one registers with the real context it
// becomes, as with the context package's own, rather than the package's fallback of a goroutine per child; and
// it is cancelled with it.
func TestChildrenRegisterWithoutGoroutines(t *testing.T) {
	ctx, cancel := WithTimeout(context.Background(), time.Hour)
	before := runtime.NumGoroutine()
	var children []context.Context
	fired := make(chan struct{}, 100)
	for range 100 {
		child, cancelChild := context.WithCancel(ctx)
		defer cancelChild()
		children = append(children, child)
		context.AfterFunc(ctx, func() { fired <- struct{}{} })
	}
	if n := runtime.NumGoroutine() - before; n > 20 {
		t.Fatalf("%d goroutines more after deriving 100 contexts", n)
	}
	cancel()
	for i, child := range children {
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("child %d not cancelled", i)
		}
	}
	for range 100 {
		select {
		case <-fired:
		case <-time.After(5 * time.Second):
			t.Fatal("an AfterFunc did not run")
		}
	}
}

func TestWatch(t *testing.T) {
	t.Parallel()
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	ctx, cancel := WithTimeout(parent, time.Hour)
	defer cancel()
	want, _ := ctx.Deadline()
	type k struct{}
	for name, c := range map[string]context.Context{"itself": ctx, "under a value": context.WithValue(ctx, k{}, 1)} {
		p, d, ok := Watch(c)
		if !ok || p != parent || !d.Equal(want) {
			t.Errorf("%s: Watch = %v %v %v, want the parent, %v, true", name, p, d, ok, want)
		}
	}
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	for name, c := range map[string]context.Context{
		"plain":            parent,
		"without cancel":   context.WithoutCancel(ctx),
		"under a cancel":   child,
		"waited on before": ctx,
	} {
		if _, _, ok := Watch(c); ok {
			t.Errorf("%s: Watch says ok", name)
		}
	}
	if ctx.Value(k{}) != nil || context.WithValue(ctx, k{}, 2).Value(k{}) != 2 {
		t.Error("values are not looked up through the context")
	}
}
