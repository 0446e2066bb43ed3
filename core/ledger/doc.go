// Package ledger is the spend ledger's durable outbox: every request the
// gateway serves produces one store.SpendLog, which Record appends to a local
// append-only log; a background writer moves the records to the store
// (Sink) in batches, keeps them while the database is down, drains them on
// Close and replays them at the next Open if the process stopped before they
// were delivered. Nothing committed to the outbox is lost; the store ignores
// request ids it already has, so a batch delivered again after a crash is not
// counted twice.
//
// # Pipeline
//
// Record encodes the record and hands it to a bounded queue (it blocks only
// when the queue is full). One appender goroutine takes everything queued,
// appends it to the active segment and fsyncs once for the whole group
// (group commit); the records are then durable. One deliverer goroutine reads
// durable records in order and calls Sink.InsertSpendLogs with up to
// BatchSize of them (a partial batch waits at most FlushInterval, less when
// Flush or Close is waiting); on failure it retries the same batch with
// exponential backoff between RetryMin and RetryMax. After a successful batch
// it writes the checkpoint and deletes the segments that are fully delivered.
//
// # Files
//
// All files live in Options.Dir:
//
//	LOCK                   held (flock) while a Ledger has the directory open
//	checkpoint             index of the last delivered record
//	<first index>.seg      segments, named by the index of their first record
//	                       in 20 decimal digits, e.g. 00000000000000000001.seg
//
// Records are numbered from 1 in the order they became durable; record i of
// the segment whose first index is F has index F+i. A new segment is started
// at every Open and when the active one has reached SegmentSize bytes after a
// group commit.
//
// A segment is the 8-byte magic "SWYLDG1\n" followed by frames:
//
//	length   uint32, big endian: payload size in bytes (1 .. 16 MiB)
//	crc      uint32, big endian: CRC-32 (Castagnoli) of the payload
//	payload  the record as JSON (see wireRecord; numbers in metadata keep
//	         their exact text; NUL characters, which PostgreSQL cannot
//	         store, are replaced by U+FFFD)
//
// The checkpoint is 12 bytes, rewritten in place after every delivered batch
// and fsynced: the last delivered index (uint64, big endian) and the CRC-32
// (Castagnoli) of those 8 bytes.
//
// # Recovery
//
// Open scans every segment. A frame that is cut short, has an impossible
// length or a wrong checksum (a crash in the middle of a write) ends the
// segment: the file is truncated there with a warning, and Open goes on. A
// file shorter than the magic is an interrupted segment creation and is
// removed; a file with another magic is renamed to *.corrupt and reported.
// A missing or unreadable checkpoint means "nothing delivered": every record
// still in the outbox is delivered again, which the idempotent store absorbs.
// Records after the checkpoint are delivered before anything recorded in the
// new run.
//
// # Guarantees and limits
//
// A record is safe once it is durable (Stats.Pending counts it); records
// still queued when the process dies are lost, exactly like a response that
// was never finished. Delivery is at least once; with a sink that is
// idempotent on RequestID (store.InsertSpendLogs) the result is exactly once.
// A batch the sink rejects is retried forever, in order: a record the sink
// can never accept would hold back the ones after it (Stats.Failures keeps
// growing and the error is logged), so records must be valid for the store.
// The one such case known for store.Store, a NUL character (PostgreSQL), is
// neutralised when the record is encoded.
package ledger
