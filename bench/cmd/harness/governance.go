package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	// The "pgx" database/sql driver.
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"
)

// Governance variants of the gateway (issue 9): the same gateway with keys, budgets and the spend ledger on, the
// load generator using a virtual key rather than the master key. What they cost per request is what governance
// costs: authentication of a hashed key found in memory, an admission against the key's RPM, TPM and budget
// (with a reservation), a settlement, pricing, and a ledger row through the outbox into the store. With Redis
// the counters (and the router's usage) are Lua scripts in Redis; with PostgreSQL the ledger's batches go there.

// gatewayVariant is how a gateway target is set up.
type gatewayVariant struct {
	// governance gives the gateway a fresh data directory (SQLite store, ledger outbox) and has the load
	// generator use a virtual key with limits and a budget, made at start through /key/generate.
	governance bool
	// ledger gives the gateway the same fresh data directory (SQLite store, ledger outbox) but leaves the load
	// generator on the master key: every request is still priced and written to the spend ledger, with no key
	// lookup, limits or budget. Set alone, it splits what governance costs into the ledger's share and the rest.
	ledger bool
	// shared keeps the store in a fresh PostgreSQL database and the counters in Redis (a unique key prefix),
	// as replicas sharing state would.
	shared bool
	// anthropic serves the model through anthropic/<model>: the gateway translates every request to the
	// Messages API, which the fake serves too (fakeupstream's messagesReplay), and the answers back.
	anthropic bool
	// bedrock serves the model through bedrock/<bedrockModel>: the gateway translates every request to Amazon
	// Bedrock's Converse API and signs it with AWS Signature Version 4; the fake serves Converse too
	// (fakeupstream's converseReplay), streams in AWS's binary event stream framing.
	bedrock bool
	// cache turns on the local response cache: the benchmark's requests are all alike, so every one but the
	// first is a hit.
	cache bool
}

// virtualKeyRequest is the body of /key/generate: limits and a budget high enough never to refuse a request of
// the benchmark, so that every check runs and none fails.
const virtualKeyRequest = `{"key_alias": "bench", "rpm_limit": 100000000, "tpm_limit": 10000000000, ` +
	`"max_budget": 1000000}`

// sharedState is where the shared variant keeps its state: a database made for the run and a Redis key prefix.
type sharedState struct {
	databaseURL string
	redisHost   string
	redisPort   int
	prefix      string
}

// gatewayConfig is the gateway's configuration: one model in front of the fake, priced (so that governance
// reserves and records real amounts, as with a provider's model), auth on (so that the auth stage runs as in
// production), no retries (a failure must show as an error, not as latency).
func gatewayConfig(up endpoint, shared *sharedState, v gatewayVariant) string {
	var b strings.Builder
	// OpenAI's api_base ends in /v1; Anthropic's and Bedrock's are the host, the providers adding /v1/messages
	// and /model/{modelId}/converse.
	target, apiBase := "openai/"+model, up.url+"/v1"
	switch {
	case v.anthropic:
		target, apiBase = "anthropic/"+model, up.url
	case v.bedrock:
		target, apiBase = "bedrock/"+bedrockModel, up.url
	}
	fmt.Fprintf(&b, `model_list:
  - model_name: %s
    litellm_params:
      model: %q
      api_base: %q
`, model, target, apiBase)
	if v.bedrock {
		// No api_key: the provider would send it as a Bedrock API key (a bearer token) rather than sign.
		fmt.Fprintf(&b, "      aws_access_key_id: %q\n      aws_secret_access_key: %q\n      aws_region_name: %q\n",
			awsAccessKeyID, awsSecretAccessKey, awsRegion)
	} else {
		fmt.Fprintf(&b, "      api_key: %q\n", up.key)
	}
	b.WriteString(`      input_cost_per_token: 0.000001
      output_cost_per_token: 0.000002
router_settings:
  num_retries: 0
`)
	if shared != nil {
		fmt.Fprintf(&b, "  redis_host: %q\n  redis_port: %d\n  redis_key_prefix: %q\n", shared.redisHost,
			shared.redisPort, shared.prefix)
	}
	if v.cache {
		b.WriteString("litellm_settings:\n  cache: true\n  cache_params:\n    type: local\n")
	}
	fmt.Fprintf(&b, "general_settings:\n  master_key: %q\n", masterKey)
	if shared != nil {
		fmt.Fprintf(&b, "  database_url: %q\n", shared.databaseURL)
	}
	return b.String()
}

// prepareShared checks, before anything starts, that Redis and PostgreSQL answer; the target is left out
// otherwise.
func prepareShared(ctx context.Context, h *harness) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: h.flags.redis, MaxRetries: -1})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("Redis not reachable at %s: %w", h.flags.redis, err)
	}
	db, err := sql.Open("pgx", h.flags.postgres)
	if err != nil {
		return fmt.Errorf("PostgreSQL URL %s: %w", redactURL(h.flags.postgres), err)
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("PostgreSQL not reachable at %s: %w", redactURL(h.flags.postgres), err)
	}
	return nil
}

// redactURL drops a password from a URL, for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// randomSuffix returns 16 hex characters.
func randomSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newSharedState creates a database named sw_bench_<random> and picks a Redis key prefix of the same name;
// both are removed when the harness ends (h.cleanup), after the gateway has stopped.
func newSharedState(ctx context.Context, h *harness) (*sharedState, error) {
	name := "sw_bench_" + randomSuffix()
	dbURL, err := databaseURL(h.flags.postgres, name)
	if err != nil {
		return nil, err
	}
	host, portText, err := net.SplitHostPort(h.flags.redis)
	if err != nil {
		return nil, fmt.Errorf("--redis %q: %w", h.flags.redis, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("--redis %q: bad port", h.flags.redis)
	}
	admin, err := sql.Open("pgx", h.flags.postgres)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// Identifiers cannot be parameters; name is "sw_bench_" and hex digits only.
	if _, err := admin.ExecContext(cctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	prefix := "sw-bench-" + strings.TrimPrefix(name, "sw_bench_") + ":"
	h.onCleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			h.logf("dropping database %s: %v", name, err)
		}
		if n, err := deleteRedisPrefix(ctx, h.flags.redis, prefix); err != nil {
			h.logf("deleting the Redis keys %s*: %v", prefix, err)
		} else {
			h.logf("dropped database %s and %d Redis keys %s*", name, n, prefix)
		}
	})
	return &sharedState{databaseURL: dbURL, redisHost: host, redisPort: port, prefix: prefix}, nil
}

// databaseURL is the admin URL with its database replaced by name.
func databaseURL(admin, name string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("--postgres %s: not a postgres:// URL", redactURL(admin))
	}
	u.Path = "/" + name
	return u.String(), nil
}

// deleteRedisPrefix deletes every key that starts with prefix and returns how many there were.
func deleteRedisPrefix(ctx context.Context, addr, prefix string) (int, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	n := 0
	iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := rdb.Del(ctx, batch...).Err()
		n += len(batch)
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := iter.Err(); err != nil {
		return n, err
	}
	return n, flush()
}

// generateKey makes a virtual key through the management API with the master key and returns it.
func generateKey(ctx context.Context, base string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/key/generate",
		strings.NewReader(virtualKeyRequest))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+masterKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("/key/generate: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("/key/generate: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/key/generate answered %d: %.300s", resp.StatusCode, body)
	}
	var out struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(body, &out); err != nil || !strings.HasPrefix(out.Key, "sk-") {
		return "", fmt.Errorf("/key/generate: no key in the answer (%v)", err)
	}
	return out.Key, nil
}
