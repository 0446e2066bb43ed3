package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard/gateway/core/store"
)

// Sink receives batches of spend records; *store.Store implements it. It
// must be idempotent on RequestID: after a crash a batch can arrive again.
// The returned count (rows that were new) is not used.
type Sink interface {
	InsertSpendLogs(ctx context.Context, logs []store.SpendLog) (int, error)
}

// ErrClosed is returned by Flush and Close once Close has been called.
var ErrClosed = errors.New("ledger: closed")

// Options configures a Ledger. Zero values take the defaults.
type Options struct {
	// Dir is the directory of the outbox files (created if missing). Required.
	Dir string
	// BatchSize is the number of records per store write (default 500).
	BatchSize int
	// FlushInterval is the longest a partial batch waits before it is
	// written to the store (default 100ms).
	FlushInterval time.Duration
	// RetryMin and RetryMax bound the backoff while the sink fails
	// (defaults 100ms and 10s).
	RetryMin, RetryMax time.Duration
	// Logger receives warnings and errors (default slog.Default()).
	Logger *slog.Logger
	// QueueSize is how many records Record accepts ahead of the disk writer
	// before it blocks (default 8192).
	QueueSize int
	// SegmentSize is the size in bytes after which a new segment file is
	// started (default 16 MiB).
	SegmentSize int64
	// SinkTimeout bounds one call of the sink (default 30s).
	SinkTimeout time.Duration
}

func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		return o, errors.New("ledger: Options.Dir is required")
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 500
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = o.RetryMin
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 8192
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = 16 << 20
	}
	if o.SinkTimeout <= 0 {
		o.SinkTimeout = 30 * time.Second
	}
	return o, nil
}

// Stats is a snapshot of the ledger's counters, for metrics and readiness.
type Stats struct {
	// Queued counts records accepted by Record that are not yet durable.
	Queued int
	// Pending counts durable records not yet delivered to the sink.
	Pending int64
	// Delivered counts records delivered to the sink since Open.
	Delivered int64
	// Failures counts failed sink calls since Open.
	Failures int64
	// Dropped counts records refused (after Close, without request id, not
	// encodable) or lost (unreadable outbox data, disk failing through Close).
	Dropped int64
	// LastError is the time of the last sink failure; zero if none.
	LastError time.Time
}

// entry is one item of the queue: a record (a snapshot, see snapshot), or
// a Flush marker.
type entry struct {
	rec   store.SpendLog
	flush chan flushReply
}

// flushReply tells a Flush which index it waits for, or that the records
// before it could not be made durable.
type flushReply struct {
	target uint64
	err    error
}

// Ledger is the durable outbox. Its methods are safe for concurrent use.
type Ledger struct {
	opts Options
	sink Sink
	log  *slog.Logger
	lock *os.File
	cp   *checkpoint

	// mu orders sends on in against Close: senders hold it shared.
	mu     sync.RWMutex
	closed bool
	in     chan entry

	// Owned by the appender goroutine.
	active     *os.File
	activeSize int64
	next       uint64  // index of the next record to append
	buf        []byte  // frames written since the last sync (or to be written, after a failed write)
	written    int     // of buf, what is in the segment file
	unsynced   []entry // entries of buf's records and Flush markers, in order
	unsyncedN  int     // records among unsynced

	// st guards the state shared by the appender and the deliverer.
	st          sync.Mutex
	segs        []segment // ordered; the last one is active
	durable     uint64    // index of the last durable record
	delivered   uint64    // index of the last delivered record
	durableCh   chan struct{}
	deliveredCh chan struct{}
	mem         memQueue // durable records for the deliverer

	urgent   atomic.Int32  // Flush calls waiting
	urgentCh chan struct{} // wakes the deliverer for them

	pending, deliveredN, failures, dropped, lastErr atomic.Int64
	// Records the deliverer took from memory and decoded from the segment
	// files, since Open (for tests).
	fromMemory, fromFiles atomic.Int64
	// Group commits written and fsyncs of the outbox, since Open (for tests).
	writes, syncs atomic.Int64

	closeOnce     sync.Once
	draining      chan struct{} // closed when nothing more will be appended
	aborted       chan struct{} // closed when Close's context ends
	abortOnce     sync.Once
	sinkCtx       context.Context
	sinkCancel    context.CancelFunc
	appenderDone  chan struct{}
	delivererDone chan struct{}
}

// Open opens (or creates) the outbox in opts.Dir, recovers what an earlier
// run left (truncating a torn tail) and starts the writer, which delivers the
// undelivered records of the earlier run before new ones.
func Open(opts Options, sink Sink) (*Ledger, error) {
	return open(opts, sink, 0)
}

