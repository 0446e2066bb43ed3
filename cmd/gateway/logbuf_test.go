package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// countingWriter records each write separately.
type countingWriter struct {
	mu     sync.Mutex
	writes []string
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes = append(w.writes, string(p))
	return len(p), nil
}

func (w *countingWriter) snapshot() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.writes...)
}

func TestLogBufferBatchesInfoAndFlushesWarnings(t *testing.T) {
	t.Parallel()
	out := &countingWriter{}
	buf := newBufferedLog(out, 1<<20, time.Hour) // only warnings, size and Flush write
	log := slog.New(flushingHandler{slog.NewTextHandler(buf, nil), buf})
	log.Info("one")
	log.Info("two")
	if w := out.snapshot(); len(w) != 0 {
		t.Fatalf("info lines written before a flush: %q", w)
	}
	log.Warn("three")
	w := out.snapshot()
	if len(w) != 1 || !strings.Contains(w[0], "msg=one") || !strings.Contains(w[0], "msg=three") ||
		strings.Index(w[0], "msg=one") > strings.Index(w[0], "msg=three") {
		t.Fatalf("a warning did not write the waiting lines and itself, in order, at once: %q", w)
	}
	log.Info("four")
	if err := buf.Flush(); err != nil {
		t.Fatal(err)
	}
	if w := out.snapshot(); len(w) != 2 || !strings.Contains(w[1], "msg=four") {
		t.Fatalf("Flush: %q", w)
	}
}

func TestLogBufferWritesWhenFullOrDue(t *testing.T) {
	t.Parallel()
	out := &countingWriter{}
	buf := newBufferedLog(out, 100, time.Hour)
	line := strings.Repeat("x", 39) + "\n" // 40 bytes
	for range 3 {
		buf.Write([]byte(line))
	}
	// The third line did not fit after the first two: those went out, the third waits.
	if w := out.snapshot(); len(w) != 1 || w[0] != line+line {
		t.Fatalf("writes when full: %q", w)
	}
	big := strings.Repeat("y", 150) + "\n"
	buf.Write([]byte(big)) // larger than the buffer: what waits, then the line itself
	if w := out.snapshot(); len(w) != 3 || w[1] != line || w[2] != big {
		t.Fatalf("a line larger than the buffer: %q", w)
	}

	timed := &countingWriter{}
	tb := newBufferedLog(timed, 1<<20, 20*time.Millisecond)
	tb.Write([]byte("late\n"))
	deadline := time.Now().Add(5 * time.Second)
	for len(timed.snapshot()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a waiting line was not written after the flush interval")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if w := timed.snapshot(); len(w) != 1 || w[0] != "late\n" {
		t.Fatalf("timed flush: %q", w)
	}
}

func TestLogBufferKeepsEveryLineUnderConcurrency(t *testing.T) {
	t.Parallel()
	var sink bytes.Buffer
	var mu sync.Mutex
	out := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return sink.Write(p) })
	buf := newBufferedLog(out, 512, time.Millisecond)
	log := slog.New(flushingHandler{slog.NewTextHandler(buf, nil), buf})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				log.Info("line", "g", g, "i", i)
			}
		}()
	}
	wg.Wait()
	buf.Flush()
	mu.Lock()
	defer mu.Unlock()
	if n := strings.Count(sink.String(), "msg=line"); n != 1600 {
		t.Fatalf("%d lines written, want 1600", n)
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
