package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/switchyard/gateway/sdk"
)

const spendCols = "request_id, api_key, key_alias, team_id, user_id, end_user, model_group, model, deployment_id, " +
	"provider, call_type, prompt_tokens, completion_tokens, total_tokens, cached_tokens, spend, start_time, " +
	"end_time, latency_ms, status, cache_hit, metadata, request_tags"

func scanSpendLog(r rowScanner) (SpendLog, error) {
	var l SpendLog
	var start, end dbTime
	err := r.Scan(&l.RequestID, &l.APIKey, &l.KeyAlias, &l.TeamID, &l.UserID, &l.EndUser, &l.ModelGroup, &l.Model,
		&l.DeploymentID, &l.Provider, &l.CallType, &l.PromptTokens, &l.CompletionTokens, &l.TotalTokens,
		&l.CachedTokens, &l.Spend, &start, &end, &l.LatencyMS, &l.Status, &l.CacheHit, jsonCol{&l.Metadata},
		jsonCol{&l.RequestTags})
	l.StartTime, l.EndTime = start.val(), end.val()
	return l, err
}

// InsertSpendLogs writes a batch of ledger rows in one transaction and
// returns how many were new. A row whose request id is already stored is
// skipped, so delivering the same batch again changes nothing. Each new
// row's spend is added, in the same transaction, to its key's, team's,
// user's and customer's spend (a customer row is created on first spend).
// Keys, teams and users that do not exist are left alone; the ledger row is
// kept regardless.
func (s *Store) InsertSpendLogs(ctx context.Context, logs []SpendLog) (int, error) {
	if len(logs) == 0 {
		return 0, nil
	}
	// A fixed order of row locks keeps concurrent batches on PostgreSQL
	// from deadlocking on each other. The rows are sorted by reference: a
	// copy of a batch of 500 was 150 KB.
	sorted := make([]*SpendLog, len(logs))
	for i := range logs {
		sorted[i] = &logs[i]
	}
	slices.SortStableFunc(sorted, bySpendRequestID)
	for _, l := range sorted {
		if err := validRequestID(l.RequestID); err != nil {
			return 0, err
		}
	}
	// The batch is first inserted as it is, which is cheapest. A request id the ledger already has (a batch
	// delivered again after a crash) or one repeated in the batch makes that fail as a whole; the batch is then
	// inserted again skipping those ids (INSERT ... ON CONFLICT DO NOTHING RETURNING, which costs the database
	// about twice as much per row).
	added, err := s.insertSpendLogs(ctx, sorted, false)
	if errors.Is(err, ErrConflict) {
		added, err = s.insertSpendLogs(ctx, sorted, true)
	}
	return added, err
}

func bySpendRequestID(a, b *SpendLog) int { return strings.Compare(a.RequestID, b.RequestID) }

