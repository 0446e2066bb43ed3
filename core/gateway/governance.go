package gateway

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/switchyard/gateway/core/admin"
	"github.com/switchyard/gateway/core/governance"
	"github.com/switchyard/gateway/core/ledger"
	"github.com/switchyard/gateway/core/pipeline"
	"github.com/switchyard/gateway/core/quota"
	"github.com/switchyard/gateway/core/redisopts"
	"github.com/switchyard/gateway/core/store"
)

// governed is the state of keys, budgets and spend: the store, the ledger's outbox, the counters and the
// management API. It exists when the gateway has somewhere to keep state (a data directory or a database URL).
type governed struct {
	store    *store.Store
	ledger   *ledger.Ledger
	governor *governance.Governor
	counters quota.Counters
	admin    *admin.API
	redis    redis.UniversalClient
	leased   *quota.Leased // the shared counters' leases, given back at close (nil without Redis)
	closed   sync.Once
	log      *slog.Logger
}

// defaultReserveTokens is the answer size reserved against budgets when a request sets no max_tokens and the
// deployment's output limit is unknown or larger.
const defaultReserveTokens = 4096

// ledgerDrainTimeout bounds the wait for the ledger's outbox to reach the database at shutdown.
const ledgerDrainTimeout = 5 * time.Second

// databaseURL is general_settings.database_url, else DATABASE_URL, else the SQLite file in the data directory.
func (g *Gateway) databaseURL(o Options) string {
	if u := g.cfg.GeneralSettings.DatabaseURL; u != "" {
		return u
	}
	if u, ok := lookupEnv(o)("DATABASE_URL"); ok && u != "" {
		return u
	}
	if o.DataDir != "" {
		return "sqlite://" + filepath.Join(o.DataDir, "switchyard.db")
	}
	return ""
}

func lookupEnv(o Options) func(string) (string, bool) {
	if o.LookupEnv != nil {
		return o.LookupEnv
	}
	return os.LookupEnv
}

// buildGovernance opens the store and the ledger and starts the governor; nil when there is no state to keep.
func (g *Gateway) buildGovernance(ctx context.Context, o Options) (*governed, error) {
	url := g.databaseURL(o)
	if url == "" {
		if g.cfg.GeneralSettings.MasterKey != "" {
			g.Warnings = append(g.Warnings, "no data directory or database_url: virtual keys, budgets and the spend "+
				"ledger are off (only the master key is accepted)")
		}
		return nil, nil
	}
	outbox := ""
	if o.DataDir != "" {
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		outbox = filepath.Join(o.DataDir, "outbox")
	} else { // a database URL without a data directory: the outbox still needs a durable place of its own
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		sum := sha256.Sum256([]byte(url))
		outbox = filepath.Join(base, "switchyard", "outbox-"+hex.EncodeToString(sum[:6]))
	}
	gv := &governed{log: g.log}
	ok := false
	defer func() {
		if !ok {
			gv.close(context.Background())
		}
	}()
	var err error
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if gv.store, err = store.Open(openCtx, url, g.log); err != nil {
		return nil, fmt.Errorf("general_settings.database_url: %w", err)
	}
	if gv.ledger, err = ledger.Open(ledger.Options{Dir: outbox, Logger: g.log}, gv.store); err != nil {
		return nil, fmt.Errorf("spend ledger outbox %s: %w", outbox, err)
	}
	// Spend left in the outbox by an earlier run goes to the store before the counters are seeded from it.
	if err := gv.ledger.Flush(openCtx); err != nil {
		g.log.Warn("spend ledger: rows from an earlier run are not in the store yet; budgets count from what is",
			"error", err)
	}
	gv.counters = quota.NewMemory()
	var bus governance.Bus
	if ro, shared := g.redisOptions(); shared {
		opts, err := redisopts.Options("keys and budgets", ro.URL, ro.Addr, ro.Username, ro.Password, ro.DB)
		if err != nil {
			return nil, err
		}
		opts.ReadTimeout, opts.WriteTimeout, opts.PoolTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
		opts.DialTimeout = time.Second
		opts.MaxRetries = -1
		gv.redis = redis.NewClient(opts)
		prefix := cmp.Or(ro.KeyPrefix, "switchyard:")
		// Leases admit most requests without a round trip to Redis, never more than a limit allows.
		gv.leased = quota.NewLeased(quota.NewRedis(gv.redis, prefix+"quota:"), g.log)
		gv.counters = quota.NewFailover(gv.leased, gv.counters, g.log)
		bus = governance.NewRedisBus(gv.redis, prefix+"governance:changes", g.log)
	}
	gv.governor, err = governance.New(openCtx, governance.Options{
		Store: gv.store, MasterKey: g.cfg.GeneralSettings.MasterKey, Counters: gv.counters,
		Estimate: g.estimate, Bus: bus, Logger: g.log,
	})
	if err != nil {
		return nil, fmt.Errorf("loading keys and budgets: %w", err)
	}
	gv.admin = admin.New(admin.Options{Store: gv.store, Hooks: gv.governor, Logger: g.log,
		Authenticate: gv.governor.Authenticate})
	ok = true
	return gv, nil
}

