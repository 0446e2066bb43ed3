package jsonl

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

func provisioned(t *testing.T, cfg map[string]any) *Callback {
	t.Helper()
	c := New()
	if err := c.Provision(context.Background(), sdk.ProvisionContext{Config: cfg, Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func readLines(t *testing.T, path string) []Line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", len(out)+1, err, sc.Bytes())
		}
		out = append(out, l)
	}
	return out
}

func event(id string) *sdk.Event {
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	return &sdk.Event{CallID: id, CallType: "chat", ModelGroup: "g", Model: "m", Provider: "p", Status: 200,
		StartTime: start, EndTime: start.Add(250 * time.Millisecond),
		Usage:    &sdk.Usage{PromptTokens: 3, CompletionTokens: 4, TotalTokens: 7},
		Messages: []sdk.Message{{Role: "user", Content: sdk.TextContent("secret plans")}},
		Output:   &sdk.Message{Role: "assistant", Content: sdk.TextContent("noted")}}
}

// TestCreatesAndAppends: the file is created 0600, and a second gateway start appends to it.
func TestCreatesAndAppends(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "events.jsonl")
	c := provisioned(t, map[string]any{"path": path})
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	if err := c.OnBatch(context.Background(), []*sdk.Event{event("a"), event("b")}); err != nil {
		t.Fatal(err)
	}
	// Flushed per batch: the lines are in the file before Cleanup.
	if got := readLines(t, path); len(got) != 2 {
		t.Fatalf("%d lines after the first batch, want 2", len(got))
	}
	if err := c.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if err := c.OnSuccess(context.Background(), event("late")); err == nil {
		t.Error("a cleaned-up callback accepted an event")
	}

	c = provisioned(t, map[string]any{"path": path})
	if err := c.OnSuccess(context.Background(), event("c")); err != nil {
		t.Fatal(err)
	}
	_ = c.Cleanup()
	lines := readLines(t, path)
	var ids []string
	for _, l := range lines {
		ids = append(ids, l.CallID)
	}
	if strings.Join(ids, ",") != "a,b,c" {
		t.Fatalf("call ids = %v, want a,b,c", ids)
	}
	l := lines[0]
	if l.Time != "2026-03-04T05:06:07.25Z" || l.DurationMS != 250 || l.Usage == nil || l.Usage.TotalTokens != 7 {
		t.Errorf("line = %+v", l)
	}
}

// TestMessages: prompts and answers are written only when asked for.
func TestMessages(t *testing.T) {
	t.Parallel()
	for _, include := range []bool{false, true} {
		t.Run(fmt.Sprint(include), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "events.jsonl")
			c := provisioned(t, map[string]any{"path": path, "include_messages": include})
			if err := c.OnBatch(context.Background(), []*sdk.Event{event("a")}); err != nil {
				t.Fatal(err)
			}
			_ = c.Cleanup()
			raw, _ := os.ReadFile(path)
			if has := strings.Contains(string(raw), "secret plans"); has != include {
				t.Fatalf("include_messages=%v, the prompt is written: %v\n%s", include, has, raw)
			}
		})
	}
}

// TestConcurrentBatches: batches delivered at once never interleave within a line.
func TestConcurrentBatches(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "events.jsonl")
	c := provisioned(t, map[string]any{"path": path})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				evs := []*sdk.Event{event(fmt.Sprintf("%d-%d-a", g, i)), event(fmt.Sprintf("%d-%d-b", g, i))}
				if err := c.OnBatch(context.Background(), evs); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	_ = c.Cleanup()
	lines := readLines(t, path)
	if len(lines) != 8*25*2 {
		t.Fatalf("%d lines, want %d", len(lines), 8*25*2)
	}
	// A batch is written as a whole: each "-a" line is followed by its "-b" line.
	for i := 0; i < len(lines); i += 2 {
		a, b := lines[i].CallID, lines[i+1].CallID
		if !strings.HasSuffix(a, "-a") || b != strings.TrimSuffix(a, "-a")+"-b" {
			t.Fatalf("lines %d and %d are %s and %s: a batch was split", i, i+1, a, b)
		}
	}
}

// TestConfigErrors: mistakes are reported at start, naming the key.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"no path", nil, "config.path: required"},
		{"a misspelt key", map[string]any{"pth": "x"}, `unknown field "pth"`},
		{"a directory", map[string]any{"path": t.TempDir()}, "config.path:"},
		{"a device", map[string]any{"path": os.DevNull}, "is not a regular file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New()
			err := c.Provision(context.Background(), sdk.ProvisionContext{Config: tc.cfg, Logger: slog.New(slog.DiscardHandler)})
			if err == nil {
				err = c.Validate()
				_ = c.Cleanup()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
