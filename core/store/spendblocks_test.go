package store

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// SQLite's blocks answer every spend query as PostgreSQL's spend_logs table does: the same random ledger,
// delivered in random batches (some twice, some overlapping), is written to both and every query is asked of
// both under many filters.
func TestPackedSpendMatchesPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lite := openT(t, "sqlite://"+filepath.Join(t.TempDir(), "state.db"))
	pg := openT(t, freshPostgres(t))
	rng := rand.New(rand.NewPCG(7, 9))
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	base := time.Date(2025, 3, 30, 22, 0, 0, 0, time.UTC)
	var all []SpendLog
	for i := range 1500 {
		all = append(all, SpendLog{
			RequestID: fmt.Sprintf("req-%05d-%s", rng.IntN(100000), pick("a", "b", "é", "日本")),
			APIKey:    pick("k1", "k2", "k3", "k4"), KeyAlias: pick("", "alias"), TeamID: pick("", "", "t1", "t2"),
			UserID: pick("", "u1", "u2"), EndUser: pick("", "c1"), ModelGroup: pick("gpt", "claude", "llama"),
			Model: pick("gpt-v1", "claude-3", "gpt"), DeploymentID: "d", Provider: "openai", CallType: "acompletion",
			PromptTokens: int64(rng.IntN(1000)), CompletionTokens: int64(rng.IntN(500)), TotalTokens: int64(rng.IntN(1500)),
			CachedTokens: int64(rng.IntN(10)), Spend: float64(rng.IntN(100000)) / 1e7,
			// Many rows share a start time, so that ties are ordered by request id.
			StartTime: base.Add(time.Duration(rng.IntN(72*60)) * time.Minute).Add(time.Duration(i%3) * time.Microsecond),
			LatencyMS: int64(rng.IntN(900)), Status: pick("success", "failure"), CacheHit: rng.IntN(4) == 0,
			Metadata: map[string]any{"i": float64(i)}, RequestTags: []string{pick("x", "y")},
		})
		all[i].EndTime = all[i].StartTime.Add(time.Second)
	}
	added := map[string]int{}
	for from := 0; from < len(all); {
		n := 1 + rng.IntN(90)
		batch := all[from:min(from+n, len(all))]
		if rng.IntN(5) == 0 && from > 50 {
			batch = all[from-40 : min(from+n, len(all))] // overlaps rows already delivered
		}
		for name, s := range map[string]*Store{"sqlite": lite, "postgres": pg} {
			k, err := s.InsertSpendLogs(ctx, batch)
			if err != nil {
				t.Fatalf("%s: insert: %v", name, err)
			}
			added[name] += k
		}
		if added["sqlite"] != added["postgres"] {
			t.Fatalf("rows added: %v", added)
		}
		from += n
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	sameGroups := func(a, b []SpendGroup) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			x, y := a[i], b[i]
			if x.Name != y.Name || !near(x.Spend, y.Spend) || x.Requests != y.Requests || x.PromptTokens != y.PromptTokens ||
				x.CompletionTokens != y.CompletionTokens || x.TotalTokens != y.TotalTokens {
				return false
			}
		}
		return true
	}
	filters := []SpendFilter{{}, {Limit: 7}, {Limit: 1}, {Start: base.Add(24 * time.Hour)}, {End: base.Add(90 * time.Minute)},
		{Start: base.Add(time.Hour), End: base.Add(26 * time.Hour), Limit: 50}, {APIKey: "k2"}, {UserID: "u1"},
		{TeamID: "t2", Limit: 3}, {Model: "gpt"}, {Model: "claude-3", UserID: "u2"}, {APIKey: "nobody"},
		{Start: base.Add(100 * time.Hour)}, {Start: all[5].StartTime, End: all[5].StartTime.Add(time.Microsecond)},
		{End: all[5].StartTime}, {Start: all[9].StartTime, End: all[70].StartTime}}
	for _, f := range filters {
		a, errA := lite.SpendLogs(ctx, f)
		b, errB := pg.SpendLogs(ctx, f)
		if errA != nil || errB != nil {
			t.Fatalf("SpendLogs(%+v): %v, %v", f, errA, errB)
		}
		if len(a) != len(b) {
			t.Fatalf("SpendLogs(%+v): %d rows from SQLite, %d from PostgreSQL", f, len(a), len(b))
		}
		for i := range a {
			if !reflect.DeepEqual(a[i], b[i]) {
				t.Fatalf("SpendLogs(%+v) row %d:\n sqlite   %+v\n postgres %+v", f, i, a[i], b[i])
			}
		}
		ta, errA := lite.GlobalSpend(ctx, f)
		tb, errB := pg.GlobalSpend(ctx, f)
		if errA != nil || errB != nil || !near(ta, tb) {
			t.Fatalf("GlobalSpend(%+v) = %v, %v; PostgreSQL %v, %v", f, ta, errA, tb, errB)
		}
		for name, by := range map[string]func(*Store) ([]SpendGroup, error){
			"key":   func(s *Store) ([]SpendGroup, error) { return s.SpendByKey(ctx, f) },
			"team":  func(s *Store) ([]SpendGroup, error) { return s.SpendByTeam(ctx, f) },
			"model": func(s *Store) ([]SpendGroup, error) { return s.SpendByModel(ctx, f) },
		} {
			ga, errA := by(lite)
			gb, errB := by(pg)
			if errA != nil || errB != nil || !sameGroups(ga, gb) {
				t.Fatalf("SpendBy %s (%+v):\n sqlite   %+v, %v\n postgres %+v, %v", name, f, ga, errA, gb, errB)
			}
		}
		for _, by := range []ReportGroup{ByTeam, ByKey} {
			ra, errA := lite.SpendReport(ctx, f, by)
			rb, errB := pg.SpendReport(ctx, f, by)
			same := errA == nil && errB == nil && len(ra) == len(rb)
			for i := 0; same && i < len(ra); i++ {
				same = ra[i].Day == rb[i].Day && sameGroups([]SpendGroup{ra[i].SpendGroup}, []SpendGroup{rb[i].SpendGroup})
			}
			if !same {
				t.Fatalf("SpendReport %s (%+v):\n sqlite   %+v, %v\n postgres %+v, %v", by, f, ra, errA, rb, errB)
			}
		}
	}
	for _, id := range []string{"k1", "k2"} {
		a, _ := lite.GetKeyByToken(ctx, id)
		b, _ := pg.GetKeyByToken(ctx, id)
		if !near(a.Spend, b.Spend) {
			t.Fatalf("key %s spend: %v against %v", id, a.Spend, b.Spend)
		}
	}
}

