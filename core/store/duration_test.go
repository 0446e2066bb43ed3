package store

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	t.Parallel()
	from := time.Date(2025, 1, 31, 15, 4, 5, 0, time.UTC) // a Friday
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"30s", from.Add(30 * time.Second)},
		{"30m", from.Add(30 * time.Minute)},
		{"30h", from.Add(30 * time.Hour)},
		{"30d", from.AddDate(0, 0, 30)},
		{" 1D ", from.AddDate(0, 0, 1)},
		{"1mo", time.Date(2025, 2, 28, 15, 4, 5, 0, time.UTC)},
		{"2mo", time.Date(2025, 3, 31, 15, 4, 5, 0, time.UTC)},
		{"12mo", time.Date(2026, 1, 31, 15, 4, 5, 0, time.UTC)},
		{"daily", time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"weekly", time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC)},
		{"monthly", time.Date(2025, 2, 1, 0, 0, 0, 0, time.UTC)},
	} {
		d, err := ParseDuration(c.in)
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", c.in, err)
			continue
		}
		if got := d.Next(from); !got.Equal(c.want) {
			t.Errorf("ParseDuration(%q).Next(%v) = %v, want %v", c.in, from, got, c.want)
		}
	}
	// Weekly from a Monday is the following Monday; times in other zones are read as UTC instants.
	mon := time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC)
	if d, _ := ParseDuration("weekly"); !d.Next(mon).Equal(mon.AddDate(0, 0, 7)) {
		t.Errorf("weekly from Monday = %v", d.Next(mon))
	}
	east := time.FixedZone("UTC+9", 9*3600)
	if d, _ := ParseDuration("daily"); !d.Next(time.Date(2025, 2, 3, 8, 0, 0, 0, east)).Equal(mon) {
		t.Errorf("daily across zones = %v", d.Next(time.Date(2025, 2, 3, 8, 0, 0, 0, east)))
	}
	for _, bad := range []string{"", "0d", "-1d", "d", "30", "30x", "1.5h", "1y", "fortnightly", "99999999999999999999s", "5000mo"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
	if r, err := NextReset("", from); r != nil || err != nil {
		t.Errorf("NextReset(\"\") = %v, %v", r, err)
	}
}

func TestRollReset(t *testing.T) {
	due := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		dur  string
		now  time.Time
		want time.Time
	}{
		{"30m", due.Add(time.Minute), due.Add(30 * time.Minute)},
		{"30m", due.Add(95 * time.Minute), due.Add(120 * time.Minute)},
		{"30s", due.Add(365 * 24 * time.Hour), due.Add(365*24*time.Hour + 30*time.Second)},
		{"daily", due.Add(50 * time.Hour), time.Date(2025, 3, 17, 0, 0, 0, 0, time.UTC)},
		{"monthly", due.Add(24 * time.Hour), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)},
		{"30m", due.Add(-time.Minute), due}, // not due yet: unchanged
	} {
		got, err := RollReset(c.dur, due, c.now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("RollReset(%q, now %v) = %v, %v; want %v", c.dur, c.now, got, err, c.want)
		}
	}
	if _, err := RollReset("fortnightly", due, due); err == nil {
		t.Error("an invalid duration was accepted")
	}
}
