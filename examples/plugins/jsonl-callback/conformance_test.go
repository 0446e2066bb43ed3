package jsonl_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/config"
	"github.com/switchyard/gateway/core/gateway"
	jsonl "github.com/switchyard/gateway/examples/plugins/jsonl-callback"
	_ "github.com/switchyard/gateway/plugins/providers/mock" // the example's models are mock/... models
	"github.com/switchyard/gateway/sdk"
	"github.com/switchyard/gateway/sdk/plugintest"
)

// TestCallback runs the callback through the conformance kit in-process and as a go-plugin binary (a file
// per mode), reading back what it wrote; then serves the example's config.yaml and checks that requests reach
// the file.
func TestCallback(t *testing.T) {
	t.Parallel()
	bin := plugintest.BuildGoPlugin(t, "./cmd/jsonl-plugin")

	t.Run("kit", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		paths := map[plugintest.Mode]string{}
		plugintest.RunCallback(t, plugintest.Callback{
			Name:   jsonl.Name,
			New:    func() sdk.Callback { return jsonl.New() },
			Binary: bin,
			ConfigFor: func(t *testing.T, mode plugintest.Mode) map[string]any {
				path := filepath.Join(t.TempDir(), "events.jsonl")
				mu.Lock()
				paths[mode] = path
				mu.Unlock()
				return map[string]any{"path": path}
			},
			Check: func(t *testing.T, mode plugintest.Mode, sent []*sdk.Event, _ []plugintest.Record) {
				mu.Lock()
				path := paths[mode]
				mu.Unlock()
				checkKitLines(t, path, sent)
			},
		})
	})

	t.Run("sha256", func(t *testing.T) {
		t.Parallel()
		sum, err := fileSHA256(bin)
		if err != nil {
			t.Fatal(err)
		}
		pinned := func(hash string) *config.Config {
			return loadExample(t, map[string]string{
				"exec:bin/plugins/jsonl-callback": "exec:" + bin,
				"path: switchyard-events.jsonl":   "path: " + filepath.Join(t.TempDir(), "events.jsonl"),
				`# sha256: "<64 hex digits>"`:     `sha256: "` + hash + `" #`,
			})
		}
		// The binary's own hash (what sha256sum prints) loads; any other is refused at start.
		gw, err := gateway.New(context.Background(), gateway.Options{Config: pinned(sum), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("the right hash: %v", err)
		}
		gw.Close()
		wrong := strings.Repeat("0", 64) // quoted in the file, so a string, not a number
		if _, err := gateway.New(context.Background(), gateway.Options{Config: pinned(wrong),
			Logger: slog.New(slog.DiscardHandler)}); err == nil || !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("a wrong hash: err = %v, want one naming plugins[0].sha256", err)
		}
	})

	t.Run("config.yaml", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "events.jsonl")
		cfg := loadExample(t, map[string]string{
			"exec:bin/plugins/jsonl-callback": "exec:" + bin,
			"path: switchyard-events.jsonl":   "path: " + path,
		})
		url := serve(t, cfg)
		key := cfg.GeneralSettings.MasterKey
		if status := chat(t, url, key, "x"); status != http.StatusOK {
			t.Fatalf("model x answered %d", status)
		}
		if status := chat(t, url, key, "limited"); status != http.StatusTooManyRequests {
			t.Fatalf("model limited answered %d, want 429", status)
		}
		// The gateway delivers events asynchronously, in batches (at least once a second).
		lines := waitForLines(t, path, 2)
		byGroup := map[string]jsonl.Line{}
		for _, l := range lines {
			byGroup[l.ModelGroup] = l
		}
		ok, bad := byGroup["x"], byGroup["limited"]
		if ok.CallID == "" || ok.Status != 200 || ok.Provider != "mock" || ok.Error != nil || ok.Usage == nil {
			t.Errorf("success line = %+v", ok)
		}
		if bad.CallID == "" || bad.Status != 429 || bad.Error == nil || bad.Error.Class != "RateLimitError" {
			t.Errorf("failure line = %+v", bad)
		}
		raw, _ := os.ReadFile(path)
		if strings.Contains(string(raw), key) {
			t.Errorf("the master key is in the file:\n%s", raw)
		}
	})
}

func fileSHA256(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// checkKitLines checks the lines written for the kit's two events against the documented fields.
func checkKitLines(t *testing.T, path string, sent []*sdk.Event) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode = %v, want 0600", st.Mode().Perm())
	}
	lines := readLines(t, path)
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	ok, bad := lines[0], lines[1]
	if ok.CallID != sent[0].CallID || ok.ModelGroup != "smart" || ok.Status != 200 || ok.Error != nil {
		t.Errorf("success line = %+v", ok)
	}
	if u := ok.Usage; u == nil || u.PromptTokens != 12 || u.CompletionTokens != 34 || u.TotalTokens != 46 {
		t.Errorf("success usage = %+v", u)
	}
	if ok.DurationMS != 1500 || ok.TimeToFirstTokenMS != 300 || ok.KeyAlias != "team-a-key" {
		t.Errorf("success line = %+v", ok)
	}
	if bad.CallID != sent[1].CallID || bad.Status != 429 || bad.Error == nil {
		t.Fatalf("failure line = %+v", bad)
	}
	if e := bad.Error; e.Class != "RateLimitError" || e.Status != 429 || e.Type != "rate_limit_error" || e.Message == "" {
		t.Errorf("failure error = %+v", e)
	}
	// No prompt without include_messages, and the key's hash only where it belongs.
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), `"messages"`) || strings.Contains(string(raw), "hi there") {
		t.Errorf("messages were written without include_messages:\n%s", raw)
	}
	if strings.Count(string(raw), sent[0].KeyHash) != 1 || ok.KeyHash != sent[0].KeyHash {
		t.Errorf("the key hash is written %d times, want once, as key_hash", strings.Count(string(raw), sent[0].KeyHash))
	}
	if strings.Contains(string(raw), "sk-") || strings.Contains(strings.ToLower(string(raw)), "bearer") {
		t.Errorf("something shaped like a credential is in the file:\n%s", raw)
	}
}

func readLines(t *testing.T, path string) []jsonl.Line {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []jsonl.Line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l jsonl.Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", len(out)+1, err, sc.Bytes())
		}
		out = append(out, l)
	}
	return out
}

// waitForLines waits until the file has n lines.
func waitForLines(t *testing.T, path string, n int) []jsonl.Line {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			if lines := readLines(t, path); len(lines) >= n || time.Now().After(deadline) {
				if len(lines) < n {
					t.Fatalf("%d lines after 15 s, want %d", len(lines), n)
				}
				return lines
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("no file after 15 s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// loadExample loads the example's config.yaml with the given replacements, each of which must apply.
func loadExample(t *testing.T, replace map[string]string) *config.Config {
	t.Helper()
	b, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for old, repl := range replace {
		if !strings.Contains(text, old) {
			t.Fatalf("config.yaml no longer contains %q", old)
		}
		text = strings.ReplaceAll(text, old, repl)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := config.Load(path, config.Options{Environ: []string{},
		LookupEnv: func(string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range loaded.Warnings {
		t.Errorf("config.yaml: %s", w)
	}
	return loaded.Config
}

// serve runs a gateway for cfg until the test ends and returns its URL.
func serve(t *testing.T, cfg *config.Config) string {
	t.Helper()
	gw, err := gateway.New(context.Background(), gateway.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gw.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// chat sends a chat completion to a model group and returns the status.
func chat(t *testing.T, url, key, model string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/chat/completions",
		strings.NewReader(`{"model":"`+model+`","messages":[{"role":"user","content":"hello"}]}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
