package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/switchyard/gateway/internal/faultproxy"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/switchyard/gateway/core/store/storetest"
	"github.com/switchyard/gateway/internal/fakeupstream"
)

// governedConfig serves two priced models from the fake upstream, whose answers are always "one two three"
// (3 completion tokens).
const governedConfig = `
model_list:
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}",
      input_cost_per_token: 0.001, output_cost_per_token: 0.002}
  - model_name: claude-sonnet
    litellm_params: {model: openai/claude-sonnet, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}",
      input_cost_per_token: 0.001, output_cost_per_token: 0.002}
  - model_name: gpt-4o-mini
    litellm_params: {model: openai/gpt-4o-mini, api_base: "{{FAKE}}/v1", api_key: "{{KEY}}",
      input_cost_per_token: 0.001, output_cost_per_token: 0.002}
router_settings:
  num_retries: 0
general_settings:
  master_key: sk-master-test
`

func startGoverned(t *testing.T, extra string) *env {
	t.Helper()
	return start(t, governedConfig+extra, fakeAnswer())
}

func fakeAnswer() fakeupstream.Options {
	return fakeupstream.Options{Key: upstreamKey, Answer: "one two three"}
}

// api calls the management API with a key (the master key when key is "") and decodes the JSON answer.
func (e *env) api(method, path, key, body string) (int, map[string]any) {
	e.t.Helper()
	if key == "" {
		key = masterKey
	}
	req, err := http.NewRequest(method, e.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(raw) > 0 && raw[0] == '[' {
		var list []any
		_ = json.Unmarshal(raw, &list)
		out["list"] = list
	} else if err := json.Unmarshal(raw, &out); err != nil {
		e.t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// newKey generates a key with the given /key/generate body and returns it.
func (e *env) newKey(body string) string {
	e.t.Helper()
	code, out := e.api("POST", "/key/generate", "", body)
	key, _ := out["key"].(string)
	if code != 200 || !strings.HasPrefix(key, "sk-") {
		e.t.Fatalf("/key/generate %s: %d %v", body, code, out)
	}
	return key
}

// ask sends one chat request with a key and returns the HTTP response headers, or the error.
func (e *env) askWith(key, model string, opts ...option.RequestOption) (http.Header, error) {
	var resp *http.Response
	opts = append(opts, option.WithAPIKey(key), option.WithResponseInto(&resp))
	_, err := e.client(opts...).Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Hello!")}})
	if resp != nil {
		return resp.Header, err
	}
	return nil, err
}

// awayFromMinuteEdge waits, when the current minute has less than 10 s left, for the next one to begin: per-minute
// limits count in fixed minute windows, and a test counting requests against one must not straddle two.
func awayFromMinuteEdge() {
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 10*time.Second {
		time.Sleep(left + 50*time.Millisecond)
	}
}

// errMessage is the message of an OpenAI error (its Error() gives only the status).
func errMessage(err error) string {
	var apiErr *openai.Error
	if errors.As(err, &apiErr) {
		return apiErr.Message
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// keySpend is a key's spend as /key/info reports it.
func (e *env) keySpend(key string) float64 {
	e.t.Helper()
	code, out := e.api("GET", "/key/info?key="+key, "", "")
	if code != 200 {
		e.t.Fatalf("/key/info: %d %v", code, out)
	}
	info, _ := out["info"].(map[string]any)
	v, _ := info["spend"].(float64)
	return v
}

// spendRows polls /spend/logs until it holds want rows (the ledger writes asynchronously) and returns them.
func (e *env) spendRows(query string, want int) []any {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, out := e.api("GET", "/spend/logs"+query, "", "")
		rows, _ := out["list"].([]any)
		if len(rows) >= want || time.Now().After(deadline) {
			return rows
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestVirtualKeysGuide follows the guide's section 3.6-4.2: a key made with the guide's exact body calls its
// models with the official client, is refused the others, and its spend shows in the spend APIs.
func TestVirtualKeysGuide(t *testing.T) {
	t.Parallel()
	e := startGoverned(t, "")
	key := e.newKey(`{
    "models": ["gpt-4o", "claude-sonnet"],
    "max_budget": 100.0,
    "budget_duration": "monthly",
    "metadata": {
      "team": "backend",
      "user": "developer-1"
    },
    "tpm_limit": 50000,
    "rpm_limit": 100
  }`)
	h, err := e.askWith(key, "gpt-4o", option.WithJSONSet("metadata", map[string]any{"test_name": "greeting", "variant": "gpt-4o"}))
	if err != nil {
		t.Fatal(err)
	}
	// 3 + 1 prompt tokens ("Hello!") at 0.001 and 3 completion tokens at 0.002.
	cost, _ := strconv.ParseFloat(h.Get("x-litellm-response-cost"), 64)
	if math.Abs(cost-0.010) > 1e-9 {
		t.Fatalf("x-litellm-response-cost = %q, want 0.01", h.Get("x-litellm-response-cost"))
	}
	if h.Get("x-ratelimit-limit-requests") != "100" || h.Get("x-ratelimit-remaining-requests") != "99" {
		t.Errorf("rate-limit headers: limit %q remaining %q", h.Get("x-ratelimit-limit-requests"),
			h.Get("x-ratelimit-remaining-requests"))
	}
	if _, err := e.askWith(key, "gpt-4o-mini"); statusOf(err) != 403 {
		t.Fatalf("a model outside the key's list: %v, want 403", err)
	}
	if _, err := e.askWith("sk-not-a-key", "gpt-4o"); statusOf(err) != 401 {
		t.Fatalf("an unknown key: %v, want 401", err)
	}
	if s := e.keySpend(key); math.Abs(s-0.010) > 1e-9 {
		t.Fatalf("/key/info spend = %v, want 0.01", s)
	}
	rows := e.spendRows("?api_key="+key, 1)
	if len(rows) != 1 {
		t.Fatalf("%d spend rows, want 1", len(rows))
	}
	row := rows[0].(map[string]any)
	raw, _ := json.Marshal(row)
	if strings.Contains(string(raw), key) {
		t.Fatal("a spend row holds the raw key")
	}
	if md, _ := row["metadata"].(map[string]any); md["test_name"] != "greeting" {
		t.Errorf("the request's metadata is not in its spend row: %s", raw)
	}
	if row["total_tokens"] != 7.0 || row["model_group"] != "gpt-4o" && row["model"] != "gpt-4o" {
		t.Errorf("spend row: %s", raw)
	}
	code, out := e.api("GET", "/global/spend?api_key="+key, "", "")
	if code != 200 || math.Abs(out["spend"].(float64)-0.010) > 1e-9 {
		t.Fatalf("/global/spend?api_key: %d %v", code, out)
	}
	// The guide's team and user.
	if code, out := e.api("POST", "/team/new", "", `{
    "team_alias": "backend-team",
    "rpm_limit": 200,
    "tpm_limit": 80000,
    "max_budget": 500.0,
    "budget_duration": "monthly"
  }`); code != 200 || out["team_id"] == "" {
		t.Fatalf("/team/new: %d %v", code, out)
	}
	if code, out := e.api("POST", "/user/new", "", `{
    "user_id": "user-123",
    "max_budget": 50.0,
    "budget_duration": "monthly",
    "models": ["gpt-4o-mini", "claude-sonnet"]
  }`); code != 200 {
		t.Fatalf("/user/new: %d %v", code, out)
	}
	if code, out := e.api("GET", "/user/info?user_id=user-123", "", ""); code != 200 {
		t.Fatalf("/user/info: %d %v", code, out)
	}
}

// TestKeyEnforcement: each of a key's checks refuses with the right status and says why.
func TestKeyEnforcement(t *testing.T) {
	t.Parallel()
	e := startGoverned(t, "")

	t.Run("rpm", func(t *testing.T) {
		awayFromMinuteEdge()
		key := e.newKey(`{"rpm_limit": 2}`)
		for i := 0; i < 2; i++ {
			if _, err := e.askWith(key, "gpt-4o"); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.askWith(key, "gpt-4o")
		if statusOf(err) != 429 {
			t.Fatalf("third request in a minute: %v, want 429", err)
		}
		var apiErr *openai.Error
		if errors.As(err, &apiErr); apiErr.Response.Header.Get("x-ratelimit-remaining-requests") != "0" ||
			apiErr.Response.Header.Get("retry-after") == "" {
			t.Errorf("429 headers: %v", apiErr.Response.Header)
		}
	})
	t.Run("blocked", func(t *testing.T) {
		key := e.newKey(`{}`)
		if code, out := e.api("POST", "/key/block", "", `{"key": "`+key+`"}`); code != 200 {
			t.Fatalf("/key/block: %d %v", code, out)
		}
		if _, err := e.askWith(key, "gpt-4o"); statusOf(err) != 401 {
			t.Fatalf("a blocked key: %v, want 401", err)
		}
		e.api("POST", "/key/unblock", "", `{"key": "`+key+`"}`)
		if _, err := e.askWith(key, "gpt-4o"); err != nil {
			t.Fatalf("an unblocked key: %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		key := e.newKey(`{"duration": "1s"}`)
		time.Sleep(1100 * time.Millisecond)
		if _, err := e.askWith(key, "gpt-4o"); statusOf(err) != 401 || !strings.Contains(errMessage(err), "expired") {
			t.Fatalf("an expired key: %v, want 401 naming the expiry", err)
		}
	})
	t.Run("team budget", func(t *testing.T) {
		code, team := e.api("POST", "/team/new", "", `{"team_alias": "tiny", "max_budget": 0.015}`)
		if code != 200 {
			t.Fatalf("/team/new: %d %v", code, team)
		}
		key := e.newKey(fmt.Sprintf(`{"team_id": %q}`, team["team_id"]))
		var last error
		for i := 0; i < 5 && last == nil; i++ {
			_, last = e.askWith(key, "gpt-4o")
		}
		if msg := errMessage(last); statusOf(last) != 429 || !strings.Contains(msg, "team") || !strings.Contains(msg, "udget") {
			t.Fatalf("past the team's budget: %v, want 429 budget_exceeded naming the team", last)
		}
	})
	t.Run("model limits", func(t *testing.T) {
		awayFromMinuteEdge()
		key := e.newKey(`{"model_rpm_limit": {"gpt-4o": 1}}`)
		if _, err := e.askWith(key, "gpt-4o"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.askWith(key, "gpt-4o"); statusOf(err) != 429 {
			t.Fatalf("past the key's rpm for gpt-4o: %v", err)
		}
		if _, err := e.askWith(key, "claude-sonnet"); err != nil {
			t.Fatalf("another model is not limited: %v", err)
		}
	})
	t.Run("customer", func(t *testing.T) {
		e.api("POST", "/customer/new", "", `{"user_id": "end-user-1", "max_budget": 100}`)
		e.api("POST", "/customer/block", "", `{"user_ids": ["end-user-1"]}`)
		_, err := e.askWith(masterKey, "gpt-4o", option.WithJSONSet("user", "end-user-1"))
		if statusOf(err) != 403 {
			t.Fatalf("a blocked end user: %v, want 403", err)
		}
	})
}

// TestBudgetRace: hundreds of concurrent requests against a budget with room for a few: the spend ends within
// one request's cost of the budget.
func TestBudgetRace(t *testing.T) {
	t.Parallel()
	e := startGoverned(t, "")
	const perRequest = 0.010 // see TestVirtualKeysGuide
	const budget = 0.105
	key := e.newKey(fmt.Sprintf(`{"max_budget": %v}`, budget))
	var wg sync.WaitGroup
	var mu sync.Mutex
	served := 0
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := 0; attempt < 50; attempt++ {
				_, err := e.askWith(key, "gpt-4o", option.WithJSONSet("max_tokens", 3))
				if err == nil {
					mu.Lock()
					served++
					mu.Unlock()
					return
				}
				// Refused while others' reservations are outstanding: try again until the budget is spent.
				if strings.Contains(errMessage(err), "+$0.000000 reserved") || statusOf(err) != 429 {
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	spend := e.keySpend(key)
	if spend < budget || spend > budget+perRequest+1e-9 {
		t.Fatalf("spend %v after %d requests served; want within one request (%v) above the budget %v",
			spend, served, perRequest, budget)
	}
	if rows := e.spendRows("?api_key="+key, served); len(rows) != served {
		t.Fatalf("%d ledger rows for %d requests served", len(rows), served)
	}
}

// TestSpendIsolation: a key of one team cannot read another team's spend.
func TestSpendIsolation(t *testing.T) {
	t.Parallel()
	e := startGoverned(t, "")
	_, a := e.api("POST", "/team/new", "", `{"team_alias": "a"}`)
	_, b := e.api("POST", "/team/new", "", `{"team_alias": "b"}`)
	keyA := e.newKey(fmt.Sprintf(`{"team_id": %q}`, a["team_id"]))
	keyB := e.newKey(fmt.Sprintf(`{"team_id": %q}`, b["team_id"]))
	if _, err := e.askWith(keyB, "gpt-4o"); err != nil {
		t.Fatal(err)
	}
	e.spendRows("?api_key="+keyB, 1)
	for _, path := range []string{"/spend/logs?api_key=" + keyB, "/global/spend/logs?api_key=" + keyB,
		"/team/info?team_id=" + b["team_id"].(string), "/global/spend/teams", "/key/info?key=" + keyB,
		"/global/spend?api_key=" + keyB} {
		code, out := e.api("GET", path, keyA, "")
		raw, _ := json.Marshal(out)
		if code == 200 && (strings.Contains(string(raw), b["team_id"].(string)) || strings.Contains(string(raw), "gpt-4o")) {
			t.Errorf("team a's key read team b's spend at %s: %s", path, raw)
		}
	}
	if code, _ := e.api("POST", "/key/generate", keyA, `{}`); code != 403 {
		t.Errorf("a non-admin key generated a key: %d", code)
	}
}

// TestLedgerExact: N requests, streamed and not, some clients leaving mid-stream, give exactly N ledger rows
// whose tokens are what the upstream reported (or, for the streams cut short, what was streamed).
func TestLedgerExact(t *testing.T) {
	t.Parallel()
	fo := fakeAnswer()
	fo.Answer = "one two three four five six seven eight"
	fo.ChunkDelay = 20 * time.Millisecond
	e := start(t, governedConfig, fo)
	key := e.newKey(`{}`)
	const each = 8
	var wg sync.WaitGroup
	for i := 0; i < each; i++ {
		wg.Add(3)
		go func() {
			defer wg.Done()
			if _, err := e.askWith(key, "gpt-4o"); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			s := e.client(option.WithAPIKey(key)).Chat.Completions.NewStreaming(context.Background(), chatParams("gpt-4o", "Hello!"))
			for s.Next() {
			}
			if err := s.Err(); err != nil {
				t.Error(err)
			}
		}()
		go func() { // leaves after the second chunk
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := e.client(option.WithAPIKey(key)).Chat.Completions.NewStreaming(ctx, chatParams("gpt-4o", "Hello!"))
			for n := 0; n < 2 && s.Next(); n++ {
			}
			cancel()
			s.Close()
		}()
	}
	wg.Wait()
	rows := e.spendRows("?api_key="+key, 3*each)
	time.Sleep(200 * time.Millisecond) // a row too many would arrive now
	rows = e.spendRows("?api_key="+key, 3*each)
	if len(rows) != 3*each {
		t.Fatalf("%d ledger rows for %d requests", len(rows), 3*each)
	}
	ids := map[string]bool{}
	full, cut := 0, 0
	for _, r := range rows {
		row := r.(map[string]any)
		ids[row["request_id"].(string)] = true
		md, _ := row["metadata"].(map[string]any)
		switch {
		case md["usage_estimated"] == true:
			cut++
			if c := row["completion_tokens"].(float64); c < 1 || c > 8 {
				t.Errorf("a stream cut short billed %v completion tokens of 8", c)
			}
			if row["spend"].(float64) <= 0 {
				t.Errorf("a stream cut short was not billed: %v", row)
			}
		default:
			full++
			// The fake's usage: 3 + 1 prompt tokens, 8 completion tokens.
			if row["prompt_tokens"] != 4.0 || row["completion_tokens"] != 8.0 {
				t.Errorf("row tokens %v/%v, want the upstream's 4/8", row["prompt_tokens"], row["completion_tokens"])
			}
		}
	}
	if len(ids) != 3*each || full < 2*each {
		t.Fatalf("%d distinct ids; %d complete and %d cut-short rows", len(ids), full, cut)
	}
}

// TestReplicasSharePostgresAndRedis: two gateways on one PostgreSQL database and one Redis enforce one RPM limit
// and one budget, and a key made or blocked through one is known to the other at once.
func TestReplicasSharePostgresAndRedis(t *testing.T) {
	t.Parallel()
	needRedis(t)
	db := storetest.Postgres(t)
	prefix := fmt.Sprintf("switchyard-test:%s:%d:", t.Name(), time.Now().UnixNano())
	cfg := strings.Replace(governedConfig, "router_settings:\n  num_retries: 0\n", "router_settings:\n  num_retries: 0\n"+
		"  redis_host: 127.0.0.1\n  redis_port: 6379\n  redis_key_prefix: \""+prefix+"\"\n", 1) +
		"  database_url: \"" + db + "\"\n"
	a := start(t, cfg, fakeAnswer())
	b := startGateway(t, strings.NewReplacer("{{FAKE}}", a.fakeURL, "{{KEY}}", upstreamKey).Replace(cfg))

	awayFromMinuteEdge()
	key := a.newKey(`{"rpm_limit": 4, "max_budget": 1}`)
	served, limited := 0, 0
	for i := 0; i < 6; i++ {
		gw := a
		if i%2 == 1 {
			gw = b
		}
		switch _, err := gw.askWith(key, "gpt-4o"); statusOf(err) {
		case 0:
			if err != nil {
				t.Fatal(err)
			}
			served++
		case 429:
			limited++
		default:
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if served != 4 || limited != 2 {
		t.Fatalf("%d served and %d limited across two replicas; want 4 and 2 (one rpm_limit)", served, limited)
	}
	// Spend made through both is one spend.
	if sa, sb := a.keySpend(key), b.keySpend(key); math.Abs(sa-0.04) > 1e-9 || math.Abs(sb-0.04) > 1e-9 {
		t.Fatalf("key spend seen by a %v and by b %v; want 0.04 on both", sa, sb)
	}
	// A block made through a reaches b without waiting for a refresh.
	key2 := a.newKey(`{}`)
	if _, err := b.askWith(key2, "gpt-4o"); err != nil {
		t.Fatalf("a key made on a used on b: %v", err)
	}
	a.api("POST", "/key/block", "", `{"key": "`+key2+`"}`)
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := b.askWith(key2, "gpt-4o")
		if statusOf(err) == 401 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a key blocked on a still works on b: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLedgerSurvivesDatabaseOutage: with the database cut off mid-load the gateway keeps serving known keys and
// keeps every spend in its outbox; stopped (as on SIGTERM) while the database is still away and started again
// once it is back, it delivers every row, once.
func TestLedgerSurvivesDatabaseOutage(t *testing.T) {
	t.Parallel()
	db := storetest.Postgres(t)
	proxy := faultproxy.New(t, "127.0.0.1:5432")
	viaProxy := strings.Replace(db, "127.0.0.1:5432", proxy.Addr(), 1)
	dir := t.TempDir()
	cfg := governedConfig + "  database_url: \"" + viaProxy + "\"\n"
	fake := fakeupstream.New(fakeAnswer())
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	cfg = strings.NewReplacer("{{FAKE}}", srv.URL, "{{KEY}}", upstreamKey).Replace(cfg)

	a := startGatewayIn(t, cfg, dir)
	key := a.newKey(`{}`)
	for i := 0; i < 5; i++ {
		if _, err := a.askWith(key, "gpt-4o"); err != nil {
			t.Fatal(err)
		}
	}
	a.spendRows("?api_key="+key, 5)
	proxy.Cut()
	for i := 0; i < 20; i++ {
		if _, err := a.askWith(key, "gpt-4o"); err != nil {
			t.Fatalf("with the database away, request %d: %v", i, err)
		}
	}
	// Readiness says the database is away, and that spend waits in the outbox.
	resp, err := http.Get(a.URL + "/health/readiness")
	if err != nil {
		t.Fatal(err)
	}
	var ready map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(fmt.Sprint(ready["error"]), "database") ||
		ready["spend_logs_pending"] == 0.0 {
		t.Errorf("readiness with the database away: %d %v", resp.StatusCode, ready)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = a.gw.Shutdown(ctx) // what SIGTERM does; the database is still unreachable
	cancel()

	proxy.Restore()
	b := startGatewayIn(t, cfg, dir)
	rows := b.spendRows("?api_key="+key, 25)
	time.Sleep(200 * time.Millisecond)
	rows = b.spendRows("?api_key="+key, 25)
	if len(rows) != 25 {
		t.Fatalf("%d ledger rows after the outage; want all 25, once", len(rows))
	}
	if s := b.keySpend(key); math.Abs(s-0.25) > 1e-9 {
		t.Fatalf("key spend %v after the outage, want 0.25", s)
	}
}

// TestSQLMetacharactersInRequests: SQL metacharacters in the fields a client controls (end user, metadata,
// tags, the call id header) land verbatim in the ledger and break nothing.
func TestSQLMetacharactersInRequests(t *testing.T) {
	t.Parallel()
	e := startGoverned(t, "")
	key := e.newKey(`{"key_alias": "o'brien\"; DROP TABLE keys;--"}`)
	evil := `'; DROP TABLE spend_logs;-- \ " % _ ` + "\u00e9\u4e16"
	_, err := e.askWith(key, "gpt-4o", option.WithJSONSet("user", evil),
		option.WithJSONSet("metadata", map[string]any{"note": evil}), option.WithJSONSet("tags", []string{evil}),
		option.WithHeader("x-litellm-call-id", `1' OR '1'='1`))
	if err != nil {
		t.Fatal(err)
	}
	rows := e.spendRows("?api_key="+key, 1)
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	row := rows[0].(map[string]any)
	md, _ := row["metadata"].(map[string]any)
	if row["end_user"] != evil || md["note"] != evil {
		t.Fatalf("the row does not hold the fields verbatim: %v", row)
	}
	if _, err := e.askWith(key, "gpt-4o"); err != nil {
		t.Fatalf("after the request, the gateway (and its tables) still serve: %v", err)
	}
	if code, out := e.api("GET", "/key/list", "", ""); code != 200 || out["total_count"].(float64) < 1 {
		t.Fatalf("/key/list after: %d %v", code, out)
	}
}
