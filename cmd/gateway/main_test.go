package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/switchyard/gateway/internal/fakeupstream"
)

// binary is the gateway built once for the tests that run it as a process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gateway-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "gateway")
	out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the gateway: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// process is a running gateway binary.
type process struct {
	cmd    *exec.Cmd
	url    string
	stderr *logBuffer
	exited chan error
}

func startProcess(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	port := freePort(t)
	p := &process{url: fmt.Sprintf("http://127.0.0.1:%d", port), stderr: &logBuffer{}, exited: make(chan error, 1)}
	args = append(args, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
	if !slices.Contains(args, "--data-dir") {
		args = append(args, "--data-dir", t.TempDir())
	}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(p.url + "/health/liveliness")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not come up: %s", p.stderr)
		}
		select {
		case err := <-p.exited:
			t.Fatalf("the gateway exited: %v\n%s", err, p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logBuffer collects the process's stderr, written by exec's copying goroutine and read by the test.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const demoConfig = `
model_list:
  - model_name: demo
    litellm_params:
      model: mock/demo
      mock_response: "one two three four five six seven eight nine ten"
      mock_chunk_delay: 0.1
general_settings:
  master_key: sk-1234
`

// SIGTERM stops accepting connections but lets a stream under way finish.
func TestGracefulShutdownFinishesStreams(t *testing.T) {
	t.Parallel()
	p := startProcess(t, nil, "--config", writeConfig(t, demoConfig))
	req, _ := http.NewRequest(http.MethodPost, p.url+"/v1/chat/completions",
		strings.NewReader(`{"model":"demo","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer sk-1234")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	if _, err := r.ReadString('\n'); err != nil { // the first event has arrived: the stream is under way
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("the stream broke during shutdown: %v", err)
	}
	if !strings.HasSuffix(string(rest), "data: [DONE]\n\n") || !strings.Contains(string(rest), "ten") {
		t.Fatalf("the stream did not finish: %q", rest)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, p.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not exit")
	}
	p.exited <- nil // for the cleanup
	if _, err := http.Get(p.url + "/health/liveliness"); err == nil {
		t.Fatal("the gateway still accepts connections")
	}
}

// Past the shutdown grace period, streams still running are cut and the process exits.
func TestShutdownGraceIsBounded(t *testing.T) {
	t.Parallel()
	cfg := strings.Replace(demoConfig, "mock_chunk_delay: 0.1", "mock_chunk_delay: 5", 1) +
		"  shutdown_timeout: 0.5\n"
	p := startProcess(t, nil, "--config", writeConfig(t, cfg))
	req, _ := http.NewRequest(http.MethodPost, p.url+"/v1/chat/completions",
		strings.NewReader(`{"model":"demo","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer sk-1234")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if time.Since(begin) > 8*time.Second {
			t.Fatalf("shutdown took %v", time.Since(begin))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not exit after its grace period")
	}
	p.exited <- nil
}

// --model serves one OpenAI model with the key from OPENAI_API_KEY.
func TestQuickModelMode(t *testing.T) {
	t.Parallel()
	fake := fakeupstream.New(fakeupstream.Options{Key: "sk-from-env"})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	p := startProcess(t, []string{"OPENAI_API_KEY=sk-from-env", "OPENAI_BASE_URL=" + srv.URL + "/v1"},
		"--model", "gpt-4o")
	resp, err := http.Post(p.url+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"gpt-4o","messages":[{"role":"user","content":"quick"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Echo: quick") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if !strings.Contains(p.stderr.String(), "master_key is not set") {
		t.Fatalf("no warning about the missing master key:\n%s", p.stderr)
	}
}

func TestFlagsAndStartErrors(t *testing.T) {
	t.Parallel()
	bad := writeConfig(t, "model_list:\n  - model_name: a\n    litellm_params: {}\n")
	cases := []struct {
		args     []string
		code     int
		inOutput string
	}{
		{[]string{"--version"}, 0, "switchyard"},
		{[]string{"--help"}, 0, "--config"},
		{[]string{"--nope"}, 2, "flag provided but not defined"},
		{[]string{"--port", "70000"}, 2, "not a port"},
		{[]string{}, 1, "no models to serve"},
		{[]string{"--config", "/does/not/exist.yaml"}, 1, "no such file"},
		{[]string{"--config", bad}, 1, "model_list[0].litellm_params.model: required"},
	}
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, binary, c.args...).CombinedOutput()
		cancel()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code || !strings.Contains(string(out), c.inOutput) {
			t.Errorf("%v: exit %d, want %d; output lacks %q:\n%s", c.args, code, c.code, c.inOutput, out)
		}
	}
}

// --pprof serves the runtime's profiles on their own address, and the API port does not serve them.
func TestPprofListener(t *testing.T) {
	t.Parallel()
	pprofAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := startProcess(t, nil, "--config", writeConfig(t, demoConfig), "--pprof", pprofAddr)
	resp, err := http.Get("http://" + pprofAddr + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "heap profile") {
		t.Fatalf("heap profile: %d %.200s", resp.StatusCode, body)
	}
	resp, err = http.Get(p.url + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == 200 {
		t.Fatal("the API port serves profiles")
	}
}
