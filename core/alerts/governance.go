package alerts

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchyard/gateway/core/governance"
	"github.com/switchyard/gateway/core/ledger"
	"github.com/switchyard/gateway/core/store"
)

// The alert types raised from the gateway's keys, budgets and spend ledger (a Watcher).
const (
	// BudgetAlerts: a key's, team's, user's or customer's spend crossed its soft budget or reached its max budget.
	BudgetAlerts Type = "budget_alerts"
	// SpendReports: weekly and monthly spend by team and by key.
	SpendReports Type = "spend_reports"
	// FailedTrackingSpend: the spend ledger cannot write to the database, and when it can again.
	FailedTrackingSpend Type = "failed_tracking_spend"
)

// GovernanceTypes are the alert types that need keys, budgets and a spend ledger (a store).
var GovernanceTypes = []Type{BudgetAlerts, SpendReports, FailedTrackingSpend}

// Watcher defaults.
const (
	DefaultCheckInterval = 10 * time.Second
	DefaultReportGrace   = time.Hour
	DefaultReportTop     = 5
	DefaultLedgerStall   = time.Minute
	DefaultLedgerDrained = 100
	// forgetAfter is how long the budget state of an entity no longer listed (deleted, or no budget any more) is
	// kept.
	forgetAfter = time.Hour
)

// SpendSource is the store's spend aggregates, highest spend first (*store.Store implements it).
type SpendSource interface {
	SpendByTeam(ctx context.Context, f store.SpendFilter) ([]store.SpendGroup, error)
	SpendByKey(ctx context.Context, f store.SpendFilter) ([]store.SpendGroup, error)
}

// WatchOptions configure a Watcher. A nil source turns its alert type off.
type WatchOptions struct {
	// Budgets returns where every budgeted entity stands (governance.Governor.Budgets); for budget_alerts.
	Budgets func(ctx context.Context) []governance.BudgetStatus
	// Spend gives the spend aggregates; for spend_reports.
	Spend SpendSource
	// TeamName and KeyName return the alias of a team id or a key hash for reports ("" when unknown: the id, or
	// the shortened hash, is shown). Optional.
	TeamName func(ctx context.Context, teamID string) string
	KeyName  func(ctx context.Context, hash string) string
	// Ledger returns the spend ledger's counters (ledger.Ledger.Stats); for failed_tracking_spend.
	Ledger func() ledger.Stats
	// Interval is how often budgets, the report calendar and the ledger are checked (default 10 s). A negative
	// Interval starts no background checks: the caller drives Check (tests).
	Interval time.Duration
	// ReportGrace is how long after a week's or month's end its report may still be sent (default 1 hour, at least
	// two Intervals). See Watcher.
	ReportGrace time.Duration
	// ReportTop is how many teams and keys a report lists (default 5).
	ReportTop int
	// LedgerStall is how long spend logs may wait in the outbox with none written before the ledger counts as
	// failing even without a failed write (a database that hangs; default 1 minute).
	LedgerStall time.Duration
	// LedgerDrained is the backlog, in rows, at or below which the outbox counts as drained after an outage
	// (default 100: what a busy gateway holds between two writes).
	LedgerDrained int64
	// Now is the clock (default: the Alerter's).
	Now func() time.Time
	// Logger logs failed checks (default: the Alerter's).
	Logger *slog.Logger
}

// ReportKind is the period of a spend report.
type ReportKind string

// Report periods: weeks start on Monday 00:00 UTC, months on the 1st at 00:00 UTC.
const (
	Weekly  ReportKind = "weekly"
	Monthly ReportKind = "monthly"
)

