package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/store"
)

func TestDeliversAllInBatchesWithoutDuplicates(t *testing.T) {
	t.Parallel()
	sink := newSink(t)
	sink.rejectDup = true
	opts := testOpts(t, t.TempDir())
	opts.BatchSize = 7
	l := mustOpen(t, opts, sink)
	const n = 250
	for i := range n {
		l.Record(rec(i))
	}
	flushOK(t, l)
	sameIDs(t, sink.ids(), wantIDs(0, n))
	if got := sink.deliveries(); got != n {
		t.Fatalf("sink received %d rows, want %d", got, n)
	}
	sink.mu.Lock()
	full := 0
	for _, b := range sink.batches {
		if b > opts.BatchSize {
			t.Errorf("batch of %d records exceeds BatchSize %d", b, opts.BatchSize)
		}
		if b == opts.BatchSize {
			full++
		}
	}
	sink.mu.Unlock()
	if full == 0 {
		t.Errorf("no full batch of %d was written", opts.BatchSize)
	}
	st := l.Stats()
	if st.Delivered != n || st.Pending != 0 || st.Failures != 0 || st.Dropped != 0 || !st.LastError.IsZero() {
		t.Fatalf("Stats = %+v, want %d delivered and nothing else", st, n)
	}
	closeOK(t, l)
}

func TestRecordRoundTripsEveryField(t *testing.T) {
	t.Parallel()
	sink := &captureSink{}
	l := mustOpen(t, testOpts(t, t.TempDir()), sink)
	start := time.Date(2025, 6, 7, 8, 9, 10, 123456789, time.FixedZone("X", 3600))
	in := store.SpendLog{
		RequestID: "chatcmpl-1", APIKey: store.HashKey("sk-1"), KeyAlias: "alias", TeamID: "team", UserID: "user",
		EndUser: "cust", ModelGroup: "grp", Model: "mdl", DeploymentID: "dep", Provider: "prov", CallType: "embedding",
		PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3, CachedTokens: 4, Spend: 0.000123,
		StartTime: start, EndTime: start.Add(1500 * time.Millisecond), LatencyMS: 1500, Status: "failure",
		CacheHit: true, Metadata: map[string]any{"big": int64(9007199254740993), "s": "v", "nested": map[string]any{"b": true}},
		RequestTags: []string{"a", "b"},
	}
	l.Record(in)
	in.Metadata["s"] = "changed after Record" // Record must have taken a snapshot
	flushOK(t, l)
	closeOK(t, l)
	if len(sink.got) != 1 {
		t.Fatalf("sink got %d records, want 1", len(sink.got))
	}
	out := sink.got[0]
	if !out.StartTime.Equal(start) || !out.EndTime.Equal(in.EndTime) {
		t.Errorf("times changed: %v %v", out.StartTime, out.EndTime)
	}
	if out.Metadata["s"] != "v" {
		t.Errorf("metadata s = %v, want the value at Record time", out.Metadata["s"])
	}
	if n, ok := out.Metadata["big"].(json.Number); !ok || n.String() != "9007199254740993" {
		t.Errorf("metadata big = %#v, want json.Number 9007199254740993 (exact)", out.Metadata["big"])
	}
	if nested, ok := out.Metadata["nested"].(map[string]any); !ok || nested["b"] != true {
		t.Errorf("metadata nested = %#v", out.Metadata["nested"])
	}
	out.StartTime, out.EndTime, out.Metadata = in.StartTime, in.EndTime, in.Metadata
	if fmt.Sprintf("%#v", out) != fmt.Sprintf("%#v", in) {
		t.Errorf("record changed on the way:\n got %#v\nwant %#v", out, in)
	}
}

type captureSink struct {
	mu  sync.Mutex
	got []store.SpendLog
}

func (c *captureSink) InsertSpendLogs(_ context.Context, logs []store.SpendLog) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, logs...)
	return len(logs), nil
}

