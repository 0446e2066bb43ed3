package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/store"
)

// errDown is what fakeSink returns while it is "down".
var errDown = errors.New("database is down")

// fakeSink is an in-memory Sink that counts deliveries per request id. It is
// transactional like the store: a failed call changes nothing.
type fakeSink struct {
	t         testing.TB
	rejectDup bool // a request id seen before fails the call and the test

	mu      sync.Mutex
	down    bool
	failN   int // the next failN calls fail
	seen    map[string]int
	order   []string
	batches []int
	calls   []time.Time
	fails   int
}

func newSink(t testing.TB) *fakeSink { return &fakeSink{t: t, seen: map[string]int{}} }

func (s *fakeSink) InsertSpendLogs(ctx context.Context, logs []store.SpendLog) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, time.Now())
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.down || s.failN > 0 {
		if s.failN > 0 {
			s.failN--
		}
		s.fails++
		return 0, errDown
	}
	if s.rejectDup {
		for _, l := range logs {
			if s.seen[l.RequestID] > 0 {
				s.t.Errorf("request %s delivered twice", l.RequestID)
				return 0, fmt.Errorf("duplicate request id %s", l.RequestID)
			}
		}
	}
	added := 0
	for _, l := range logs {
		if s.seen[l.RequestID] == 0 {
			added++
		}
		s.seen[l.RequestID]++
		s.order = append(s.order, l.RequestID)
	}
	s.batches = append(s.batches, len(logs))
	return added, nil
}

func (s *fakeSink) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// ids returns the distinct request ids delivered, sorted.
func (s *fakeSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.seen))
	for id := range s.seen {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// deliveries returns the total number of rows received (duplicates included).
func (s *fakeSink) deliveries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order)
}

func rec(i int) store.SpendLog {
	return store.SpendLog{
		RequestID:    fmt.Sprintf("req-%06d", i),
		APIKey:       store.HashKey("sk-test-key"),
		ModelGroup:   "gpt-4o",
		Model:        "gpt-4o-2024-08-06",
		Provider:     "openai",
		CallType:     "chat",
		PromptTokens: int64(i), CompletionTokens: 2, TotalTokens: int64(i) + 2,
		Spend:     0.25,
		StartTime: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Status:    "success",
	}
}

// wantIDs returns the request ids of rec(from) .. rec(to-1), sorted.
func wantIDs(from, to int) []string {
	out := make([]string, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, rec(i).RequestID)
	}
	return out
}

func sameIDs(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("delivered %d distinct request ids, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delivered ids differ at %d: got %s, want %s", i, got[i], want[i])
		}
	}
}

// logBuf collects log output safely across goroutines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger() (*slog.Logger, *logBuf) {
	b := &logBuf{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// testOpts returns fast options for a fresh directory.
func testOpts(t testing.TB, dir string) Options {
	log, _ := newLogger()
	return Options{Dir: dir, BatchSize: 50, FlushInterval: 5 * time.Millisecond,
		RetryMin: time.Millisecond, RetryMax: 20 * time.Millisecond, Logger: log}
}

func mustOpen(t testing.TB, opts Options, sink Sink) *Ledger {
	t.Helper()
	l, err := Open(opts, sink)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// closeOK closes l with a generous deadline and fails the test on error.
func closeOK(t testing.TB, l *Ledger) {
	t.Helper()
	if err := l.Close(ctxT(t, 20*time.Second)); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func flushOK(t testing.TB, l *Ledger) {
	t.Helper()
	if err := l.Flush(ctxT(t, 20*time.Second)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// crash stops l the way a killed process would: nothing more is delivered
// or checkpointed; files are simply released.
func crash(l *Ledger) {
	l.abort()
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	close(l.in)
	<-l.appenderDone
	<-l.delivererDone
	l.closeFiles()
}

// segmentFiles returns the segment files in dir, sorted.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// lastNonEmptySegment returns the last segment holding records.
func lastNonEmptySegment(t testing.TB, dir string) string {
	t.Helper()
	files := segmentFiles(t, dir)
	for i := len(files) - 1; i >= 0; i-- {
		info, err := os.Stat(files[i])
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > int64(len(segMagic)) {
			return files[i]
		}
	}
	t.Fatalf("no segment with records in %s", dir)
	return ""
}

// leavePending records recs with a sink that is down and closes, leaving
// them all in the outbox of dir.
func leavePending(t *testing.T, dir string, from, to int) {
	t.Helper()
	sink := newSink(t)
	sink.setDown(true)
	l := mustOpen(t, testOpts(t, dir), sink)
	for i := from; i < to; i++ {
		l.Record(rec(i))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := l.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d spend records not delivered", to-from)) {
		t.Fatalf("Close with the sink down: got %v, want an error counting %d undelivered records", err, to-from)
	}
	if len(sink.ids()) != 0 {
		t.Fatalf("a sink that is down received records")
	}
}

func writeCheckpoint(t testing.TB, dir string, index uint64) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, checkpointName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := (&checkpoint{f: f}).store(index); err != nil {
		t.Fatal(err)
	}
}
