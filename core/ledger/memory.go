package ledger

import "github.com/switchyard/gateway/core/store"

// memQueue hands the records made durable in this run from the appender to
// the deliverer, so that the deliverer need not read them back from the
// segment files and decode them. It holds the records with the consecutive
// indices first .. first+n-1, in a ring of at most limit records. Pushing
// never blocks the appender: when the ring is full its oldest records are
// dropped, and the deliverer reads those from the files, which remain the
// source of truth (as it does for the records left by an earlier run). It
// is guarded by Ledger.st.
type memQueue struct {
	ring    []store.SpendLog // grown up to limit
	head    int              // position of record first in ring
	n       int
	first   uint64
	limit   int
	dropped int64 // records dropped because the ring was full (for tests)
}

// defaultMemRecords returns the ring size for a batch size: room for the
// batch being delivered and the next ones while the sink writes it, and at
// least a few thousand records (a few tenths of a second of a busy gateway,
// about 1.4 MB of records without their strings and metadata).
func defaultMemRecords(batchSize int) int { return max(2*batchSize, 4096) }

// push adds the durable record with index i, copying it.
func (q *memQueue) push(i uint64, r *store.SpendLog) {
	if q.limit <= 0 {
		return
	}
	if q.n > 0 && q.first+uint64(q.n) != i {
		q.clear() // not consecutive: cannot happen, but never hand out a wrong index
	}
	if q.n == 0 {
		q.head, q.first = 0, i
	}
	if q.n == len(q.ring) {
		if len(q.ring) < q.limit {
			q.grow()
		} else {
			q.ring[q.head] = store.SpendLog{}
			q.head = q.wrap(q.head + 1)
			q.n--
			q.first++
			q.dropped++
		}
	}
	q.ring[q.wrap(q.head+q.n)] = *r
	q.n++
}

func (q *memQueue) wrap(p int) int {
	if p >= len(q.ring) {
		p -= len(q.ring)
	}
	return p
}

func (q *memQueue) grow() {
	ring := make([]store.SpendLog, min(max(2*len(q.ring), 64), q.limit))
	for k := range q.n {
		ring[k] = q.ring[q.wrap(q.head+k)]
	}
	q.ring, q.head = ring, 0
}

func (q *memQueue) clear() {
	clear(q.ring)
	q.head, q.n = 0, 0
}

// take appends to dst the records from index want on, at most most of them,
// removing them from the queue (most: at most that many); records before want (already read from the
// files) are discarded. It returns dst and the number taken, 0 when the
// queue does not hold want.
func (q *memQueue) take(want uint64, most int, dst []store.SpendLog) ([]store.SpendLog, int) {
	for q.n > 0 && q.first < want {
		q.ring[q.head] = store.SpendLog{}
		q.head = q.wrap(q.head + 1)
		q.n--
		q.first++
	}
	if q.n == 0 || q.first != want {
		return dst, 0
	}
	k := min(most, q.n)
	for range k {
		dst = append(dst, q.ring[q.head])
		q.ring[q.head] = store.SpendLog{}
		q.head = q.wrap(q.head + 1)
	}
	q.n -= k
	q.first += uint64(k)
	return dst, k
}

// next returns the index of the oldest record held, and false when empty.
func (q *memQueue) next() (uint64, bool) { return q.first, q.n > 0 }