func TestPartialBatchGoesOutAfterFlushInterval(t *testing.T) {
	t.Parallel()
	sink := newSink(t)
	opts := testOpts(t, t.TempDir())
	opts.BatchSize = 1000
	opts.FlushInterval = 10 * time.Millisecond
	l := mustOpen(t, opts, sink)
	for i := range 3 {
		l.Record(rec(i))
	}
	// No Flush: the deliverer must send the partial batch on its own.
	waitFor(t, "the partial batch to be delivered", func() bool { return len(sink.ids()) == 3 })
	closeOK(t, l)
}

func TestFlushDoesNotWaitForFlushInterval(t *testing.T) {
	t.Parallel()
	sink := newSink(t)
	opts := testOpts(t, t.TempDir())
	opts.BatchSize = 1000
	opts.FlushInterval = time.Hour
	l := mustOpen(t, opts, sink)
	for i := range 3 {
		l.Record(rec(i))
	}
	flushOK(t, l) // would take an hour if Flush did not hurry the deliverer
	sameIDs(t, sink.ids(), wantIDs(0, 3))
	l.Record(rec(3))
	closeOK(t, l) // Close hurries it too
	sameIDs(t, sink.ids(), wantIDs(0, 4))
}

// TestGroupsShareAnFsync: records arriving without a pause are written in group commits and synced at most once
// per syncInterval; a record after a quiet spell is synced, and so delivered, without waiting for one.
func TestGroupsShareAnFsync(t *testing.T) {
	t.Parallel()
	sink := newSink(t)
	opts := testOpts(t, t.TempDir())
	opts.FlushInterval = time.Millisecond
	l := mustOpen(t, opts, sink)
	start := time.Now()
	n := 0
	for time.Since(start) < 300*time.Millisecond {
		l.Record(rec(n))
		n++
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	waitFor(t, "every record to be delivered", func() bool { return len(sink.ids()) == n })
	writes, syncs := l.writes.Load(), l.syncs.Load()
	// The last sync may come up to syncInterval after the last record.
	if most := int64((elapsed+syncInterval)/syncInterval) + 1; syncs > most {
		t.Fatalf("%d records over %v took %d fsyncs, want at most %d", n, elapsed, syncs, most)
	}
	if writes <= syncs {
		t.Fatalf("%d group commits for %d fsyncs: groups were not written between syncs", writes, syncs)
	}
	sameIDs(t, sink.ids(), wantIDs(0, n))

	time.Sleep(2 * syncInterval)
	before := l.syncs.Load()
	l.Record(rec(n))
	waitFor(t, "the lone record to be delivered", func() bool { return len(sink.ids()) == n+1 })
	if got := l.syncs.Load(); got != before+1 {
		t.Fatalf("the lone record took %d fsyncs, want 1", got-before)
	}
	closeOK(t, l)
}

func TestSinkOutageIsRetriedWithBackoffAndLosesNothing(t *testing.T) {
	t.Parallel()
	sink := newSink(t)
	sink.rejectDup = true
	sink.failN = 6
	opts := testOpts(t, t.TempDir())
	opts.RetryMin, opts.RetryMax = 4*time.Millisecond, 20*time.Millisecond
	l := mustOpen(t, opts, sink)
	const n = 120
	for i := range n {
		l.Record(rec(i))
	}
	flushOK(t, l)
	sameIDs(t, sink.ids(), wantIDs(0, n))
	st := l.Stats()
	if st.Failures != 6 || st.LastError.IsZero() || st.Pending != 0 || st.Delivered != n {
		t.Fatalf("Stats = %+v, want 6 failures with a last error time, %d delivered", st, n)
	}
	// The waits between the failed calls follow the backoff: each is at
	// least the jitter-free lower bound for its attempt (sleeps never end
	// early, so this holds however slow the machine is).
	sink.mu.Lock()
	calls := append([]time.Time(nil), sink.calls...)
	sink.mu.Unlock()
	var total, want time.Duration
	for i := 1; i <= 6; i++ {
		gap := calls[i].Sub(calls[i-1])
		low := backoff(i-1, opts.RetryMin, opts.RetryMax, 0.9999)
		if gap < low {
			t.Errorf("retry %d came after %v, want at least %v", i, gap, low)
		}
		total += gap
		want += low
	}
	if total < want {
		t.Errorf("retries took %v in all, want at least %v", total, want)
	}
	closeOK(t, l)
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	min, max := 100*time.Millisecond, 10*time.Second
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000}
	for attempt, w := range want {
		w *= time.Millisecond
		if got := backoff(attempt, min, max, 0); got != w {
			t.Errorf("backoff(%d, jitter 0) = %v, want %v", attempt, got, w)
		}
		got := backoff(attempt, min, max, 0.9999)
		if got > w || got < w*3/4 || got < min {
			t.Errorf("backoff(%d, jitter max) = %v, want within [%v, %v] and >= %v", attempt, got, w*3/4, w, min)
		}
	}
	if got := backoff(1000, min, max, 0); got != max {
		t.Errorf("backoff(1000) = %v, want the cap %v", got, max)
	}
}

