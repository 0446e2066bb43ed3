package main

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
)

// render writes r with slog's own handler (the oracle) and with a lineHandler, and reports whether the
// lineHandler wrote it itself.
func render(t testing.TB, json bool, r slog.Record) (want, got string, fast bool) {
	t.Helper()
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	var oracle bytes.Buffer
	var slow slog.Handler = slog.NewTextHandler(&oracle, opts)
	if json {
		slow = slog.NewJSONHandler(&oracle, opts)
	}
	if err := slow.Handle(context.Background(), r.Clone()); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	w := newBufferedLog(&out, 1<<20, time.Hour)
	h := newLineHandler(w, opts, json)
	_, fast = h.appendRecord(nil, r.Clone())
	if err := h.Handle(context.Background(), r.Clone()); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return oracle.String(), out.String(), fast
}

func TestLineHandlerMatchesSlog(t *testing.T) {
	t.Parallel()
	tokyo := time.FixedZone("JST", 9*3600)
	india := time.FixedZone("IST", 5*3600+1800)
	west := time.FixedZone("W", -(3*3600 + 15*60))
	base := time.Date(2026, 11, 25, 10, 42, 22, 123456789, time.UTC)
	rec := func(tm time.Time, level slog.Level, msg string, attrs ...slog.Attr) slog.Record {
		r := slog.NewRecord(tm, level, msg, 0)
		r.AddAttrs(attrs...)
		return r
	}
	access := []slog.Attr{
		slog.String("call_id", "chatcmpl-3f9a1c2e"), slog.String("type", "chat"), slog.String("model", "gpt-4o-mini"),
		slog.Int("status", 200), slog.Bool("stream", false), slog.Duration("latency", 1234567*time.Nanosecond),
		slog.String("deployment", "openai/gpt-4o-mini#0"), slog.String("provider", "openai"),
		slog.Int("attempts", 2), slog.Duration("ttft", 250*time.Microsecond), slog.Int("prompt_tokens", 12),
		slog.Int("completion_tokens", 40), slog.Float64("cost", 0.000123), slog.String("key_alias", "team-a"),
	}
	cases := []struct {
		name string
		r    slog.Record
		fast bool
	}{
		{"access line", rec(base, slog.LevelInfo, "request", access...), true},
		{"local time", rec(time.Now(), slog.LevelInfo, "request", access...), true},
		{"no time", rec(time.Time{}, slog.LevelWarn, "request", slog.Int("status", 502)), true},
		{"whole second", rec(base.Truncate(time.Second), slog.LevelInfo, "m"), true},
		{"trailing zeros", rec(base.Truncate(time.Millisecond).Add(500*time.Microsecond), slog.LevelInfo, "m"), true},
		{"a millisecond", rec(base.Truncate(time.Second).Add(time.Millisecond), slog.LevelInfo, "m"), true},
		{"tokyo", rec(base.In(tokyo), slog.LevelError, "m"), true},
		{"half-hour zone", rec(base.In(india), slog.LevelDebug, "m"), true},
		{"negative zone", rec(base.In(west), slog.LevelInfo, "m"), true},
		{"level offsets", rec(base, slog.LevelInfo+2, "m"), true},
		{"debug offset", rec(base, slog.LevelDebug-1, "m"), true},
		{"empty message", rec(base, slog.LevelInfo, ""), true},
		{"no attributes", rec(base, slog.LevelInfo, "starting"), true},
		{"quoting", rec(base, slog.LevelWarn, "config: a b", slog.String("error", `upstream said "no" = bad`),
			slog.String("path", `C:\dir`), slog.String("empty", ""), slog.String("tab", "a\tb\nc\rd\x01e\x7f"),
			slog.String("a key", "v"), slog.String("k=v", "v"), slog.String("q\"", "v")), true},
		{"numbers", rec(base, slog.LevelInfo, "m", slog.Int64("neg", -42), slog.Uint64("big", math.MaxUint64),
			slog.Int64("min", math.MinInt64), slog.Bool("f", false)), true},
		{"floats", rec(base, slog.LevelInfo, "m", slog.Float64("zero", 0), slog.Float64("negzero", math.Copysign(0, -1)),
			slog.Float64("tiny", 1e-7), slog.Float64("small", 0.000001), slog.Float64("huge", 1e21), slog.Float64("big", 1e20),
			slog.Float64("third", 1.0/3), slog.Float64("neg", -2.5e-9), slog.Float64("e100", 1e100), slog.Float64("max", math.MaxFloat64),
			slog.Float64("denormal", 5e-324)), true},
		{"durations", rec(base, slog.LevelInfo, "m", slog.Duration("zero", 0), slog.Duration("neg", -time.Second),
			slog.Duration("long", 90*time.Minute+time.Nanosecond)), true},
		{"time attributes", rec(base, slog.LevelInfo, "m", slog.Time("at", base.In(tokyo)), slog.Time("zero", time.Time{}),
			slog.Time("nano", time.Date(2020, 1, 2, 3, 4, 5, 1, time.UTC))), true},
		{"non-ASCII", rec(base, slog.LevelInfo, "m", slog.String("model", "モデル")), false},
		{"non-ASCII key", rec(base, slog.LevelInfo, "m", slog.String("é", "v")), false},
		{"invalid UTF-8", rec(base, slog.LevelInfo, "m", slog.String("s", "\xff")), false},
		{"error value", rec(base, slog.LevelError, "config", slog.Any("error", context.Canceled)), false},
		{"group", rec(base, slog.LevelInfo, "m", slog.Group("g", slog.Int("a", 1))), false},
		{"empty attribute", rec(base, slog.LevelInfo, "m", slog.Attr{}, slog.Int("a", 1)), false},
		{"NaN", rec(base, slog.LevelInfo, "m", slog.Float64("nan", math.NaN()), slog.Float64("inf", math.Inf(1))), false},
		{"year 10000", rec(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), slog.LevelInfo, "m"), false},
	}
	for _, tc := range cases {
		for _, json := range []bool{false, true} {
			want, got, fast := render(t, json, tc.r)
			if got != want {
				t.Errorf("%s (json %v):\n got %q\nwant %q", tc.name, json, got, want)
			}
			wantFast := tc.fast
			if tc.name == "NaN" && !json {
				wantFast = true // the text form of NaN and ±Inf is strconv's; JSON has none, and slog writes an error
			}
			if fast != wantFast {
				t.Errorf("%s (json %v): written by the line handler = %v, want %v", tc.name, json, fast, wantFast)
			}
		}
	}
}

