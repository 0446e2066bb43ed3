package quota

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Lease tuning.
const (
	// leaseFlushEvery is how often settled tokens and cost go to Redis, leases are topped up, and idle ones are
	// given back: other replicas see a replica's spend and tokens at most this late.
	leaseFlushEvery = 50 * time.Millisecond
	// leaseIdle is how long a lease may go unused before what it holds is given back.
	leaseIdle = time.Second
	// leaseFresh is how old a lease's view of a window's tokens may be for it to admit under a TPM limit.
	leaseFresh = 500 * time.Millisecond
	// leaseMinWant and leaseMaxWant bound the requests one grant asks for.
	leaseMinWant, leaseMaxWant = 8, 1 << 16
)

// Leased is Counters shared by several replicas through Redis, which admits most requests without a round trip
// and never more than Redis alone would.
//
// Each replica holds, for every scope it serves, a lease: requests of the current RPM window, in-flight places
// and reserved budget money taken from Redis in advance. A request every scope of which has enough in its lease
// is admitted and settled in memory. The others go to Redis as with Redis.Admit, in one script that also gives
// back what the scopes' leases hold unused (so that a replica is never refused because of its own lease) and
// grants new leases, sized to the rate the replica sees. Leased capacity is counted in Redis when it is granted,
// so replicas together never admit more than a limit allows; what they hold unused can only refuse a request
// early. A grant takes at most 1/32 of what a limit has left (leaseShare) and is not made at all when that is
// under 8 requests, places or reservations (leaseMinWant): a limit with fewer than 256 left, and every small
// limit, is enforced per request by Redis, admission and settlement alike, exactly as by Redis.
//
// Settled tokens and cost are sent every 50 ms (leaseFlushEvery), with the leases' top-ups; a lease unused for a
// second is given back. So other replicas see a replica's tokens and spend up to that late (Spend adds this
// replica's unsent cost), and a TPM limit is checked against a view of the window at most 500 ms old
// (leaseFresh). Budgets stay reservations: a replica spends only money Redis reserved for it. When Redis cannot
// be reached, unsent counts are kept and sent again; the Failover around a Leased notices the outage on the next
// request that needs Redis, and leases already held go on admitting meanwhile.
//
// Requests of scopes without an RPM limit are not counted in Redis's window when admitted from a lease (nothing
// reads that count). A replica that stops without Close holds its leases until their keys expire (the window's
// at its end, in-flight places and reservations after holdTTL without use), as Redis's own in-flight counts do.
type Leased struct {
	r      *Redis
	now    func() time.Time
	every  time.Duration
	log    *slog.Logger
	leases sync.Map // scope ID → *lease

	retiredMu sync.Mutex
	retired   []*lease // leases of an ended budget period, given back once their requests settle

	stop, done chan struct{}
	closeOnce  sync.Once
	looping    atomic.Bool
	failing    atomic.Bool
}

var _ Counters = (*Leased)(nil)

// NewLeased returns leased counters over r, flushing every 50 ms until Close; log (nil for none) receives a line
// when flushing starts failing and when it recovers.
func NewLeased(r *Redis, log *slog.Logger) *Leased {
	x := newLeased(r, log)
	x.start()
	return x
}

// start runs the flusher; fields it reads (now, every) are set before.
func (x *Leased) start() {
	x.looping.Store(true)
	go x.flushLoop()
}

// newLeased returns leased counters that flush only when told to (tests), or once flushLoop runs.
func newLeased(r *Redis, log *slog.Logger) *Leased {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Leased{r: r, now: time.Now, every: leaseFlushEvery, log: log, stop: make(chan struct{}),
		done: make(chan struct{})}
}

