package store

import (
	"bytes"
	"cmp"
	"container/heap"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchyard/gateway/sdk"
)

// On SQLite the spend ledger is kept in blocks: one row of spend_log_blocks holds the rows of one delivered batch,
// packed in the binary format below, with the range of their start times; spend_log_ids holds every request id,
// so that a batch delivered again is recognised. Writing a batch is then two B-tree inserts per row (the id) plus
// one per batch, where a row of spend_logs was a table row, its unique request id and three more indexes, 23 bound
// parameters each copied into SQLite's memory: the pure-Go SQLite spent 6 µs a row on that, the largest part of
// what governance cost a request (docs/benchmarks.md). The queries read the blocks in the time range asked for
// and filter and aggregate them here; PostgreSQL keeps the spend_logs table. spend_logs rows of a SQLite database
// written before the blocks (schema version 3 or older) are moved into blocks at Open.
//
// A block's data is a format byte (1) and the rows, each:
//
//	RequestID, APIKey, KeyAlias, TeamID, UserID, EndUser, ModelGroup, Model,
//	DeploymentID, Provider, CallType, Status, metadata (JSON text),
//	request tags (JSON text)                                   14 strings: uvarint length, bytes
//	PromptTokens, CompletionTokens, TotalTokens, CachedTokens,
//	LatencyMS, start and end time (Unix microseconds)          7 signed varints
//	Spend                                                      float64 bits, 8 bytes little endian
//	CacheHit                                                   1 byte, 0 or 1
const spendBlockFormat = 1

// Indexes of a packed row's strings and integers.
const (
	pRequestID = iota
	pAPIKey
	pKeyAlias
	pTeamID
	pUserID
	pEndUser
	pModelGroup
	pModel
	pDeploymentID
	pProvider
	pCallType
	pStatus
	pMetadata
	pTags
	pStrings
)

const (
	pPrompt = iota
	pCompletion
	pTotal
	pCached
	pLatency
	pStart
	pEnd
	pInts
)

// packed reports whether the store keeps spend logs in blocks (SQLite).
func (s *Store) packed() bool { return s.d.name() == "sqlite" }

// spendIDsSQL records a batch's request ids, given as one JSON array: one statement, prepared once, for batches
// of any size. The plain form ends the transaction on an id already stored (the batch is then written again,
// carefully); the careful form skips those and returns the ids it recorded.
const (
	spendIDsPlainSQL   = "INSERT OR ROLLBACK INTO spend_log_ids (request_id) SELECT value FROM json_each(?)"
	spendIDsCarefulSQL = "INSERT INTO spend_log_ids (request_id) SELECT value FROM json_each(?) WHERE true " +
		"ON CONFLICT (request_id) DO NOTHING RETURNING request_id"
)

// validRequestID rejects request ids the ids table could not hold exactly (PostgreSQL refuses them too).
func validRequestID(id string) error {
	switch {
	case id == "":
		return errors.New("store: spend log without request_id")
	case !utf8.ValidString(id) || strings.IndexByte(id, 0) >= 0:
		return errors.New("store: spend log request_id must be UTF-8 text without NUL characters")
	}
	return nil
}

