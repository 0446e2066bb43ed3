package callctx

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCallContexts: what a plain call's contexts cost, from the edge's to the connection's hook. "std" is
// what the gateway did before (a server-wide parent, context.WithTimeout per attempt, context.AfterFunc in the
// transport); "callctx" is what it does now (a Request, a lazy attempt timeout under a value context, OnCancel).
func BenchmarkCallContexts(b *testing.B) {
	type k struct{}
	closeConn := func(any) {}
	b.Run("std", func(b *testing.B) {
		base, cancelBase := context.WithCancel(context.Background())
		defer cancelBase()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ctx, cancel := context.WithCancel(base)
				vctx := context.WithValue(ctx, k{}, 1)
				actx, cancelAttempt := context.WithTimeout(vctx, 10*time.Minute)
				stop := context.AfterFunc(actx, func() { closeConn(nil) })
				stop()
				cancelAttempt()
				cancel()
			}
		})
	})
	b.Run("callctx", func(b *testing.B) {
		var g Group
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r, cancel := g.NewRequest()
				vctx := context.WithValue(r, k{}, 1)
				actx, cancelAttempt := WithTimeout(vctx, 10*time.Minute)
				watch, deadline, ok := Watch(actx)
				if !ok || deadline.IsZero() {
					b.Fatal("not lazy")
				}
				h := OnCancel(watch, closeConn, nil)
				h.Stop()
				cancelAttempt()
				cancel()
			}
		})
	})
}
