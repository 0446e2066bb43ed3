package ledger

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/switchyard/gateway/core/store"
)

// batch is the deliverer's work in progress: records taken from memory or
// read from the outbox, in index order, not yet delivered.
type batch struct {
	recs     []store.SpendLog
	last     uint64 // index of the last record read (or skipped as unreadable)
	consumed int64  // records read or skipped since the last delivery
}

// cursor is the deliverer's read position in one segment file.
type cursor struct {
	f     *os.File
	first uint64 // first index of the segment
	next  uint64 // index of the frame at off
	off   int64
	buf   []byte
	r     *bufio.Reader // reused across reads
}

func (c *cursor) close() {
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// deliverLoop moves durable records to the sink in order, in batches, until
// Close: when draining it returns once everything durable is delivered, and
// it returns at once when Close's context ends.
func (l *Ledger) deliverLoop() {
	defer close(l.delivererDone)
	var (
		cur      cursor
		b        = batch{last: l.delivered}
		deadline time.Time
	)
	defer cur.close()
	for {
		wake, err := l.fill(&b, &cur)
		if err != nil {
			l.log.Error("ledger: cannot read the outbox; retrying", "error", err.Error())
			if !l.sleep(l.opts.RetryMax) {
				return
			}
			continue
		}
		if len(b.recs) == 0 {
			if b.consumed > 0 {
				l.advance(&b, &cur)
			}
			if l.isDraining() && b.last >= l.durableIndex() {
				return
			}
			if !l.waitMore(wake, time.Time{}) {
				return
			}
			continue
		}
		if len(b.recs) < l.opts.BatchSize && !l.hurry() {
			if deadline.IsZero() {
				deadline = time.Now().Add(l.opts.FlushInterval)
			}
			if time.Now().Before(deadline) {
				if !l.waitMore(wake, deadline) {
					return
				}
				continue
			}
		}
		if !l.deliver(b.recs) {
			return
		}
		l.advance(&b, &cur)
		deadline = time.Time{}
	}
}

func (l *Ledger) isDraining() bool {
	select {
	case <-l.draining:
		return true
	default:
		return false
	}
}

// hurry reports whether a partial batch should go now: Flush or Close waits.
func (l *Ledger) hurry() bool { return l.urgent.Load() > 0 || l.isDraining() }

func (l *Ledger) durableIndex() uint64 {
	l.st.Lock()
	defer l.st.Unlock()
	return l.durable
}

// waitMore waits for new durable records (wake), a Flush, Close, or the
// deadline (if set). It returns false when Close's context has ended.
func (l *Ledger) waitMore(wake <-chan struct{}, deadline time.Time) bool {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	draining := l.draining
	if l.isDraining() {
		draining = nil // already seen; do not spin on it
	}
	select {
	case <-wake:
	case <-l.urgentCh:
	case <-draining:
	case <-timeout:
	case <-l.aborted:
		return false
	}
	return true
}

// sleep waits d; false when Close's context ended first.
func (l *Ledger) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.aborted:
		return false
	}
}

// fill adds durable records to b up to BatchSize: from the in-memory queue
// when it holds the next index, else from the segment files (up to the
// first record the queue holds). It returns a channel closed when more
// records become durable.
func (l *Ledger) fill(b *batch, cur *cursor) (<-chan struct{}, error) {
	for {
		l.st.Lock()
		durable, wake := l.durable, l.durableCh
		if len(b.recs) >= l.opts.BatchSize || b.last >= durable {
			l.st.Unlock()
			return wake, nil
		}
		var took int
		b.recs, took = l.mem.take(b.last+1, l.opts.BatchSize-len(b.recs), b.recs)
		var segs []segment
		limit := durable
		if took == 0 {
			segs = append(segs, l.segs...)
			if i, ok := l.mem.next(); ok {
				limit = i - 1 // i > b.last+1: take left none before b.last+1
			}
		}
		l.st.Unlock()
		if took > 0 {
			b.last += uint64(took)
			b.consumed += int64(took)
			l.fromMemory.Add(int64(took))
			continue
		}
		seg, ok := segmentFor(segs, b.last+1)
		if !ok {
			return wake, fmt.Errorf("ledger: record %d is durable but in no segment", b.last+1)
		}
		if seg.first > b.last+1 {
			b.last = seg.first - 1 // a gap left by a damaged segment
		}
		if err := l.readSegment(b, cur, seg, limit); err != nil {
			return wake, err
		}
	}
}

// segmentFor returns the first segment holding a record with index >= want.
func segmentFor(segs []segment, want uint64) (segment, bool) {
	for _, s := range segs {
		if s.count > 0 && s.end() >= want {
			return s, true
		}
	}
	return segment{}, false
}