// Rows that an earlier version left in SQLite's spend_logs table are moved into blocks at Open: the queries see
// them, and delivering them again adds nothing.
func TestLegacySpendLogsMovedIntoBlocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := "sqlite://" + filepath.Join(t.TempDir(), "state.db")
	s := openT(t, url)
	var legacy []SpendLog
	for i := range 2345 {
		legacy = append(legacy, spendRow(fmt.Sprintf("old-%04d", i), 0.5, t0.Add(time.Duration(i)*time.Second)))
	}
	// As the table's insert of an earlier version wrote them.
	for _, l := range legacy {
		m, g, err := l.jsonColumns()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.exec(ctx, s.w, "INSERT INTO spend_logs ("+spendCols+") VALUES ("+placeholders(23)+")",
			l.RequestID, l.APIKey, l.KeyAlias, l.TeamID, l.UserID, l.EndUser, l.ModelGroup, l.Model, l.DeploymentID,
			l.Provider, l.CallType, l.PromptTokens, l.CompletionTokens, l.TotalTokens, l.CachedTokens, l.Spend,
			l.StartTime.UnixMicro(), l.end().UnixMicro(), l.LatencyMS, l.Status, l.CacheHit, m, g); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.InsertSpendLogs(ctx, []SpendLog{spendRow("new-1", 1, t0)}); err != nil || n != 1 {
		t.Fatalf("insert = %d, %v", n, err)
	}
	s.Close()

	s = openT(t, url)
	if n, err := s.count(ctx, "SELECT COUNT(*) FROM spend_logs"); err != nil || n != 0 {
		t.Fatalf("spend_logs after Open: %d rows, %v", n, err)
	}
	if n, err := spendCount(ctx, s); err != nil || n != len(legacy)+1 {
		t.Fatalf("%d rows in blocks, %v; want %d", n, err, len(legacy)+1)
	}
	if total, err := s.GlobalSpend(ctx, SpendFilter{}); err != nil || total != 0.5*float64(len(legacy))+1 {
		t.Fatalf("GlobalSpend = %v, %v", total, err)
	}
	logs, err := s.SpendLogs(ctx, SpendFilter{Limit: 2})
	want := legacy[len(legacy)-1]
	want.StartTime, want.EndTime = want.StartTime.UTC(), want.EndTime.UTC()
	if err != nil || len(logs) != 2 || !reflect.DeepEqual(logs[0], want) {
		t.Fatalf("newest = %+v, %v\nwant %+v", logs, err, want)
	}
	if n, err := s.InsertSpendLogs(ctx, legacy[100:300]); err != nil || n != 0 {
		t.Fatalf("moved rows delivered again: %d new, %v", n, err)
	}
}

// A damaged block is an error for the queries, not a crash or a wrong answer.
func TestDamagedSpendBlock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openT(t, "sqlite://"+filepath.Join(t.TempDir(), "state.db"))
	if _, err := s.InsertSpendLogs(ctx, []SpendLog{spendRow("a", 1, t0), spendRow("b", 1, t0)}); err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{"substr(data, 1, length(data) - 3)", "x'01ff'", "x'02'"} {
		if _, err := s.exec(ctx, s.w, "UPDATE spend_log_blocks SET data = "+data); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SpendLogs(ctx, SpendFilter{}); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Fatalf("%s: SpendLogs err = %v", data, err)
		}
		if _, err := s.SpendByKey(ctx, SpendFilter{}); err == nil {
			t.Fatalf("%s: SpendByKey accepted a damaged block", data)
		}
	}
}

// Request ids that are not UTF-8 text, or hold a NUL, are refused by both backends alike.
func TestSpendRequestIDsMustBeText(t *testing.T) {
	t.Parallel()
	each(t, func(t *testing.T, s *Store) {
		ctx := context.Background()
		for _, id := range []string{"bad\xff", "nul\x00"} {
			if _, err := s.InsertSpendLogs(ctx, []SpendLog{spendRow(id, 1, t0)}); err == nil {
				t.Fatalf("request id %q accepted", id)
			}
		}
		odd := "q\"\\\n\t<>&\u2028 日本"
		if n, err := s.InsertSpendLogs(ctx, []SpendLog{spendRow(odd, 1, t0), spendRow(odd, 1, t0)}); err != nil || n != 1 {
			t.Fatalf("escaped id = %d, %v", n, err)
		}
		if n, err := s.InsertSpendLogs(ctx, []SpendLog{spendRow(odd, 1, t0)}); err != nil || n != 0 {
			t.Fatalf("escaped id again = %d, %v", n, err)
		}
		if logs, err := s.SpendLogs(ctx, SpendFilter{}); err != nil || len(logs) != 1 || logs[0].RequestID != odd {
			t.Fatalf("logs = %+v, %v", logs, err)
		}
	})
}
