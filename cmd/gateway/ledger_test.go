package main

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/switchyard/gateway/internal/faultproxy"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/switchyard/gateway/core/store/storetest"
)

// TestLedgerSurvivesOutageAndSIGTERM: the database goes away mid-load, the gateway process is stopped with
// SIGTERM while it is still away, and started again once it is back: every request served is in the spend log
// exactly once.
func TestLedgerSurvivesOutageAndSIGTERM(t *testing.T) {
	t.Parallel()
	db := storetest.Postgres(t)
	proxy := faultproxy.New(t, "127.0.0.1:5432")
	viaProxy := strings.Replace(db, "127.0.0.1:5432", proxy.Addr(), 1)
	cfg := writeConfig(t, fmt.Sprintf(`
model_list:
  - model_name: demo
    litellm_params: {model: mock/demo, mock_response: "one two three", input_cost_per_token: 0.001}
general_settings:
  master_key: sk-1234
  database_url: %q
`, viaProxy))
	dataDir := t.TempDir()
	ask := func(p *process, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			req, _ := http.NewRequest("POST", p.url+"/v1/chat/completions",
				strings.NewReader(`{"model":"demo","messages":[{"role":"user","content":"hi"}]}`))
			req.Header.Set("Authorization", "Bearer sk-1234")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("request %d: HTTP %d", i, resp.StatusCode)
			}
		}
	}
	p := startProcess(t, nil, "--config", cfg, "--data-dir", dataDir)
	ask(p, 10)
	proxy.Cut()
	ask(p, 15)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup, which waits for it too
	case <-time.After(60 * time.Second):
		t.Fatalf("the gateway did not stop on SIGTERM: %s", p.stderr)
	}

	proxy.Restore()
	startProcess(t, nil, "--config", cfg, "--data-dir", dataDir)
	conn, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(20 * time.Second)
	var rows, ids int
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := conn.QueryRowContext(ctx, "SELECT COUNT(*), COUNT(DISTINCT request_id) FROM spend_logs").Scan(&rows, &ids)
		cancel()
		if err == nil && rows >= 25 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rows != 25 || ids != 25 {
		t.Fatalf("%d spend rows (%d distinct) for 25 requests served across the outage and the restart", rows, ids)
	}
}
