package ledger

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/store"
)

func mustOpenMem(t testing.TB, opts Options, sink Sink, memRecords int) *Ledger {
	t.Helper()
	l, err := open(opts, sink, memRecords)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// sources returns how many records the deliverer took from memory and read
// from the files.
func sources(l *Ledger) (memory, files int64) { return l.fromMemory.Load(), l.fromFiles.Load() }

// sameOrder checks that the sink received exactly want, in that order.
func sameOrder(t *testing.T, s *fakeSink, want []string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) != len(want) {
		t.Fatalf("sink received %d rows, want %d", len(s.order), len(want))
	}
	for i := range want {
		if s.order[i] != want[i] {
			t.Fatalf("row %d delivered was %s, want %s", i, s.order[i], want[i])
		}
	}
}

func TestSteadyStateDeliversFromMemory(t *testing.T) {
	t.Parallel()
	sink := &captureSink{}
	opts := testOpts(t, t.TempDir())
	opts.BatchSize = 7
	opts.SegmentSize = 4 << 10 // segments rotate and are removed under the deliverer
	l := mustOpen(t, opts, sink)
	const n = 300
	var want []store.SpendLog
	for i := range n {
		r := rec(i)
		if i%3 == 0 {
			r.Metadata = map[string]any{"i": i, "s": "v\x00"}
			r.RequestTags = []string{"t"}
		}
		snap, err := snapshot(&r)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, snap)
		l.Record(r)
		if i%50 == 49 {
			flushOK(t, l)
		}
	}
	flushOK(t, l)
	if mem, files := sources(l); mem != n || files != 0 {
		t.Fatalf("%d records taken from memory and %d read from the files, want %d and 0", mem, files, n)
	}
	if st := l.Stats(); st.Delivered != n || st.Pending != 0 || st.Dropped != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	closeOK(t, l)
	if !reflect.DeepEqual(sink.got, want) {
		t.Fatalf("records delivered from memory differ from their snapshots")
	}
	// The checkpoint was kept as before: a new run delivers nothing, and
	// removes what is delivered. (A segment sealed just after the last
	// delivery, as the appender rotates after publishing, is removed only
	// at the next delivery or Open.)
	again := newSink(t)
	l = mustOpen(t, testOpts(t, opts.Dir), again)
	if files := segmentFiles(t, opts.Dir); len(files) != 1 {
		t.Fatalf("segments after reopening: %v, want only the new active one", files)
	}
	closeOK(t, l)
	if got := again.deliveries(); got != 0 {
		t.Fatalf("reopen delivered %d rows, want 0", got)
	}
}

// TestMemoryAndFilesDeliverTheSameRecords: the sink receives the same
// values whether a record comes from memory or from a segment.
func TestMemoryAndFilesDeliverTheSameRecords(t *testing.T) {
	t.Parallel()
	var recs []store.SpendLog
	for _, r := range codecRecords() {
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(a, b store.SpendLog) int { return strings.Compare(a.RequestID, b.RequestID) })

	fromMem := &captureSink{}
	l := mustOpen(t, testOpts(t, t.TempDir()), fromMem)
	for _, r := range recs {
		l.Record(r)
	}
	flushOK(t, l)
	if _, files := sources(l); files != 0 {
		t.Fatalf("%d records read from the files", files)
	}
	closeOK(t, l)

	dir := t.TempDir()
	down := newSink(t)
	down.setDown(true)
	l = mustOpen(t, testOpts(t, dir), down)
	for _, r := range recs {
		l.Record(r)
	}
	waitFor(t, "all records to be durable", func() bool { return l.Stats().Pending == int64(len(recs)) })
	crash(l)
	fromFiles := &captureSink{}
	l = mustOpen(t, testOpts(t, dir), fromFiles)
	flushOK(t, l)
	if mem, _ := sources(l); mem != 0 {
		t.Fatalf("%d recovered records taken from memory", mem)
	}
	closeOK(t, l)

	if len(fromMem.got) != len(recs) || !reflect.DeepEqual(fromMem.got, fromFiles.got) {
		t.Fatalf("records from memory and from the files differ:\nmemory %#v\n files %#v", fromMem.got, fromFiles.got)
	}
}

