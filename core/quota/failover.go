package quota

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"
)

// failoverRetry is how long a degraded Failover serves from its fallback before trying the primary again.
const failoverRetry = time.Second

// Failover is Counters that uses a primary (shared, Redis) and, while the primary cannot be reached, a fallback
// (local, Memory): the gateway keeps enforcing limits per replica rather than failing every request.
//
// A primary error other than a *Denial degrades it: the call is served by the fallback, the outage is logged
// once, and for a second only the fallback is used (so that requests do not each wait on a dead server); then
// one call at a time tries the primary again, and its first success ends the outage (logged once). A ticket
// remembers which counters admitted it, and settles there. A caller that went away (its context is done) does
// not count as an outage.
type Failover struct {
	primary, fallback Counters
	log               *slog.Logger
	retry             time.Duration
	now               func() time.Time

	degraded atomic.Bool
	retryAt  atomic.Int64 // Unix nanoseconds after which a call may try the primary again
}

var _ Counters = (*Failover)(nil)

// failoverBackend is Ticket.Backend for tickets a Failover handed out: which counters admitted it, and their own
// Backend.
type failoverBackend struct {
	fallback bool
	inner    any
}

// The Backend of tickets whose counters keep no Backend of their own, shared to save an allocation.
var (
	primaryBackend  = &failoverBackend{}
	fallbackBackend = &failoverBackend{fallback: true}
)

// NewFailover returns counters using primary, and fallback while primary is unreachable; log (nil for none)
// receives one line when an outage starts and one when it ends.
func NewFailover(primary, fallback Counters, log *slog.Logger) *Failover {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Failover{primary: primary, fallback: fallback, log: log, retry: failoverRetry, now: time.Now}
}

// Degraded reports whether the primary is unreachable and the fallback is serving.
func (f *Failover) Degraded() bool { return f.degraded.Load() }

// usePrimary reports whether a call should try the primary: always while it is healthy; while degraded, one
// call per retry interval.
func (f *Failover) usePrimary() bool {
	if !f.degraded.Load() {
		return true
	}
	at, now := f.retryAt.Load(), f.now().UnixNano()
	return now >= at && f.retryAt.CompareAndSwap(at, now+int64(f.retry))
}

// outcome records what a call to the primary returned and reports whether it failed as an outage (so the
// fallback should serve the call).
func (f *Failover) outcome(ctx context.Context, err error) bool {
	var d *Denial
	if err == nil || errors.As(err, &d) {
		if f.degraded.CompareAndSwap(true, false) {
			f.log.Info("quota: shared counters reachable again; counting there")
		}
		return false
	}
	if ctx.Err() != nil {
		return false
	}
	f.retryAt.Store(f.now().Add(f.retry).UnixNano())
	if f.degraded.CompareAndSwap(false, true) {
		f.log.Warn("quota: shared counters unreachable; counting on this replica alone until they recover",
			"err", err)
	}
	return true
}

// Admit implements Counters.
func (f *Failover) Admit(ctx context.Context, r Request) (*Ticket, error) {
	if f.usePrimary() {
		t, err := f.primary.Admit(ctx, r)
		if !f.outcome(ctx, err) {
			if t != nil {
				t.Backend = wrapBackend(t.Backend, false)
			}
			return t, err
		}
	}
	t, err := f.fallback.Admit(ctx, r)
	if t != nil {
		t.Backend = wrapBackend(t.Backend, true)
	}
	return t, err
}

func wrapBackend(inner any, fallback bool) any {
	switch {
	case inner != nil:
		return &failoverBackend{fallback: fallback, inner: inner}
	case fallback:
		return fallbackBackend
	default:
		return primaryBackend
	}
}

// Settle implements Counters: the ticket settles on the counters that admitted it, whatever their state now. A
// ticket from elsewhere settles on the primary.
func (f *Failover) Settle(ctx context.Context, t *Ticket, tokens int64, cost float64) error {
	if t == nil {
		return nil
	}
	b, _ := t.Backend.(*failoverBackend)
	if b == nil {
		b = primaryBackend
	} else {
		// The counters see their own Backend while they settle.
		t.Backend = b.inner
		defer func() { t.Backend = b }()
	}
	if b.fallback {
		return f.fallback.Settle(ctx, t, tokens, cost)
	}
	err := f.primary.Settle(ctx, t, tokens, cost)
	f.outcome(ctx, err)
	return err
}

// Spend implements Counters, reading the fallback's figure while the primary is unreachable.
func (f *Failover) Spend(ctx context.Context, id string, period int64, baseline float64) (float64, error) {
	if f.usePrimary() {
		v, err := f.primary.Spend(ctx, id, period, baseline)
		if !f.outcome(ctx, err) {
			return v, err
		}
	}
	return f.fallback.Spend(ctx, id, period, baseline)
}

// SetSpend implements Counters. It sets the fallback's spend too, so that an outage starts from it.
func (f *Failover) SetSpend(ctx context.Context, id string, period int64, spend float64) error {
	ferr := f.fallback.SetSpend(ctx, id, period, spend)
	if f.usePrimary() {
		err := f.primary.SetSpend(ctx, id, period, spend)
		if !f.outcome(ctx, err) {
			return err
		}
	}
	return ferr
}