// insertSpendBlock records rows as one block and returns the request ids it recorded (insertSpendChunk's
// contract).
func (s *Store) insertSpendBlock(ctx context.Context, tx *sql.Tx, rows []*SpendLog, careful bool) (map[string]bool, error) {
	ids := make([]byte, 0, 2+len(rows)*40)
	ids = append(ids, '[')
	for i, l := range rows {
		if i > 0 {
			ids = append(ids, ',')
		}
		ids = sdk.AppendJSONString(ids, l.RequestID)
	}
	ids = append(ids, ']')
	var inserted map[string]bool
	if careful {
		res, err := s.query(ctx, tx, spendIDsCarefulSQL, string(ids))
		if err != nil {
			return nil, fmt.Errorf("store: insert spend logs: %w", err)
		}
		if inserted, err = insertedIDs(res); err != nil {
			return nil, err
		}
	} else {
		if _, err := tx.StmtContext(ctx, s.spendIDs).ExecContext(ctx, string(ids)); err != nil {
			return nil, fmt.Errorf("store: insert spend logs: %w", s.d.mapErr(err))
		}
		inserted = allIDs(rows)
	}
	if len(inserted) == 0 {
		return inserted, nil
	}
	// A request id repeated in a careful batch is recorded once, with its first row.
	var written map[string]bool
	if careful {
		written = make(map[string]bool, len(inserted))
	}
	data := make([]byte, 1, 1+len(rows)*192)
	data[0] = spendBlockFormat
	minStart, maxStart, n := int64(math.MaxInt64), int64(math.MinInt64), 0
	for _, l := range rows {
		if careful {
			if !inserted[l.RequestID] || written[l.RequestID] {
				continue
			}
			written[l.RequestID] = true
		}
		var err error
		if data, err = appendPackedRow(data, l); err != nil {
			return nil, err
		}
		start := l.StartTime.UnixMicro()
		minStart, maxStart, n = min(minStart, start), max(maxStart, start), n+1
	}
	if _, err := tx.StmtContext(ctx, s.spendBlock).ExecContext(ctx, minStart, maxStart, n, data); err != nil {
		return nil, fmt.Errorf("store: insert spend logs: %w", s.d.mapErr(err))
	}
	return inserted, nil
}

const spendBlockSQL = "INSERT INTO spend_log_blocks (min_start, max_start, rows, data) VALUES (?, ?, ?, ?)"

func appendPackedRow(b []byte, l *SpendLog) ([]byte, error) {
	metadata, tags, err := l.jsonColumns()
	if err != nil {
		return nil, err
	}
	for _, v := range [pStrings]string{l.RequestID, l.APIKey, l.KeyAlias, l.TeamID, l.UserID, l.EndUser, l.ModelGroup,
		l.Model, l.DeploymentID, l.Provider, l.CallType, l.Status, metadata, tags} {
		b = binary.AppendUvarint(b, uint64(len(v)))
		b = append(b, v...)
	}
	for _, v := range [pInts]int64{l.PromptTokens, l.CompletionTokens, l.TotalTokens, l.CachedTokens, l.LatencyMS,
		l.StartTime.UnixMicro(), l.end().UnixMicro()} {
		b = binary.AppendVarint(b, v)
	}
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(l.Spend))
	if l.CacheHit {
		return append(b, 1), nil
	}
	return append(b, 0), nil
}

// packedRow is one row of a block, its strings pointing into the block.
type packedRow struct {
	str      [pStrings][]byte
	ints     [pInts]int64
	spend    float64
	cacheHit bool
}

var errBadBlock = errors.New("store: damaged spend log block")

// decode reads the row at the start of b and returns the rest.
func (r *packedRow) decode(b []byte) ([]byte, error) {
	for i := range r.str {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, errBadBlock
		}
		r.str[i], b = b[k:k+int(n)], b[k+int(n):]
	}
	for i := range r.ints {
		v, k := binary.Varint(b)
		if k <= 0 {
			return nil, errBadBlock
		}
		r.ints[i], b = v, b[k:]
	}
	if len(b) < 9 {
		return nil, errBadBlock
	}
	r.spend = math.Float64frombits(binary.LittleEndian.Uint64(b))
	r.cacheHit = b[8] != 0
	return b[9:], nil
}

