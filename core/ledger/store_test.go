package ledger

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/store"
	"github.com/switchyard/gateway/core/store/storetest"
)

// outageSink passes calls to the store except the first failN, which fail
// as if the database were unreachable.
type outageSink struct {
	s     *store.Store
	failN atomic.Int32
}

func (o *outageSink) InsertSpendLogs(ctx context.Context, logs []store.SpendLog) (int, error) {
	if o.failN.Add(-1) >= 0 {
		return 0, errDown
	}
	return o.s.InsertSpendLogs(ctx, logs)
}

// TestStoreRowsLandExactlyOnceAcrossReopen runs the ledger against the real
// store (SQLite and PostgreSQL): records delivered before a crash that lost
// the checkpoint are delivered again, and the store still holds each row —
// and each row's spend on its key — exactly once.
func TestStoreRowsLandExactlyOnceAcrossReopen(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := ctxT(t, 60*time.Second)
		token := rec(0).APIKey // every test record is charged to this key
		if _, err := s.CreateKey(ctx, store.Key{Token: token, KeyName: "sk-...-key"}); err != nil {
			t.Fatalf("CreateKey: %v", err)
		}
		dir := t.TempDir()
		sink := &outageSink{s: s}
		sink.failN.Store(3) // the database is down at first
		opts := testOpts(t, dir)
		opts.BatchSize = 16

		l := mustOpen(t, opts, sink)
		for i := range 40 {
			l.Record(rec(i))
		}
		flushOK(t, l)
		if st := l.Stats(); st.Failures != 3 {
			t.Fatalf("Failures = %d, want 3", st.Failures)
		}
		for i := 40; i < 50; i++ {
			l.Record(rec(i))
		}
		waitFor(t, "records 40..49 to be durable", func() bool { st := l.Stats(); return st.Pending+st.Delivered == 50 })
		crash(l)
		writeCheckpoint(t, dir, 20) // the crash lost the checkpoint of records 21..50

		l = mustOpen(t, opts, sink)
		for i := 50; i < 60; i++ {
			r := rec(i)
			if i == 55 { // client input with NUL bytes, which PostgreSQL cannot store as such
				r.EndUser, r.Metadata = "cust\x00omer", map[string]any{"user_agent": "x\x00y"}
			}
			l.Record(r)
		}
		flushOK(t, l)
		closeOK(t, l)

		rows, err := s.SpendLogs(ctx, store.SpendFilter{APIKey: token, Limit: 1000})
		if err != nil {
			t.Fatalf("SpendLogs: %v", err)
		}
		seen := map[string]int{}
		for _, r := range rows {
			seen[r.RequestID]++
		}
		for _, id := range wantIDs(0, 60) {
			if seen[id] != 1 {
				t.Errorf("request %s stored %d times, want 1", id, seen[id])
			}
		}
		for _, r := range rows {
			if r.RequestID == rec(55).RequestID && (r.EndUser != "cust\uFFFDomer" || r.Metadata["user_agent"] != "x\uFFFDy") {
				t.Errorf("record with NUL bytes stored as %q %v", r.EndUser, r.Metadata)
			}
		}
		if len(rows) != 60 {
			t.Fatalf("store holds %d rows, want 60", len(rows))
		}
		k, err := s.GetKeyByToken(ctx, token)
		if err != nil {
			t.Fatalf("GetKeyByToken: %v", err)
		}
		if want := 60 * rec(0).Spend; k.Spend != want {
			t.Fatalf("key spend = %v, want %v (each request counted once)", k.Spend, want)
		}
	})
}