// TestMemoryOverflowFallsBackToFiles: during a sink outage the in-memory
// queue overflows; once the sink is back the deliverer reads what memory
// dropped from the files, then goes on from memory, and every record
// arrives exactly once, in order.
func TestMemoryOverflowFallsBackToFiles(t *testing.T) {
	t.Parallel()
	sink := newSink(t)
	sink.rejectDup = true
	sink.setDown(true)
	opts := testOpts(t, t.TempDir())
	opts.BatchSize = 5
	opts.SegmentSize = 2 << 10
	l := mustOpenMem(t, opts, sink, 16)
	const n, more = 400, 100
	for i := range n {
		l.Record(rec(i))
	}
	waitFor(t, "all records to be durable", func() bool { return l.Stats().Pending == n })
	l.st.Lock()
	dropped, held := l.mem.dropped, l.mem.n
	l.st.Unlock()
	if dropped == 0 || held != 16 {
		t.Fatalf("in-memory queue dropped %d and holds %d records, want some dropped and 16 held", dropped, held)
	}
	sink.setDown(false)
	for i := n; i < n+more; i++ { // recorded while the deliverer catches up
		l.Record(rec(i))
	}
	flushOK(t, l)
	sameOrder(t, sink, wantIDs(0, n+more))
	mem, files := sources(l)
	if mem == 0 || files == 0 || mem+files != n+more {
		t.Fatalf("%d records taken from memory and %d read from the files, want both, %d in all", mem, files, n+more)
	}
	if st := l.Stats(); st.Delivered != n+more || st.Pending != 0 || st.Dropped != 0 {
		t.Fatalf("Stats = %+v, want %d delivered, nothing pending or dropped", st, n+more)
	}
	closeOK(t, l)
	again := newSink(t)
	l = mustOpen(t, testOpts(t, opts.Dir), again)
	if files := segmentFiles(t, opts.Dir); len(files) != 1 {
		t.Fatalf("segments after reopening: %v, want only the new active one", files)
	}
	closeOK(t, l)
	if got := again.deliveries(); got != 0 {
		t.Fatalf("reopen delivered %d rows, want 0", got)
	}
}

// TestRecoveredRecordsComeFromFilesNewOnesFromMemory: records of an earlier
// run are read from the segments, before the new run's, which come from
// memory.
func TestRecoveredRecordsComeFromFilesNewOnesFromMemory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	leavePending(t, dir, 0, 60)
	sink := newSink(t)
	sink.rejectDup = true
	l := mustOpen(t, testOpts(t, dir), sink)
	for i := 60; i < 90; i++ {
		l.Record(rec(i))
	}
	flushOK(t, l)
	closeOK(t, l)
	sameOrder(t, sink, wantIDs(0, 90))
	if mem, files := sources(l); mem != 30 || files != 60 {
		t.Fatalf("%d records taken from memory and %d read from the files, want 30 and 60", mem, files)
	}
}

// TestWithoutMemoryEverythingComesFromFiles runs the deliverer on the files
// alone (no in-memory queue), the path every record took before.
func TestWithoutMemoryEverythingComesFromFiles(t *testing.T) {
	t.Parallel()
	sink := newSink(t)
	sink.rejectDup = true
	opts := testOpts(t, t.TempDir())
	opts.BatchSize = 7
	opts.SegmentSize = 2 << 10
	l := mustOpenMem(t, opts, sink, -1)
	const n = 200
	for i := range n {
		l.Record(rec(i))
	}
	flushOK(t, l)
	closeOK(t, l)
	sameOrder(t, sink, wantIDs(0, n))
	if mem, files := sources(l); mem != 0 || files != n {
		t.Fatalf("%d records taken from memory and %d read from the files, want 0 and %d", mem, files, n)
	}
}

