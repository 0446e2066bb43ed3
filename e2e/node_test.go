package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestOpenAINodeSDK runs e2e/node/gateway.test.js, the official openai npm package against a running gateway.
// It needs Node.js and `npm ci` in e2e/node (make test does both); without them it skips, except under CI=true.
func TestOpenAINodeSDK(t *testing.T) {
	t.Parallel()
	node, err := exec.LookPath("node")
	dir, _ := filepath.Abs("node")
	if _, serr := os.Stat(filepath.Join(dir, "node_modules", "openai")); err != nil || serr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Node.js or e2e/node/node_modules is missing (node: %v); run `npm ci --prefix e2e/node`", err)
		}
		t.Skip("Node.js or e2e/node/node_modules missing; run `npm ci --prefix e2e/node` to run the openai npm tests")
	}
	e := start(t, openAIConfig)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "gateway.test.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SWITCHYARD_URL="+e.URL, "SWITCHYARD_KEY="+masterKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test failed: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