// TestLineHandlerDelegates checks that what the line handler does not write itself still reaches the log in
// slog's form, WithAttrs and WithGroup included, and that levels below the threshold are dropped.
func TestLineHandlerDelegates(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	w := newBufferedLog(&out, 1<<20, time.Hour)
	log := slog.New(flushingHandler{newLineHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}, false), w})
	log.Debug("hidden")
	log.With("component", "router").WithGroup("g").Info("grouped", "a", 1)
	log.Info("plain", "n", 2)
	log.Error("broken", "error", context.DeadlineExceeded)
	got := out.String()
	for _, want := range []string{"msg=grouped component=router g.a=1\n", "msg=plain n=2\n", `msg=broken error="context deadline exceeded"` + "\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "hidden") {
		t.Errorf("a debug line was written at info:\n%s", got)
	}
}

func FuzzLineHandler(f *testing.F) {
	f.Add("request", "model", "gpt-4o", int64(200), 0.25, int64(1234567), int64(1764067342123456789), 9*3600, true)
	f.Add("", "a b", `x="y"`, int64(-1), 1e-7, int64(0), int64(0), -3600, false)
	f.Add("m", "k", "\x00\t\\", int64(math.MaxInt64), 1e21, int64(-5), int64(-1), 0, true)
	f.Fuzz(func(t *testing.T, msg, key, s string, i int64, fl float64, d int64, unixNano int64, zone int, json bool) {
		tm := time.Unix(0, unixNano).In(time.FixedZone("Z", zone%(24*3600)))
		r := slog.NewRecord(tm, slog.Level(i%13), msg, 0)
		r.AddAttrs(slog.String(key, s), slog.Int64("i", i), slog.Float64("f", fl), slog.Duration("d", time.Duration(d)),
			slog.Time("t", tm), slog.Bool("b", i%2 == 0))
		want, got, _ := render(t, json, r)
		if got != want {
			t.Fatalf("json %v:\n got %q\nwant %q", json, got, want)
		}
	})
}

func BenchmarkLogHandler(b *testing.B) {
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("call_id", "chatcmpl-3f9a1c2e"), slog.String("type", "chat"), slog.String("model", "gpt-4o-mini"),
		slog.Int("status", 200), slog.Bool("stream", false), slog.Duration("latency", 1234567*time.Nanosecond),
		slog.String("deployment", "openai/gpt-4o-mini#0"), slog.String("provider", "openai"),
		slog.Int("prompt_tokens", 12), slog.Int("completion_tokens", 40), slog.Float64("cost", 0.000123))
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	for _, json := range []bool{false, true} {
		name := "text"
		if json {
			name = "json"
		}
		w := newBufferedLog(discard{}, 32<<10, time.Hour)
		var slow slog.Handler = slog.NewTextHandler(w, opts)
		if json {
			slow = slog.NewJSONHandler(w, opts)
		}
		for _, h := range []struct {
			name string
			h    slog.Handler
		}{{"slog", slow}, {"line", newLineHandler(w, opts, json)}} {
			b.Run(name+"/"+h.name, func(b *testing.B) {
				b.ReportAllocs()
				ctx := context.Background()
				for b.Loop() {
					r.Time = time.Now()
					_ = h.h.Handle(ctx, r)
				}
			})
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