// readSegment reads records b.last+1 .. of seg into b, up to BatchSize,
// the end of seg as published and index limit. A damaged frame makes the
// rest of the segment unreadable: those records (up to limit) are counted
// as dropped and skipped.
func (l *Ledger) readSegment(b *batch, cur *cursor, seg segment, limit uint64) error {
	want := b.last + 1
	end := min(seg.end(), limit)
	if err := cur.seek(seg, want); err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, errTorn) {
			l.skipRest(b, cur, seg, end, err)
			return nil
		}
		return err
	}
	sr := io.NewSectionReader(cur.f, cur.off, seg.size-cur.off)
	if cur.r == nil {
		cur.r = bufio.NewReaderSize(sr, 1<<16)
	} else {
		cur.r.Reset(sr)
	}
	decode := seg.decode()
	for len(b.recs) < l.opts.BatchSize && cur.next <= end {
		p, err := readFrame(cur.r, cur.buf)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: segment ends early", errTorn)
			}
			l.skipRest(b, cur, seg, end, err)
			return nil
		}
		cur.buf = p
		cur.off += int64(frameHeaderLen + len(p))
		cur.next++
		b.last++
		b.consumed++
		l.fromFiles.Add(1)
		rec, err := decode(p)
		if err != nil {
			l.drop("", "unreadable spend record in the outbox skipped", err)
			continue
		}
		b.recs = append(b.recs, rec)
	}
	return nil
}

// skipRest gives up the records of seg from b.last+1 to end.
func (l *Ledger) skipRest(b *batch, cur *cursor, seg segment, end uint64, cause error) {
	lost := end - b.last
	l.dropped.Add(int64(lost))
	l.log.Error("ledger: outbox segment damaged after it was written; its remaining records are lost",
		"segment", seg.path, "first_lost", b.last+1, "records", lost, "error", cause.Error())
	b.consumed += int64(lost)
	b.last = end
	cur.close()
}

// seek positions c at record want of seg, opening the file if needed.
func (c *cursor) seek(seg segment, want uint64) error {
	if c.f != nil && c.first == seg.first && c.next == want {
		return nil
	}
	c.close()
	f, err := os.Open(seg.path)
	if err != nil {
		return fmt.Errorf("ledger: open segment for reading: %w", err)
	}
	c.f, c.first, c.next, c.off = f, seg.first, seg.first, int64(len(segMagic))
	var h [frameHeaderLen]byte
	for c.next < want {
		if _, err := f.ReadAt(h[:], c.off); err != nil {
			return fmt.Errorf("%w: skipping to record %d: %v", errTorn, want, err)
		}
		n := binary.BigEndian.Uint32(h[0:4])
		if n == 0 || n > maxPayload {
			return fmt.Errorf("%w: impossible length %d skipping to record %d", errTorn, n, want)
		}
		c.off += frameHeaderLen + int64(n)
		c.next++
	}
	return nil
}

// deliver hands recs to the sink, retrying with backoff until it succeeds
// (true) or Close's context ends (false).
func (l *Ledger) deliver(recs []store.SpendLog) bool {
	for attempt := 0; ; attempt++ {
		ctx, cancel := context.WithTimeout(l.sinkCtx, l.opts.SinkTimeout)
		_, err := l.sink.InsertSpendLogs(ctx, recs)
		cancel()
		if err == nil {
			if attempt > 0 {
				l.log.Info("ledger: spend records delivered again after failures", "failed_attempts", attempt)
			}
			return true
		}
		select {
		case <-l.aborted:
			return false
		default:
		}
		l.failures.Add(1)
		l.lastErr.Store(time.Now().UnixNano())
		wait := backoff(attempt, l.opts.RetryMin, l.opts.RetryMax, randFloat())
		l.log.Warn("ledger: delivering spend records failed; kept in the outbox, retrying", "records", len(recs),
			"attempt", attempt+1, "retry_in", wait, "error", err.Error())
		if !l.sleep(wait) {
			return false
		}
	}
}

// advance records b as delivered: checkpoint, delete the segments now fully
// delivered, then publish the new position to Flush and Stats.
func (l *Ledger) advance(b *batch, cur *cursor) {
	persisted := true
	if err := l.cp.store(b.last); err != nil {
		persisted = false
		l.log.Error("ledger: cannot save the delivered position; these records will be delivered again at the next start",
			"error", err.Error())
	}
	if persisted {
		l.removeDelivered(b.last, cur)
	}
	l.pending.Add(-b.consumed)
	l.deliveredN.Add(int64(len(b.recs)))
	l.st.Lock()
	l.delivered = b.last
	close(l.deliveredCh)
	l.deliveredCh = make(chan struct{})
	l.st.Unlock()
	clear(b.recs)
	b.recs, b.consumed = b.recs[:0], 0
}

// removeDelivered deletes the sealed segments whose records are all at or
// before last.
func (l *Ledger) removeDelivered(last uint64, cur *cursor) {
	l.st.Lock()
	var done []segment
	for len(l.segs) > 1 && l.segs[0].end() <= last {
		done = append(done, l.segs[0])
		l.segs = l.segs[1:]
	}
	l.st.Unlock()
	for _, s := range done {
		if cur.f != nil && cur.first == s.first {
			cur.close()
		}
		if err := os.Remove(s.path); err != nil {
			l.log.Warn("ledger: cannot remove a delivered segment", "segment", s.path, "error", err.Error())
		}
	}
	if len(done) > 0 {
		if err := syncDir(l.opts.Dir); err != nil {
			l.log.Warn("ledger: sync outbox directory", "error", err.Error())
		}
	}
}

// backoff returns the wait before retry attempt+1: RetryMin doubled per
// attempt, capped at RetryMax, with up to a quarter taken off at random
// (jitter in [0,1)) so replicas do not retry in step; never below min.
func backoff(attempt int, min, max time.Duration, jitter float64) time.Duration {
	d := min
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	d -= time.Duration(jitter * float64(d) / 4)
	if d < min {
		d = min
	}
	return d
}

func randFloat() float64 { return rand.Float64() }