func (s *Store) insertSpendLogs(ctx context.Context, sorted []*SpendLog, careful bool) (int, error) {
	// PostgreSQL takes a plain batch by COPY, on the connection of the transaction, which database/sql leaves
	// to be asked for by pinning one.
	var conn *sql.Conn
	if s.d.name() == "postgres" && !careful {
		c, err := s.w.Conn(ctx)
		if err != nil {
			return 0, s.d.mapErr(err)
		}
		defer c.Close()
		conn = c
	}
	var added int
	err := s.txOn(ctx, conn, func(tx *sql.Tx) error {
		added = 0
		keys, teams, users, customers := map[string]float64{}, map[string]float64{}, map[string]float64{}, map[string]float64{}
		// Each backend takes the whole batch at once: SQLite as one block (insertSpendBlock), PostgreSQL by COPY
		// or, carefully, as one statement of arrays.
		insert := s.insertSpendBlock
		switch {
		case conn != nil:
			insert = func(ctx context.Context, _ *sql.Tx, rows []*SpendLog, _ bool) (map[string]bool, error) {
				return s.copySpendLogs(ctx, conn, rows)
			}
		case s.d.name() == "postgres":
			insert = s.insertSpendArrays
		}
		inserted, err := insert(ctx, tx, sorted, careful)
		if err != nil {
			return err
		}
		for _, l := range sorted {
			if !inserted[l.RequestID] {
				continue // already in the ledger (delivered before), or a duplicate within the batch
			}
			delete(inserted, l.RequestID)
			added++
			if l.Spend == 0 {
				continue
			}
			addTo(keys, l.APIKey, l.Spend)
			addTo(teams, l.TeamID, l.Spend)
			addTo(users, l.UserID, l.Spend)
			addTo(customers, l.EndUser, l.Spend)
		}
		for _, t := range []struct {
			table, col string
			m          map[string]float64
		}{{"keys", "token", keys}, {"teams", "team_id", teams}, {"users", "user_id", users}} {
			for _, id := range sortedKeys(t.m) {
				if _, err := s.exec(ctx, tx, "UPDATE "+t.table+" SET spend = spend + ? WHERE "+t.col+" = ?", t.m[id], id); err != nil {
					return fmt.Errorf("store: add spend to %s: %w", t.table, err)
				}
			}
		}
		now := s.d.timeArg(s.now())
		for _, id := range sortedKeys(customers) {
			if _, err := s.exec(ctx, tx, "INSERT INTO customers (user_id, spend, metadata, created_at, updated_at) VALUES (?, ?, '{}', ?, ?) "+
				"ON CONFLICT (user_id) DO UPDATE SET spend = customers.spend + excluded.spend",
				id, customers[id], now, now); err != nil {
				return fmt.Errorf("store: add spend to customers: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// end is the row's end time, its start when it has none.
func (l *SpendLog) end() time.Time {
	if l.EndTime.IsZero() {
		return l.StartTime
	}
	return l.EndTime
}

// jsonColumns are the row's metadata and request tags as the JSON text the table holds. Most rows carry neither,
// and tags are plain strings: those are written here; metadata that is there goes through encoding/json.
func (l *SpendLog) jsonColumns() (metadata, tags string, err error) {
	metadata, tags = "{}", "[]"
	if len(l.Metadata) > 0 {
		m, err := jsonArg(l.Metadata, "{}")
		if err != nil {
			return "", "", err
		}
		metadata = m.(string)
	}
	if len(l.RequestTags) > 0 {
		b := make([]byte, 0, 2+len(l.RequestTags)*16)
		for i, t := range l.RequestTags {
			if i == 0 {
				b = append(b, '[')
			} else {
				b = append(b, ',')
			}
			b = sdk.AppendJSONString(b, t)
		}
		tags = string(append(b, ']'))
	}
	return metadata, tags, nil
}

// spendArraysSQL inserts spend logs given as one array per column (PostgreSQL); spendArraysOnConflict, added,
// skips request ids the ledger already has and returns the ids it inserted. JSON columns travel as text and are
// cast here.
const spendArraysSQL = "INSERT INTO spend_logs (" + spendCols + ") SELECT c1, c2, c3, c4, c5, c6, c7, c8, c9, " +
	"c10, c11, c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22::jsonb, c23::jsonb FROM unnest(" +
	"?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], " +
	"?::text[], ?::bigint[], ?::bigint[], ?::bigint[], ?::bigint[], ?::float8[], ?::timestamptz[], ?::timestamptz[], " +
	"?::bigint[], ?::text[], ?::bool[], ?::text[], ?::text[]) AS u(c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, " +
	"c12, c13, c14, c15, c16, c17, c18, c19, c20, c21, c22, c23)"

const spendOnConflict = " ON CONFLICT (request_id) DO NOTHING RETURNING request_id"

// insertSpendArrays inserts a batch on PostgreSQL in one statement, with 23 array parameters rather than 23 per
// row. The server then parses, plans and binds one small statement per batch: with a parameter list per row,
// that was about half its CPU per row recorded.
func (s *Store) insertSpendArrays(ctx context.Context, tx *sql.Tx, rows []*SpendLog, careful bool) (map[string]bool, error) {
	n := len(rows)
	var (
		text           = make([][]string, 11)
		ints           = make([][]int64, 5)
		spend          = make([]float64, n)
		start, end     = make([]time.Time, n), make([]time.Time, n)
		status         = make([]string, n)
		hit            = make([]bool, n)
		metadata, tags = make([]string, n), make([]string, n)
	)
	for i := range text {
		text[i] = make([]string, n)
	}
	for i := range ints {
		ints[i] = make([]int64, n)
	}
	for i, l := range rows {
		for c, v := range [...]string{l.RequestID, l.APIKey, l.KeyAlias, l.TeamID, l.UserID, l.EndUser, l.ModelGroup,
			l.Model, l.DeploymentID, l.Provider, l.CallType} {
			text[c][i] = v
		}
		for c, v := range [...]int64{l.PromptTokens, l.CompletionTokens, l.TotalTokens, l.CachedTokens, l.LatencyMS} {
			ints[c][i] = v
		}
		spend[i], status[i], hit[i] = l.Spend, l.Status, l.CacheHit
		start[i], end[i] = l.StartTime.UTC().Truncate(time.Microsecond), l.end().UTC().Truncate(time.Microsecond)
		var err error
		if metadata[i], tags[i], err = l.jsonColumns(); err != nil {
			return nil, err
		}
	}
	args := []any{text[0], text[1], text[2], text[3], text[4], text[5], text[6], text[7], text[8], text[9], text[10],
		ints[0], ints[1], ints[2], ints[3], spend, start, end, ints[4], status, hit, metadata, tags}
	if !careful {
		if _, err := s.exec(ctx, tx, spendArraysSQL, args...); err != nil {
			return nil, fmt.Errorf("store: insert spend logs: %w", err)
		}
		return allIDs(rows), nil
	}
	res, err := s.query(ctx, tx, spendArraysSQL+spendOnConflict, args...)
	if err != nil {
		return nil, fmt.Errorf("store: insert spend logs: %w", err)
	}
	return insertedIDs(res)
}

// copySpendLogs inserts rows with COPY (PostgreSQL), on conn, inside the transaction open on it. A request id
// already stored fails it as a whole, as a plain INSERT would (ErrConflict).
func (s *Store) copySpendLogs(ctx context.Context, conn *sql.Conn, rows []*SpendLog) (map[string]bool, error) {
	data, err := spendCopyData(rows)
	if err != nil {
		return nil, err
	}
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("store: copy spend logs: a %T is not a pgx connection", dc)
		}
		_, err := c.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data), spendCopySQL)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: insert spend logs: %w", s.d.mapErr(err))
	}
	return allIDs(rows), nil
}

const spendCopySQL = "COPY spend_logs (" + spendCols + ") FROM STDIN (FORMAT binary)"

// spendCopyData encodes rows in COPY's binary format, for the column types of spend_logs on PostgreSQL (text,
// bigint, double precision, timestamptz, boolean, jsonb), in spendCols' order. pgx's CopyFrom, used before,
// looked up an encoding plan for each of a row's 23 values and asked the server for the table's column types
// first; the types here are the schema's. TestSpendCopyDataMatchesPgx holds each value's bytes to pgx's.
func spendCopyData(rows []*SpendLog) ([]byte, error) {
	b := make([]byte, 0, 19+len(rows)*512)
	b = append(b, "PGCOPY\n\xff\r\n\x00"...)
	b = binary.BigEndian.AppendUint32(b, 0) // flags
	b = binary.BigEndian.AppendUint32(b, 0) // header extension
	for _, l := range rows {
		m, g, err := l.jsonColumns()
		if err != nil {
			return nil, err
		}
		b = binary.BigEndian.AppendUint16(b, 23)
		for _, v := range [...]string{l.RequestID, l.APIKey, l.KeyAlias, l.TeamID, l.UserID, l.EndUser, l.ModelGroup,
			l.Model, l.DeploymentID, l.Provider, l.CallType} {
			b = copyText(b, v)
		}
		for _, v := range [...]int64{l.PromptTokens, l.CompletionTokens, l.TotalTokens, l.CachedTokens} {
			b = copyInt8(b, v)
		}
		b = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(b, 8), math.Float64bits(l.Spend))
		b = copyTime(copyTime(b, l.StartTime), l.end())
		b = copyInt8(b, l.LatencyMS)
		b = copyText(b, l.Status)
		b = binary.BigEndian.AppendUint32(b, 1)
		if l.CacheHit {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
		b = copyJSONB(copyJSONB(b, m), g)
	}
	return binary.BigEndian.AppendUint16(b, 0xffff), nil // the end: a field count of -1
}

func copyText(b []byte, s string) []byte {
	return append(binary.BigEndian.AppendUint32(b, uint32(len(s))), s...)
}

func copyInt8(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(b, 8), uint64(v))
}

// copyTime encodes a timestamptz: microseconds since 2000-01-01 UTC (truncated, as timeArg does).
func copyTime(b []byte, t time.Time) []byte {
	const pgEpoch = 946684800 * 1000000 // 2000-01-01 in microseconds since 1970
	us := t.Unix()*1000000 + int64(t.Nanosecond())/1000 - pgEpoch
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(b, 8), uint64(us))
}