// observe records a finished call in the ledger.
func (gv *governed) observe(c *pipeline.Call) {
	if governance.Billable(c) {
		gv.ledger.Record(governance.SpendLog(c))
	}
}

// mount adds the management API.
func (gv *governed) mount(r fiber.Router) { gv.admin.Mount(r) }

// close stops the governor, drains the ledger into the store (until ctx ends; what remains stays in the outbox)
// and closes the store.
func (gv *governed) close(ctx context.Context) {
	if gv == nil {
		return
	}
	gv.closed.Do(func() { gv.closeNow(ctx) })
}

func (gv *governed) closeNow(ctx context.Context) {
	if gv.governor != nil {
		gv.governor.Close()
	}
	if gv.ledger != nil {
		// Everything is durable in the outbox once Close starts; delivering it is only worth a short wait (a
		// database that is down would otherwise hold the stop for the whole shutdown timeout).
		dctx, cancel := context.WithTimeout(ctx, ledgerDrainTimeout)
		if err := gv.ledger.Close(dctx); err != nil {
			gv.log.Warn("spend ledger: rows left in the outbox for the next start", "error", err)
		}
		cancel()
	}
	if gv.store != nil {
		_ = gv.store.Close()
	}
	if gv.leased != nil {
		lctx, cancel := context.WithTimeout(ctx, ledgerDrainTimeout)
		if err := gv.leased.Close(lctx); err != nil {
			gv.log.Warn("quota: leases not given back; they are freed when their keys expire", "error", err)
		}
		cancel()
	}
	if gv.redis != nil {
		_ = gv.redis.Close()
	}
}

// estimate is the most a call can cost: its prompt (estimated from the body's size) and the largest answer it
// allows, at the dearest deployment of its group.
func (g *Gateway) estimate(c *pipeline.Call) float64 {
	grp, err := g.router.Table().Resolve(c.Model)
	if err != nil {
		return 0
	}
	prompt := len(c.Body)/3 + 1
	answer := 0
	switch {
	case c.Chat != nil:
		if p := c.Chat.MaxCompletionTokens; p != nil {
			answer = *p
		} else if p := c.Chat.MaxTokens; p != nil {
			answer = *p
		}
	case c.Completion != nil:
		if p := c.Completion.MaxTokens; p != nil {
			answer = *p
		}
	case c.Embedding != nil, c.Rerank != nil:
		answer = -1
	}
	worst := 0.0
	for _, d := range grp.Deployments {
		out := answer
		if out == 0 {
			out = defaultReserveTokens
			if d.MaxOutputTokens > 0 {
				out = min(out, d.MaxOutputTokens)
			}
		}
		out = max(out, 0)
		var cost float64
		if d.Price != nil {
			r := d.Price.RatesFor(prompt)
			cost = float64(prompt)*r.InputCostPerToken + float64(out)*r.OutputCostPerToken + r.InputCostPerRequest
		} else {
			if d.InputCostPerToken != nil {
				cost += float64(prompt) * *d.InputCostPerToken
			}
			if d.OutputCostPerToken != nil {
				cost += float64(out) * *d.OutputCostPerToken
			}
		}
		worst = max(worst, cost)
	}
	return worst
}

// Store returns the gateway's state store (nil when it keeps no state).
func (g *Gateway) Store() *store.Store {
	if g.gov == nil {
		return nil
	}
	return g.gov.store
}
