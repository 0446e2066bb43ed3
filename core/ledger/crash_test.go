package ledger

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/core/store"
)

const (
	crashDirEnv  = "LEDGER_CRASH_DIR"
	crashSinkEnv = "LEDGER_CRASH_SINK"
	crashN       = 3000
)

// fileSink appends the request ids of each batch to a file, slowly, so
// that the process is killed while deliveries are under way.
type fileSink struct {
	mu sync.Mutex
	f  *os.File
}

func (s *fileSink) InsertSpendLogs(_ context.Context, logs []store.SpendLog) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, l := range logs {
		b.WriteString(l.RequestID + "\n")
	}
	if _, err := s.f.WriteString(b.String()); err != nil {
		return 0, err
	}
	time.Sleep(time.Millisecond)
	return len(logs), nil
}

// TestHelperCrashChild is the process that TestKilledProcessLosesNothing
// kills; it does nothing in a normal test run.
func TestHelperCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestKilledProcessLosesNothing")
	}
	f, err := os.OpenFile(os.Getenv(crashSinkEnv), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	opts := testOpts(t, dir)
	opts.BatchSize = 10
	opts.SegmentSize = 8 << 10
	l := mustOpen(t, opts, &fileSink{f: f})
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := range crashN / 10 {
				l.Record(rec(w*(crashN/10) + i))
			}
		})
	}
	wg.Wait()
	waitFor(t, "all records to be durable", func() bool { st := l.Stats(); return st.Pending+st.Delivered == crashN })
	fmt.Println("READY", l.Stats().Delivered)
	select {} // killed here, in the middle of delivering
}

// TestKilledProcessLosesNothing kills (SIGKILL) a process that has made
// records durable while it is delivering them, then reopens its outbox: the
// union of what the first process delivered and what the second delivers is
// exactly the recorded set.
func TestKilledProcessLosesNothing(t *testing.T) {
	t.Parallel()
	dir, sinkFile := t.TempDir(), t.TempDir()+"/delivered.txt"
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSinkEnv+"="+sinkFile)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "READY") {
				ready <- sc.Text()
				return
			}
		}
		close(ready)
	}()
	select {
	case line, ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatal("child exited before it was ready")
		}
		t.Logf("child: %s of %d delivered when killed", line, crashN)
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child not ready in time")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	before := map[string]bool{}
	raw, err := os.ReadFile(sinkFile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	for _, id := range lines[:len(lines)-1] { // a cut last line was not acknowledged
		before[id] = true
	}
	sink := newSink(t)
	l := mustOpen(t, testOpts(t, dir), sink)
	flushOK(t, l)
	closeOK(t, l)
	union := map[string]bool{}
	for id := range before {
		union[id] = true
	}
	for _, id := range sink.ids() {
		union[id] = true
	}
	if len(union) != crashN {
		t.Fatalf("%d distinct records delivered across the kill, want %d", len(union), crashN)
	}
	for _, id := range wantIDs(0, crashN) {
		if !union[id] {
			t.Fatalf("record %s lost", id)
		}
	}
	t.Logf("first process delivered %d, second %d (%s redelivered)", len(before), len(sink.ids()),
		strconv.Itoa(len(before)+len(sink.ids())-crashN))
}
