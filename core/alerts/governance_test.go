package alerts

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/governance"
	"github.com/switchyard/gateway/core/ledger"
	"github.com/switchyard/gateway/core/store"
)

const rawKey = "sk-virtual-RawKey0123456789"

var keyHash = store.HashKey(rawKey)

// fakeBudgets is a budget source whose statuses the test sets.
type fakeBudgets struct {
	mu    sync.Mutex
	sts   []governance.BudgetStatus
	calls atomic.Int64
}

func (f *fakeBudgets) set(sts ...governance.BudgetStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sts = sts
}

func (f *fakeBudgets) Budgets(context.Context) []governance.BudgetStatus {
	f.calls.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]governance.BudgetStatus(nil), f.sts...)
}

func usdp(v float64) *float64 { return &v }

// newWatcher returns a watcher driven by the test (no background checks) on the alerter's fake clock.
func newWatcher(t *testing.T, a *Alerter, o WatchOptions) *Watcher {
	t.Helper()
	o.Interval = -1
	w := a.Watch(o)
	t.Cleanup(w.Close)
	return w
}

func keyStatus(spend float64, period int64) governance.BudgetStatus {
	return governance.BudgetStatus{Kind: governance.KindKey, ID: keyHash, Alias: "ci-key", TeamID: "team-a",
		SoftBudget: usdp(1), MaxBudget: usdp(2), Spend: spend, Period: period,
		ResetAt: time.Unix(period, 0).UTC()}
}

func TestBudgetAlertsOncePerCrossingAndPeriod(t *testing.T) {
	t.Parallel()
	a, box, _ := newTest(t, Options{RateLimit: 1000})
	src := &fakeBudgets{}
	w := newWatcher(t, a, WatchOptions{Budgets: src.Budgets})
	ctx := context.Background()
	p1 := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC).Unix()
	p2 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Unix()
	soft, hard := []string{"Soft budget crossed", "`ci-key`"}, []string{"Budget reached", "`ci-key`"}

	steps := []struct {
		name       string
		st         governance.BudgetStatus
		soft, hard int
	}{
		{"under both", keyStatus(0.5, p1), 0, 0},
		{"past soft", keyStatus(1.2, p1), 1, 0},
		{"still past soft", keyStatus(1.4, p1), 1, 0},
		{"past max", keyStatus(2.1, p1), 1, 1},
		{"still past max", keyStatus(2.5, p1), 1, 1},
		{"new period, past soft", keyStatus(1.5, p2), 2, 1},
		{"new period, past max", keyStatus(3, p2), 2, 2},
		{"same period again", keyStatus(3.5, p2), 2, 2},
	}
	for _, s := range steps {
		src.set(s.st)
		w.CheckBudgets(ctx)
		w.CheckBudgets(ctx)
		if got, gotHard := box.count(soft...), box.count(hard...); got != s.soft || gotHard != s.hard {
			t.Fatalf("%s: %d soft and %d max alerts, want %d and %d:\n%s", s.name, got, gotHard, s.soft, s.hard,
				strings.Join(box.all(), "\n---\n"))
		}
	}

	// A raised budget is a new line to cross.
	raised := keyStatus(3.5, p2)
	raised.MaxBudget = usdp(5)
	src.set(raised)
	w.CheckBudgets(ctx)
	if n := box.count(hard...); n != 2 {
		t.Fatalf("a raised budget not yet reached alerted: %d max alerts", n)
	}
	raised.Spend = 5
	src.set(raised)
	w.CheckBudgets(ctx)
	if n := box.count(append(hard, "$5.00")...); n != 1 {
		t.Fatalf("reaching the raised budget: %d alerts naming $5.00, want 1", n)
	}

	for _, m := range box.all() {
		if strings.Contains(m, rawKey) || strings.Contains(m, keyHash) {
			t.Errorf("an alert holds the raw key or the whole hash: %s", m)
		}
		if !strings.Contains(m, keyHash[:12]) {
			t.Errorf("an alert does not name the key's shortened hash: %s", m)
		}
	}
}