// copyJSONB encodes a jsonb: its version (1) and the JSON text.
func copyJSONB(b []byte, s string) []byte {
	return append(append(binary.BigEndian.AppendUint32(b, uint32(1+len(s))), 1), s...)
}

// insertedIDs reads the request ids an INSERT ... RETURNING request_id inserted, and closes res.
func insertedIDs(res *sql.Rows) (map[string]bool, error) {
	defer res.Close()
	inserted := make(map[string]bool)
	for res.Next() {
		var id string
		if err := res.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: insert spend logs: %w", err)
		}
		inserted[id] = true
	}
	if err := res.Err(); err != nil {
		return nil, fmt.Errorf("store: insert spend logs: %w", err)
	}
	return inserted, nil
}

// allIDs is the set of the rows' request ids.
func allIDs(rows []*SpendLog) map[string]bool {
	ids := make(map[string]bool, len(rows))
	for _, l := range rows {
		ids[l.RequestID] = true
	}
	return ids
}

func addTo(m map[string]float64, id string, v float64) {
	if id != "" {
		m[id] += v
	}
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *Store) spendWhere(f SpendFilter) *where {
	w := &where{}
	if !f.Start.IsZero() {
		w.add("start_time >= ?", s.d.timeArg(f.Start))
	}
	if !f.End.IsZero() {
		w.add("start_time < ?", s.d.timeArg(f.End))
	}
	if f.APIKey != "" {
		w.add("api_key = ?", f.APIKey)
	}
	if f.UserID != "" {
		w.add("user_id = ? AND user_id <> ''", f.UserID) // the second term lets the partial index serve it
	}
	if f.TeamID != "" {
		w.add("team_id = ? AND team_id <> ''", f.TeamID) // the second term lets the partial index serve it
	}
	if f.Model != "" {
		w.add("(model_group = ? OR model = ?)", f.Model, f.Model)
	}
	return w
}