// Watcher raises budget_alerts, spend_reports and failed_tracking_spend from periodic checks, off the request
// path, through its Alerter (so the types enabled, the rate limit and the Slack sender apply).
//
// Budget alerts are sent once per entity, budget period, level (soft or max) and budget amount: a new period,
// or a changed budget, can alert again. Spend reports are sent once per week and month, remembered in memory;
// to stay quiet across restarts without keeping state, a report is only sent by a check within ReportGrace
// after its period ended: a gateway restarted within that window sends it again, one down for the whole window
// skips it. Every replica runs its own Watcher: with several replicas each sends its own alerts and reports.
type Watcher struct {
	a *Alerter
	o WatchOptions

	mu sync.Mutex
	// budgets is the alert state of each entity, by kind and id.
	budgets map[string]*entityState
	// reported is the start of the period last reported (or skipped), by kind.
	reported map[ReportKind]time.Time
	led      ledgerState

	stop    chan struct{}
	stopped chan struct{}
	closing sync.Once
}

type entityState struct {
	period  int64
	alerted map[string]bool // level and budget amount
	seen    time.Time
}

type ledgerState struct {
	started               bool
	failures, delivered   int64
	progress              time.Time // when rows were last written, or the outbox was empty
	down                  bool
	downSince             time.Time
	deliveredAtDown, peak int64
}

