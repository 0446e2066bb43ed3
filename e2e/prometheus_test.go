package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// prometheusBinary finds a Prometheus server: on the PATH, or in bin/ where `make prometheus-dep` unpacks the
// Debian package's. Without one the test skips, except under CI=true.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	if p, err := filepath.Abs("../bin/prometheus"); err == nil {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no prometheus binary (run `make prometheus-dep`); required under CI=true")
	}
	t.Skip("no prometheus binary (run `make prometheus-dep`); skipping the real-scrape test")
	return ""
}

// TestPrometheusScrapesGateway: a real Prometheus server scrapes /metrics and its query API reports the traffic
// the gateway served.
func TestPrometheusScrapesGateway(t *testing.T) {
	t.Parallel()
	bin := prometheusBinary(t)
	e := start(t, openAIConfig)
	for i := 0; i < 3; i++ {
		if _, _, err := e.chat("gpt-4o"); err != nil {
			t.Fatal(err)
		}
	}
	target := strings.TrimPrefix(e.URL, "http://")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: switchyard
    static_configs:
      - targets: [%q]
`, target)), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })

	query := func(q string) (float64, bool) {
		resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return 0, false
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&out) != nil || len(out.Data.Result) == 0 {
			return 0, false
		}
		var v float64
		_, err = fmt.Sscan(fmt.Sprint(out.Data.Result[0].Value[1]), &v)
		return v, err == nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		up, _ := query(`up{job="switchyard"}`)
		n, ok := query(`sum(litellm_requests_total{job="switchyard",model_group="gpt-4o",status_class="2xx"})`)
		if up == 1 && ok && n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not see the traffic: up=%v requests=%v (%v)\n%s", up, n, ok, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n, ok := query(`sum(litellm_request_duration_seconds_count{job="switchyard",model_group="gpt-4o"})`); !ok || n != 3 {
		t.Fatalf("the duration histogram as Prometheus stored it: %v (%v)", n, ok)
	}
}