func TestBudgetAlertFirstSeenPastMaxSendsOnlyMax(t *testing.T) {
	t.Parallel()
	a, box, _ := newTest(t, Options{RateLimit: 1000})
	src := &fakeBudgets{}
	w := newWatcher(t, a, WatchOptions{Budgets: src.Budgets})
	src.set(keyStatus(9, 100))
	w.CheckBudgets(context.Background())
	w.CheckBudgets(context.Background())
	if len(box.all()) != 1 || box.count("Budget reached") != 1 {
		t.Fatalf("want one max alert, got:\n%s", strings.Join(box.all(), "\n---\n"))
	}
}

func TestBudgetAlertTexts(t *testing.T) {
	t.Parallel()
	a, box, _ := newTest(t, Options{RateLimit: 1000})
	src := &fakeBudgets{}
	w := newWatcher(t, a, WatchOptions{Budgets: src.Budgets})
	reset := time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)
	src.set(
		governance.BudgetStatus{Kind: governance.KindTeam, ID: "team-123", Alias: "backend", MaxBudget: usdp(50),
			Spend: 50.5, Period: reset.Unix(), ResetAt: reset},
		governance.BudgetStatus{Kind: governance.KindUser, ID: "alice", Alias: "alice", MaxBudget: usdp(10), Spend: 0.25},
		governance.BudgetStatus{Kind: governance.KindCustomer, ID: "end-user-1", Alias: "end-user-1",
			MaxBudget: usdp(0.2), Spend: 0.2},
		governance.BudgetStatus{Kind: governance.KindKey, ID: keyHash, Alias: "sk-...6789", SoftBudget: usdp(0.1),
			Spend: 0.1234},
		// Nothing spent against a zero budget: nothing crossed.
		governance.BudgetStatus{Kind: governance.KindKey, ID: "deadbeef", MaxBudget: usdp(0)},
	)
	w.CheckBudgets(context.Background())
	for _, want := range [][]string{
		{"Budget reached", "Team `backend` (id `team-123`)", "$50.50", "$50.00", "refused",
			"resets at 2025-02-01T00:00:00Z"},
		{"Customer `end-user-1`", "$0.2000", "does not reset"},
		{"Soft budget crossed", "Key `(no alias)`", "$0.1234", "$0.1000", "still served", keyHash[:12]},
	} {
		if box.count(want...) != 1 {
			t.Errorf("no alert with %q in:\n%s", want, strings.Join(box.all(), "\n---\n"))
		}
	}
	if n := len(box.all()); n != 3 {
		t.Errorf("%d alerts, want 3 (alice has not crossed, the zero budget has no spend):\n%s", n,
			strings.Join(box.all(), "\n---\n"))
	}
	for _, m := range box.all() {
		if strings.Contains(m, rawKey) {
			t.Errorf("raw key in %s", m)
		}
	}
}

func TestBudgetAlertsOff(t *testing.T) {
	t.Parallel()
	a, box, _ := newTest(t, Options{Types: []Type{LLMExceptions}})
	src := &fakeBudgets{}
	src.set(keyStatus(9, 100))
	w := newWatcher(t, a, WatchOptions{Budgets: src.Budgets})
	w.Check(context.Background())
	if src.calls.Load() != 0 || len(box.all()) != 0 {
		t.Fatalf("budget_alerts off: %d reads, alerts %q", src.calls.Load(), box.all())
	}
}

// fakeSpend is a spend source returning fixed groups and recording the filters asked for.
type fakeSpend struct {
	mu      sync.Mutex
	teams   []store.SpendGroup
	keys    []store.SpendGroup
	err     error
	filters []store.SpendFilter
}

func (f *fakeSpend) SpendByTeam(_ context.Context, fl store.SpendFilter) ([]store.SpendGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, fl)
	return f.teams, f.err
}

func (f *fakeSpend) SpendByKey(_ context.Context, fl store.SpendFilter) ([]store.SpendGroup, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, fl)
	if fl.Limit > 0 && len(f.keys) > fl.Limit {
		return f.keys[:fl.Limit], f.err
	}
	return f.keys, f.err
}

func (f *fakeSpend) fail(err error) { f.mu.Lock(); defer f.mu.Unlock(); f.err = err }

func (f *fakeSpend) asked() []store.SpendFilter {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]store.SpendFilter(nil), f.filters...)
}