func TestCloseWithSinkDownThenReopenDeliversAll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	leavePending(t, dir, 0, 80)

	sink := newSink(t)
	sink.rejectDup = true
	l := mustOpen(t, testOpts(t, dir), sink)
	if p := l.Stats().Pending; p > 80 {
		t.Fatalf("Pending after reopen = %d, want at most 80", p)
	}
	flushOK(t, l)
	sameIDs(t, sink.ids(), wantIDs(0, 80))
	closeOK(t, l)
	if files := segmentFiles(t, dir); len(files) != 1 {
		t.Fatalf("segments left after everything was delivered: %v, want only the active one", files)
	}
}

func TestCloseErrorWrapsContextError(t *testing.T) {
	t.Parallel()
	sink := newSink(t)
	sink.setDown(true)
	l := mustOpen(t, testOpts(t, t.TempDir()), sink)
	l.Record(rec(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := l.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want an error wrapping context.DeadlineExceeded", err)
	}
	if st := l.Stats(); st.Pending != 1 || st.Failures == 0 {
		t.Fatalf("Stats = %+v, want 1 pending and failures counted", st)
	}
	if err := l.Close(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
}

func TestOlderRecordsAreDeliveredFirst(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	leavePending(t, dir, 0, 60)
	sink := newSink(t)
	l := mustOpen(t, testOpts(t, dir), sink)
	for i := 60; i < 90; i++ {
		l.Record(rec(i))
	}
	flushOK(t, l)
	closeOK(t, l)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.order) != 90 {
		t.Fatalf("delivered %d rows, want 90", len(sink.order))
	}
	for i, id := range sink.order {
		if id != rec(i).RequestID {
			t.Fatalf("row %d delivered was %s, want %s (delivery in recording order, old run first)", i, id, rec(i).RequestID)
		}
	}
}

func TestTornTailIsTruncatedAtOpen(t *testing.T) {
	t.Parallel()
	full, err := encodeFrame(&store.SpendLog{RequestID: "req-garbage"})
	if err != nil {
		t.Fatal(err)
	}
	badCRC := append([]byte(nil), full...)
	badCRC[len(badCRC)-2] ^= 0xff
	cases := []struct {
		name    string
		garbage []byte
	}{
		{"partial header", full[:5]},
		{"partial payload", full[:len(full)-3]},
		{"checksum mismatch", badCRC},
		{"zero filled", make([]byte, 64)},
		{"impossible length", []byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			leavePending(t, dir, 0, 10)
			seg := lastNonEmptySegment(t, dir)
			before := fileSize(t, seg)
			appendFile(t, seg, tc.garbage)

			sink := newSink(t)
			sink.rejectDup = true
			sink.setDown(true) // keep the segment until its size is checked
			opts := testOpts(t, dir)
			log, logs := newLogger()
			opts.Logger = log
			l := mustOpen(t, opts, sink)
			if after := fileSize(t, seg); after != before {
				t.Fatalf("segment is %d bytes after Open, want %d (torn tail cut off)", after, before)
			}
			if p := l.Stats().Pending; p != 10 {
				t.Fatalf("Pending after Open = %d, want 10", p)
			}
			sink.setDown(false)
			l.Record(rec(10))
			flushOK(t, l)
			closeOK(t, l)
			sameIDs(t, sink.ids(), wantIDs(0, 11))
			out := logs.String()
			if !strings.Contains(out, "torn tail") || !strings.Contains(out, fmt.Sprintf("dropped_bytes=%d", len(tc.garbage))) {
				t.Fatalf("no warning about truncating %d bytes; log:\n%s", len(tc.garbage), out)
			}
		})
	}
}

