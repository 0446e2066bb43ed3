package ledger

import (
	"fmt"
	"time"
)

// maxGroup caps the entries of one group commit.
const maxGroup = 4096

// commitInterval is the least time between two group commits while records keep coming: a record arriving
// sooner after the last commit waits, with those that join it, for the rest of the interval. A busy gateway
// otherwise made a write and an fsync for every few records (thousands a second, 6 µs of CPU per record at
// 13,000 requests/s); with it, at most 500 a second. A Flush does not wait.
const commitInterval = 2 * time.Millisecond

// appendLoop makes queued records durable, one group commit (one write and
// one fsync) for everything queued at the time, until the queue is closed.
func (l *Ledger) appendLoop() {
	defer close(l.appenderDone)
	group := make([]entry, 0, 64)
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	var last time.Time
	for e := range l.in {
		group = append(group[:0], e)
		group = l.collect(group)
		if d := commitInterval - time.Since(last); d > 0 {
			group = l.collectFor(group, wait, d)
		}
		l.commit(group)
		last = time.Now()
		clear(group)
	}
}

// collectFor adds to group what arrives within d, returning early for a Flush marker (a Flush does not wait), a
// full group or a closed queue.
func (l *Ledger) collectFor(group []entry, wait *time.Timer, d time.Duration) []entry {
	for _, e := range group {
		if e.flush != nil {
			return group
		}
	}
	wait.Reset(d)
	defer wait.Stop()
	return l.gather(group, wait.C)
}

// collect adds to group what is queued now, without waiting.
func (l *Ledger) collect(group []entry) []entry { return l.gather(group, nil) }

// gather adds queued entries to group until the queue is empty (until done fires, when done is not nil), the
// group is full, the queue is closed or, when waiting, a Flush marker arrives.
func (l *Ledger) gather(group []entry, done <-chan time.Time) []entry {
	for len(group) < maxGroup {
		var e entry
		var ok bool
		if done == nil {
			select {
			case e, ok = <-l.in:
			default:
				return group
			}
		} else {
			select {
			case e, ok = <-l.in:
			case <-done:
				return group
			}
		}
		if !ok {
			return group
		}
		group = append(group, e)
		if done != nil && e.flush != nil {
			return group
		}
	}
	return group
}

// commit encodes the group's records, appends them, makes them durable,
// publishes them to the deliverer and answers the group's Flush markers.
func (l *Ledger) commit(group []entry) {
	buf, n := l.buf[:0], 0
	for i := range group {
		if e := &group[i]; e.flush == nil {
			buf = appendFrame(buf, &e.rec)
			n++
		}
	}
	if cap(buf) <= 1<<22 {
		l.buf = buf
	} else {
		l.buf = nil
	}
	var failed error
	if n > 0 {
		if l.writeDurably(buf, n) {
			l.publish(group, uint64(n), int64(len(buf)))
		} else {
			failed = fmt.Errorf("%w: the outbox could not be written", ErrClosed)
			for _, e := range group {
				if e.flush == nil {
					l.drop(e.rec.RequestID, "spend record lost: the outbox could not be written before Close gave up", nil)
				}
			}
		}
	}
	l.answerFlushes(group, failed)
}

// answerFlushes tells each Flush marker the index of the last record queued
// before it. It runs after publish, so l.next is one past the group.
func (l *Ledger) answerFlushes(group []entry, failed error) {
	idx := l.next - 1
	for i := len(group) - 1; i >= 0; i-- {
		e := group[i]
		if e.flush != nil {
			e.flush <- flushReply{target: idx, err: failed}
		} else if failed == nil {
			idx--
		}
	}
}

// writeDurably appends buf to the active segment and syncs it, retrying with
// backoff while the disk fails; it gives up (false) only once Close's
// context has ended.
func (l *Ledger) writeDurably(buf []byte, records int) bool {
	for attempt := 0; ; attempt++ {
		err := l.writeActive(buf)
		if err == nil {
			if attempt > 0 {
				l.log.Info("ledger: outbox writable again", "attempts", attempt+1)
			}
			return true
		}
		wait := backoff(attempt, l.opts.RetryMin, l.opts.RetryMax, randFloat())
		l.log.Error("ledger: cannot write the outbox; retrying", "dir", l.opts.Dir, "records", records,
			"error", err.Error(), "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-l.aborted:
			t.Stop()
			return false
		}
	}
}

// writeActive writes buf at the end of the active segment and fsyncs; on
// failure the segment is cut back to its previous end.
func (l *Ledger) writeActive(buf []byte) error {
	if _, err := l.active.WriteAt(buf, l.activeSize); err != nil {
		_ = l.active.Truncate(l.activeSize)
		return fmt.Errorf("write segment: %w", err)
	}
	if err := l.active.Sync(); err != nil {
		_ = l.active.Truncate(l.activeSize)
		return fmt.Errorf("sync segment: %w", err)
	}
	return nil
}

// publish makes the n records of group just written (size bytes) visible
// to the deliverer, hands them to it in memory, and starts a new segment
// when the active one is full.
func (l *Ledger) publish(group []entry, n uint64, size int64) {
	first := l.next
	l.next += n
	l.activeSize += size
	l.st.Lock()
	seg := &l.segs[len(l.segs)-1]
	seg.count += n
	seg.size = l.activeSize
	for i := range group {
		if e := &group[i]; e.flush == nil {
			l.mem.push(first, &e.rec)
			first++
		}
	}
	l.durable = l.next - 1
	close(l.durableCh)
	l.durableCh = make(chan struct{})
	l.st.Unlock()
	l.pending.Add(int64(n))
	if l.activeSize >= l.opts.SegmentSize {
		l.rotate()
	}
}

// rotate seals the active segment and starts a new one. If that fails the
// active segment simply keeps growing until the next attempt.
func (l *Ledger) rotate() {
	seg, f, err := createSegment(l.opts.Dir, l.next)
	if err != nil {
		l.log.Error("ledger: cannot start a new segment; the current one keeps growing", "error", err.Error())
		return
	}
	old := l.active
	l.active, l.activeSize = f, seg.size
	l.st.Lock()
	l.segs = append(l.segs, seg)
	l.st.Unlock()
	if err := old.Close(); err != nil {
		l.log.Warn("ledger: closing a sealed segment", "error", err.Error())
	}
}