func reportSource() *fakeSpend {
	return &fakeSpend{
		teams: []store.SpendGroup{{Name: "team-1", Spend: 40, Requests: 400}, {Name: "", Spend: 7.5, Requests: 75},
			{Name: "team-2", Spend: 2.5, Requests: 25}},
		keys: []store.SpendGroup{{Name: keyHash, Spend: 30, Requests: 300},
			{Name: strings.Repeat("ab", 32), Spend: 20, Requests: 200}, {Name: strings.Repeat("cd", 32), Spend: 0.5}},
	}
}

func reportWatcher(t *testing.T, a *Alerter, src *fakeSpend) *Watcher {
	return newWatcher(t, a, WatchOptions{Spend: src, ReportTop: 2, ReportGrace: time.Hour,
		TeamName: func(_ context.Context, id string) string {
			if id == "team-1" {
				return "backend"
			}
			return ""
		},
		KeyName: func(_ context.Context, hash string) string {
			if hash == keyHash {
				return "ci-key"
			}
			return ""
		}})
}

func TestSpendReportContent(t *testing.T) {
	t.Parallel()
	a, box, clk := newTest(t, Options{})
	src := reportSource()
	w := reportWatcher(t, a, src)
	clk.mu.Lock()
	clk.t = time.Date(2025, 1, 15, 9, 30, 0, 0, time.UTC) // a Wednesday
	clk.mu.Unlock()
	if err := w.SendSpendReport(context.Background(), Weekly); err != nil {
		t.Fatal(err)
	}
	msgs := box.all()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	for _, want := range []string{"*Weekly spend report* (spend_reports)", "2025-01-06 to 2025-01-12 (UTC)",
		"$50.00 in 500 requests", "*Top 2 teams by spend*", "1. `backend` (id `team-1`): $40.00 (400 requests)",
		"2. (no team): $7.50", "*Top 2 keys by spend*", "1. `ci-key` (key `" + keyHash[:12] + "…`): $30.00",
		"2. key `abababababab…`: $20.00"} {
		if !strings.Contains(m, want) {
			t.Errorf("report lacks %q:\n%s", want, m)
		}
	}
	for _, bad := range []string{"team-2", keyHash, rawKey, "cdcdcd"} {
		if strings.Contains(m, bad) {
			t.Errorf("report holds %q (beyond the top 2, or a whole hash):\n%s", bad, m)
		}
	}
	f := src.asked()
	wantStart, wantEnd := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 13, 0, 0, 0, 0, time.UTC)
	if len(f) != 2 || !f[0].Start.Equal(wantStart) || !f[0].End.Equal(wantEnd) || f[1].Limit != 2 {
		t.Errorf("filters %+v, want the week [%s, %s) and the keys limited to 2", f, wantStart, wantEnd)
	}

	if err := w.SendSpendReport(context.Background(), Monthly); err != nil {
		t.Fatal(err)
	}
	if box.count("*Monthly spend report*", "2024-12-01 to 2024-12-31 (UTC)") != 1 {
		t.Errorf("no monthly report for December:\n%s", strings.Join(box.all(), "\n---\n"))
	}
	if err := w.SendSpendReport(context.Background(), "daily"); err == nil {
		t.Error("an unknown period was accepted")
	}
	src.fail(errors.New("database down"))
	if err := w.SendSpendReport(context.Background(), Weekly); err == nil || !strings.Contains(err.Error(), "database down") {
		t.Errorf("a failing store: %v", err)
	}
	empty := newWatcher(t, a, WatchOptions{Spend: &fakeSpend{}})
	if err := empty.SendSpendReport(context.Background(), Weekly); err != nil {
		t.Fatal(err)
	}
	if box.count("No spend was recorded.", "$0.00 in 0 requests") != 1 {
		t.Errorf("no empty report:\n%s", strings.Join(box.all(), "\n---\n"))
	}
}