func TestDamagedLastRecordIsDroppedNotFatal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	leavePending(t, dir, 0, 10)
	seg := lastNonEmptySegment(t, dir)
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-3] ^= 0x55 // inside the last record's payload
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sink := newSink(t)
	l := mustOpen(t, testOpts(t, dir), sink)
	flushOK(t, l)
	closeOK(t, l)
	sameIDs(t, sink.ids(), wantIDs(0, 9))
}

func TestInterruptedSegmentCreationAndForeignFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	leavePending(t, dir, 0, 5)
	short := segmentPath(dir, 999)
	if err := os.WriteFile(short, []byte("SWY"), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := segmentPath(dir, 5000)
	if err := os.WriteFile(foreign, []byte("NOTALEDGERFILE"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("ignored"), 0o600); err != nil {
		t.Fatal(err)
	}
	sink := newSink(t)
	opts := testOpts(t, dir)
	log, logs := newLogger()
	opts.Logger = log
	l := mustOpen(t, opts, sink)
	l.Record(rec(5))
	flushOK(t, l)
	closeOK(t, l)
	sameIDs(t, sink.ids(), wantIDs(0, 6))
	if _, err := os.Stat(short); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("interrupted segment %s not removed (stat: %v)", short, err)
	}
	if _, err := os.Stat(foreign + corruptSuffix); err != nil {
		t.Errorf("foreign segment not set aside: %v", err)
	}
	if !strings.Contains(logs.String(), "unknown format") {
		t.Errorf("foreign segment not reported; log:\n%s", logs.String())
	}
}

func TestDamagedCheckpointRedeliversEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	first := newSink(t)
	l := mustOpen(t, testOpts(t, dir), first)
	for i := range 20 {
		l.Record(rec(i))
	}
	flushOK(t, l)
	closeOK(t, l)
	if err := os.WriteFile(filepath.Join(dir, checkpointName), []byte("garbage!"), 0o600); err != nil {
		t.Fatal(err)
	}
	second := newSink(t)
	opts := testOpts(t, dir)
	log, logs := newLogger()
	opts.Logger = log
	l = mustOpen(t, opts, second)
	flushOK(t, l)
	l.Record(rec(20))
	closeOK(t, l)
	// The records still in the outbox were sent again: harmless for the
	// idempotent store; the distinct set is exact.
	sameIDs(t, second.ids(), wantIDs(0, 21))
	if !strings.Contains(logs.String(), "checkpoint is damaged") {
		t.Errorf("damaged checkpoint not reported; log:\n%s", logs.String())
	}
	// The checkpoint is healthy again: a third run delivers nothing old.
	third := newSink(t)
	l = mustOpen(t, testOpts(t, dir), third)
	closeOK(t, l)
	if n := third.deliveries(); n != 0 {
		t.Fatalf("third run delivered %d rows, want 0", n)
	}
}

func TestCrashAfterDeliveryBeforeCheckpoint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sink := newSink(t)
	l := mustOpen(t, testOpts(t, dir), sink)
	for i := range 30 {
		l.Record(rec(i))
	}
	flushOK(t, l)
	crash(l)
	writeCheckpoint(t, dir, 12) // as if the process died before saving the later batches

	l = mustOpen(t, testOpts(t, dir), sink)
	if p := l.Stats().Pending; p > 18 {
		t.Fatalf("Pending after reopen = %d, want at most 18", p)
	}
	flushOK(t, l)
	closeOK(t, l)
	sameIDs(t, sink.ids(), wantIDs(0, 30))
	if got := sink.deliveries(); got != 30+18 {
		t.Fatalf("sink received %d rows, want 48 (records 13..30 redelivered once)", got)
	}
}

func TestCrashBeforeDeliveryDeliversOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	down := newSink(t)
	down.setDown(true)
	l := mustOpen(t, testOpts(t, dir), down)
	const n = 200
	for i := range n {
		l.Record(rec(i))
	}
	waitFor(t, "all records to be durable", func() bool { return l.Stats().Pending == n })
	crash(l)

	sink := newSink(t)
	sink.rejectDup = true
	l = mustOpen(t, testOpts(t, dir), sink)
	flushOK(t, l)
	closeOK(t, l)
	sameIDs(t, sink.ids(), wantIDs(0, n))
}

func TestConcurrentRecord(t *testing.T) {
	t.Parallel()
	sink := newSink(t)
	sink.rejectDup = true
	opts := testOpts(t, t.TempDir())
	opts.QueueSize = 64 // small, so that Record also blocks on a full queue
	opts.SegmentSize = 16 << 10
	l := mustOpen(t, opts, sink)
	const workers, each = 32, 250
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				l.Record(rec(w*each + i))
				if i%100 == 0 {
					_ = l.Stats()
				}
			}
		})
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 5 {
			if err := l.Flush(ctxT(t, 20*time.Second)); err != nil {
				t.Errorf("concurrent Flush: %v", err)
			}
		}
	}()
	wg.Wait()
	flushOK(t, l)
	sameIDs(t, sink.ids(), wantIDs(0, workers*each))
	closeOK(t, l)
}

func TestRecordConcurrentWithCloseNeverPanicsOrLoses(t *testing.T) {
	t.Parallel()
	sink := newSink(t)
	sink.rejectDup = true
	l := mustOpen(t, testOpts(t, t.TempDir()), sink)
	const workers, each = 8, 300
	var wg sync.WaitGroup
	started := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-started
			for i := range each {
				l.Record(rec(w*each + i))
			}
		})
	}
	close(started)
	time.Sleep(time.Millisecond)
	closeOK(t, l)
	wg.Wait()
	st := l.Stats()
	delivered := int64(len(sink.ids()))
	if delivered+st.Dropped != workers*each {
		t.Fatalf("delivered %d + dropped %d != recorded %d", delivered, st.Dropped, workers*each)
	}
	if st.Delivered != delivered || st.Pending != 0 {
		t.Fatalf("Stats = %+v, want Delivered %d and nothing pending", st, delivered)
	}
}

func TestRecordAndFlushAfterClose(t *testing.T) {
	t.Parallel()
	opts := testOpts(t, t.TempDir())
	log, logs := newLogger()
	opts.Logger = log
	sink := newSink(t)
	l := mustOpen(t, opts, sink)
	closeOK(t, l)
	l.Record(rec(42))
	if st := l.Stats(); st.Dropped != 1 {
		t.Fatalf("Dropped = %d, want 1", st.Dropped)
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "request_id="+rec(42).RequestID) {
		t.Fatalf("drop after Close not logged as an error naming the request; log:\n%s", out)
	}
	if err := l.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close = %v, want ErrClosed", err)
	}
	if n := sink.deliveries(); n != 0 {
		t.Fatalf("sink received %d rows", n)
	}
}

func TestUnusableRecordsAreDroppedNotQueued(t *testing.T) {
	t.Parallel()
	opts := testOpts(t, t.TempDir())
	log, logs := newLogger()
	opts.Logger = log
	sink := newSink(t)
	l := mustOpen(t, opts, sink)
	l.Record(store.SpendLog{Spend: 1})
	nan := rec(1)
	nan.Spend = math.NaN()
	l.Record(nan)
	l.Record(rec(2))
	flushOK(t, l)
	closeOK(t, l)
	sameIDs(t, sink.ids(), wantIDs(2, 3))
	if st := l.Stats(); st.Dropped != 2 {
		t.Fatalf("Dropped = %d, want 2", st.Dropped)
	}
	if out := logs.String(); !strings.Contains(out, "without request id") || !strings.Contains(out, "request_id="+nan.RequestID) {
		t.Fatalf("drops not logged; log:\n%s", out)
	}
}

