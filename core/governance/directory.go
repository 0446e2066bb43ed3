// Package governance applies virtual keys, teams, users and customers (end users) to calls: it authenticates
// keys, enforces their models, expiry, blocks, rate limits and budgets on the hot path, and prices calls.
//
// The hot path never waits on the database. A Directory holds every key, team, user, customer and budget in
// memory: loaded in full at start, refreshed in full periodically as a safety net, and changed entity by entity
// when the management API writes (Changed) or another replica announces a write over Redis pub/sub. A key the
// directory does not know (created a moment ago on another replica) is looked up once in the store, one lookup
// per key however many requests wait on it, and a key the store does not know either is remembered as unknown
// for a second. Counters (rate limits, in-flight requests, spend and reservations) live in core/quota.
package governance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/switchyard/gateway/core/store"
)

// Kinds of entity, as the management API and the invalidation messages name them.
const (
	KindKey      = "key"
	KindTeam     = "team"
	KindUser     = "user"
	KindCustomer = "customer"
	KindBudget   = "budget"
	// KindAll asks for a full reload (after budget resets).
	KindAll = "all"
)

// Directory is the in-memory view of the store's keys, teams, users, customers and budgets. Reads are lock-free.
type Directory struct {
	st  *store.Store
	log *slog.Logger

	keys, teams, users, customers, budgets sync.Map // id → *store.Key, *store.Team, ...
	unknown                                sync.Map // token → time.Time until which it is known not to exist
	unknownN                               atomic.Int64
	flight                                 singleflight.Group
	loaded                                 atomic.Bool
}

// unknownTTL is how long a token the store does not know is answered as unknown without asking again; maxUnknown
// bounds how many such tokens are remembered.
const (
	unknownTTL = time.Second
	maxUnknown = 10000
)

// NewDirectory returns an empty directory over st; call Load before serving.
func NewDirectory(st *store.Store, log *slog.Logger) *Directory {
	if log == nil {
		log = slog.Default()
	}
	return &Directory{st: st, log: log}
}

// Load reads every entity from the store, replacing what the directory holds (entities gone from the store are
// dropped).
func (d *Directory) Load(ctx context.Context) error {
	keys, err := pages(func(p store.Page) ([]store.Key, int, error) {
		return d.st.ListKeys(ctx, store.KeyFilter{Page: p})
	})
	if err != nil {
		return fmt.Errorf("governance: load keys: %w", err)
	}
	teams, err := pages(func(p store.Page) ([]store.Team, int, error) { return d.st.ListTeams(ctx, p) })
	if err != nil {
		return fmt.Errorf("governance: load teams: %w", err)
	}
	users, err := pages(func(p store.Page) ([]store.User, int, error) { return d.st.ListUsers(ctx, p) })
	if err != nil {
		return fmt.Errorf("governance: load users: %w", err)
	}
	customers, err := pages(func(p store.Page) ([]store.Customer, int, error) { return d.st.ListCustomers(ctx, p) })
	if err != nil {
		return fmt.Errorf("governance: load customers: %w", err)
	}
	budgets, err := pages(func(p store.Page) ([]store.Budget, int, error) { return d.st.ListBudgets(ctx, p) })
	if err != nil {
		return fmt.Errorf("governance: load budgets: %w", err)
	}
	replace(&d.keys, keys, func(k *store.Key) string { return k.Token })
	replace(&d.teams, teams, func(t *store.Team) string { return t.TeamID })
	replace(&d.users, users, func(u *store.User) string { return u.UserID })
	replace(&d.customers, customers, func(c *store.Customer) string { return c.UserID })
	replace(&d.budgets, budgets, func(b *store.Budget) string { return b.BudgetID })
	d.loaded.Store(true)
	return nil
}

// pages reads a whole list, a page at a time.
func pages[T any](list func(store.Page) ([]T, int, error)) ([]T, error) {
	var out []T
	for page := 1; ; page++ {
		items, total, err := list(store.Page{Page: page, PageSize: 1000})
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if len(items) == 0 || len(out) >= total {
			return out, nil
		}
	}
}

// replace makes m hold exactly items.
func replace[T any](m *sync.Map, items []T, id func(*T) string) {
	seen := make(map[string]bool, len(items))
	for i := range items {
		it := &items[i]
		seen[id(it)] = true
		m.Store(id(it), it)
	}
	m.Range(func(k, _ any) bool {
		if !seen[k.(string)] {
			m.Delete(k)
		}
		return true
	})
}

// Key returns the key whose hash is token. A token the directory lacks is looked up in the store (once for all
// concurrent callers); nil, nil means no such key.
func (d *Directory) Key(ctx context.Context, token string) (*store.Key, error) {
	if v, ok := d.keys.Load(token); ok {
		return v.(*store.Key), nil
	}
	if until, ok := d.unknown.Load(token); ok && time.Now().Before(until.(time.Time)) {
		return nil, nil
	}
	v, err, _ := d.flight.Do(token, func() (any, error) {
		k, err := d.st.GetKeyByToken(ctx, token)
		if errors.Is(err, store.ErrNotFound) {
			if d.unknownN.Add(1) > maxUnknown { // a flood of made-up keys: forget them all rather than grow
				d.unknown.Clear()
				d.unknownN.Store(0)
			}
			d.unknown.Store(token, time.Now().Add(unknownTTL))
			return (*store.Key)(nil), nil
		}
		if err != nil {
			return nil, err
		}
		d.keys.Store(token, &k)
		return &k, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*store.Key), nil
}

// Team, User, Customer and Budget return an entity the directory holds, or nil.
func (d *Directory) Team(id string) *store.Team         { return get[store.Team](&d.teams, id) }
func (d *Directory) User(id string) *store.User         { return get[store.User](&d.users, id) }
func (d *Directory) Customer(id string) *store.Customer { return get[store.Customer](&d.customers, id) }
func (d *Directory) Budget(id string) *store.Budget     { return get[store.Budget](&d.budgets, id) }

func get[T any](m *sync.Map, id string) *T {
	if id == "" {
		return nil
	}
	if v, ok := m.Load(id); ok {
		return v.(*T)
	}
	return nil
}

// Refresh re-reads one entity from the store (kind KindAll: everything). An entity the store no longer has is
// dropped.
func (d *Directory) Refresh(ctx context.Context, kind, id string) error {
	var err error
	switch kind {
	case KindAll:
		return d.Load(ctx)
	case KindKey:
		d.unknown.Delete(id)
		err = refresh(&d.keys, id, func() (store.Key, error) { return d.st.GetKeyByToken(ctx, id) })
	case KindTeam:
		err = refresh(&d.teams, id, func() (store.Team, error) { return d.st.GetTeam(ctx, id) })
	case KindUser:
		err = refresh(&d.users, id, func() (store.User, error) { return d.st.GetUser(ctx, id) })
	case KindCustomer:
		err = refresh(&d.customers, id, func() (store.Customer, error) { return d.st.GetCustomer(ctx, id) })
	case KindBudget:
		err = refresh(&d.budgets, id, func() (store.Budget, error) { return d.st.GetBudget(ctx, id) })
	default:
		return fmt.Errorf("governance: unknown kind %q", kind)
	}
	if err != nil {
		return fmt.Errorf("governance: refresh %s: %w", kind, err)
	}
	return nil
}

func refresh[T any](m *sync.Map, id string, get func() (T, error)) error {
	v, err := get()
	if errors.Is(err, store.ErrNotFound) {
		m.Delete(id)
		return nil
	}
	if err != nil {
		return err
	}
	m.Store(id, &v)
	return nil
}