func TestSpendReportsOncePerPeriod(t *testing.T) {
	t.Parallel()
	a, box, clk := newTest(t, Options{})
	src := reportSource()
	set := func(tm time.Time) {
		clk.mu.Lock()
		defer clk.mu.Unlock()
		clk.t = tm
	}
	set(time.Date(2025, 1, 8, 12, 0, 0, 0, time.UTC)) // Wednesday: both periods began long ago
	w := reportWatcher(t, a, src)
	ctx := context.Background()
	weekly, monthly := "*Weekly spend report*", "*Monthly spend report*"
	w.CheckReports(ctx)
	if n := len(box.all()); n != 0 {
		t.Fatalf("a report at start, mid-period: %q", box.all())
	}

	set(time.Date(2025, 1, 13, 0, 0, 5, 0, time.UTC)) // Monday, just after midnight
	w.CheckReports(ctx)
	w.CheckReports(ctx)
	clk.Advance(30 * time.Minute)
	w.CheckReports(ctx)
	if box.count(weekly, "2025-01-06 to 2025-01-12") != 1 || box.count(monthly) != 0 {
		t.Fatalf("want one weekly report:\n%s", strings.Join(box.all(), "\n---\n"))
	}

	// The weekly report of the next week fails once, then goes out at the next check.
	src.fail(errors.New("database down"))
	set(time.Date(2025, 1, 20, 0, 0, 10, 0, time.UTC))
	w.CheckReports(ctx)
	if box.count(weekly) != 1 {
		t.Fatal("a report went out although the store failed")
	}
	src.fail(nil)
	clk.Advance(time.Minute)
	w.CheckReports(ctx)
	w.CheckReports(ctx)
	if box.count(weekly, "2025-01-13 to 2025-01-19") != 1 {
		t.Fatalf("the retried weekly report:\n%s", strings.Join(box.all(), "\n---\n"))
	}

	// February 1st is a Saturday: the monthly report is due, the weekly is not.
	set(time.Date(2025, 2, 1, 0, 1, 0, 0, time.UTC))
	w.CheckReports(ctx)
	w.CheckReports(ctx)
	if box.count(monthly, "2025-01-01 to 2025-01-31") != 1 || box.count(weekly) != 2 {
		t.Fatalf("want one monthly report and no new weekly one:\n%s", strings.Join(box.all(), "\n---\n"))
	}
}

func TestSpendReportsAcrossRestarts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		at   time.Time
		want int
	}{
		{"restarted within the grace window", time.Date(2025, 1, 13, 0, 40, 0, 0, time.UTC), 1},
		{"restarted after the grace window", time.Date(2025, 1, 13, 2, 0, 0, 0, time.UTC), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, box, clk := newTest(t, Options{})
			clk.mu.Lock()
			clk.t = tc.at
			clk.mu.Unlock()
			w := reportWatcher(t, a, reportSource())
			w.CheckReports(context.Background())
			w.CheckReports(context.Background())
			if n := box.count("*Weekly spend report*"); n != tc.want {
				t.Fatalf("%d weekly reports, want %d", n, tc.want)
			}
		})
	}
}

func TestPeriodStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		k      ReportKind
		at     time.Time
		expect time.Time
	}{
		{Weekly, time.Date(2025, 1, 13, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 13, 0, 0, 0, 0, time.UTC)},
		{Weekly, time.Date(2025, 1, 19, 23, 59, 59, 0, time.UTC), time.Date(2025, 1, 13, 0, 0, 0, 0, time.UTC)},
		{Weekly, time.Date(2025, 1, 1, 8, 0, 0, 0, time.FixedZone("X", 10*3600)), time.Date(2024, 12, 30, 0, 0, 0, 0, time.UTC)},
		{Monthly, time.Date(2025, 3, 31, 23, 0, 0, 0, time.UTC), time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if got := PeriodStart(tc.k, tc.at); !got.Equal(tc.expect) {
			t.Errorf("PeriodStart(%s, %s) = %s, want %s", tc.k, tc.at, got, tc.expect)
		}
	}
}

// fakeLedger is a ledger whose counters the test sets.
type fakeLedger struct {
	mu sync.Mutex
	st ledger.Stats
}

func (f *fakeLedger) set(failures, delivered, pending int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = ledger.Stats{Failures: failures, Delivered: delivered, Pending: pending}
	if failures > 0 {
		f.st.LastError = time.Date(2025, 1, 1, 11, 59, 0, 0, time.UTC)
	}
}