func TestFlushHonoursContext(t *testing.T) {
	t.Parallel()
	sink := newSink(t)
	sink.setDown(true)
	l := mustOpen(t, testOpts(t, t.TempDir()), sink)
	l.Record(rec(1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with the sink down = %v, want context.DeadlineExceeded", err)
	}
	sink.setDown(false)
	flushOK(t, l)
	closeOK(t, l)
	sameIDs(t, sink.ids(), wantIDs(1, 2))
}

func TestFlushFailsWhenCloseGivesUp(t *testing.T) {
	t.Parallel()
	sink := newSink(t)
	sink.setDown(true)
	l := mustOpen(t, testOpts(t, t.TempDir()), sink)
	l.Record(rec(1))
	done := make(chan error, 1)
	go func() { done <- l.Flush(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := l.Close(ctx); err == nil {
		t.Fatal("Close with the sink down returned nil")
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Flush = %v, want ErrClosed", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Flush still waiting after Close gave up")
	}
}

func TestSegmentsRotateAndDeliveredOnesAreRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sink := newSink(t)
	sink.rejectDup = true
	opts := testOpts(t, dir)
	opts.SegmentSize = 2 << 10
	sink.setDown(true)
	l := mustOpen(t, opts, sink)
	const n = 300
	// Small groups (10 records, more than SegmentSize) so that the active
	// segment fills up after each group commit.
	for i := range n {
		l.Record(rec(i))
		if i%10 == 9 {
			waitFor(t, "the group to be durable", func() bool { return l.Stats().Pending == int64(i+1) })
		}
	}
	if files := segmentFiles(t, dir); len(files) < n/10 {
		t.Fatalf("only %d segments for %d records with SegmentSize %d: no rotation", len(files), n, opts.SegmentSize)
	}
	sink.setDown(false)
	flushOK(t, l)
	sameIDs(t, sink.ids(), wantIDs(0, n))
	if files := segmentFiles(t, dir); len(files) != 1 {
		t.Fatalf("segments left after delivery: %v, want only the active one", files)
	}
	closeOK(t, l)
}

func TestOutboxIsExclusive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := mustOpen(t, testOpts(t, dir), newSink(t))
	if _, err := Open(testOpts(t, dir), newSink(t)); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open of the same outbox = %v, want an 'in use' error", err)
	}
	closeOK(t, l)
	l = mustOpen(t, testOpts(t, dir), newSink(t))
	closeOK(t, l)
}

func TestOpenValidation(t *testing.T) {
	t.Parallel()
	if _, err := Open(Options{}, newSink(t)); err == nil {
		t.Error("Open without Dir succeeded")
	}
	if _, err := Open(Options{Dir: t.TempDir()}, nil); err == nil {
		t.Error("Open without sink succeeded")
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: filepath.Join(file, "sub")}, newSink(t)); err == nil {
		t.Error("Open under a regular file succeeded")
	}
}

func TestDiskWriteFailureIsRetriedThenReportedAtClose(t *testing.T) {
	t.Parallel()
	opts := testOpts(t, t.TempDir())
	log, logs := newLogger()
	opts.Logger = log
	sink := newSink(t)
	l := mustOpen(t, opts, sink)
	l.active.Close() // every write of the appender now fails
	l.Record(rec(7))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := l.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush while the disk fails = %v, want context.DeadlineExceeded", err)
	}
	waitFor(t, "a logged write failure", func() bool { return strings.Contains(logs.String(), "cannot write the outbox") })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel2()
	if err := l.Close(ctx2); err != nil {
		t.Fatalf("Close = %v (nothing was durable, so nothing is pending)", err)
	}
	if st := l.Stats(); st.Dropped != 1 || st.Pending != 0 {
		t.Fatalf("Stats = %+v, want the record counted as dropped", st)
	}
	if !strings.Contains(logs.String(), "request_id="+rec(7).RequestID) {
		t.Fatalf("lost record not named in the log:\n%s", logs.String())
	}
	if n := sink.deliveries(); n != 0 {
		t.Fatalf("sink received %d rows", n)
	}
}

func appendFile(t testing.TB, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}
