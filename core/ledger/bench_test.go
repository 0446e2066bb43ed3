package ledger

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

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
	cpu := startCPU()
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
	cpu.report(b)
	closeOK(b, l)
}

// benchRecord is a typical ledger row: every identity and routing field set,
// both times, a little metadata and a tag. Only RequestID changes from one
// record to the next (Record copies the rest).
func benchRecord() store.SpendLog {
	r := rec(1)
	r.KeyAlias, r.TeamID, r.UserID, r.EndUser = "prod-key", "team-42", "user-7", "customer-1234"
	r.DeploymentID = "openai-gpt-4o-eu"
	r.EndTime = r.StartTime.Add(1234 * time.Millisecond)
	r.LatencyMS = 1234
	r.Metadata = map[string]any{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "usage_estimated": true}
	r.RequestTags = []string{"prod"}
	return r
}

// BenchmarkDeliver measures the cost of one record on its way to the sink
// (a no-op): one op is one record delivered. cpu-ns/op is the CPU time of
// the whole process per record (Record, group commit, delivery, GC, on
// whatever goroutine), the cost that matters on a busy machine; ns/op is
// the wall time, bounded by fsync latency.
//
// "steady": one caller records and the deliverer keeps up (the caller
// waits whenever more than two batches are undelivered), the state of a
// running gateway.
//
// "saturated": the caller records as fast as it can; the deliverer, whose
// pace is set by the checkpoint's fsync per batch, falls behind by more
// than the in-memory queue holds and reads most records back from the files.
//
// "recovered": the records were left in the outbox by an earlier run; the
// timer covers Open and the delivery of all of them, from the files.
//
// file-reads/op is the share of records read back from the segment files.
func BenchmarkDeliver(b *testing.B) {
	record := func(b *testing.B, paced bool) {
		ids := benchIDs(b.N)
		opts := testOpts(b, b.TempDir())
		opts.BatchSize = 500
		l := mustOpen(b, opts, nopSink{})
		ctx := ctxT(b, time.Hour)
		r := benchRecord()
		b.ReportAllocs()
		cpu := startCPU()
		b.ResetTimer()
		for i, id := range ids {
			r.RequestID = id
			l.Record(r)
			if n := i + 1; paced && n%opts.BatchSize == 0 && n > 2*opts.BatchSize {
				if err := l.waitDelivered(ctx, uint64(n-2*opts.BatchSize)); err != nil {
					b.Fatal(err)
				}
			}
		}
		flushOK(b, l)
		b.StopTimer()
		cpu.report(b)
		if st := l.Stats(); st.Delivered != int64(b.N) {
			b.Fatalf("delivered %d, want %d", st.Delivered, b.N)
		}
		b.ReportMetric(float64(l.fromFiles.Load())/float64(b.N), "file-reads/op")
		closeOK(b, l)
	}
	b.Run("steady", func(b *testing.B) { record(b, true) })
	b.Run("saturated", func(b *testing.B) { record(b, false) })
	b.Run("recovered", func(b *testing.B) {
		ids := benchIDs(b.N)
		dir := b.TempDir()
		opts := testOpts(b, dir)
		opts.BatchSize = 500
		down := newSink(b)
		down.setDown(true)
		l := mustOpen(b, opts, down)
		r := benchRecord()
		for _, id := range ids {
			r.RequestID = id
			l.Record(r)
		}
		waitFor(b, "all records to be durable", func() bool { return l.Stats().Pending == int64(b.N) })
		crash(l)
		b.ReportAllocs()
		cpu := startCPU()
		b.ResetTimer()
		l = mustOpen(b, opts, nopSink{})
		flushOK(b, l)
		b.StopTimer()
		cpu.report(b)
		if st := l.Stats(); st.Delivered != int64(b.N) {
			b.Fatalf("delivered %d, want %d", st.Delivered, b.N)
		}
		b.ReportMetric(float64(l.fromFiles.Load())/float64(b.N), "file-reads/op")
		closeOK(b, l)
	})
}

func benchIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = "chatcmpl-" + strconv.Itoa(i)
	}
	return ids
}

// cpuClock measures the CPU time of the process (all threads) since start.
type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{start: processCPU()} }

// report adds cpu-ns/op to the benchmark's results, where the platform
// tells the process's CPU time.
func (c cpuClock) report(b *testing.B) {
	if now := processCPU(); now > 0 {
		b.ReportMetric(float64(now-c.start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkCodec measures the encoding of one record and its decoding from
// a segment, with no I/O.
func BenchmarkCodec(b *testing.B) {
	r := benchRecord()
	r.RequestID = "chatcmpl-1234567"
	b.Run("encode", func(b *testing.B) { // Record's snapshot, then the appender's frame
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			s, err := snapshot(&r)
			if err != nil {
				b.Fatal(err)
			}
			buf = appendFrame(buf[:0], &s)
		}
	})
	b.Run("decode", func(b *testing.B) {
		frame, err := encodeFrame(&r)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodePayload(frame[frameHeaderLen:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