// open is Open with the size of the in-memory queue of durable records
// (memRecords; 0 for the default, negative for none).
func open(opts Options, sink Sink, memRecords int) (*Ledger, error) {
	if sink == nil {
		return nil, errors.New("ledger: sink is nil")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("ledger: create outbox directory: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	l := &Ledger{
		opts: opts, sink: sink, log: opts.Logger, lock: lock,
		in:          make(chan entry, opts.QueueSize),
		durableCh:   make(chan struct{}),
		deliveredCh: make(chan struct{}),
		urgentCh:    make(chan struct{}, 1),
		draining:    make(chan struct{}), aborted: make(chan struct{}),
		appenderDone: make(chan struct{}), delivererDone: make(chan struct{}),
	}
	if memRecords == 0 {
		memRecords = defaultMemRecords(opts.BatchSize)
	}
	l.mem.limit = memRecords
	if err := l.recover(); err != nil {
		l.closeFiles()
		return nil, err
	}
	l.sinkCtx, l.sinkCancel = context.WithCancel(context.Background())
	go l.appendLoop()
	go l.deliverLoop()
	return l, nil
}

// recover reads the checkpoint and the segments, removes what is empty or
// delivered, and starts a new active segment.
func (l *Ledger) recover() error {
	cp, delivered, err := openCheckpoint(l.opts.Dir, l.log)
	if err != nil {
		return err
	}
	l.cp = cp
	found, err := listSegments(l.opts.Dir)
	if err != nil {
		return err
	}
	last, pending := delivered, uint64(0)
	var keep []segment
	for _, s := range found {
		s, err := recoverSegment(s, l.log)
		if err != nil {
			return err
		}
		if s.count > 0 && s.end() > delivered {
			keep = append(keep, s)
			pending += s.end() - max(delivered, s.first-1)
			last = max(last, s.end())
			continue
		}
		if strings.HasSuffix(s.path, corruptSuffix) {
			continue // set aside, left for an operator
		}
		if err := os.Remove(s.path); err != nil {
			return fmt.Errorf("ledger: remove delivered segment: %w", err)
		}
	}
	seg, f, err := createSegment(l.opts.Dir, last+1)
	if err != nil {
		return err
	}
	l.active, l.activeSize, l.next = f, seg.size, last+1
	l.segs = append(keep, seg)
	l.durable, l.delivered = last, delivered
	l.pending.Store(int64(pending))
	if pending > 0 {
		l.log.Info("ledger: delivering spend records left by the previous run", "records", pending, "dir", l.opts.Dir)
	}
	return nil
}

// Record adds rec to the ledger. It takes a snapshot of rec (the caller may
// reuse rec's maps and slices afterwards) and returns once it is queued for
// the next group commit; it blocks only while the queue is full. After
// Close, and for a record without request id or that cannot be encoded, it
// logs an error and drops the record.
func (l *Ledger) Record(rec store.SpendLog) {
	if rec.RequestID == "" {
		l.drop("", "spend record without request id dropped", nil)
		return
	}
	snap, err := snapshot(&rec)
	if err != nil {
		l.drop(rec.RequestID, "spend record cannot be encoded; dropped", err)
		return
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		l.drop(rec.RequestID, "spend record after Close dropped", nil)
		return
	}
	l.in <- entry{rec: snap}
}

func (l *Ledger) drop(requestID, msg string, err error) {
	l.dropped.Add(1)
	attrs := []any{"request_id", requestID}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	l.log.Error("ledger: "+msg, attrs...)
}

// Flush waits until every record recorded before the call has been delivered
// to the sink, ctx ends (its error is returned) or the ledger stops.
func (l *Ledger) Flush(ctx context.Context) error {
	l.urgent.Add(1)
	defer l.urgent.Add(-1)
	reply := make(chan flushReply, 1)
	if err := l.enqueueFlush(ctx, reply); err != nil {
		return err
	}
	l.poke()
	var r flushReply
	select {
	case r = <-reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	if r.err != nil {
		return r.err
	}
	return l.waitDelivered(ctx, r.target)
}

func (l *Ledger) enqueueFlush(ctx context.Context, reply chan flushReply) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	select {
	case l.in <- entry{flush: reply}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// poke wakes the deliverer without blocking.
func (l *Ledger) poke() {
	select {
	case l.urgentCh <- struct{}{}:
	default:
	}
}

func (l *Ledger) waitDelivered(ctx context.Context, target uint64) error {
	for {
		l.st.Lock()
		done, ch := l.delivered >= target, l.deliveredCh
		l.st.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.delivererDone:
			l.st.Lock()
			done = l.delivered >= target
			l.st.Unlock()
			if done {
				return nil
			}
			return fmt.Errorf("%w before the records were delivered (they stay in the outbox)", ErrClosed)
		}
	}
}

// Close stops accepting records, makes everything queued durable and
// delivers until ctx ends. What is not delivered stays in the outbox for the
// next Open, and Close then returns an error saying how much. Calling Close
// again returns ErrClosed.
func (l *Ledger) Close(ctx context.Context) error {
	first := false
	l.closeOnce.Do(func() { first = true })
	if !first {
		return ErrClosed
	}
	stop := context.AfterFunc(ctx, l.abort)
	defer stop()
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	close(l.in)
	<-l.appenderDone
	close(l.draining)
	<-l.delivererDone
	l.abort()
	l.closeFiles()
	l.st.Lock()
	l.mem.clear() // what was not delivered is in the files
	l.mem.ring = nil
	l.st.Unlock()
	if n := l.pending.Load(); n > 0 {
		cause := ctx.Err()
		if cause == nil {
			cause = errors.New("delivery stopped")
		}
		return fmt.Errorf("ledger: %d spend records not delivered, kept in %s for the next start: %w",
			n, l.opts.Dir, cause)
	}
	return nil
}

// abort makes the goroutines give up: the deliverer stops retrying (and its
// sink call is cancelled), the appender stops retrying a failing disk.
func (l *Ledger) abort() {
	l.abortOnce.Do(func() {
		close(l.aborted)
		if l.sinkCancel != nil {
			l.sinkCancel()
		}
	})
}

func (l *Ledger) closeFiles() {
	for _, f := range []*os.File{l.active, l.lock} {
		if f != nil {
			f.Close()
		}
	}
	if l.cp != nil {
		l.cp.f.Close()
	}
}

// Stats returns the current counters.
func (l *Ledger) Stats() Stats {
	s := Stats{
		Queued:    len(l.in),
		Pending:   l.pending.Load(),
		Delivered: l.deliveredN.Load(),
		Failures:  l.failures.Load(),
		Dropped:   l.dropped.Load(),
	}
	if t := l.lastErr.Load(); t != 0 {
		s.LastError = time.Unix(0, t)
	}
	return s
}
