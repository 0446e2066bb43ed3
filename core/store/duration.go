package store

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// BudgetDuration is a parsed budget_duration: how often a budget's spend
// resets.
type BudgetDuration struct {
	// Every is a fixed period ("30s", "30m", "30h", "30d"); zero for
	// calendar schedules.
	Every time.Duration
	// Months is a calendar period in months ("1mo", "monthly").
	Months int
	// Calendar is "daily", "weekly" or "monthly" for the named schedules,
	// which reset on UTC calendar boundaries.
	Calendar string
}

// ParseDuration parses a LiteLLM budget_duration: a positive number followed
// by s, m, h, d or mo ("30s", "30m", "30h", "30d", "1mo"), or one of the
// words daily, weekly and monthly.
func ParseDuration(s string) (BudgetDuration, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	switch v {
	case "daily":
		return BudgetDuration{Calendar: "daily"}, nil
	case "weekly":
		return BudgetDuration{Calendar: "weekly"}, nil
	case "monthly":
		return BudgetDuration{Calendar: "monthly", Months: 1}, nil
	}
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	num, unit := v[:i], v[i:]
	n, err := strconv.Atoi(num)
	if num == "" || err != nil || n <= 0 {
		return BudgetDuration{}, fmt.Errorf("store: invalid budget_duration %q: want a positive number followed by s, m, h, d or mo, or daily, weekly, monthly", s)
	}
	var per time.Duration
	switch unit {
	case "s":
		per = time.Second
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	case "d":
		per = 24 * time.Hour
	case "mo":
		if n > 1200 {
			return BudgetDuration{}, fmt.Errorf("store: invalid budget_duration %q: too long", s)
		}
		return BudgetDuration{Months: n}, nil
	default:
		return BudgetDuration{}, fmt.Errorf("store: invalid budget_duration %q: unknown unit %q (want s, m, h, d or mo)", s, unit)
	}
	if int64(n) > int64(100*365*24*time.Hour/per) {
		return BudgetDuration{}, fmt.Errorf("store: invalid budget_duration %q: too long", s)
	}
	return BudgetDuration{Every: time.Duration(n) * per}, nil
}

// Next returns the first reset strictly after from. Fixed periods count from
// from; "daily" is the next UTC midnight, "weekly" the next Monday 00:00 UTC,
// "monthly" the first of the next month 00:00 UTC, and "Nmo" the same day and
// time N months later (clamped to the end of shorter months).
func (b BudgetDuration) Next(from time.Time) time.Time {
	from = from.UTC()
	switch {
	case b.Calendar == "daily":
		y, m, d := from.Date()
		return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
	case b.Calendar == "weekly":
		y, m, d := from.Date()
		days := (int(time.Monday) - int(from.Weekday()) + 7) % 7
		if days == 0 {
			days = 7
		}
		return time.Date(y, m, d+days, 0, 0, 0, 0, time.UTC)
	case b.Calendar == "monthly":
		y, m, _ := from.Date()
		return time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC)
	case b.Months > 0:
		y, m, d := from.Date()
		first := time.Date(y, m+time.Month(b.Months), 1, from.Hour(), from.Minute(), from.Second(), from.Nanosecond(), time.UTC)
		last := time.Date(first.Year(), first.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
		if d > last {
			d = last
		}
		return first.AddDate(0, 0, d-1)
	default:
		return from.Add(b.Every)
	}
}

// NextReset parses duration and returns the next reset after from; an
// empty duration means no schedule and returns nil.
func NextReset(duration string, from time.Time) (*time.Time, error) {
	if duration == "" {
		return nil, nil
	}
	b, err := ParseDuration(duration)
	if err != nil {
		return nil, err
	}
	t := b.Next(from).Truncate(time.Microsecond)
	return &t, nil
}

// RollReset returns the first reset of a schedule strictly after now, counting whole periods from the reset
// that came due (resetAt) rather than from now, so that a budget's periods keep their boundaries however late
// the reset job runs; every replica computes the same boundary. A resetAt after now is returned unchanged.
func RollReset(duration string, resetAt, now time.Time) (time.Time, error) {
	b, err := ParseDuration(duration)
	if err != nil {
		return time.Time{}, err
	}
	next := resetAt.UTC()
	if b.Every > 0 && now.After(next) {
		// Skip the whole missed periods at once: a 30s budget idle for a year is not rolled a million times.
		next = next.Add(now.Sub(next) / b.Every * b.Every)
	}
	for i := 0; !next.After(now) && i < 1000; i++ {
		next = b.Next(next)
	}
	if !next.After(now) { // a schedule far behind (years of months): count from now instead
		next = b.Next(now)
	}
	return next.Truncate(time.Microsecond), nil
}
