package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/store"
	"github.com/switchyard/gateway/sdk"
)

// master is the guide's master key.
const master = "sk-master-key-1234"

// fakeHooks records what the API tells the gateway and serves live spend from a map.
type fakeHooks struct {
	mu      sync.Mutex
	changed []string           // "kind:id"
	live    map[string]float64 // "kind:id" → live spend
	set     map[string]float64 // "kind:id" → spend set by an operator
}

func newFakeHooks() *fakeHooks {
	return &fakeHooks{live: map[string]float64{}, set: map[string]float64{}}
}

func (h *fakeHooks) Changed(kind, id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.changed = append(h.changed, kind+":"+id)
}

func (h *fakeHooks) LiveSpend(_ context.Context, kind, id string) (float64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.live[kind+":"+id]
	return v, ok
}

func (h *fakeHooks) SetSpend(_ context.Context, kind, id string, spend float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.set[kind+":"+id] = spend
}

func (h *fakeHooks) setLive(kind, id string, v float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.live[kind+":"+id] = v
}

func (h *fakeHooks) wasChanged(kind, id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.changed, kind+":"+id)
}

func (h *fakeHooks) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.changed = nil
}

func (h *fakeHooks) spendSet(kind, id string) (float64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.set[kind+":"+id]
	return v, ok
}

// authenticator is the gateway's rule in small: the master key is admin; a stored, unblocked key is its
// principal, admin when its user has the proxy_admin role.
func authenticator(st *store.Store) Authenticator {
	return func(ctx context.Context, key string) (*pipeline.Principal, error) {
		if key == master {
			return &pipeline.Principal{KeyHash: store.HashKey(key), KeyAlias: "master", Admin: true}, nil
		}
		k, err := st.GetKeyByToken(ctx, store.HashKey(key))
		if errors.Is(err, store.ErrNotFound) || err == nil && k.Blocked {
			return nil, sdk.NewError(sdk.KindAuthentication, "Authentication error: the API key is not valid.")
		}
		if err != nil {
			return nil, err
		}
		p := &pipeline.Principal{KeyHash: k.Token, KeyAlias: k.KeyAlias, TeamID: k.TeamID, UserID: k.UserID}
		if k.UserID != "" {
			if u, err := st.GetUser(ctx, k.UserID); err == nil && u.UserRole == "proxy_admin" {
				p.Admin = true
			}
		}
		return p, nil
	}
}

type env struct {
	t     *testing.T
	st    *store.Store
	app   *fiber.App
	hooks *fakeHooks
}

func newEnv(t *testing.T, st *store.Store) *env {
	t.Helper()
	h := newFakeHooks()
	api := New(Options{Store: st, Authenticate: authenticator(st), Hooks: h})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	api.Mount(app)
	return &env{t: t, st: st, app: app, hooks: h}
}

type resp struct {
	status int
	body   []byte
}

// call sends a request the way the guide's curl commands do.
func (e *env) call(method, path, key, body string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := e.app.Test(req, -1)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp{status: res.StatusCode, body: b}
}

// ok calls as key and wants 200 with a JSON object.
func (e *env) ok(method, path, key, body string) map[string]any {
	e.t.Helper()
	r := e.call(method, path, key, body)
	if r.status != 200 {
		e.t.Fatalf("%s %s: status %d, want 200: %s", method, path, r.status, r.body)
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		e.t.Fatalf("%s %s: not a JSON object: %v: %s", method, path, err, r.body)
	}
	return m
}

// okList calls as key and wants 200 with a JSON array.
func (e *env) okList(method, path, key, body string) []any {
	e.t.Helper()
	r := e.call(method, path, key, body)
	if r.status != 200 {
		e.t.Fatalf("%s %s: status %d, want 200: %s", method, path, r.status, r.body)
	}
	var l []any
	if err := json.Unmarshal(r.body, &l); err != nil {
		e.t.Fatalf("%s %s: not a JSON array: %v: %s", method, path, err, r.body)
	}
	return l
}

// admin calls with the master key and wants 200 with an object.
func (e *env) admin(method, path, body string) map[string]any {
	e.t.Helper()
	return e.ok(method, path, master, body)
}

// wantErr checks an OpenAI-shaped error with the given status and param ("" for none).
func wantErr(t *testing.T, r resp, status int, param string) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var body struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    string  `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Message == "" || body.Error.Type == "" {
		t.Fatalf("not an OpenAI error body (%v): %s", err, r.body)
	}
	got := ""
	if body.Error.Param != nil {
		got = *body.Error.Param
	}
	if got != param {
		t.Fatalf("param %q, want %q: %s", got, param, r.body)
	}
	return body.Error.Message
}

// generate creates a key with the master key and returns the answer.
func (e *env) generate(body string) map[string]any {
	e.t.Helper()
	return e.admin("POST", "/key/generate", body)
}

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func insertSpend(t *testing.T, st *store.Store, logs ...store.SpendLog) {
	t.Helper()
	if _, err := st.InsertSpendLogs(context.Background(), logs); err != nil {
		t.Fatalf("InsertSpendLogs: %v", err)
	}
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func requestIDs(rows []any) []string {
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.(map[string]any)["request_id"].(string))
	}
	slices.Sort(ids)
	return ids
}
