package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

func chunks(ids ...string) []*sdk.Chunk {
	out := make([]*sdk.Chunk, len(ids))
	for i, id := range ids {
		out[i] = &sdk.Chunk{ID: id}
	}
	return out
}

func TestSliceStreamYieldsItemsThenEOF(t *testing.T) {
	t.Parallel()
	items := chunks("a", "b", "c")
	s := &sdk.SliceStream{Items: items}
	for i, want := range items {
		got, err := s.Next()
		if err != nil || got != want {
			t.Fatalf("Next() #%d = %v, %v; want %v", i, got, err, want)
		}
	}
	for range 2 {
		if c, err := s.Next(); c != nil || err != io.EOF {
			t.Errorf("Next() after the end = %v, %v; want io.EOF", c, err)
		}
	}
	var empty sdk.SliceStream
	if c, err := empty.Next(); c != nil || err != io.EOF {
		t.Errorf("zero SliceStream: Next() = %v, %v", c, err)
	}
	if err := empty.Close(); err != nil {
		t.Error(err)
	}
	if err := empty.Close(); err != nil {
		t.Errorf("a second Close() = %v", err)
	}
}

func TestSliceStreamCloseEndsIt(t *testing.T) {
	t.Parallel()
	s := &sdk.SliceStream{Items: chunks("a", "b")}
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if c, err := s.Next(); c != nil || err != io.EOF {
		t.Errorf("Next() after Close = %v, %v; want io.EOF", c, err)
	}
}

func TestSliceStreamDelay(t *testing.T) {
	t.Parallel()
	const delay = 20 * time.Millisecond
	s := &sdk.SliceStream{Items: chunks("a", "b", "c"), Delay: delay}
	start := time.Now()
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	if first := time.Since(start); first >= delay {
		t.Errorf("the first chunk waited %v; only later ones wait", first)
	}
	for {
		if _, err := s.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if total := time.Since(start); total < 2*delay {
		t.Errorf("3 chunks with a %v delay took %v, want at least %v", delay, total, 2*delay)
	}
}

func TestSliceStreamContextAbortsTheDelay(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	s := &sdk.SliceStream{Items: chunks("a", "b"), Delay: time.Hour, Ctx: ctx}
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if c, err := s.Next(); c != nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Next() after cancel = %v, %v; want context.Canceled", c, err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	s = &sdk.SliceStream{Items: chunks("a", "b"), Delay: time.Hour, Ctx: ctx}
	s.Next()
	time.AfterFunc(10*time.Millisecond, cancel)
	if _, err := s.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("Next() cancelled while waiting = %v", err)
	}
}

// The Stream contract lets Close abort a Next under way; the gateway does that when the client goes away.
func TestSliceStreamCloseAbortsTheDelay(t *testing.T) {
	t.Parallel()
	s := &sdk.SliceStream{Items: chunks("a", "b"), Delay: time.Hour}
	if _, err := s.Next(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Next()
		done <- err
	}()
	// Give Next time to start waiting: closing first would pass without exercising the abort.
	time.Sleep(20 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		if err != io.EOF {
			t.Errorf("Next() aborted by Close = %v, want io.EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not abort a Next waiting out the delay")
	}
}

func TestSliceStreamCloseConcurrentWithNext(t *testing.T) {
	t.Parallel()
	for range 50 {
		s := &sdk.SliceStream{Items: chunks("a", "b", "c", "d"), Delay: time.Microsecond}
		var wg sync.WaitGroup
		wg.Go(func() {
			for {
				if _, err := s.Next(); err != nil {
					if err != io.EOF {
						t.Errorf("Next() = %v", err)
					}
					return
				}
			}
		})
		wg.Go(func() { s.Close() })
		wg.Go(func() { s.Close() })
		wg.Wait()
	}
}

// recording wraps a stream to see whether Chunks closes it.
type recording struct {
	sdk.Stream
	closed int
	err    error // returned after the inner stream ends, instead of io.EOF
}

func (r *recording) Next() (*sdk.Chunk, error) {
	c, err := r.Stream.Next()
	if err == io.EOF && r.err != nil {
		return nil, r.err
	}
	return c, err
}

func (r *recording) Close() error { r.closed++; return r.Stream.Close() }

func TestChunks(t *testing.T) {
	t.Parallel()
	t.Run("all chunks, then closed", func(t *testing.T) {
		t.Parallel()
		r := &recording{Stream: &sdk.SliceStream{Items: chunks("a", "b", "c")}}
		var ids []string
		for c, err := range sdk.Chunks(r) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID)
		}
		if len(ids) != 3 || ids[2] != "c" || r.closed != 1 {
			t.Errorf("got %q, closed %d times", ids, r.closed)
		}
	})
	t.Run("break closes", func(t *testing.T) {
		t.Parallel()
		r := &recording{Stream: &sdk.SliceStream{Items: chunks("a", "b", "c")}}
		n := 0
		for range sdk.Chunks(r) {
			n++
			break
		}
		if n != 1 || r.closed != 1 {
			t.Errorf("%d chunks, closed %d times", n, r.closed)
		}
	})
	t.Run("an error is the last item", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("upstream reset")
		r := &recording{Stream: &sdk.SliceStream{Items: chunks("a")}, err: boom}
		var got []error
		for c, err := range sdk.Chunks(r) {
			if err != nil && c != nil {
				t.Errorf("a chunk with an error: %v", c)
			}
			got = append(got, err)
		}
		if len(got) != 2 || got[0] != nil || got[1] != boom || r.closed != 1 {
			t.Errorf("items %v, closed %d times", got, r.closed)
		}
	})
}

