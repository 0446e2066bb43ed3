package admin

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/switchyard/gateway/core/store"
)

func (a *API) mountKeys(r fiber.Router) {
	r.Post("/key/generate", a.route(adminOnly, a.keyGenerate))
	r.Post("/key/update", a.route(adminOnly, a.keyUpdate))
	r.Post("/key/delete", a.route(adminOnly, a.keyDelete))
	r.Get("/key/info", a.route(selfService, a.keyInfo))
	r.Get("/key/list", a.route(adminOnly, a.keyList))
	r.Post("/key/regenerate", a.route(adminOnly, a.keyRegenerate))
	r.Post("/key/:key/regenerate", a.route(adminOnly, a.keyRegenerate))
	r.Post("/key/block", a.route(adminOnly, a.keyBlock(true)))
	r.Post("/key/unblock", a.route(adminOnly, a.keyBlock(false)))
}

// keyJSON is a key as LiteLLM shows it (its verification token row). The raw key is never part of it.
type keyJSON struct {
	Token                string             `json:"token"`
	KeyName              string             `json:"key_name"`
	KeyAlias             *string            `json:"key_alias"`
	Spend                float64            `json:"spend"`
	MaxBudget            *float64           `json:"max_budget"`
	SoftBudget           *float64           `json:"soft_budget"`
	BudgetDuration       *string            `json:"budget_duration"`
	BudgetResetAt        *time.Time         `json:"budget_reset_at"`
	Expires              *time.Time         `json:"expires"`
	Models               []string           `json:"models"`
	TPMLimit             *int64             `json:"tpm_limit"`
	RPMLimit             *int64             `json:"rpm_limit"`
	MaxParallelRequests  *int64             `json:"max_parallel_requests"`
	ModelMaxBudget       map[string]float64 `json:"model_max_budget"`
	ModelRPMLimit        map[string]int64   `json:"model_rpm_limit"`
	ModelTPMLimit        map[string]int64   `json:"model_tpm_limit"`
	Aliases              map[string]string  `json:"aliases"`
	Metadata             map[string]any     `json:"metadata"`
	TeamID               *string            `json:"team_id"`
	UserID               *string            `json:"user_id"`
	Blocked              bool               `json:"blocked"`
	AllowedCacheControls []string           `json:"allowed_cache_controls"`
	CreatedAt            time.Time          `json:"created_at"`
	UpdatedAt            time.Time          `json:"updated_at"`
}

// keyAnswer answers the key writes. Key is the raw key in the answers of /key/generate and /key/regenerate
// (the only ones that show it) and the token in the others.
type keyAnswer struct {
	Key string `json:"key"`
	keyJSON
}

func keyView(k store.Key) keyJSON {
	return keyJSON{
		Token: k.Token, KeyName: k.KeyName, KeyAlias: nullable(k.KeyAlias), Spend: k.Spend,
		MaxBudget: k.MaxBudget, SoftBudget: k.SoftBudget, BudgetDuration: nullable(k.BudgetDuration),
		BudgetResetAt: k.BudgetResetAt, Expires: k.Expires, Models: nonNilList(k.Models),
		TPMLimit: k.TPMLimit, RPMLimit: k.RPMLimit, MaxParallelRequests: k.MaxParallelRequests,
		ModelMaxBudget: nonNilMap(k.ModelMaxBudget), ModelRPMLimit: nonNilMap(k.ModelRPMLimit),
		ModelTPMLimit: nonNilMap(k.ModelTPMLimit), Aliases: nonNilMap(k.Aliases), Metadata: nonNilMap(k.Metadata),
		TeamID: nullable(k.TeamID), UserID: nullable(k.UserID), Blocked: k.Blocked,
		AllowedCacheControls: nonNilList(k.AllowedCacheControls),
		CreatedAt:            k.CreatedAt, UpdatedAt: k.UpdatedAt,
	}
}

// liveKeyView is keyView with the key's live spend.
func (a *API) liveKeyView(ctx context.Context, k store.Key) keyJSON {
	k.Spend = a.live(ctx, "key", k.Token, k.Spend)
	return keyView(k)
}

// newKey returns a fresh virtual key: "sk-" and 26 url-safe characters (128 random bits).
func newKey() string { return "sk-" + rand.Text() }

// tokenOf returns the stored hash of a key named either raw ("sk-...") or by its 64-hex token.
func tokenOf(key string) string {
	if !strings.HasPrefix(key, "sk-") && isToken(key) {
		return strings.ToLower(key)
	}
	return store.HashKey(key)
}