func TestMemQueue(t *testing.T) {
	t.Parallel()
	r := func(i uint64) store.SpendLog { return store.SpendLog{RequestID: rec(int(i)).RequestID} }
	ids := func(recs []store.SpendLog) []string {
		var out []string
		for _, r := range recs {
			out = append(out, r.RequestID)
		}
		return out
	}
	push := func(q *memQueue, from, to uint64) {
		for i := from; i <= to; i++ {
			x := r(i)
			q.push(i, &x)
		}
	}
	wantTake := func(q *memQueue, want uint64, most int, from, to int) {
		t.Helper()
		got, k := q.take(want, most, nil)
		if k != len(got) || !slices.Equal(ids(got), wantIDs(from, to)) {
			t.Fatalf("take(%d, %d) = %d %v, want records %d..%d", want, most, k, ids(got), from, to-1)
		}
	}

	q := &memQueue{limit: 4}
	push(q, 1, 3)
	wantTake(q, 1, 2, 1, 3)
	push(q, 4, 7) // holds 3..6, then drops 3 for 7
	if q.dropped != 1 {
		t.Fatalf("dropped = %d, want 1", q.dropped)
	}
	wantTake(q, 3, 10, 0, 0) // 3 was dropped: read it from the files
	if i, ok := q.next(); !ok || i != 4 {
		t.Fatalf("next = %d %v, want 4", i, ok)
	}
	wantTake(q, 4, 10, 4, 8)
	push(q, 8, 9)
	wantTake(q, 9, 10, 9, 10) // 8 was read from the files meanwhile: discarded
	if _, ok := q.next(); ok {
		t.Fatal("queue not empty")
	}
	push(q, 20, 21) // a new run of indices after an empty queue
	wantTake(q, 20, 10, 20, 22)
	push(q, 30, 30)
	push(q, 40, 41) // not consecutive: starts again
	wantTake(q, 40, 10, 40, 42)

	// Growing keeps the order when the ring has wrapped.
	q = &memQueue{limit: 100}
	push(q, 1, 60)
	wantTake(q, 1, 50, 1, 51)
	push(q, 61, 160) // grows to 100 with the start in the middle, then drops 51..60
	if q.dropped != 10 || len(q.ring) != 100 {
		t.Fatalf("dropped %d, ring of %d, want 10 and 100", q.dropped, len(q.ring))
	}
	wantTake(q, 61, 1000, 61, 161)
	for _, x := range q.ring {
		if x.RequestID != "" {
			t.Fatal("a taken record is still referenced by the ring")
		}
	}

	off := &memQueue{limit: -1}
	push(off, 1, 3)
	wantTake(off, 1, 10, 0, 0)
}

