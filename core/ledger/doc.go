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
// Record takes a snapshot of the record (a copy, checked and normalised as
// the sink will receive it) and hands it to a bounded queue (it blocks only
// when the queue is full). One appender goroutine takes everything queued
// (at most every 2 ms while records keep coming), encodes it and appends it
// to the active segment (group commit), and fsyncs once for the groups
// written within 20 ms (at once after a quiet spell, or for a Flush); the
// records are then durable, and the appender also hands them, in index
// order, to the deliverer through an in-memory queue. A killed process
// loses no written group: the kernel keeps it and the next Open reads it. One deliverer goroutine takes durable records in order
// and calls Sink.InsertSpendLogs with up to BatchSize of them (a partial
// batch waits at most FlushInterval, less when Flush or Close is waiting);
// on failure it retries the same batch with exponential backoff between
// RetryMin and RetryMax. After a successful batch it writes the checkpoint
// and deletes the segments that are fully delivered.
//
// The segment files are the source of truth; the in-memory queue only
// spares the deliverer reading back and decoding what was just written. It
// holds the latest max(2×BatchSize, 4096) durable records and, rather than
// block the appender, drops its oldest when full (while the sink is down or
// slower than the traffic). The deliverer takes the next record from memory
// when the queue holds it, and otherwise reads it from the segments: the
// records left by an earlier run, and those the queue dropped. Either way
// the sink receives the same values.
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
// A segment is the 8-byte magic "SWYLDG2\n" followed by frames:
//
//	length   uint32, big endian: payload size in bytes (1 .. 16 MiB)
//	crc      uint32, big endian: CRC-32 (Castagnoli) of the payload
//	payload  the record, binary (below)
//
// The payload holds the fields of store.SpendLog in this order, integers big
// endian, strings as a uint32 byte length and UTF-8 text:
//
//	RequestID, APIKey, KeyAlias, TeamID, UserID, EndUser,
//	ModelGroup, Model, DeploymentID, Provider, CallType     11 strings
//	PromptTokens, CompletionTokens, TotalTokens,
//	CachedTokens                                            int64 each
//	Spend                                                   float64 (IEEE 754 bits)
//	StartTime, EndTime          each int64 Unix seconds and uint32 nanoseconds
//	                            (read back in UTC; the zero time stays zero)
//	LatencyMS                                               int64
//	Status                                                  string
//	CacheHit                                                byte, 0 or 1
//	Metadata      uint32 count, then count pairs of key (string) and value
//	RequestTags   uint32 count, then count strings
//
// A metadata value is a tag byte and its content: 0 null, 1 false, 2 true,
// 3 string, 4 number (a string: its JSON text, kept exactly; read back as
// json.Number), 5 object (uint32 count, then key and value pairs), 6 array
// (uint32 count, then values). Metadata is therefore what encoding/json
// would make of it: other Go types are converted as encoding/json encodes
// and decodes them. NUL characters, which PostgreSQL cannot store, and bytes
// that are not valid UTF-8 are replaced by U+FFFD in every string. An empty
// Metadata or RequestTags is read back as nil.
//
// Segments that start with "SWYLDG1\n" were written by earlier versions:
// their frames are the same, with the record as JSON for payload (see
// wireRecord). They are still read, so that an outbox left by an earlier
// version is delivered after an upgrade; new records always go to format 2
// segments.
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
// removed; a file with an unknown magic is renamed to *.corrupt and reported.
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
// neutralised when Record takes its snapshot.
package ledger
