// Package admin is the gateway's management and spend API: LiteLLM's /key, /team, /user, /customer, /budget and
// /spend routes over Fiber, backed by the state store.
//
// Requests and answers use LiteLLM's field names, so LiteLLM's curl commands and SDK clients work unchanged.
// Keys are handled by their SHA-256 hash (LiteLLM's "token") everywhere: a raw key is accepted wherever a key is
// named, hashed at once, and shown in full only in the answers of /key/generate, /key/regenerate and /user/new.
//
// Management routes need an admin principal (the master key, or a key whose principal is Admin). A non-admin key
// may read its own key, user and team, and its own spend rows; everything else answers 403. Errors are rendered
// once, OpenAI-shaped, by edge.WriteError. Duplicates (an id, key or key_alias that exists) answer 400, as
// LiteLLM does; unknown ids 404; an unreachable database 503 without the database's error text.
package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/switchyard/gateway/core/edge"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/store"
	"github.com/switchyard/gateway/sdk"
)

// Hooks connects the API to the gateway's live state. kind is "key" (id = the key's SHA-256 hex token), "team",
// "user", "customer" or "budget".
type Hooks interface {
	// Changed is called after every successful write, deletes included, so caches can drop the row.
	Changed(kind, id string)
	// LiveSpend reports the spend counter of a row, which runs ahead of the store; ok false means unknown.
	LiveSpend(ctx context.Context, kind, id string) (float64, bool)
	// SetSpend is called when an operator sets a row's spend explicitly (an update with "spend").
	SetSpend(ctx context.Context, kind, id string, spend float64)
}

// Authenticator turns a presented key into a principal, or fails with an *sdk.Error (401 for a bad key).
type Authenticator func(ctx context.Context, key string) (*pipeline.Principal, error)

// Options configures the API.
type Options struct {
	// Store holds the keys, teams, users, customers, budgets and the spend ledger.
	Store *store.Store
	// Authenticate checks the key of every request.
	Authenticate Authenticator
	// Hooks may be nil (no live state).
	Hooks  Hooks
	Logger *slog.Logger
	// Now is the clock (default time.Now); it dates key expiries and default report ranges.
	Now func() time.Time
	// Timeout bounds one request's database work (default 30 s).
	Timeout time.Duration
}

// API serves the management routes.
type API struct {
	st      *store.Store
	auth    Authenticator
	hooks   Hooks
	log     *slog.Logger
	now     func() time.Time
	timeout time.Duration
}

// New returns the API.
func New(o Options) *API {
	a := &API{st: o.Store, auth: o.Authenticate, hooks: o.Hooks, log: o.Logger, now: o.Now, timeout: o.Timeout}
	if a.hooks == nil {
		a.hooks = noHooks{}
	}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.timeout <= 0 {
		a.timeout = 30 * time.Second
	}
	return a
}

// Mount registers every route on r.
func (a *API) Mount(r fiber.Router) {
	a.mountKeys(r)
	a.mountTeams(r)
	a.mountUsers(r)
	a.mountCustomers(r)
	a.mountBudgets(r)
	a.mountSpend(r)
}

type noHooks struct{}

func (noHooks) Changed(string, string)                                    {}
func (noHooks) LiveSpend(context.Context, string, string) (float64, bool) { return 0, false }
func (noHooks) SetSpend(context.Context, string, string, float64)         {}

// scope says who may call a route.
type scope int

const (
	// adminOnly routes need an admin principal.
	adminOnly scope = iota
	// selfService routes take any valid key; the handler limits a non-admin to its own rows.
	selfService
)

// request is what a handler gets besides the fiber context.
type request struct {
	ctx context.Context
	p   *pipeline.Principal
}

type handler func(c *fiber.Ctx, r *request) error

// route authenticates, authorizes and runs h, rendering any error it returns. The raw key is redacted from
// error messages.
func (a *API) route(s scope, h handler) fiber.Handler {
	return func(c *fiber.Ctx) error {
		raw := strings.Clone(edge.Credential(c))
		ctx, cancel := context.WithTimeout(c.UserContext(), a.timeout)
		defer cancel()
		p, err := a.authenticate(ctx, raw)
		if err == nil && s == adminOnly && !p.Admin {
			err = forbidden("Only an admin key may call " + c.Method() + " " + c.Path() + ".")
		}
		if err == nil {
			err = h(c, &request{ctx: ctx, p: p})
		}
		if err != nil {
			edge.WriteError(c, a.classify(err), raw)
		}
		return nil
	}
}