// SpendLogs returns the ledger rows matching f, newest first (ties by request id).
func (s *Store) SpendLogs(ctx context.Context, f SpendFilter) ([]SpendLog, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	if s.packed() {
		return s.packedSpendLogs(ctx, f, limit)
	}
	w := s.spendWhere(f)
	return list(ctx, s, scanSpendLog, "SELECT "+spendCols+" FROM spend_logs"+w.String()+
		" ORDER BY start_time DESC, request_id LIMIT ?", append(w.vals, limit)...)
}

// GlobalSpend returns the total spend of the rows matching f.
func (s *Store) GlobalSpend(ctx context.Context, f SpendFilter) (float64, error) {
	if s.packed() {
		return s.packedGlobalSpend(ctx, f)
	}
	w := s.spendWhere(f)
	var total sql.Null[float64]
	err := s.queryRow(ctx, s.r, "SELECT SUM(spend) FROM spend_logs"+w.String(), w.vals...).Scan(&total)
	return total.V, err
}

// packedCol is the packed row's string for each column spend is grouped by.
var packedCol = map[string]int{"api_key": pAPIKey, "team_id": pTeamID, "model_group": pModelGroup}

const groupAggs = "SUM(spend), COUNT(*), SUM(prompt_tokens), SUM(completion_tokens), SUM(total_tokens)"

func (s *Store) spendBy(ctx context.Context, col string, f SpendFilter) ([]SpendGroup, error) {
	if s.packed() {
		return s.packedSpendBy(ctx, packedCol[col], f)
	}
	w := s.spendWhere(f)
	q := "SELECT " + col + ", " + groupAggs + " FROM spend_logs" + w.String() + " GROUP BY " + col +
		" ORDER BY SUM(spend) DESC, " + col
	vals := w.vals
	if f.Limit > 0 {
		q += " LIMIT ?"
		vals = append(vals, f.Limit)
	}
	return list(ctx, s, func(r rowScanner) (SpendGroup, error) {
		var g SpendGroup
		err := r.Scan(&g.Name, &g.Spend, &g.Requests, &g.PromptTokens, &g.CompletionTokens, &g.TotalTokens)
		return g, err
	}, q, vals...)
}

// SpendByKey returns spend per api key (hash), highest first.
func (s *Store) SpendByKey(ctx context.Context, f SpendFilter) ([]SpendGroup, error) {
	return s.spendBy(ctx, "api_key", f)
}