// lease is one scope's lease on this replica, guarded by mu.
type lease struct {
	mu sync.Mutex
	id string

	ready   bool  // granted by Redis at least once: scope holds the limits it was granted under
	exact   bool  // the last admission in Redis granted no lease for a limit: admit and settle there, one by one
	retired bool  // dropped from the map: new requests must use another lease
	scope   Scope // the scope as last admitted (limits, budget, period, baseline)
	minute  int64 // the RPM/TPM window reqs, used and toks belong to

	reqs     int64   // requests of the window counted in Redis and not used yet
	used     int64   // the window's requests as last seen, without reqs, plus those admitted here since
	toks     int64   // the window's tokens as last seen in Redis
	slots    int64   // in-flight places counted in Redis for this lease
	inflight int64   // requests admitted here and not settled
	held     float64 // money Redis holds reserved for this lease
	pool     float64 // of held, what no request here has reserved (negative when costs exceeded reservations)

	pTokens    int64   // settled tokens not sent yet, of window pTokMinute
	pTokMinute int64   //
	pCost      float64 // settled cost not sent yet

	admits    int64 // admissions since the last flush
	recent    int64 // admissions in the last flush interval
	lastGrant int64 // requests the last grant gave
	reserve   float64
	last      int64 // Unix nanoseconds of the last admission
	contact   int64 // Unix nanoseconds of the last reply from Redis
	kept      int64 // Unix nanoseconds the hold TTL was last renewed

	refill chan struct{} // closed when the round trip in flight for this scope ends; nil when there is none
}

// lease returns the live lease of a scope, creating it.
func (x *Leased) lease(id string) *lease {
	if v, ok := x.leases.Load(id); ok {
		return v.(*lease)
	}
	v, _ := x.leases.LoadOrStore(id, &lease{id: id})
	return v.(*lease)
}

// leaseBacking is a ticket's Backend: the leases its scopes were admitted from, and which of them admitted it
// in Redis alone (settled there too, at once).
type leaseBacking struct {
	ls    []*lease
	exact []bool
}

func newBacking(n int) *leaseBacking {
	const inline = 6
	if n <= inline {
		a := &struct {
			b leaseBacking
			l [inline]*lease
			e [inline]bool
		}{}
		a.b.ls, a.b.exact = a.l[:n:n], a.e[:n:n]
		return &a.b
	}
	return &leaseBacking{ls: make([]*lease, n), exact: make([]bool, n)}
}

// take admits one request from the lease if it can: it reports the window's requests and tokens before the
// request, and whether it was taken.
func (l *lease) take(sc *Scope, minute int64, reserve float64, nano int64) (int64, int64, bool) {
	if !l.ready || l.exact || l.retired || l.scope.RPM != sc.RPM || l.scope.TPM != sc.TPM || l.scope.Parallel != sc.Parallel ||
		l.scope.Period != sc.Period {
		return 0, 0, false
	}
	budget, budgeted := budgetOf(sc)
	if b, had := budgetOf(&l.scope); had != budgeted || b != budget {
		return 0, 0, false
	}
	if (sc.RPM > 0 || sc.TPM > 0) && l.minute != minute {
		return 0, 0, false
	}
	if sc.RPM > 0 && l.reqs < 1 {
		return 0, 0, false
	}
	toks := l.toks
	if l.pTokMinute == minute {
		toks += l.pTokens
	}
	if sc.TPM > 0 && (toks >= sc.TPM || nano-l.contact > int64(leaseFresh)) {
		return 0, 0, false
	}
	if sc.Parallel > 0 && l.inflight >= l.slots {
		return 0, 0, false
	}
	if budgeted && (l.pool <= headroomEpsilon || l.pool < reserve) {
		return 0, 0, false
	}
	used := l.used
	if sc.RPM > 0 {
		l.reqs--
	}
	l.used++
	l.inflight++
	if budgeted {
		l.pool -= reserve
	}
	l.admits++
	l.last = nano
	return used, toks, true
}

// untake undoes take.
func (l *lease) untake(sc *Scope, reserve float64) {
	if sc.RPM > 0 {
		l.reqs++
	}
	l.used--
	l.inflight--
	if _, ok := budgetOf(sc); ok {
		l.pool += reserve
	}
	l.admits--
}

// settle ends a request admitted from the lease: its place and reservation come back to the lease, its tokens
// and cost wait for the next flush.
func (l *lease) settle(reserved float64, tokens int64, cost float64, minute int64) {
	if l.inflight > 0 {
		l.inflight--
	}
	if tokens > 0 {
		switch {
		case minute > l.pTokMinute:
			l.pTokens, l.pTokMinute = tokens, minute // an ended window's tokens no longer matter
		case minute == l.pTokMinute:
			l.pTokens += tokens
		}
	}
	if _, ok := budgetOf(&l.scope); ok {
		l.pool += reserved - cost
	}
	l.pCost += cost
}