func (f *fakeLedger) Stats() ledger.Stats { f.mu.Lock(); defer f.mu.Unlock(); return f.st }

func TestFailedTrackingSpendOncePerOutage(t *testing.T) {
	t.Parallel()
	a, box, clk := newTest(t, Options{RateLimit: 1000})
	led := &fakeLedger{}
	w := newWatcher(t, a, WatchOptions{Ledger: led.Stats, LedgerDrained: 10, LedgerStall: time.Hour})
	down, up := "*Spend tracking failing*", "*Spend tracking recovered*"
	steps := []struct {
		name                         string
		failures, delivered, pending int64
		down, up                     int
	}{
		{"healthy", 0, 100, 0, 0, 0},
		{"busy but healthy", 0, 150, 8, 0, 0},
		{"a write fails", 1, 150, 20, 1, 0},
		{"still failing", 5, 150, 300, 1, 0},
		{"no new failure, nothing written", 5, 150, 320, 1, 0},
		{"writing again, backlog left", 5, 300, 170, 1, 0},
		{"drained", 5, 470, 3, 1, 1},
		{"healthy again", 5, 480, 0, 1, 1},
		{"a second outage", 6, 480, 4, 2, 1},
		{"drained again", 6, 484, 0, 2, 2},
	}
	for _, s := range steps {
		led.set(s.failures, s.delivered, s.pending)
		clk.Advance(10 * time.Second)
		w.CheckLedger()
		if d, u := box.count(down), box.count(up); d != s.down || u != s.up {
			t.Fatalf("%s: %d outage and %d recovery alerts, want %d and %d:\n%s", s.name, d, u, s.down, s.up,
				strings.Join(box.all(), "\n---\n"))
		}
	}
	if box.count(down, "1 failed writes", "20 rows wait", "2025-01-01T11:59:00Z") != 1 {
		t.Errorf("the outage alert lacks its numbers:\n%s", strings.Join(box.all(), "\n---\n"))
	}
	if box.count(up, "3 rows waiting", "320 at most") != 1 {
		t.Errorf("the recovery alert lacks its numbers:\n%s", strings.Join(box.all(), "\n---\n"))
	}
}

func TestFailedTrackingSpendStall(t *testing.T) {
	t.Parallel()
	a, box, clk := newTest(t, Options{RateLimit: 1000})
	led := &fakeLedger{}
	w := newWatcher(t, a, WatchOptions{Ledger: led.Stats, LedgerStall: time.Minute})
	led.set(0, 10, 5)
	w.CheckLedger()
	clk.Advance(59 * time.Second)
	w.CheckLedger()
	if n := len(box.all()); n != 0 {
		t.Fatalf("alert before the stall time: %q", box.all())
	}
	clk.Advance(time.Second)
	led.set(0, 10, 9)
	w.CheckLedger()
	w.CheckLedger()
	if box.count("*Spend tracking failing*", "no spend log to the database for 1m0s", "9 rows wait") != 1 {
		t.Fatalf("want one stall alert:\n%s", strings.Join(box.all(), "\n---\n"))
	}
	led.set(0, 19, 0)
	w.CheckLedger()
	if box.count("*Spend tracking recovered*") != 1 {
		t.Fatalf("want a recovery:\n%s", strings.Join(box.all(), "\n---\n"))
	}
}

func TestWatcherBackground(t *testing.T) {
	t.Parallel()
	box := &inbox{}
	a := New(Options{Send: box.Send, ScanInterval: time.Hour})
	t.Cleanup(a.Close)
	src := &fakeBudgets{}
	src.set(keyStatus(1.5, 0))
	w := a.Watch(WatchOptions{Budgets: src.Budgets, Interval: 5 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for box.count("Soft budget crossed") == 0 || src.calls.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no alert from the background checks (%d checks)", src.calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.Close()
	w.Close()
	calls := src.calls.Load()
	time.Sleep(30 * time.Millisecond)
	if src.calls.Load() != calls {
		t.Error("checks go on after Close")
	}
	if n := box.count("Soft budget crossed"); n != 1 {
		t.Errorf("%d soft-budget alerts over several checks, want 1", n)
	}
	var nilWatcher *Watcher
	nilWatcher.Close()
}