// Watch starts a Watcher over the Alerter; Close stops it (before its sources are closed).
func (a *Alerter) Watch(o WatchOptions) *Watcher {
	if o.Interval == 0 {
		o.Interval = DefaultCheckInterval
	}
	if o.ReportGrace <= 0 {
		o.ReportGrace = DefaultReportGrace
	}
	if o.Interval > 0 {
		o.ReportGrace = max(o.ReportGrace, 2*o.Interval)
	}
	if o.ReportTop <= 0 {
		o.ReportTop = DefaultReportTop
	}
	if o.LedgerStall <= 0 {
		o.LedgerStall = DefaultLedgerStall
	}
	if o.LedgerDrained <= 0 {
		o.LedgerDrained = DefaultLedgerDrained
	}
	if o.Now == nil {
		o.Now = a.o.Now
	}
	if o.Logger == nil {
		o.Logger = a.o.Logger
	}
	w := &Watcher{a: a, o: o, budgets: map[string]*entityState{}, reported: map[ReportKind]time.Time{},
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if o.Interval < 0 {
		close(w.stopped)
		return w
	}
	go w.loop()
	return w
}

func (w *Watcher) loop() {
	defer close(w.stopped)
	t := time.NewTicker(w.o.Interval)
	defer t.Stop()
	for {
		w.check()
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
	}
}

// check runs one round, bounded in time and cancelled by Close.
func (w *Watcher) check() {
	ctx, cancel := context.WithTimeout(context.Background(), max(w.o.Interval, 30*time.Second))
	defer cancel()
	go func() {
		select {
		case <-w.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	w.Check(ctx)
}

// Close stops the background checks and waits for one under way. It is safe to call more than once, and on nil.
func (w *Watcher) Close() {
	if w == nil {
		return
	}
	w.closing.Do(func() { close(w.stop) })
	<-w.stopped
}

// Check runs every check once: budgets, the report calendar and the ledger.
func (w *Watcher) Check(ctx context.Context) {
	w.CheckBudgets(ctx)
	w.CheckReports(ctx)
	w.CheckLedger()
}

// --- budget_alerts ---

// Budget levels.
const (
	levelSoft = "soft"
	levelMax  = "max"
)

// CheckBudgets raises budget_alerts for the budgets crossed since the last check.
func (w *Watcher) CheckBudgets(ctx context.Context) {
	if w.o.Budgets == nil || !w.a.Enabled(BudgetAlerts) {
		return
	}
	statuses := w.o.Budgets(ctx)
	now := w.o.Now()
	var out []Alert
	w.mu.Lock()
	for i := range statuses {
		if al, ok := w.budgetLocked(&statuses[i], now); ok {
			out = append(out, al)
		}
	}
	for k, s := range w.budgets {
		if now.Sub(s.seen) > forgetAfter {
			delete(w.budgets, k)
		}
	}
	w.mu.Unlock()
	for i := range out {
		w.a.Raise(out[i])
	}
}

// budgetLocked returns the alert an entity's status calls for, if any, and remembers it. Only the highest level
// crossed is sent: an entity first seen past its max budget does not also get a soft-budget alert.
func (w *Watcher) budgetLocked(st *governance.BudgetStatus, now time.Time) (Alert, bool) {
	id := st.Kind + "\x00" + st.ID
	s := w.budgets[id]
	if s == nil || s.period != st.Period {
		s = &entityState{period: st.Period, alerted: map[string]bool{}}
		w.budgets[id] = s
	}
	s.seen = now
	crossed := func(b *float64) bool { return b != nil && st.Spend > 0 && st.Spend >= *b }
	level, budget := "", 0.0
	if crossed(st.SoftBudget) {
		level, budget = levelSoft, *st.SoftBudget
	}
	if crossed(st.MaxBudget) {
		if level == levelSoft {
			s.alerted[mark(levelSoft, *st.SoftBudget)] = true
		}
		level, budget = levelMax, *st.MaxBudget
	}
	if level == "" || s.alerted[mark(level, budget)] {
		return Alert{}, false
	}
	s.alerted[mark(level, budget)] = true
	return Alert{Type: BudgetAlerts, Group: st.Kind + ":" + st.ID, Class: level, noDedup: true,
		Text: budgetText(st, level, budget)}, true
}

func mark(level string, budget float64) string {
	return level + "\x00" + strconv.FormatFloat(budget, 'g', -1, 64)
}

// budgetText is a budget alert's message. It names the entity by alias; a key also by its shortened hash, never
// by the key itself.
func budgetText(st *governance.BudgetStatus, level string, budget float64) string {
	var b strings.Builder
	if level == levelSoft {
		b.WriteString("*Soft budget crossed* (budget_alerts)\n")
	} else {
		b.WriteString("*Budget reached* (budget_alerts)\n")
	}
	b.WriteString(entityName(st))
	if level == levelSoft {
		fmt.Fprintf(&b, ": spend %s has crossed its soft budget of %s", usd(st.Spend), usd(budget))
		if st.MaxBudget != nil {
			fmt.Fprintf(&b, " (max budget %s)", usd(*st.MaxBudget))
		}
		b.WriteString(". Requests are still served.")
	} else {
		fmt.Fprintf(&b, ": spend %s has reached its max budget of %s; its requests are refused until the budget "+
			"resets.", usd(st.Spend), usd(budget))
	}
	if st.ResetAt.IsZero() {
		b.WriteString("\nThe budget does not reset.")
	} else {
		fmt.Fprintf(&b, "\nBudget resets at %s.", st.ResetAt.UTC().Format(time.RFC3339))
	}
	return b.String()
}

// entityName names a budgeted entity for people.
func entityName(st *governance.BudgetStatus) string {
	alias := st.Alias
	switch st.Kind {
	case governance.KindKey:
		if alias == "" || strings.HasPrefix(alias, "sk-...") {
			alias = "(no alias)" // the masked key, which the redaction of every alert would blank anyway
		}
		s := fmt.Sprintf("Key `%s` (hash `%s`", alias, shortHash(st.ID))
		if st.TeamID != "" {
			s += fmt.Sprintf(", team `%s`", st.TeamID)
		}
		return s + ")"
	case governance.KindTeam:
		if alias != "" && alias != st.ID {
			return fmt.Sprintf("Team `%s` (id `%s`)", alias, st.ID)
		}
		return fmt.Sprintf("Team `%s`", st.ID)
	case governance.KindUser:
		return fmt.Sprintf("User `%s`", st.ID)
	case governance.KindCustomer:
		return fmt.Sprintf("Customer `%s`", st.ID)
	}
	return fmt.Sprintf("%s `%s`", st.Kind, cmp.Or(alias, st.ID))
}

// shortHash shortens a key's SHA-256 hash for people; it is never a key.
func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// usd formats an amount of dollars: cents for amounts of a dollar or more, else four decimals.
func usd(v float64) string {
	if v >= 1 || v <= -1 || v == 0 {
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	}
	return "$" + strconv.FormatFloat(v, 'f', 4, 64)
}

// --- spend_reports ---

// PeriodStart returns the start of the week (Monday 00:00 UTC) or month (the 1st, 00:00 UTC) holding t.
func PeriodStart(k ReportKind, t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	if k == Monthly {
		return day.AddDate(0, 0, 1-day.Day())
	}
	return day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
}

// previous returns the start of the period before the one starting at start.
func previous(k ReportKind, start time.Time) time.Time {
	if k == Monthly {
		return start.AddDate(0, -1, 0)
	}
	return start.AddDate(0, 0, -7)
}

// CheckReports sends the weekly and monthly spend reports that are due: once per period, by the first check
// within ReportGrace after the period ended. A report that fails (the database is unreachable) is tried again
// at the next check within the window.
func (w *Watcher) CheckReports(ctx context.Context) {
	if w.o.Spend == nil || !w.a.Enabled(SpendReports) {
		return
	}
	now := w.o.Now()
	for _, k := range []ReportKind{Weekly, Monthly} {
		end := PeriodStart(k, now)
		w.mu.Lock()
		done := w.reported[k].Equal(end)
		late := now.Sub(end) > w.o.ReportGrace
		if !done && late {
			w.reported[k] = end // a period that ended before this gateway watched: not ours to report
		}
		w.mu.Unlock()
		if done || late {
			continue
		}
		if err := w.sendReport(ctx, k, previous(k, end), end); err != nil {
			w.o.Logger.Warn("spend report failed; will retry", "period", string(k), "error", err)
			continue
		}
		w.mu.Lock()
		w.reported[k] = end
		w.mu.Unlock()
	}
}

// SendSpendReport sends the spend report of the last full week or month before now, whether or not it was sent
// already (an operator's or a test's trigger). The periodic checks are not affected.
func (w *Watcher) SendSpendReport(ctx context.Context, k ReportKind) error {
	if k != Weekly && k != Monthly {
		return fmt.Errorf("alerts: unknown spend report period %q (want %q or %q)", k, Weekly, Monthly)
	}
	if w.o.Spend == nil {
		return fmt.Errorf("alerts: spend reports need the gateway's store")
	}
	end := PeriodStart(k, w.o.Now())
	return w.sendReport(ctx, k, previous(k, end), end)
}

func (w *Watcher) sendReport(ctx context.Context, k ReportKind, start, end time.Time) error {
	text, err := w.SpendReport(ctx, k, start, end)
	if err != nil {
		return err
	}
	w.a.Raise(Alert{Type: SpendReports, Group: string(k), Class: start.Format(time.DateOnly), noDedup: true,
		Text: text})
	return nil
}

// SpendReport returns the text of a spend report over [start, end): the total, and the top teams and keys.
func (w *Watcher) SpendReport(ctx context.Context, k ReportKind, start, end time.Time) (string, error) {
	f := store.SpendFilter{Start: start, End: end}
	teams, err := w.o.Spend.SpendByTeam(ctx, f)
	if err != nil {
		return "", fmt.Errorf("spend by team: %w", err)
	}
	f.Limit = w.o.ReportTop
	keys, err := w.o.Spend.SpendByKey(ctx, f)
	if err != nil {
		return "", fmt.Errorf("spend by key: %w", err)
	}
	var total float64
	var requests int64
	for _, t := range teams {
		total += t.Spend
		requests += t.Requests
	}
	var b strings.Builder
	title := "Weekly"
	if k == Monthly {
		title = "Monthly"
	}
	fmt.Fprintf(&b, "*%s spend report* (spend_reports)\n%s to %s (UTC): %s in %d requests.", title,
		start.UTC().Format(time.DateOnly), end.UTC().Add(-time.Nanosecond).Format(time.DateOnly), usd(total), requests)
	if len(teams) == 0 {
		b.WriteString("\nNo spend was recorded.")
		return b.String(), nil
	}
	fmt.Fprintf(&b, "\n*Top %d teams by spend*", w.o.ReportTop)
	for i, t := range teams[:min(len(teams), w.o.ReportTop)] {
		fmt.Fprintf(&b, "\n%d. %s: %s (%d requests)", i+1, w.teamLabel(ctx, t.Name), usd(t.Spend), t.Requests)
	}
	fmt.Fprintf(&b, "\n*Top %d keys by spend*", w.o.ReportTop)
	for i, key := range keys {
		fmt.Fprintf(&b, "\n%d. %s: %s (%d requests)", i+1, w.keyLabel(ctx, key.Name), usd(key.Spend), key.Requests)
	}
	return b.String(), nil
}

func (w *Watcher) teamLabel(ctx context.Context, id string) string {
	if id == "" {
		return "(no team)"
	}
	if w.o.TeamName != nil {
		if alias := w.o.TeamName(ctx, id); alias != "" && alias != id {
			return fmt.Sprintf("`%s` (id `%s`)", alias, id)
		}
	}
	return fmt.Sprintf("`%s`", id)
}

func (w *Watcher) keyLabel(ctx context.Context, hash string) string {
	if hash == "" {
		return "(no key)"
	}
	alias := ""
	if w.o.KeyName != nil {
		alias = w.o.KeyName(ctx, hash)
	}
	if alias == "" {
		return fmt.Sprintf("key `%s`", shortHash(hash))
	}
	return fmt.Sprintf("`%s` (key `%s`)", alias, shortHash(hash))
}

// --- failed_tracking_spend ---

// CheckLedger raises failed_tracking_spend once when the spend ledger starts failing to write to the database
// (a failed write since the last check, or rows waiting with none written for LedgerStall), and once when it
// writes again and its backlog has drained to LedgerDrained rows.
func (w *Watcher) CheckLedger() {
	if w.o.Ledger == nil || !w.a.Enabled(FailedTrackingSpend) {
		return
	}
	st := w.o.Ledger()
	now := w.o.Now()
	w.mu.Lock()
	al, ok := w.ledgerLocked(st, now)
	w.mu.Unlock()
	if ok {
		w.a.Raise(al)
	}
}

func (w *Watcher) ledgerLocked(st ledger.Stats, now time.Time) (Alert, bool) {
	l := &w.led
	if !l.started {
		l.started, l.progress = true, now
	}
	failed := st.Failures > l.failures
	if st.Delivered > l.delivered || st.Pending == 0 {
		l.progress = now
	}
	stalled := st.Pending > 0 && now.Sub(l.progress) >= w.o.LedgerStall
	l.failures, l.delivered = st.Failures, st.Delivered
	switch {
	case !l.down && (failed || stalled):
		l.down, l.downSince, l.deliveredAtDown, l.peak = true, now, st.Delivered, st.Pending
		return Alert{Type: FailedTrackingSpend, Class: "outage", noDedup: true, Text: ledgerDownText(st, failed,
			now.Sub(l.progress))}, true
	case l.down:
		l.peak = max(l.peak, st.Pending)
		if failed || st.Delivered <= l.deliveredAtDown || st.Pending > w.o.LedgerDrained {
			return Alert{}, false
		}
		l.down = false
		return Alert{Type: FailedTrackingSpend, Class: "recovered", noDedup: true, Text: fmt.Sprintf(
			"*Spend tracking recovered* (failed_tracking_spend)\nSpend logs are written to the database again "+
				"after %s; the outbox has drained (%d rows waiting, %d at most during the outage).",
			round(now.Sub(l.downSince)), st.Pending, l.peak)}, true
	}
	return Alert{}, false
}

func ledgerDownText(st ledger.Stats, failed bool, idle time.Duration) string {
	var b strings.Builder
	b.WriteString("*Spend tracking failing* (failed_tracking_spend)\n")
	if failed {
		fmt.Fprintf(&b, "The spend ledger cannot write spend logs to the database: %d failed writes since start",
			st.Failures)
		if !st.LastError.IsZero() {
			fmt.Fprintf(&b, ", the last at %s", st.LastError.UTC().Format(time.RFC3339))
		}
		b.WriteString(".")
	} else {
		fmt.Fprintf(&b, "The spend ledger has written no spend log to the database for %s.", round(idle))
	}
	fmt.Fprintf(&b, "\n%d rows wait in the outbox, kept on disk and written when the database answers; budgets "+
		"are still enforced from the live counters, but spend reports and /spend lag behind.", st.Pending)
	return b.String()
}