// leasePrep is what one round trip gives back, sends and asks for on a lease's behalf.
type leasePrep struct {
	retReqs, retSlots int64
	retMoney          float64
	tokens            int64
	cost              float64
	wantReqs          int64
	wantSlots         int64
	wantMoney         float64
	leastMoney        float64 // the smallest money grant worth having: leaseMinWant requests' reservations
	keep              bool

	oldPool  float64
	newPool  float64
	tokMin   int64
	minute   int64
	period   int64
	hadReqs  bool
	returned bool // everything unused was given back (not only a flush)
}

// prepare takes out of the lease what a round trip sends: settled tokens and cost, and when all is set, every
// unused request, place and reserved money. want asks for a grant sized to the lease's rate.
func (l *lease) prepare(p *leasePrep, minute int64, all, want bool, reserve float64, nano int64) {
	*p = leasePrep{minute: minute, period: l.scope.Period, oldPool: l.pool, tokMin: l.pTokMinute, returned: all}
	if l.pTokMinute == minute {
		p.tokens = l.pTokens
	}
	l.pTokens = 0
	p.cost, l.pCost = l.pCost, 0
	x := l.pool + p.cost
	if all {
		if l.minute == minute {
			p.retReqs, p.hadReqs = l.reqs, true
		}
		l.reqs = 0
		p.retSlots = max(0, l.slots-l.inflight)
		l.slots -= p.retSlots
		p.retMoney = max(0, min(x, l.held))
		l.pool = min(x, 0)
	} else {
		// Only the cost: it moves from the reservations to the spend.
		neg := min(l.pool, 0)
		y := neg + p.cost
		p.retMoney = max(0, min(y, l.held))
		l.pool = max(l.pool, 0) + min(y-p.retMoney, 0)
	}
	l.held -= p.retMoney
	p.newPool = l.pool
	if want {
		n := max(leaseMinWant, 2*l.recent)
		if nano-l.contact < int64(2*leaseFlushEvery) {
			n = max(n, 2*l.lastGrant)
		}
		n = min(n, leaseMaxWant)
		p.wantReqs = n
		p.wantSlots = max(2, l.inflight)
		if reserve > 0 {
			p.wantMoney, p.leastMoney = float64(n)*reserve, leaseMinWant*reserve
		}
	}
	p.keep = l.inflight > 0 || l.held > 0
}

// restore puts back what prepare took out, after a round trip that failed.
func (l *lease) restore(p *leasePrep) {
	if p.hadReqs && l.minute == p.minute {
		l.reqs += p.retReqs
	}
	l.slots += p.retSlots
	l.held += p.retMoney
	l.pool += p.oldPool - p.newPool
	l.pCost += p.cost
	if p.tokens > 0 && l.pTokMinute <= p.tokMin {
		l.pTokens += p.tokens
		l.pTokMinute = p.tokMin
	}
}

// leaseItem is one scope of a round trip.
type leaseItem struct {
	l  *lease
	sc Scope
	p  leasePrep
}

// item prepares the lease for a round trip without a request (l.mu held): what has settled, and with all
// everything unused, goes back.
func (l *lease) item(minute int64, all bool, nano int64) leaseItem {
	it := leaseItem{l: l, sc: l.scope}
	l.prepare(&it.p, minute, all, false, 0, nano)
	return it
}

// leaseGrant is one scope's part of a reply.
type leaseGrant struct {
	reqs, toks  int64
	reservation float64
	gReqs       int64
	gSlots      int64
	gMoney      float64
}

