package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// The gateway's live heap is small (a few MiB when it proxies without governance, 15-20 MiB with it) and nearly
// everything a request allocates is garbage when the answer is written, so with Go's default GOGC=100 the
// collector runs every few MiB of allocation, dozens of cycles a second under load (marking, assists, sweeping,
// and the caches they leave cold: CPU per request was 12-20% lower with the heap allowed to grow, in alternated
// harness runs at 32 and 128 connections, for 50 MiB more resident memory under load). The gateway therefore
// gives the heap gcHeadroom to grow into above the live heap before collecting: after each collection it sets
// GOGC to about gcHeadroom / live (between 100 and 1000), so that a small live heap is collected every
// gcHeadroom of allocation and a live heap of gcHeadroom or more as with Go's default. At most gcHeadroom of
// extra memory.
//
// An earlier version aimed the goal at a fixed total heap (64 MiB) and fell back to GOGC=100 once the live heap
// reached a quarter of that: a governed gateway with Redis and PostgreSQL clients (17-19 MiB live) sat just past
// that edge and collected 2-3 times as often as the bare one, about 2 µs of CPU a request.
//
// An operator who sets GOGC gets that instead and no tuning.
//
// Written here rather than taken from a library: bytedance/gopkg's gctuner does the same with
// runtime.ReadMemStats, which stops the world, after every collection; runtime/metrics reads the live heap
// without stopping anything.
const (
	gcHeadroom   = 56 << 20
	gcMaxPercent = 1000
)

type gcTuner struct {
	headroom uint64
	stopped  atomic.Bool
	mu       sync.Mutex // tune against stop, so a stopped tuner sets nothing
	percent  int64
	sample   []metrics.Sample
}

// startGCTuner starts tuning unless the operator set GOGC; stop ends it and restores GOGC=100.
func startGCTuner(headroom uint64) (stop func()) {
	if _, set := os.LookupEnv("GOGC"); set || headroom == 0 {
		return func() {}
	}
	t := &gcTuner{headroom: headroom, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.percent = 100
	t.tune()
	t.watch()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.stopped.CompareAndSwap(false, true) {
			debug.SetGCPercent(100)
		}
	}
}

// watch calls tune after the next collection, and again after each one, until the tuner is stopped: a cleanup
// attached to an object nothing refers to runs once a collection has found it unreachable.
func (t *gcTuner) watch() {
	runtime.AddCleanup(&gcSentinel{}, func(t *gcTuner) {
		if t.stopped.Load() {
			return
		}
		t.tune()
		t.watch()
	}, t)
}

// gcSentinel is the object watch leaves for the collector; it holds a pointer so that it is not one of the tiny
// pointer-free allocations the runtime packs together (and frees late).
type gcSentinel struct {
	_ *gcTuner
	_ [2]uint64
}

func (t *gcTuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped.Load() {
		return
	}
	metrics.Read(t.sample)
	var live uint64
	if t.sample[0].Value.Kind() == metrics.KindUint64 {
		live = t.sample[0].Value.Uint64()
	}
	if p := gcPercentFor(live, t.headroom); p != t.percent {
		t.percent = p
		debug.SetGCPercent(int(p))
	}
}

// gcPercentFor returns the GOGC that lets the heap grow by about headroom above a live heap of live bytes,
// between 100 and gcMaxPercent, rounded down to a multiple of 25 so that small changes of the live heap do not
// reset it after every collection.
func gcPercentFor(live, headroom uint64) int64 {
	if live == 0 {
		return 100
	}
	p := int64(min(headroom*100/live, gcMaxPercent))
	p -= p % 25
	return max(p, 100)
}