// log is the row as a SpendLog, as the spend_logs table would give it back.
func (r *packedRow) log() (SpendLog, error) {
	l := SpendLog{
		RequestID: string(r.str[pRequestID]), APIKey: string(r.str[pAPIKey]), KeyAlias: string(r.str[pKeyAlias]),
		TeamID: string(r.str[pTeamID]), UserID: string(r.str[pUserID]), EndUser: string(r.str[pEndUser]),
		ModelGroup: string(r.str[pModelGroup]), Model: string(r.str[pModel]), DeploymentID: string(r.str[pDeploymentID]),
		Provider: string(r.str[pProvider]), CallType: string(r.str[pCallType]), Status: string(r.str[pStatus]),
		PromptTokens: r.ints[pPrompt], CompletionTokens: r.ints[pCompletion], TotalTokens: r.ints[pTotal],
		CachedTokens: r.ints[pCached], LatencyMS: r.ints[pLatency], Spend: r.spend, CacheHit: r.cacheHit,
		StartTime: time.UnixMicro(r.ints[pStart]).UTC(), EndTime: time.UnixMicro(r.ints[pEnd]).UTC(),
	}
	if err := (jsonCol{&l.Metadata}).Scan(r.str[pMetadata]); err != nil {
		return l, err
	}
	return l, (jsonCol{&l.RequestTags}).Scan(r.str[pTags])
}

// spendMatch is a SpendFilter as the spend_logs queries apply it (spendWhere).
type spendMatch struct {
	f          SpendFilter
	start, end int64
}

func newSpendMatch(f SpendFilter) spendMatch {
	m := spendMatch{f: f, start: math.MinInt64, end: math.MaxInt64}
	if !f.Start.IsZero() {
		m.start = f.Start.UnixMicro()
	}
	if !f.End.IsZero() {
		m.end = f.End.UnixMicro()
	}
	return m
}

func (m *spendMatch) ok(r *packedRow) bool {
	f := &m.f
	start := r.ints[pStart]
	return start >= m.start && start < m.end &&
		(f.APIKey == "" || string(r.str[pAPIKey]) == f.APIKey) &&
		(f.UserID == "" || string(r.str[pUserID]) == f.UserID) &&
		(f.TeamID == "" || string(r.str[pTeamID]) == f.TeamID) &&
		(f.Model == "" || string(r.str[pModelGroup]) == f.Model || string(r.str[pModel]) == f.Model)
}