// exchange runs the lease script for items (admitting a request reserving reserve when admit is set) and returns
// whether it was admitted, the denial if not, and each scope's part of the reply.
func (x *Leased) exchange(items []leaseItem, admit bool, reserve float64, minute int64) (*Denial, []leaseGrant, error) {
	n := len(items)
	args := make([]any, 3+5*n+6+17*n)
	args[0], args[1], args[2] = "evalsha", leaseSHA, 5*n
	a := args[3+5*n:]
	admitArg := "0"
	if admit {
		admitArg = "1"
	}
	a[0], a[1], a[2], a[3], a[4], a[5] = admitArg, formatFloat(amount(reserve)), n, windowTTLArg, holdTTLArg, epsilonArg
	for i := range items {
		it := &items[i]
		sc := &it.sc
		k := args[3+5*i:]
		k[0] = x.r.key(sc.ID, "rpm", minute, true)
		k[1] = x.r.key(sc.ID, "tpm", minute, true)
		k[2] = x.r.key(sc.ID, "inflight", 0, false)
		k[3] = x.r.key(sc.ID, "spend", sc.Period, true)
		k[4] = x.r.key(sc.ID, "reserved", sc.Period, true)
		budget := ""
		if b, ok := budgetOf(sc); ok {
			budget = formatFloat(b)
		}
		keep := "0"
		if it.p.keep {
			keep = "1"
		}
		v := a[6+17*i:]
		v[0], v[1], v[2], v[3], v[4], v[5] = sc.RPM, sc.TPM, sc.Parallel, budget, formatFloat(amount(sc.Baseline)),
			spendExpiry(sc.Period)
		v[6], v[7], v[8], v[9], v[10] = it.p.retReqs, it.p.retSlots, formatFloat(it.p.retMoney), it.p.tokens,
			formatFloat(it.p.cost)
		v[11], v[12], v[13], v[14] = it.p.wantReqs, it.p.wantSlots, formatFloat(it.p.wantMoney), keep
		v[15], v[16] = int64(leaseMinWant), formatFloat(it.p.leastMoney)
	}
	cmd, err := x.r.run(args)
	var reply []any
	if err == nil {
		reply, err = cmd.Slice()
	}
	if err != nil {
		return nil, nil, err
	}
	const head, each = 5, 6
	if len(reply) != head+each*n {
		return nil, nil, fmt.Errorf("unexpected reply of %d values", len(reply))
	}
	p := replyParser{reply: reply}
	grants := make([]leaseGrant, n)
	var tight tightest
	for i := range grants {
		o := head + each*i
		grants[i] = leaseGrant{reqs: p.int(o), toks: p.int(o + 1), reservation: p.float(o + 2), gReqs: p.int(o + 3),
			gSlots: p.int(o + 4), gMoney: p.float(o + 5)}
		tight.add(&items[i].sc, grants[i].reqs, grants[i].toks)
	}
	var d *Denial
	if p.int(0) != 1 {
		i := int(p.int(1)) - 1
		if i < 0 || i >= n {
			return nil, nil, fmt.Errorf("refusing scope %d out of range", i+1)
		}
		d = &Denial{Scope: items[i].sc, Reason: Reason(p.str(2)), Remaining: tight.result(minute, false)}
		if _, ok := budgetOf(&items[i].sc); ok {
			d.Spend, d.Reserved = p.float(3), p.float(4)
		}
	}
	if p.err != nil {
		return nil, nil, p.err
	}
	return d, grants, nil
}

// Admit implements Counters.
func (x *Leased) Admit(ctx context.Context, req Request) (*Ticket, error) {
	now := req.Now
	if now.IsZero() {
		now = x.r.now()
	}
	minute := minuteOf(now)
	if len(req.Scopes) == 0 {
		var tight tightest
		t := newTicket(req.Scopes, minute)
		t.Remaining = tight.result(minute, true)
		return t, nil
	}
	reserve := amount(req.Reserve)
	for waited := false; ; waited = true {
		nano := x.now().UnixNano()
		if t := x.fast(req.Scopes, minute, reserve, nano); t != nil {
			return t, nil
		}
		if !waited {
			if ch := x.refilling(req.Scopes); ch != nil {
				select {
				case <-ch:
					continue
				case <-ctx.Done():
				}
			}
		}
		return x.slow(req.Scopes, minute, reserve)
	}
}

// fast admits the request from its scopes' leases, or returns nil when one of them cannot.
func (x *Leased) fast(scopes []Scope, minute int64, reserve float64, nano int64) *Ticket {
	b := newBacking(len(scopes))
	var tight tightest
	for i := range scopes {
		sc := &scopes[i]
		l := x.lease(sc.ID)
		l.mu.Lock()
		reqs, toks, ok := l.take(sc, minute, reserve, nano)
		l.mu.Unlock()
		if !ok {
			for j := range i {
				b.ls[j].mu.Lock()
				b.ls[j].untake(&scopes[j], reserve)
				b.ls[j].mu.Unlock()
			}
			return nil
		}
		b.ls[i] = l
		tight.add(sc, reqs, toks)
	}
	t := newTicket(scopes, minute)
	t.Remaining = tight.result(minute, true)
	for i := range scopes {
		if _, ok := budgetOf(&scopes[i]); ok {
			t.Reserved[i] = reserve
		}
	}
	t.Backend = b
	return t
}