func TestTargetParam(t *testing.T) {
	t.Parallel()
	tg := &sdk.Target{Params: map[string]any{
		"region":   "us-east-1",
		"empty":    "",
		"float":    1.5,
		"whole":    2.0,
		"big":      1e21,
		"int":      42,
		"int64":    int64(-7),
		"true":     true,
		"false":    false,
		"nil":      nil,
		"number":   json.Number("12.50"),
		"stringer": 30 * time.Second,
		"list":     []any{"a", 1},
		"tiny":     0.000001,
		"zero":     0.0,
	}}
	tests := map[string]string{
		"region":   "us-east-1",
		"empty":    "",
		"float":    "1.5",
		"whole":    "2",
		"big":      "1000000000000000000000",
		"int":      "42",
		"int64":    "-7",
		"true":     "true",
		"false":    "false",
		"nil":      "",
		"absent":   "",
		"number":   "12.50",
		"stringer": "30s",
		"list":     "[a 1]",
		"tiny":     "0.000001",
		"zero":     "0",
	}
	for name, want := range tests {
		if got := tg.Param(name); got != want {
			t.Errorf("Param(%q) = %q, want %q", name, got, want)
		}
	}
	if got := (&sdk.Target{}).Param("x"); got != "" {
		t.Errorf("Param on nil Params = %q", got)
	}
}

// These tests change the environment and so cannot run in parallel.

func TestParamOrEnv(t *testing.T) {
	t.Setenv("SDKTEST_KEY_A", "")
	t.Setenv("SDKTEST_KEY_B", "from-b")
	t.Setenv("SDKTEST_KEY_C", "from-c")
	tg := &sdk.Target{Params: map[string]any{"api_key": "from-config", "blank": "", "port": 8080}}
	tests := []struct {
		param string
		envs  []string
		want  string
	}{
		{"api_key", []string{"SDKTEST_KEY_B"}, "from-config"},
		{"port", []string{"SDKTEST_KEY_B"}, "8080"},
		{"blank", []string{"SDKTEST_KEY_A", "SDKTEST_KEY_B", "SDKTEST_KEY_C"}, "from-b"},
		{"absent", []string{"SDKTEST_KEY_C", "SDKTEST_KEY_B"}, "from-c"},
		{"absent", []string{"SDKTEST_KEY_A", "SDKTEST_UNSET"}, ""},
		{"absent", nil, ""},
	}
	for _, tt := range tests {
		if got := tg.ParamOrEnv(tt.param, tt.envs...); got != tt.want {
			t.Errorf("ParamOrEnv(%q, %q) = %q, want %q", tt.param, tt.envs, got, tt.want)
		}
	}
}

func TestFirstEnv(t *testing.T) {
	t.Setenv("SDKTEST_FIRST_EMPTY", "")
	t.Setenv("SDKTEST_FIRST_SET", "v1")
	t.Setenv("SDKTEST_SECOND_SET", "v2")
	tests := []struct {
		names []string
		want  string
	}{
		{[]string{"SDKTEST_FIRST_SET", "SDKTEST_SECOND_SET"}, "v1"},
		{[]string{"SDKTEST_FIRST_EMPTY", "SDKTEST_SECOND_SET"}, "v2"},
		{[]string{"SDKTEST_NEVER_SET", "SDKTEST_FIRST_EMPTY"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := sdk.FirstEnv(tt.names...); got != tt.want {
			t.Errorf("FirstEnv(%q) = %q, want %q", tt.names, got, tt.want)
		}
	}
}