// SpendByTeam returns spend per team, highest first ("" groups rows without a team).
func (s *Store) SpendByTeam(ctx context.Context, f SpendFilter) ([]SpendGroup, error) {
	return s.spendBy(ctx, "team_id", f)
}

// SpendByModel returns spend per model group, highest first.
func (s *Store) SpendByModel(ctx context.Context, f SpendFilter) ([]SpendGroup, error) {
	return s.spendBy(ctx, "model_group", f)
}

// SpendReport returns spend per UTC day and team or key, ordered by day then group.
func (s *Store) SpendReport(ctx context.Context, f SpendFilter, by ReportGroup) ([]ReportRow, error) {
	var col string
	switch by {
	case ByTeam:
		col = "team_id"
	case ByKey:
		col = "api_key"
	default:
		return nil, fmt.Errorf("store: unknown report grouping %q (want %q or %q)", by, ByTeam, ByKey)
	}
	if s.packed() {
		return s.packedSpendReport(ctx, packedCol[col], f)
	}
	w := s.spendWhere(f)
	day := s.d.dayExpr("start_time")
	q := "SELECT " + day + ", " + col + ", " + groupAggs + " FROM spend_logs" + w.String() +
		" GROUP BY " + day + ", " + col + " ORDER BY 1, 2"
	vals := w.vals
	if f.Limit > 0 {
		q += " LIMIT ?"
		vals = append(vals, f.Limit)
	}
	return list(ctx, s, func(r rowScanner) (ReportRow, error) {
		var row ReportRow
		err := r.Scan(&row.Day, &row.Name, &row.Spend, &row.Requests, &row.PromptTokens, &row.CompletionTokens, &row.TotalTokens)
		return row, err
	}, q, vals...)
}

// ResetBudgets zeroes the spend of every key, team, user and customer whose
// budget_reset_at is at or before now and schedules its next reset from
// budget_duration (counted from now, so missed periods do not pile up).
// Customers linked to a due budget (budgets table) are reset with it. It
// runs in one transaction.
func (s *Store) ResetBudgets(ctx context.Context, now time.Time) (ResetResult, error) {
	var res ResetResult
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res = ResetResult{}
		for _, t := range []struct {
			table, col string
			n          *int64
		}{{"keys", "token", &res.Keys}, {"teams", "team_id", &res.Teams}, {"users", "user_id", &res.Users},
			{"customers", "user_id", &res.Customers}, {"budgets", "budget_id", &res.Budgets}} {
			due, err := s.dueResets(ctx, tx, t.table, t.col, now)
			if err != nil {
				return err
			}
			for _, d := range due {
				next, err := RollReset(d.duration, d.resetAt.val(), now)
				if err != nil {
					s.log.Warn("store: invalid budget_duration; budget not reset", "table", t.table, "duration", d.duration)
					continue
				}
				upd := "UPDATE " + t.table + " SET spend = 0, budget_reset_at = ?, updated_at = ? WHERE " + t.col + " = ?"
				if t.table == "budgets" {
					upd = "UPDATE budgets SET budget_reset_at = ?, updated_at = ? WHERE budget_id = ?"
				}
				if _, err := s.exec(ctx, tx, upd, optTime(s.d, &next), s.d.timeArg(now), d.id); err != nil {
					return fmt.Errorf("store: reset %s: %w", t.table, err)
				}
				if t.table == "budgets" {
					if _, err := s.exec(ctx, tx, "UPDATE customers SET spend = 0, updated_at = ? WHERE budget_id = ?", s.d.timeArg(now), d.id); err != nil {
						return fmt.Errorf("store: reset customers of budget: %w", err)
					}
				}
				*t.n++
			}
		}
		return nil
	})
	return res, err
}

type dueReset struct {
	id, duration string
	resetAt      dbTime
}

func (s *Store) dueResets(ctx context.Context, tx *sql.Tx, table, col string, now time.Time) ([]dueReset, error) {
	rows, err := s.query(ctx, tx, "SELECT "+col+", budget_duration, budget_reset_at FROM "+table+
		" WHERE budget_reset_at IS NOT NULL AND budget_reset_at <= ? AND budget_duration IS NOT NULL ORDER BY "+col,
		s.d.timeArg(now))
	if err != nil {
		return nil, fmt.Errorf("store: find due budgets in %s: %w", table, err)
	}
	defer rows.Close()
	var out []dueReset
	for rows.Next() {
		var d dueReset
		if err := rows.Scan(&d.id, &d.duration, &d.resetAt); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}