// refilling returns the channel of a round trip in flight for one of the scopes, or nil.
func (x *Leased) refilling(scopes []Scope) chan struct{} {
	for i := range scopes {
		l := x.lease(scopes[i].ID)
		l.mu.Lock()
		ch := l.refill
		l.mu.Unlock()
		if ch != nil {
			return ch
		}
	}
	return nil
}

// slow admits the request through Redis, giving back what its scopes' leases hold and asking for new ones.
func (x *Leased) slow(scopes []Scope, minute int64, reserve float64) (*Ticket, error) {
	nano := x.now().UnixNano()
	items := make([]leaseItem, len(scopes))
	var owned []*lease
	for i := range scopes {
		sc := &scopes[i]
		l := x.lease(sc.ID)
		l.mu.Lock()
		for l.retired || (l.ready && l.scope.Period != sc.Period) {
			// A lease dropped from the map, or one of an ended budget period: serve the scope from a new one.
			retired := l.retired
			l.mu.Unlock()
			if retired {
				x.leases.CompareAndDelete(sc.ID, l)
			} else {
				x.retire(l)
			}
			l = x.lease(sc.ID)
			l.mu.Lock()
		}
		l.prepare(&items[i].p, minute, true, true, reserve, nano)
		if l.refill == nil {
			l.refill = make(chan struct{})
			owned = append(owned, l)
		}
		l.mu.Unlock()
		items[i].l, items[i].sc = l, *sc
	}
	d, grants, err := x.exchange(items, true, reserve, minute)
	nano = x.now().UnixNano()
	for i := range items {
		it := &items[i]
		l := it.l
		l.mu.Lock()
		switch {
		case err != nil:
			l.restore(&it.p)
		default:
			l.granted(&it.sc, minute, &grants[i], d == nil, reserve, nano)
		}
		l.mu.Unlock()
	}
	for _, l := range owned {
		l.mu.Lock()
		close(l.refill)
		l.refill = nil
		l.mu.Unlock()
	}
	if err != nil {
		return nil, fmt.Errorf("quota: redis admit: %w", err)
	}
	if d != nil {
		return nil, d
	}
	b := newBacking(len(scopes))
	var tight tightest
	t := newTicket(scopes, minute)
	for i := range items {
		b.ls[i] = items[i].l
		items[i].l.mu.Lock()
		b.exact[i] = items[i].l.exact
		items[i].l.mu.Unlock()
		t.Reserved[i] = grants[i].reservation
		tight.add(&scopes[i], grants[i].reqs, grants[i].toks)
	}
	t.Remaining = tight.result(minute, true)
	t.Backend = b
	return t, nil
}

// granted records a reply: the window as Redis saw it, the request it admitted (if admitted) and the grants.
func (l *lease) granted(sc *Scope, minute int64, g *leaseGrant, admitted bool, reserve float64, nano int64) {
	if l.minute != minute {
		l.minute, l.reqs = minute, 0
	}
	l.toks = g.toks
	l.contact = nano
	l.used = g.reqs
	if !admitted {
		return
	}
	l.ready = true
	l.scope = *sc
	_, budgeted := budgetOf(sc)
	l.exact = (sc.RPM > 0 && g.gReqs == 0) || (sc.Parallel > 0 && g.gSlots == 0) || (budgeted && g.gMoney == 0)
	l.used++
	l.reqs += g.gReqs
	l.lastGrant = g.gReqs
	l.slots += 1 + g.gSlots
	l.inflight++
	l.held += g.reservation + g.gMoney
	l.pool += g.gMoney
	l.admits++
	l.last = nano
	l.kept = nano
	if reserve > 0 {
		l.reserve = reserve
	}
}

// retire takes l out of the map (a new lease serves its scope from now on) and keeps it for the flusher, which
// gives back what it holds once its requests have settled.
func (x *Leased) retire(l *lease) {
	l.mu.Lock()
	if l.retired {
		l.mu.Unlock()
		return
	}
	l.retired = true
	l.mu.Unlock()
	x.leases.CompareAndDelete(l.id, l)
	x.retiredMu.Lock()
	x.retired = append(x.retired, l)
	x.retiredMu.Unlock()
}

