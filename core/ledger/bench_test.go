package ledger

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchyard/gateway/core/store"
)

type nopSink struct{}

func (nopSink) InsertSpendLogs(_ context.Context, logs []store.SpendLog) (int, error) {
	return len(logs), nil
}

// BenchmarkRecord measures Record throughput from parallel callers,
// including the group-committed appends it leads to (the queue fills and
// Record waits for the disk when callers outrun it) and the final Flush.
func BenchmarkRecord(b *testing.B) {
	opts := testOpts(b, b.TempDir())
	opts.BatchSize = 500
	l := mustOpen(b, opts, nopSink{})
	base := rec(0)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := base
		i := 0
		for pb.Next() {
			i++
			r.RequestID = fmt.Sprintf("bench-%p-%d", &r, i)
			l.Record(r)
		}
	})
	flushOK(b, l)
	b.StopTimer()
	closeOK(b, l)
}