func isToken(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// showKey names a key in messages without revealing it: a raw key is masked, a token shown as is.
func showKey(key string) string {
	if strings.HasPrefix(key, "sk-") || !isToken(key) {
		return store.MaskKey(key)
	}
	return key
}

// readKeyUpdate reads the settings a key request may carry.
func readKeyUpdate(r *reader, now time.Time) store.KeyUpdate {
	return store.KeyUpdate{
		KeyAlias:             read[string](r, "key_alias"),
		TeamID:               read[string](r, "team_id"),
		UserID:               read[string](r, "user_id"),
		Models:               read[[]string](r, "models"),
		MaxBudget:            money(r, "max_budget"),
		SoftBudget:           money(r, "soft_budget"),
		Spend:                spend(r),
		BudgetDuration:       budgetDuration(r, "budget_duration"),
		Expires:              expiry(r, "duration", now),
		TPMLimit:             limit(r, "tpm_limit"),
		RPMLimit:             limit(r, "rpm_limit"),
		MaxParallelRequests:  limit(r, "max_parallel_requests"),
		ModelMaxBudget:       modelBudgets(r, "model_max_budget"),
		ModelRPMLimit:        limits(r, "model_rpm_limit"),
		ModelTPMLimit:        limits(r, "model_tpm_limit"),
		Aliases:              read[map[string]string](r, "aliases"),
		Metadata:             read[map[string]any](r, "metadata"),
		Blocked:              read[bool](r, "blocked"),
		AllowedCacheControls: cacheControls(r, "allowed_cache_controls"),
	}
}

// cacheControls reads a list of per-request cache control names (LiteLLM's: no-cache, no-store, ttl,
// s-maxage, namespace, use-cache).
func cacheControls(r *reader, name string) store.Opt[[]string] {
	o := read[[]string](r, name)
	for _, c := range o.V {
		switch c {
		case "no-cache", "no-store", "ttl", "s-maxage", "namespace", "use-cache":
		default:
			r.fail(name, fmt.Sprintf("%s: unknown cache control %q (want no-cache, no-store, ttl, s-maxage, "+
				"namespace or use-cache).", name, c))
		}
	}
	return o
}

func set[T any](dst *T, o store.Opt[T]) {
	if o.Set {
		*dst = o.V
	}
}

// applyKey copies the set fields of u onto k.
func applyKey(k *store.Key, u store.KeyUpdate) {
	set(&k.KeyAlias, u.KeyAlias)
	set(&k.TeamID, u.TeamID)
	set(&k.UserID, u.UserID)
	set(&k.Models, u.Models)
	set(&k.MaxBudget, u.MaxBudget)
	set(&k.SoftBudget, u.SoftBudget)
	set(&k.Spend, u.Spend)
	set(&k.BudgetDuration, u.BudgetDuration)
	set(&k.Expires, u.Expires)
	set(&k.TPMLimit, u.TPMLimit)
	set(&k.RPMLimit, u.RPMLimit)
	set(&k.MaxParallelRequests, u.MaxParallelRequests)
	set(&k.ModelMaxBudget, u.ModelMaxBudget)
	set(&k.ModelRPMLimit, u.ModelRPMLimit)
	set(&k.ModelTPMLimit, u.ModelTPMLimit)
	set(&k.Aliases, u.Aliases)
	set(&k.Metadata, u.Metadata)
	set(&k.Blocked, u.Blocked)
	set(&k.AllowedCacheControls, u.AllowedCacheControls)
}

// customKey reads an operator-chosen key from field name; like LiteLLM, it must start with "sk-".
func customKey(r *reader, name string) string {
	k := str(r, name)
	if r.has(name) && (!strings.HasPrefix(k, "sk-") || len(k) < 8) {
		r.fail(name, name+" must start with \"sk-\" and be at least 8 characters long.")
	}
	return k
}

// createKey stores k, naming the field at fault when the key (keyParam) or its alias exists or its team does not.
func (a *API) createKey(ctx context.Context, k store.Key, keyParam string) (store.Key, error) {
	created, err := a.st.CreateKey(ctx, k)
	if err == nil {
		return created, nil
	}
	conflict := badField("key_alias", "A key with key_alias "+k.KeyAlias+" already exists.")
	if _, gerr := a.st.GetKeyByToken(ctx, k.Token); gerr == nil {
		conflict = badField(keyParam, "This key already exists.")
	}
	return store.Key{}, a.classify(err, on(store.ErrConflict, conflict),
		on(store.ErrReference, badField("team_id", "team_id "+k.TeamID+" does not exist.")))
}

func (a *API) getKey(ctx context.Context, key, param string) (store.Key, error) {
	k, err := a.st.GetKeyByToken(ctx, tokenOf(key))
	return k, a.fail(err, on(store.ErrNotFound, notFound(param, "Key "+showKey(key)+" not found.")))
}

// keyGenerate answers POST /key/generate.
func (a *API) keyGenerate(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	raw := customKey(r, "key")
	u := readKeyUpdate(r, a.now())
	if r.err != nil {
		return r.err
	}
	if raw == "" {
		raw = newKey()
	}
	k := store.Key{Token: store.HashKey(raw), KeyName: store.MaskKey(raw)}
	applyKey(&k, u)
	created, err := a.createKey(q.ctx, k, "key")
	if err != nil {
		return err
	}
	a.changed("key", created.Token)
	return writeJSON(c, keyAnswer{Key: raw, keyJSON: keyView(created)})
}

// keyUpdate answers POST /key/update.
func (a *API) keyUpdate(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	key := required(r, "key")
	u := readKeyUpdate(r, a.now())
	if r.err != nil {
		return r.err
	}
	token := tokenOf(key)
	k, err := a.st.UpdateKey(q.ctx, token, u)
	if err != nil {
		return a.classify(err, on(store.ErrNotFound, notFound("key", "Key "+showKey(key)+" not found.")),
			on(store.ErrConflict, badField("key_alias", "A key with key_alias "+u.KeyAlias.V+" already exists.")),
			on(store.ErrReference, badField("team_id", "team_id "+u.TeamID.V+" does not exist.")))
	}
	if u.Spend.Set {
		a.hooks.SetSpend(q.ctx, "key", token, u.Spend.V)
	}
	a.changed("key", token)
	return writeJSON(c, keyAnswer{Key: token, keyJSON: keyView(k)})
}

// keyDelete answers POST /key/delete: {"keys": [...]} (raw keys or tokens) and/or {"key_aliases": [...]}. Every
// key must exist, or none is deleted.
func (a *API) keyDelete(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	keys, aliases := strList(r, "keys"), strList(r, "key_aliases")
	if r.err != nil {
		return r.err
	}
	if len(keys) == 0 && len(aliases) == 0 {
		return badField("keys", "keys or key_aliases is required.")
	}
	var tokens []string
	seen := map[string]bool{}
	for _, key := range keys {
		k, err := a.getKey(q.ctx, key, "keys")
		if err != nil {
			return err
		}
		if !seen[k.Token] {
			seen[k.Token] = true
			tokens = append(tokens, k.Token)
		}
	}
	byAlias, err := a.tokensByAlias(q.ctx, aliases)
	if err != nil {
		return err
	}
	for _, alias := range aliases {
		t, ok := byAlias[alias]
		if !ok {
			return notFound("key_aliases", "No key has key_alias "+alias+".")
		}
		if !seen[t] {
			seen[t] = true
			tokens = append(tokens, t)
		}
	}
	if _, err := a.st.DeleteKeys(q.ctx, tokens); err != nil {
		return a.fail(err)
	}
	a.changed("key", tokens...)
	return writeJSON(c, fiber.Map{"deleted_keys": tokens})
}

// tokensByAlias finds the tokens of the keys with the given aliases.
func (a *API) tokensByAlias(ctx context.Context, aliases []string) (map[string]string, error) {
	out := map[string]string{}
	if len(aliases) == 0 {
		return out, nil
	}
	want := map[string]bool{}
	for _, al := range aliases {
		want[al] = true
	}
	err := a.eachKey(ctx, store.KeyFilter{}, func(k store.Key) bool {
		if k.KeyAlias != "" && want[k.KeyAlias] {
			out[k.KeyAlias] = k.Token
		}
		return len(out) < len(want)
	})
	return out, a.fail(err)
}

// eachKey calls fn with every key matching f until fn returns false.
func (a *API) eachKey(ctx context.Context, f store.KeyFilter, fn func(store.Key) bool) error {
	return forEachPage(ctx, func(ctx context.Context, p store.Page) ([]store.Key, int, error) {
		f.Page = p
		return a.st.ListKeys(ctx, f)
	}, fn)
}

// keyInfo answers GET /key/info?key=: an admin may read any key, another key only itself (the default).
func (a *API) keyInfo(c *fiber.Ctx, q *request) error {
	key := query(c, "key")
	token := q.p.KeyHash
	if key != "" {
		token = tokenOf(key)
	}
	if token == "" {
		return badField("key", "key is required.")
	}
	if !q.p.Admin && token != q.p.KeyHash {
		return forbidden("A key may only read its own info.")
	}
	k, err := a.st.GetKeyByToken(q.ctx, token)
	if err != nil {
		shown := token
		if key != "" {
			shown = showKey(key)
		}
		return a.classify(err, on(store.ErrNotFound, notFound("key", "Key "+shown+" not found.")))
	}
	return writeJSON(c, fiber.Map{"key": token, "info": a.liveKeyView(q.ctx, k)})
}

// keyList answers GET /key/list: one page of keys, as tokens or (return_full_object=true) full objects.
func (a *API) keyList(c *fiber.Ctx, q *request) error {
	page, err := intQuery(c, "page", 1, 1<<30)
	if err != nil {
		return err
	}
	size, err := intQuery(c, "size", 10, 1000)
	if err != nil {
		return err
	}
	f := store.KeyFilter{TeamID: query(c, "team_id"), UserID: query(c, "user_id"), Page: store.Page{Page: page, PageSize: size}}
	keys, total, err := a.st.ListKeys(q.ctx, f)
	if err != nil {
		return a.fail(err)
	}
	var out any
	if full := c.Query("return_full_object"); full == "true" || full == "1" {
		objs := make([]keyJSON, 0, len(keys))
		for _, k := range keys {
			objs = append(objs, keyView(k))
		}
		out = objs
	} else {
		tokens := make([]string, 0, len(keys))
		for _, k := range keys {
			tokens = append(tokens, k.Token)
		}
		out = tokens
	}
	return writeJSON(c, fiber.Map{"keys": out, "total_count": total, "current_page": page, "total_pages": pages(total, size)})
}

// keyRegenerate answers POST /key/regenerate and POST /key/:key/regenerate: a new key with the old one's
// settings (and spend), overridden by any settings in the body; the old key stops working. "new_key" chooses
// the new key.
func (a *API) keyRegenerate(c *fiber.Ctx, q *request) error {
	r, err := parseBody(c.Body())
	if err != nil {
		return err
	}
	key := c.Params("key")
	if key != "" {
		if key, err = url.PathUnescape(key); err != nil {
			return badField("key", "The key in the path is not validly escaped.")
		}
	} else {
		key = required(r, "key")
	}
	raw := customKey(r, "new_key")
	u := readKeyUpdate(r, a.now())
	if r.err != nil {
		return r.err
	}
	old, err := a.getKey(q.ctx, key, "key")
	if err != nil {
		return err
	}
	if raw == "" {
		raw = newKey()
	}
	alias := old.KeyAlias
	if u.KeyAlias.Set && u.KeyAlias.V != alias {
		alias = u.KeyAlias.V
		if err := a.aliasFree(q.ctx, alias); err != nil {
			return err
		}
	}
	nk := old
	nk.Token, nk.KeyName = store.HashKey(raw), store.MaskKey(raw)
	nk.Spend = a.live(q.ctx, "key", old.Token, old.Spend)
	applyKey(&nk, u)
	if u.BudgetDuration.Set {
		nk.BudgetResetAt = nil // rescheduled from now by the store
	}
	// The alias is unique: it moves to the new key once the old one is gone.
	nk.KeyAlias = ""
	created, err := a.createKey(q.ctx, nk, "new_key")
	if err != nil {
		return err
	}
	if _, err := a.st.DeleteKeys(q.ctx, []string{old.Token}); err != nil {
		if _, derr := a.st.DeleteKeys(q.ctx, []string{created.Token}); derr != nil {
			a.log.Error("admin: regenerate: removing the new key after a failure", "error", derr)
		}
		return a.fail(err)
	}
	if alias != "" {
		moved, err := a.st.UpdateKey(q.ctx, created.Token, store.KeyUpdate{KeyAlias: store.Some(alias)})
		if err != nil {
			// The old key is gone; the new one must reach the operator even without its alias.
			a.log.Error("admin: regenerate: moving the key alias failed", "error", err)
		} else {
			created = moved
		}
	}
	a.changed("key", old.Token, created.Token)
	return writeJSON(c, keyAnswer{Key: raw, keyJSON: keyView(created)})
}

// aliasFree fails when a key already has alias.
func (a *API) aliasFree(ctx context.Context, alias string) error {
	if alias == "" {
		return nil
	}
	m, err := a.tokensByAlias(ctx, []string{alias})
	if err != nil {
		return err
	}
	if _, ok := m[alias]; ok {
		return badField("key_alias", "A key with key_alias "+alias+" already exists.")
	}
	return nil
}

// keyBlock answers POST /key/block and /key/unblock: {"key": ...}.
func (a *API) keyBlock(blocked bool) handler {
	return func(c *fiber.Ctx, q *request) error {
		r, err := parseBody(c.Body())
		if err != nil {
			return err
		}
		key := required(r, "key")
		if r.err != nil {
			return r.err
		}
		token := tokenOf(key)
		k, err := a.st.UpdateKey(q.ctx, token, store.KeyUpdate{Blocked: store.Some(blocked)})
		if err != nil {
			return a.classify(err, on(store.ErrNotFound, notFound("key", "Key "+showKey(key)+" not found.")))
		}
		a.changed("key", token)
		return writeJSON(c, keyAnswer{Key: token, keyJSON: keyView(k)})
	}
}