// Settle implements Counters: a ticket this Leased admitted settles in memory (sent with the next flush), but for
// its scopes that admitted it in Redis alone, which settle there at once; any other ticket settles on Redis.
func (x *Leased) Settle(ctx context.Context, t *Ticket, tokens int64, cost float64) error {
	if t == nil {
		return nil
	}
	b, ok := t.Backend.(*leaseBacking)
	if !ok || len(b.ls) != len(t.Scopes) || len(t.Reserved) != len(t.Scopes) {
		return x.r.Settle(ctx, t, tokens, cost)
	}
	if !t.MarkSettled() {
		return nil
	}
	minute := max(minuteOf(x.r.now()), t.Minute)
	tokens, cost = max(0, tokens), amount(cost)
	exact := 0
	for i, l := range b.ls {
		l.mu.Lock()
		if b.exact[i] {
			// Admitted in Redis with nothing leased: its place and reservation go back there, now.
			exact++
			l.inflight--
			l.slots--
			l.held = max(0, l.held-amount(t.Reserved[i]))
		} else {
			l.settle(amount(t.Reserved[i]), tokens, cost, minute)
		}
		l.mu.Unlock()
	}
	if exact == 0 {
		return nil
	}
	sub := &Ticket{Scopes: make([]Scope, 0, exact), Reserved: make([]float64, 0, exact), Minute: t.Minute}
	for i := range b.ls {
		if b.exact[i] {
			sub.Scopes = append(sub.Scopes, t.Scopes[i])
			sub.Reserved = append(sub.Reserved, t.Reserved[i])
		}
	}
	return x.r.Settle(ctx, sub, tokens, cost)
}

// Spend implements Counters: Redis's figure and what this replica has settled but not sent.
func (x *Leased) Spend(ctx context.Context, id string, period int64, baseline float64) (float64, error) {
	v, err := x.r.Spend(ctx, id, period, baseline)
	if err != nil {
		return v, err
	}
	if l, ok := x.leases.Load(id); ok {
		l := l.(*lease)
		l.mu.Lock()
		if l.ready && l.scope.Period == period {
			v += l.pCost
		}
		l.mu.Unlock()
	}
	return v, nil
}

// SetSpend implements Counters. The scope's lease is given back first (what it holds was granted against the old
// spend), and its unsent cost is sent, so that the new figure is not added to afterwards.
func (x *Leased) SetSpend(ctx context.Context, id string, period int64, spend float64) error {
	if v, ok := x.leases.Load(id); ok {
		l := v.(*lease)
		x.retire(l)
		if err := x.giveBack([]*lease{l}, true); err != nil {
			return fmt.Errorf("quota: redis set spend: %w", err)
		}
	}
	return x.r.SetSpend(ctx, id, period, spend)
}

// giveBack sends the leases' settled counts and, with all, gives back everything they hold unused.
func (x *Leased) giveBack(ls []*lease, all bool) error {
	minute := minuteOf(x.r.now())
	nano := x.now().UnixNano()
	items := make([]leaseItem, 0, len(ls))
	for _, l := range ls {
		l.mu.Lock()
		if l.ready {
			items = append(items, l.item(minute, all, nano))
		}
		l.mu.Unlock()
	}
	return x.send(items, minute)
}

// send runs a round trip without a request for items, in chunks, and records the replies.
func (x *Leased) send(items []leaseItem, minute int64) error {
	const chunk = 64
	var first error
	for from := 0; from < len(items); from += chunk {
		part := items[from:min(from+chunk, len(items))]
		_, grants, err := x.exchange(part, false, 0, minute)
		nano := x.now().UnixNano()
		for i := range part {
			it := &part[i]
			it.l.mu.Lock()
			if err != nil {
				it.l.restore(&it.p)
			} else {
				it.l.topped(minute, &grants[i], nano, it.p.keep)
			}
			it.l.mu.Unlock()
		}
		if err != nil && first == nil {
			first = err
		}
	}
	return first
}

// topped records the reply of a round trip without a request.
func (l *lease) topped(minute int64, g *leaseGrant, nano int64, kept bool) {
	if l.minute != minute {
		l.minute, l.reqs = minute, 0
		l.used = g.reqs
	} else {
		l.used = g.reqs - l.reqs
	}
	l.toks = g.toks
	l.contact = nano
	if kept {
		l.kept = nano
	}
	l.reqs += g.gReqs
	if g.gReqs > 0 {
		l.lastGrant = g.gReqs
	}
	l.slots += g.gSlots
	l.held += g.gMoney
	l.pool += g.gMoney
}

// flushLoop runs flush every interval until Close.
func (x *Leased) flushLoop() {
	defer close(x.done)
	t := time.NewTicker(x.every)
	defer t.Stop()
	for {
		select {
		case <-x.stop:
			return
		case <-t.C:
			x.flush()
		}
	}
}