// eachPackedRow calls fn with every stored row that m matches, reading the blocks whose time range meets m's,
// those with the newest rows first. Before each block, stop is asked (with the block's newest start time)
// whether to read no further. raw is the row's encoding, valid until fn returns.
func (s *Store) eachPackedRow(ctx context.Context, m *spendMatch, stop func(maxStart int64) bool, fn func(r *packedRow, raw []byte)) error {
	w := &where{}
	if m.start != math.MinInt64 {
		w.add("max_start >= ?", m.start)
	}
	if m.end != math.MaxInt64 {
		w.add("min_start < ?", m.end)
	}
	rows, err := s.query(ctx, s.r, "SELECT max_start, data FROM spend_log_blocks"+w.String()+" ORDER BY max_start DESC", w.vals...)
	if err != nil {
		return fmt.Errorf("store: read spend logs: %w", err)
	}
	defer rows.Close()
	var (
		maxStart int64
		data     sql.RawBytes
		r        packedRow
	)
	for rows.Next() {
		if err := rows.Scan(&maxStart, &data); err != nil {
			return fmt.Errorf("store: read spend logs: %w", err)
		}
		if stop != nil && stop(maxStart) {
			break
		}
		if len(data) == 0 || data[0] != spendBlockFormat {
			return errBadBlock
		}
		for b := data[1:]; len(b) > 0; {
			rest, err := r.decode(b)
			if err != nil {
				return err
			}
			if m.ok(&r) {
				fn(&r, b[:len(b)-len(rest)])
			}
			b = rest
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: read spend logs: %w", err)
	}
	return nil
}

// listedRow is a row kept for SpendLogs' page: its order (start time, request id) and its encoding, decoded
// once the page is complete.
type listedRow struct {
	start int64
	id    []byte // in raw
	raw   []byte
}

// listHeap holds the best rows found so far, the one that sorts last on top.
type listHeap []listedRow

func (h listHeap) Len() int           { return len(h) }
func (h listHeap) Less(i, j int) bool { return spendOrder(h[j], h[i]) < 0 }
func (h listHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *listHeap) Push(x any)        { *h = append(*h, x.(listedRow)) }
func (h *listHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// spendOrder is SpendLogs' order: newest first, ties by request id.
func spendOrder(a, b listedRow) int {
	if c := cmp.Compare(b.start, a.start); c != 0 {
		return c
	}
	return bytes.Compare(a.id, b.id)
}

// packedSpendLogs is SpendLogs on blocks.
func (s *Store) packedSpendLogs(ctx context.Context, f SpendFilter, limit int) ([]SpendLog, error) {
	m := newSpendMatch(f)
	h := make(listHeap, 0, min(limit, 1024))
	full := func() bool { return len(h) == limit }
	err := s.eachPackedRow(ctx, &m, func(maxStart int64) bool {
		// Blocks come newest first: once the page is full, a block whose newest row is older than the page's
		// oldest holds nothing for it, nor does any block after it.
		return full() && maxStart < h[0].start
	}, func(r *packedRow, raw []byte) {
		c := listedRow{start: r.ints[pStart], id: r.str[pRequestID]}
		if full() && spendOrder(c, h[0]) >= 0 {
			return
		}
		c.raw = bytes.Clone(raw)
		c.id = c.raw[len(binary.AppendUvarint(nil, uint64(len(c.id)))):][:len(c.id)] // the request id leads the row
		if full() {
			h[0] = c
			heap.Fix(&h, 0)
		} else {
			heap.Push(&h, c)
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(h, spendOrder)
	out := make([]SpendLog, len(h))
	var r packedRow
	for i := range h {
		if _, err := r.decode(h[i].raw); err != nil {
			return nil, err
		}
		if out[i], err = r.log(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// spendSum adds spends as SQLite's SUM does, with the Kahan-Babuska-Neumaier compensation.
type spendSum struct{ sum, c float64 }

func (s *spendSum) add(v float64) {
	t := s.sum + v
	if math.Abs(s.sum) >= math.Abs(v) {
		s.c += (s.sum - t) + v
	} else {
		s.c += (v - t) + s.sum
	}
	s.sum = t
}

func (s *spendSum) value() float64 { return s.sum + s.c }

// spendAgg is one group of an aggregate being summed.
type spendAgg struct {
	day, name string
	spend     spendSum
	requests  int64
	prompt    int64
	complete  int64
	total     int64
}

func (a *spendAgg) add(r *packedRow) {
	a.spend.add(r.spend)
	a.requests++
	a.prompt += r.ints[pPrompt]
	a.complete += r.ints[pCompletion]
	a.total += r.ints[pTotal]
}

func (a *spendAgg) group() SpendGroup {
	return SpendGroup{Name: a.name, Spend: a.spend.value(), Requests: a.requests, PromptTokens: a.prompt,
		CompletionTokens: a.complete, TotalTokens: a.total}
}

// packedGlobalSpend is GlobalSpend on blocks.
func (s *Store) packedGlobalSpend(ctx context.Context, f SpendFilter) (float64, error) {
	m := newSpendMatch(f)
	var total spendSum
	err := s.eachPackedRow(ctx, &m, nil, func(r *packedRow, _ []byte) { total.add(r.spend) })
	return total.value(), err
}

// packedGroups sums the matching rows by the string col (pAPIKey, pTeamID, pModelGroup) and, with byDay, by
// their UTC day too.
func (s *Store) packedGroups(ctx context.Context, f SpendFilter, col int, byDay bool) ([]*spendAgg, error) {
	m := newSpendMatch(f)
	groups := map[string]*spendAgg{}
	var out []*spendAgg
	var day string
	dayFrom, dayTo := int64(1), int64(0) // the day's range of Unix microseconds; empty at first
	var keyBuf []byte
	err := s.eachPackedRow(ctx, &m, nil, func(r *packedRow, _ []byte) {
		name := r.str[col]
		key := name
		if byDay {
			if at := r.ints[pStart]; at < dayFrom || at >= dayTo {
				// As SQLite's strftime('%Y-%m-%d', start_time / 1000000, 'unixepoch'): whole seconds, truncated.
				t := time.Unix(at/1e6, 0).UTC()
				day = t.Format(time.DateOnly)
				d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
				dayFrom, dayTo = d.UnixMicro(), d.AddDate(0, 0, 1).UnixMicro()
				if at < 0 { // truncation toward zero makes day edges before 1970 uneven: no range kept
					dayFrom, dayTo = 1, 0
				}
			}
			keyBuf = append(append(append(keyBuf[:0], day...), 0), name...)
			key = keyBuf
		}
		g := groups[string(key)]
		if g == nil {
			g = &spendAgg{day: day, name: string(name)}
			groups[string(key)] = g
			out = append(out, g)
		}
		g.add(r)
	})
	return out, err
}

// packedSpendBy is spendBy on blocks: highest spend first, ties by name.
func (s *Store) packedSpendBy(ctx context.Context, col int, f SpendFilter) ([]SpendGroup, error) {
	groups, err := s.packedGroups(ctx, f, col, false)
	if err != nil {
		return nil, err
	}
	out := make([]SpendGroup, len(groups))
	for i, g := range groups {
		out[i] = g.group()
	}
	slices.SortFunc(out, func(a, b SpendGroup) int {
		return cmp.Or(cmp.Compare(b.Spend, a.Spend), strings.Compare(a.Name, b.Name))
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// packedSpendReport is SpendReport on blocks: by day, then name.
func (s *Store) packedSpendReport(ctx context.Context, col int, f SpendFilter) ([]ReportRow, error) {
	groups, err := s.packedGroups(ctx, f, col, true)
	if err != nil {
		return nil, err
	}
	out := make([]ReportRow, len(groups))
	for i, g := range groups {
		out[i] = ReportRow{Day: g.day, SpendGroup: g.group()}
	}
	slices.SortFunc(out, func(a, b ReportRow) int {
		return cmp.Or(strings.Compare(a.Day, b.Day), strings.Compare(a.Name, b.Name))
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, nil
}

// packLegacySpendLogs moves the rows of spend_logs, left by a version that wrote them there, into blocks, a
// thousand at a time, each in one transaction (so a stop half way leaves every row in one place or the other).
func (s *Store) packLegacySpendLogs(ctx context.Context) error {
	moved := 0
	for {
		var n int
		err := s.tx(ctx, func(tx *sql.Tx) error {
			res, err := s.query(ctx, tx, "SELECT rowid, "+spendCols+" FROM spend_logs ORDER BY rowid LIMIT 1000")
			if err != nil {
				return err
			}
			var rows []*SpendLog
			var last int64
			for res.Next() {
				l, err := scanSpendLog(rowidScanner{res, &last})
				if err != nil {
					res.Close()
					return err
				}
				rows = append(rows, &l)
			}
			err = res.Err()
			res.Close()
			if err != nil {
				return err
			}
			if n = len(rows); n == 0 {
				return nil
			}
			if _, err := s.insertSpendBlock(ctx, tx, rows, true); err != nil {
				return err
			}
			_, err = s.exec(ctx, tx, "DELETE FROM spend_logs WHERE rowid <= ?", last)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: move spend_logs rows into blocks: %w", err)
		}
		if n == 0 {
			break
		}
		moved += n
	}
	if moved > 0 {
		s.log.Info("store: spend logs moved into blocks", "rows", moved)
	}
	return nil
}

// rowidScanner scans a row whose first column is the rowid, then the columns scanSpendLog reads.
type rowidScanner struct {
	r     *sql.Rows
	rowid *int64
}

func (r rowidScanner) Scan(dest ...any) error { return r.r.Scan(append([]any{r.rowid}, dest...)...) }
