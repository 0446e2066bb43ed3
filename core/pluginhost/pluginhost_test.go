package pluginhost

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard/gateway/sdk"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// firstParty builds the first-party go-plugin binary once.
func firstParty(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pluginhost-test-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "firstparty")
		out, err := exec.Command("go", "build", "-o", binPath, "../../plugins/build/goplugin").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build: %v\n%s", buildErr, binPath)
	}
	return binPath
}

func candidates(n int) []sdk.Candidate {
	out := make([]sdk.Candidate, n)
	for i := range out {
		out[i] = sdk.Candidate{ID: string(rune('a' + i))}
	}
	return out
}

// TestRestartOnce kills a running plugin behind the host's back: twenty concurrent calls all succeed, and the
// plugin is restarted once, not once per caller.
func TestRestartOnce(t *testing.T) {
	t.Parallel()
	m, err := LoadExec(Spec{Name: "r", Kind: "router", Path: firstParty(t), Logger: slog.New(slog.DiscardHandler)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := m.(goRouter)
	defer r.Cleanup()
	ctx := context.Background()
	if _, err := r.Pick(ctx, &sdk.RouteRequest{}, candidates(3)); err != nil {
		t.Fatal(err)
	}
	first := r.p.cur.Load()
	first.client.Kill()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Pick(ctx, &sdk.RouteRequest{}, candidates(3)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("a call failed after the crash: %v", err)
	}
	if n := r.p.Restarts.Load(); n != 1 {
		t.Fatalf("restarts = %d, want 1", n)
	}
	if r.p.cur.Load() == first {
		t.Fatal("the dead process is still current")
	}
}

// TestHealthCheckMarksDeadPlugin: a plugin that stops answering pings is dropped by the health check.
func TestHealthCheckMarksDeadPlugin(t *testing.T) {
	old := healthInterval
	healthInterval = 50 * time.Millisecond
	defer func() { healthInterval = old }()
	m, err := LoadExec(Spec{Name: "r", Kind: "router", Path: firstParty(t), Logger: slog.New(slog.DiscardHandler)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := m.(goRouter)
	defer r.Cleanup()
	if _, err := r.Pick(context.Background(), &sdk.RouteRequest{}, candidates(2)); err != nil {
		t.Fatal(err)
	}
	r.p.cur.Load().client.Kill()
	deadline := time.Now().Add(5 * time.Second)
	for r.p.cur.Load() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the health check did not notice the dead plugin")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCloseKillsPlugin: Cleanup (shutdown, reload) stops the process, and later calls fail cleanly.
func TestCloseKillsPlugin(t *testing.T) {
	t.Parallel()
	m, err := LoadExec(Spec{Name: "r", Kind: "router", Path: firstParty(t), Logger: slog.New(slog.DiscardHandler)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := m.(goRouter)
	if _, err := r.Pick(context.Background(), &sdk.RouteRequest{}, candidates(2)); err != nil {
		t.Fatal(err)
	}
	running := r.p.cur.Load()
	_ = r.Cleanup()
	if !running.client.Exited() {
		t.Fatal("the plugin process still runs after Cleanup")
	}
	_, err = r.Pick(context.Background(), &sdk.RouteRequest{}, candidates(2))
	if e := sdk.AsError(err); e == nil || e.Kind != sdk.KindServiceUnavailable {
		t.Fatalf("err after Cleanup = %v", err)
	}
}

func TestPinnedHash(t *testing.T) {
	t.Parallel()
	bin := firstParty(t)
	sum, err := CheckFile(bin, "")
	if err != nil {
		t.Fatal(err)
	}
	good := Spec{Name: "r", Kind: "router", Path: bin, SHA256: strings.ToUpper(hexOf(sum))}
	if _, err := LoadExec(good, nil); err != nil {
		t.Fatalf("the right hash was refused: %v", err)
	}
	bad := good
	bad.SHA256 = strings.Repeat("0", 64)
	if _, err := LoadExec(bad, nil); err == nil || !strings.Contains(err.Error(), "not the pinned") {
		t.Fatalf("a wrong hash was accepted: %v", err)
	}
	missing := good
	missing.Path = filepath.Join(t.TempDir(), "nope")
	if _, err := LoadExec(missing, nil); err == nil {
		t.Fatal("a missing binary was accepted")
	}
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// TestWASMRejectsBadModules: a file that is not WASM, and a WASM module without the ABI, fail at load with a
// message saying why.
func TestWASMRejectsBadModules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		code []byte
		want string
	}{
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), "not a valid WASM module"},
		{"no abi", []byte("\x00asm\x01\x00\x00\x00"), "does not export sy_abi_version"},
	} {
		path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".wasm")
		if err := os.WriteFile(path, tc.code, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadWASM(context.Background(), Spec{Name: "x", Kind: "provider", Path: path}, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestEnvironmentNotInherited: the plugin process gets only the allowed variables, never the gateway's
// database, Redis or key settings.
func TestEnvironmentNotInherited(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://secret")
	t.Setenv("REDIS_PASSWORD", "secret")
	t.Setenv("LITELLM_MASTER_KEY", "sk-secret")
	t.Setenv("TZ", "UTC")
	env := strings.Join(pluginEnv(), "\n")
	for _, leaked := range []string{"DATABASE_URL", "REDIS_PASSWORD", "LITELLM_MASTER_KEY", "secret"} {
		if strings.Contains(env, leaked) {
			t.Errorf("%s reaches plugins", leaked)
		}
	}
	if !strings.Contains(env, "TZ=UTC") {
		t.Errorf("TZ does not reach plugins: %q", env)
	}
}