// flush sends settled counts, tops up busy leases, and gives back idle ones and retired ones whose requests
// have settled.
func (x *Leased) flush() {
	minute := minuteOf(x.r.now())
	nano := x.now().UnixNano()
	var items []leaseItem
	var idle []*lease
	x.leases.Range(func(_, v any) bool {
		l := v.(*lease)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.recent, l.admits = l.admits, 0
		if !l.ready || l.refill != nil {
			return true
		}
		if nano-l.last > int64(leaseIdle) && l.inflight == 0 {
			if l.reqs == 0 && l.slots == 0 && l.held <= headroomEpsilon && l.pCost == 0 && l.pTokens == 0 {
				l.retired = true
				idle = append(idle, l)
				return true
			}
			items = append(items, l.item(minute, true, nano))
			return true
		}
		pending := l.pCost > 0 || (l.pTokens > 0 && l.pTokMinute == minute)
		_, budgeted := budgetOf(&l.scope)
		short := l.minute == minute && ((l.scope.RPM > 0 && l.reqs < 2*l.recent) ||
			(budgeted && l.reserve > 0 && l.pool < 2*float64(l.recent)*l.reserve))
		stale := l.scope.TPM > 0 && l.recent > 0 && nano-l.contact > int64(leaseFresh)/2
		keep := (l.slots > 0 || l.held > 0) && nano-l.kept > int64(holdTTL/4)
		if !pending && !short && !stale && !keep {
			return true
		}
		it := l.item(minute, false, nano)
		if short {
			n := min(max(leaseMinWant, 4*l.recent), leaseMaxWant)
			if l.scope.RPM > 0 {
				it.p.wantReqs = n
			}
			if budgeted && l.reserve > 0 {
				it.p.wantMoney, it.p.leastMoney = float64(n)*l.reserve, leaseMinWant*l.reserve
			}
		}
		items = append(items, it)
		return true
	})
	for _, l := range idle {
		x.leases.CompareAndDelete(l.id, l)
	}
	x.retiredMu.Lock()
	keep := x.retired[:0]
	for _, l := range x.retired {
		l.mu.Lock()
		if l.inflight == 0 {
			items = append(items, l.item(minute, true, nano))
		} else {
			keep = append(keep, l)
		}
		l.mu.Unlock()
	}
	clear(x.retired[len(keep):])
	x.retired = keep
	x.retiredMu.Unlock()
	if len(items) == 0 {
		return
	}
	err := x.send(items, minute)
	if err != nil {
		// Retired leases that failed to send stay retired: keep them for the next flush.
		x.retiredMu.Lock()
		for i := range items {
			if l := items[i].l; l.retired && !x.isRetiredLocked(l) {
				x.retired = append(x.retired, l)
			}
		}
		x.retiredMu.Unlock()
		if x.failing.CompareAndSwap(false, true) {
			x.log.Warn("quota: could not send settled counts to Redis; keeping them to send again", "err", err)
		}
	} else if x.failing.CompareAndSwap(true, false) {
		x.log.Info("quota: settled counts sent to Redis again")
	}
}

func (x *Leased) isRetiredLocked(l *lease) bool {
	for _, r := range x.retired {
		if r == l {
			return true
		}
	}
	return false
}

// Close stops flushing and gives back everything the leases hold, sending what has settled; requests still in
// flight keep their places and reservations until the keys expire.
func (x *Leased) Close(ctx context.Context) error {
	var err error
	x.closeOnce.Do(func() {
		close(x.stop)
		if x.looping.Load() {
			select {
			case <-x.done:
			case <-ctx.Done():
			}
		}
		ls := x.live()
		x.retiredMu.Lock()
		ls = append(ls, x.retired...)
		x.retired = nil
		x.retiredMu.Unlock()
		err = x.giveBack(ls, true)
	})
	if err != nil {
		return fmt.Errorf("quota: give back leases: %w", err)
	}
	return nil
}

// sendSettled sends what every lease has settled, at once.
func (x *Leased) sendSettled() error { return x.giveBack(x.live(), false) }

// live returns the leases in the map.
func (x *Leased) live() []*lease {
	var ls []*lease
	x.leases.Range(func(_, v any) bool {
		ls = append(ls, v.(*lease))
		return true
	})
	return ls
}
