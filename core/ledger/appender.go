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

// syncInterval is the least time between two fsyncs of the outbox while records keep coming. A group commit
// writes its records to the segment (write(2)) at once, so a killed process loses no more than it did: what was
// written is in the kernel's cache and is read back at the next Open. The fsync, which makes records survive
// the machine stopping, is shared by the group commits of an interval: each cost about 70 µs of CPU on the
// benchmark machine, 3% of a governed gateway's CPU at 500 a second. Records become durable (delivered,
// counted by Flush) at the fsync. A group after a quiet interval, or holding a Flush marker, syncs at once, so
// a lightly loaded gateway syncs every record as soon as it is written.
const syncInterval = 20 * time.Millisecond

// appendLoop commits queued records: one write for everything queued at the time (a group commit), and one
// fsync for the groups written within syncInterval, until the queue is closed.
func (l *Ledger) appendLoop() {
	defer close(l.appenderDone)
	group := make([]entry, 0, 64)
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	due := time.NewTimer(time.Hour)
	due.Stop()
	var lastWrite, lastSync time.Time
	sync := func() {
		l.sync()
		lastSync = time.Now()
	}
	for {
		var e entry
		var ok bool
		if len(l.unsynced) == 0 {
			e, ok = <-l.in
		} else {
			due.Reset(time.Until(lastSync.Add(syncInterval)))
			select {
			case e, ok = <-l.in:
				due.Stop()
			case <-due.C:
				sync()
				continue
			}
		}
		if !ok {
			if len(l.unsynced) > 0 {
				sync()
			}
			return
		}
		group = append(group[:0], e)
		group = l.collect(group)
		if d := commitInterval - time.Since(lastWrite); d > 0 {
			group = l.collectFor(group, wait, d)
		}
		written := l.write(group)
		lastWrite = time.Now()
		if !written || hasFlush(group) || time.Since(lastSync) >= syncInterval {
			sync()
		}
		clear(group)
	}
}

func hasFlush(group []entry) bool {
	for _, e := range group {
		if e.flush != nil {
			return true
		}
	}
	return false
}

// collectFor adds to group what arrives within d, returning early for a Flush marker (a Flush does not wait), a
// full group or a closed queue.
func (l *Ledger) collectFor(group []entry, wait *time.Timer, d time.Duration) []entry {
	if hasFlush(group) {
		return group
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

// write encodes the group's records after those written since the last sync and writes them to the active
// segment. False: the write failed, and the next sync writes them again.
func (l *Ledger) write(group []entry) bool {
	for i := range group {
		if e := &group[i]; e.flush == nil {
			l.buf = appendFrame(l.buf, &e.rec)
			l.unsyncedN++
		}
	}
	l.unsynced = append(l.unsynced, group...)
	if l.written == len(l.buf) {
		return true
	}
	if _, err := l.active.WriteAt(l.buf[l.written:], l.activeSize+int64(l.written)); err != nil {
		return false
	}
	l.written = len(l.buf)
	l.writes.Add(1)
	return true
}

// sync makes the records written since the last sync durable, publishes them to the deliverer and answers
// their Flush markers.
func (l *Ledger) sync() {
	var failed error
	if n := l.unsyncedN; n > 0 {
		if l.syncDurably(n) {
			l.publish(l.unsynced, uint64(n), int64(len(l.buf)))
		} else {
			failed = fmt.Errorf("%w: the outbox could not be written", ErrClosed)
			for _, e := range l.unsynced {
				if e.flush == nil {
					l.drop(e.rec.RequestID, "spend record lost: the outbox could not be written before Close gave up", nil)
				}
			}
		}
	}
	l.answerFlushes(l.unsynced, failed)
	clear(l.unsynced)
	if cap(l.unsynced) > 1<<14 {
		l.unsynced = nil
	}
	l.unsynced, l.unsyncedN, l.written = l.unsynced[:0], 0, 0
	if cap(l.buf) > 1<<22 {
		l.buf = nil
	}
	l.buf = l.buf[:0]
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

// syncDurably syncs what write wrote since the last sync (writing it again after a failure), retrying with
// backoff while the disk fails; it gives up (false) only once Close's context has ended.
func (l *Ledger) syncDurably(records int) bool {
	for attempt := 0; ; attempt++ {
		var err error
		if attempt == 0 && l.written == len(l.buf) {
			if err = l.active.Sync(); err != nil {
				_ = l.active.Truncate(l.activeSize)
				err = fmt.Errorf("sync segment: %w", err)
			}
		} else {
			err = l.writeActive(l.buf)
		}
		if err == nil {
			l.syncs.Add(1)
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