// TestUpgradeDeliversOldFormatSegments: an outbox left by an earlier
// version (segments "SWYLDG1\n", JSON payloads) is delivered after an
// upgrade, before the new records, which go to new-format segments.
func TestUpgradeDeliversOldFormatSegments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seg := []byte(segMagicV1)
	for i := range 10 {
		r := rec(i)
		p, err := v1Payload(&r)
		if err != nil {
			t.Fatal(err)
		}
		seg = append(seg, v1Frame(p)...)
	}
	// Written by the earlier version (its exact output, not re-encoded here).
	golden := `{"request_id":"golden-1","api_key":"k","end_user":"cust\ufffdomer","model_group":"g","prompt_tokens":3,` +
		`"spend":0.5,"start_time":"2025-01-02T03:04:05.123456789+01:00","status":"success","cache_hit":true,` +
		`"metadata":{"big":9007199254740993,"nested":{"a":[1.50,"x",null,true]},"html":"\u003cb\u003e"},"request_tags":["t1"]}`
	seg = append(seg, v1Frame([]byte(golden))...)
	if err := os.WriteFile(segmentPath(dir, 1), seg, 0o600); err != nil {
		t.Fatal(err)
	}
	writeCheckpoint(t, dir, 2) // records 1 and 2 were delivered before the upgrade

	sink := &captureSink{}
	l := mustOpen(t, testOpts(t, dir), sink)
	if p := l.Stats().Pending; p != 9 {
		t.Fatalf("Pending after Open = %d, want 9", p)
	}
	l.Record(rec(100))
	flushOK(t, l)
	closeOK(t, l)

	var got []string
	for _, r := range sink.got {
		got = append(got, r.RequestID)
	}
	want := append(wantIDs(2, 10), "golden-1", rec(100).RequestID)
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	if mem, files := sources(l); mem != 1 || files != 9 {
		t.Fatalf("%d records taken from memory and %d read from the files, want 1 and 9", mem, files)
	}
	for i, r := range sink.got[:8] {
		old := rec(i + 2)
		if !r.StartTime.Equal(old.StartTime) {
			t.Errorf("record %s: start time %v, want %v", r.RequestID, r.StartTime, old.StartTime)
		}
		r.StartTime = old.StartTime
		if !reflect.DeepEqual(r, old) {
			t.Errorf("old record read back as %#v, want %#v", r, old)
		}
	}
	g := sink.got[8]
	start := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.FixedZone("", 3600))
	wantMeta := map[string]any{"big": json.Number("9007199254740993"), "html": "<b>",
		"nested": map[string]any{"a": []any{json.Number("1.50"), "x", nil, true}}}
	if g.APIKey != "k" || g.EndUser != "cust\uFFFDomer" || g.ModelGroup != "g" || g.PromptTokens != 3 || g.Spend != 0.5 ||
		!g.StartTime.Equal(start) || !g.EndTime.IsZero() || g.Status != "success" || !g.CacheHit ||
		!reflect.DeepEqual(g.Metadata, wantMeta) || !slices.Equal(g.RequestTags, []string{"t1"}) {
		t.Errorf("old-format record read back as %#v", g)
	}

	files := segmentFiles(t, dir)
	if len(files) != 1 || filepath.Base(files[0]) == filepath.Base(segmentPath(dir, 1)) {
		t.Fatalf("segments left: %v, want only the new active one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:len(segMagic)]) != "SWYLDG2\n" {
		t.Fatalf("new segment starts with %q", b[:len(segMagic)])
	}
	again := newSink(t)
	l = mustOpen(t, testOpts(t, dir), again)
	closeOK(t, l)
	if n := again.deliveries(); n != 0 {
		t.Fatalf("reopen delivered %d rows, want 0", n)
	}
}

// TestUpgradeWithOldAndNewSegmentsAfterACrash: an old-format segment, then
// new-format ones, all undelivered when the upgraded process crashed.
func TestUpgradeWithOldAndNewSegmentsAfterACrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	seg := []byte(segMagicV1)
	for i := range 20 {
		r := rec(i)
		p, err := v1Payload(&r)
		if err != nil {
			t.Fatal(err)
		}
		seg = append(seg, v1Frame(p)...)
	}
	if err := os.WriteFile(segmentPath(dir, 1), seg, 0o600); err != nil {
		t.Fatal(err)
	}
	down := newSink(t)
	down.setDown(true)
	l := mustOpen(t, testOpts(t, dir), down)
	for i := 20; i < 50; i++ {
		l.Record(rec(i))
	}
	waitFor(t, "all records to be durable", func() bool { return l.Stats().Pending == 50 })
	crash(l)

	sink := newSink(t)
	sink.rejectDup = true
	l = mustOpen(t, testOpts(t, dir), sink)
	flushOK(t, l)
	closeOK(t, l)
	sameOrder(t, sink, wantIDs(0, 50))
}