func (a *API) authenticate(ctx context.Context, raw string) (*pipeline.Principal, error) {
	if raw == "" {
		return nil, sdk.NewError(sdk.KindAuthentication, "Authentication error: no API key was sent. Send it as "+
			"'Authorization: Bearer <key>'.")
	}
	if a.auth == nil {
		return nil, sdk.NewError(sdk.KindAuthentication, "Authentication error: the management API has no authenticator.")
	}
	p, err := a.auth(ctx, raw)
	if err != nil {
		var se *sdk.Error
		if errors.As(err, &se) {
			return nil, se
		}
		a.log.Error("admin: authenticating a key failed", "error", sdk.Redact(err.Error(), raw))
		return nil, unavailable()
	}
	if p == nil {
		return nil, sdk.NewError(sdk.KindAuthentication, "Authentication error: the API key is not valid.")
	}
	return p, nil
}

// errCase maps a store sentinel to the client error to answer with.
type errCase struct {
	is  error
	err *sdk.Error
}

func on(is error, err *sdk.Error) errCase { return errCase{is: is, err: err} }

// classify turns any error into an *sdk.Error. The store's sentinels not mapped by the caller get generic
// answers; anything unrecognised is a database failure, logged and answered with 503 without its text.
func (a *API) classify(err error, cases ...errCase) *sdk.Error {
	var se *sdk.Error
	if errors.As(err, &se) {
		return se
	}
	for _, c := range cases {
		if errors.Is(err, c.is) {
			c.err.Err = err
			return c.err
		}
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &sdk.Error{Kind: sdk.KindNotFound, Message: "Not found.", Err: err}
	case errors.Is(err, store.ErrConflict):
		return &sdk.Error{Kind: sdk.KindBadRequest, Message: "It already exists.", Err: err}
	case errors.Is(err, store.ErrReference):
		return &sdk.Error{Kind: sdk.KindBadRequest, Message: "It refers to a row that does not exist.", Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &sdk.Error{Kind: sdk.KindServiceUnavailable, Message: "The state database did not answer in time.", Err: err}
	case errors.Is(err, context.Canceled):
		return &sdk.Error{Kind: sdk.KindTimeout, Status: 499, Message: "The request was cancelled.", Err: err}
	}
	a.log.Error("admin: state database error", "error", err)
	e := unavailable()
	e.Err = err
	return e
}

// fail classifies a store error with the given cases (nil stays nil).
func (a *API) fail(err error, cases ...errCase) error {
	if err == nil {
		return nil
	}
	return a.classify(err, cases...)
}

func unavailable() *sdk.Error {
	return sdk.NewError(sdk.KindServiceUnavailable, "The state database is unavailable; try again later.")
}

func forbidden(msg string) *sdk.Error { return sdk.NewError(sdk.KindPermissionDenied, msg) }

func badField(param, msg string) *sdk.Error {
	return sdk.NewError(sdk.KindBadRequest, msg).WithParam(param)
}

func notFound(param, msg string) *sdk.Error {
	return sdk.NewError(sdk.KindNotFound, msg).WithParam(param)
}

// writeJSON answers 200 with v, without HTML escaping so stored strings come back byte for byte.
func writeJSON(c *fiber.Ctx, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return sdk.Errorf(sdk.KindInternal, "encoding the response: %w", err)
	}
	c.Status(fiber.StatusOK)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Response().SetBody(bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}))
	return nil
}

// query returns a query parameter as a string of its own (fiber's aliases a reused buffer).
func query(c *fiber.Ctx, name string) string { return strings.Clone(c.Query(name)) }

// intQuery reads a positive integer query parameter, def when absent, capped at max.
func intQuery(c *fiber.Ctx, name string, def, max int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, badField(name, name+" must be a positive integer.")
	}
	return min(n, max), nil
}

// pages returns the number of pages of size holding total rows.
func pages(total, size int) int {
	if size <= 0 {
		return 0
	}
	return (total + size - 1) / size
}

// newID returns a random UUID (version 4), as LiteLLM uses for generated ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// nullable renders "" as JSON null, as LiteLLM does for unset optional strings.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nonNilList[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func nonNilMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}

// live returns the live spend of a row when the hooks know it, else the stored one.
func (a *API) live(ctx context.Context, kind, id string, stored float64) float64 {
	if v, ok := a.hooks.LiveSpend(ctx, kind, id); ok {
		return v
	}
	return stored
}

// changed tells the hooks about written rows.
func (a *API) changed(kind string, ids ...string) {
	for _, id := range ids {
		a.hooks.Changed(kind, id)
	}
}

// forEachPage calls fn with every page of a list until a short page.
func forEachPage[T any](ctx context.Context, list func(context.Context, store.Page) ([]T, int, error), fn func(T) bool) error {
	for page := 1; ; page++ {
		rows, _, err := list(ctx, store.Page{Page: page, PageSize: 1000})
		if err != nil {
			return err
		}
		for _, r := range rows {
			if !fn(r) {
				return nil
			}
		}
		if len(rows) < 1000 {
			return nil
		}
	}
}
