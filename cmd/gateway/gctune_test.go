package main

import (
	"os"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	t.Parallel()
	const headroom = 56 << 20
	cases := []struct {
		live uint64
		want int64
	}{
		{0, 100},                // nothing read yet
		{1 << 20, 1000},         // 1 MiB live: capped
		{5 << 20, 1000},         // 56/5 = 11.2× → capped at 10×
		{7 << 20, 800},          // 800%
		{10 << 20, 550},         // 560% rounded down to a multiple of 25
		{18 << 20, 300},         // 311%: a governed gateway with Redis and PostgreSQL
		{40 << 20, 125},         // 140%
		{headroom, 100},         // as Go's default from here on
		{500 << 20, 100},        // a large live heap is collected as before
		{headroom + 1<<30, 100}, //
		{1 << 62, 100},          // no overflow
	}
	for _, tc := range cases {
		if got := gcPercentFor(tc.live, headroom); got != tc.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

func gogc() int64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestGCTunerFollowsTheLiveHeap runs the tuner in this process: GOGC goes up while the live heap is small, back
// to 100 when it is large, and to 100 when the tuner stops. Not parallel: GOGC is the process's.
func TestGCTunerFollowsTheLiveHeap(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set in the environment: the tuner leaves it alone")
	}
	waitFor := func(what string, ok func(int64) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			runtime.GC()
			if p := gogc(); ok(p) {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("%s: GOGC is %d", what, p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	const headroom = 64 << 20
	stop := startGCTuner(headroom)
	waitFor("small live heap", func(p int64) bool { return p > 100 })

	big := make([][]byte, 0, 160)
	for range 160 {
		big = append(big, make([]byte, 1<<20)) // 160 MiB live, more than the headroom
	}
	waitFor("large live heap", func(p int64) bool { return p == 100 })
	runtime.KeepAlive(big)
	big = nil

	waitFor("live heap small again", func(p int64) bool { return p > 100 })
	stop()
	if p := gogc(); p != 100 {
		t.Errorf("after stop GOGC is %d, want 100", p)
	}
	stop() // a second stop is harmless
}
