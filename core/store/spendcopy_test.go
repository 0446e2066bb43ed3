package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// trickySpendLogs are rows with the values an encoder gets wrong first: separators and escapes of text formats,
// non-ASCII text, negative and extreme numbers, times before PostgreSQL's epoch (2000) and with nanoseconds.
func trickySpendLogs() []SpendLog {
	return []SpendLog{
		{RequestID: "r-plain", APIKey: "k", Model: "m", Status: "success", Spend: 0.00032, PromptTokens: 20,
			CompletionTokens: 150, TotalTokens: 170, LatencyMS: 12, StartTime: t0, EndTime: t0.Add(time.Millisecond),
			Metadata: map[string]any{"user_api_key_alias": ""}},
		{RequestID: "r-text", APIKey: "tab\there", KeyAlias: "new\nline\r\n", TeamID: `back\slash \N`, UserID: "日本語 🚀",
			EndUser: `"quoted" 'single'`, ModelGroup: "", Model: "a,b;c|d", DeploymentID: "\\.", Provider: "\x7f\x01",
			CallType: strings.Repeat("x", 300), Status: "failure", CacheHit: true, StartTime: t0.Add(-30 * 365 * 24 * time.Hour),
			Metadata:    map[string]any{"k\t": "v\\n\"", "n": 1.5, "nested": map[string]any{"a": []any{"x", true, nil}}},
			RequestTags: []string{"t\n1", `t\2`}},
		{RequestID: "r-numbers", PromptTokens: -1, CompletionTokens: math.MaxInt64, TotalTokens: math.MinInt64 + 1,
			CachedTokens: 1 << 40, Spend: 1e300, LatencyMS: math.MaxInt64, StartTime: time.Date(2999, 12, 31, 23, 59, 59, 999999999, time.UTC),
			EndTime: time.Date(1970, 1, 1, 0, 0, 0, 1000, time.FixedZone("x", -7*3600))},
		{RequestID: "r-small", Spend: -2.5e-300, StartTime: time.Date(1999, 12, 31, 23, 59, 59, 999999000, time.UTC)},
	}
}

// TestSpendCopyDataMatchesPgx reads back the COPY data spendCopyData writes, field by field, and holds each field
// to the bytes pgx's own binary encoding gives the value (pgx's CopyFrom wrote these rows before).
func TestSpendCopyDataMatchesPgx(t *testing.T) {
	t.Parallel()
	rows := trickySpendLogs()
	ptrs := make([]*SpendLog, len(rows))
	for i := range rows {
		ptrs[i] = &rows[i]
	}
	data, err := spendCopyData(ptrs)
	if err != nil {
		t.Fatal(err)
	}
	header := "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"
	if !strings.HasPrefix(string(data), header) {
		t.Fatalf("header %q", data[:min(len(data), 19)])
	}
	d := postgres{}
	oids := []uint32{pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID,
		pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.TextOID, pgtype.Int8OID, pgtype.Int8OID,
		pgtype.Int8OID, pgtype.Int8OID, pgtype.Float8OID, pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.Int8OID,
		pgtype.TextOID, pgtype.BoolOID, pgtype.JSONBOID, pgtype.JSONBOID}
	m := pgtype.NewMap()
	rest := data[len(header):]
	for _, l := range rows {
		meta, tags, err := l.jsonColumns()
		if err != nil {
			t.Fatal(err)
		}
		values := []any{l.RequestID, l.APIKey, l.KeyAlias, l.TeamID, l.UserID, l.EndUser, l.ModelGroup, l.Model,
			l.DeploymentID, l.Provider, l.CallType, l.PromptTokens, l.CompletionTokens, l.TotalTokens, l.CachedTokens,
			l.Spend, d.timeArg(l.StartTime), d.timeArg(l.end()), l.LatencyMS, l.Status, l.CacheHit, []byte(meta), []byte(tags)}
		if n := binary.BigEndian.Uint16(rest); int(n) != len(values) {
			t.Fatalf("%s: %d fields, want %d", l.RequestID, n, len(values))
		}
		rest = rest[2:]
		for i, v := range values {
			n := int(int32(binary.BigEndian.Uint32(rest)))
			if n < 0 || 4+n > len(rest) {
				t.Fatalf("%s field %d: length %d", l.RequestID, i, n)
			}
			got := rest[4 : 4+n]
			rest = rest[4+n:]
			want, err := m.Encode(oids[i], pgtype.BinaryFormatCode, v, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s field %d (%v): % x, pgx % x", l.RequestID, i, v, got, want)
			}
		}
	}
	if string(rest) != "\xff\xff" {
		t.Errorf("trailer %q", rest)
	}
}

// TestSpendLogsRoundTrip stores the tricky rows and reads them back unchanged (times to the microsecond), in
// SQLite and in PostgreSQL, where a plain batch goes by COPY.
func TestSpendLogsRoundTrip(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		rows := trickySpendLogs()
		if n, err := s.InsertSpendLogs(ctx, rows); err != nil || n != len(rows) {
			t.Fatalf("insert = %d, %v", n, err)
		}
		got, err := s.SpendLogs(ctx, SpendFilter{Start: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
			End: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), Limit: 100})
		if err != nil || len(got) != len(rows) {
			t.Fatalf("SpendLogs = %d rows, %v", len(got), err)
		}
		byID := map[string]SpendLog{}
		for _, l := range got {
			byID[l.RequestID] = l
		}
		for _, want := range rows {
			want.StartTime, want.EndTime = want.StartTime.Truncate(time.Microsecond).UTC(), want.end().Truncate(time.Microsecond).UTC()
			if want.Metadata == nil {
				want.Metadata = map[string]any{}
			}
			if want.RequestTags == nil {
				want.RequestTags = []string{}
			}
			g := byID[want.RequestID]
			g.StartTime, g.EndTime = g.StartTime.UTC(), g.EndTime.UTC()
			if !reflect.DeepEqual(g, want) {
				t.Errorf("%s:\n got %+v\nwant %+v", want.RequestID, g, want)
			}
		}
	})
}

// TestSpendJSONColumns holds the JSON text of a row's metadata and tags, written without encoding/json for
// the usual rows, to what encoding/json writes (as jsonArg does for the other tables), empty and absent alike.
func TestSpendJSONColumns(t *testing.T) {
	rows := append(trickySpendLogs(),
		SpendLog{RequestID: "empty", Metadata: map[string]any{}, RequestTags: []string{}},
		SpendLog{RequestID: "one-tag", RequestTags: []string{"prod"}},
		SpendLog{RequestID: "tag-escapes", RequestTags: []string{"<a&b>", "\u2028\u2029", "\xff bad utf-8", "\b\f\x00\x1f", ""}})
	for _, l := range rows {
		meta, tags, err := l.jsonColumns()
		if err != nil {
			t.Fatal(err)
		}
		wantMeta, err := jsonArg(l.Metadata, "{}")
		if err != nil {
			t.Fatal(err)
		}
		wantTags, err := jsonArg(l.RequestTags, "[]")
		if err != nil {
			t.Fatal(err)
		}
		if meta != wantMeta || tags != wantTags {
			t.Errorf("%s: metadata %s, tags %s; encoding/json: %s, %s", l.RequestID, meta, tags, wantMeta, wantTags)
		}
	}
}
