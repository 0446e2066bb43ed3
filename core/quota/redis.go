package quota

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// windowTTL keeps an RPM/TPM window's keys a minute past its end.
	windowTTL = 2 * time.Minute
	// holdTTL is how long in-flight counts and reservations outlive the last admission of a scope, so that what
	// a crashed replica held heals once the scope has been idle that long.
	holdTTL = 10 * time.Minute
	// spendGrace is how long a dated period's spend outlives the period, for late settlements and reads.
	spendGrace = 7 * 24 * time.Hour
	// redisTimeout bounds every call.
	redisTimeout = 2 * time.Second
)

// Redis is Counters shared by several replicas through one Redis server. Admit and Settle each run one Lua
// script, so checking every scope and counting in all of them is atomic across replicas.
//
// Admit and Settle batch their scripts ("natural batching"): a call is sent at once when no pipeline is in
// flight, and calls made while one is in flight go together, up to 128, in the next pipeline (one write, one
// read). A lone caller thus waits only for its own round trip (it sends it itself, on no timer), and many
// concurrent callers share round trips instead of each paying one. Each script still runs atomically on its
// own, and every call gets its own reply; an error of the whole pipeline (the connection) is every call's. The
// scripts are loaded with the first pipeline and again after a NOSCRIPT reply (a restarted or flushed server),
// the calls that met it being sent once more. Calls queued behind a pipeline are sent by a goroutine that exits
// when the queue is empty: there is nothing to close. Spend and SetSpend, which are rare, run their scripts
// directly.
//
// Keys, under the prefix, for a scope ID: "q:{ID}:rpm:<minute>" and "q:{ID}:tpm:<minute>" (the window's
// requests and tokens, expiring two minutes after they start), "q:{ID}:inflight" (requests in flight, its TTL
// refreshed by every admission so that counts a crashed replica held heal), "q:{ID}:spend:<period>" (seeded
// from the baseline, expiring a week after a dated period ends, never for period 0) and
// "q:{ID}:reserved:<period>" (reservations, with the in-flight TTL). An admission touches keys of several
// scopes in one script, so the keys must live on one server: Redis Cluster is not supported.
//
// Calls are detached from the caller's cancellation and bounded by a timeout of their own: a client that goes
// away must not leave an admission counted but unanswered, nor a settlement undone. A batched call whose timeout
// passes while it is still queued is never sent; one whose pipeline is in flight runs, even if its caller has
// stopped waiting (as a timed-out round trip of its own might have). The caller sending a pipeline waits for it
// as for any round trip, as long as the client's timeouts let it (with the client's default of no context
// deadlines on reads, its read timeout). Batched calls do not pass the caller's context values to the client's
// hooks (a pipeline has one context).
//
// A pipeline is retried as a whole on the errors the client retries (Options.MaxRetries), which may run some of
// its scripts twice, as a retried single round trip may; the gateway's client does not retry.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	now     func() time.Time
	batch   *batcher
}

var _ Counters = (*Redis)(nil)

// NewRedis returns counters kept in Redis under keys starting with prefix (for example "switchyard:").
func NewRedis(client redis.UniversalClient, prefix string) *Redis {
	return &Redis{client: client, prefix: prefix, timeout: redisTimeout, now: time.Now, batch: newBatcher(client)}
}

// luaPrelude holds the scripts' helpers: num reads a value (missing counts as 0); fmt formats a number with
// enough digits that tonumber, INCRBYFLOAT and Go's ParseFloat read the same float back; seed reads a spend
// key, creating it from the baseline (with its expiry) the first time; lower takes a count down (deleting it at
// zero, never below) and unreserve money off the reservations (deleting them when less than epsilon is left).
const luaPrelude = `
local function num(v) return tonumber(v) or 0 end
local function fmt(x) return string.format('%.17g', x) end
local function seed(key, baseline, expireAt)
  local v = redis.call('GET', key)
  if v then return num(v) end
  redis.call('SET', key, baseline)
  if expireAt > 0 then redis.call('EXPIREAT', key, expireAt) end
  return num(baseline)
end
local function lower(key, by)
  if by <= 0 then return end
  local v = num(redis.call('GET', key))
  if v - by <= 0 then
    if v ~= 0 then redis.call('DEL', key) end
  else
    redis.call('DECRBY', key, by)
  end
end
local function unreserve(key, by, eps)
  if by <= 0 then return end
  if num(redis.call('GET', key)) - by < eps then
    redis.call('DEL', key)
  else
    redis.call('INCRBYFLOAT', key, fmt(-by))
  end
end
`

// admitScript checks every scope and counts in all of them only if all admit.
//
// KEYS, 5 per scope: rpm window, tpm window, inflight, spend, reserved.
// ARGV: reserve, scope count, window TTL, hold TTL, epsilon, then 6 per scope: rpm, tpm, parallel, budget ("" for
// none), baseline, spend expiry (Unix seconds, 0 for none).
// Reply: admitted (1/0), refusing scope (1-based, 0 if admitted), reason, its spend, its reserved, then 3 per
// scope: window requests, window tokens (before this request), reservation.
const admitSource = luaPrelude + luaAdmission + `
local reserve, n = num(ARGV[1]), num(ARGV[2])
local windowTTL, holdTTL, eps = num(ARGV[3]), num(ARGV[4]), num(ARGV[5])
local out = {1, 0, '', '0', '0'}
local per, res = {}, {}
for i = 1, n do
  local k, a = (i - 1) * 5, 5 + (i - 1) * 6
  local reason, spend, reserved, reqs, toks, r = judge(k, a, reserve, eps)
  res[i] = r
  if reason ~= '' and out[1] == 1 then out = {0, i, reason, fmt(spend), fmt(reserved)} end
  per[#per + 1] = reqs
  per[#per + 1] = toks
  per[#per + 1] = fmt(res[i])
end
if out[1] == 1 then
  for i = 1, n do count((i - 1) * 5, res[i], windowTTL, holdTTL) end
end
for _, v in ipairs(per) do out[#out + 1] = v end
return out
`

// luaAdmission holds the admission's two halves, shared by the admit and lease scripts. For one scope, whose
// keys start after KEYS[k] (rpm window, tpm window, inflight, spend, reserved) and arguments after ARGV[a] (rpm,
// tpm, parallel, budget or "", baseline, spend expiry): judge returns the reason it refuses a request reserving
// reserve (an empty string when it admits it), its spend and reservations, the window's requests and tokens, and what it
// would reserve; count counts the admitted request (one in the window, one in flight, its reservation).
const luaAdmission = `
local function judge(k, a, reserve, eps)
  local reqs = num(redis.call('GET', KEYS[k + 1]))
  local toks = num(redis.call('GET', KEYS[k + 2]))
  local flight = math.max(0, num(redis.call('GET', KEYS[k + 3])))
  local rpm, tpm, parallel = num(ARGV[a + 1]), num(ARGV[a + 2]), num(ARGV[a + 3])
  local spend, reserved, exhausted, res = 0, 0, false, 0
  if ARGV[a + 4] ~= '' then
    local budget = num(ARGV[a + 4])
    spend = seed(KEYS[k + 4], ARGV[a + 5], num(ARGV[a + 6]))
    reserved = math.max(0, num(redis.call('GET', KEYS[k + 5])))
    res = math.max(0, math.min(reserve, budget - spend - reserved))
    exhausted = spend + reserved >= budget - eps or (reserved > eps and spend + reserved + reserve > budget + eps)
  end
  local reason = ''
  if rpm > 0 and reqs >= rpm then reason = 'rpm'
  elseif tpm > 0 and toks >= tpm then reason = 'tpm'
  elseif parallel > 0 and flight >= parallel then reason = 'parallel'
  elseif exhausted then reason = 'budget' end
  return reason, spend, reserved, reqs, toks, res
end
local function count(k, res, windowTTL, holdTTL)
  if redis.call('INCR', KEYS[k + 1]) == 1 then redis.call('EXPIRE', KEYS[k + 1], windowTTL) end
  redis.call('INCR', KEYS[k + 3])
  redis.call('EXPIRE', KEYS[k + 3], holdTTL)
  if res > 0 then
    redis.call('INCRBYFLOAT', KEYS[k + 5], fmt(res))
    redis.call('EXPIRE', KEYS[k + 5], holdTTL)
  end
end
`

// settleScript releases a ticket: tokens into the current window, one request out of flight, the reservation
// replaced by the cost. Nothing is driven below zero (a key may have expired while the request ran).
//
// KEYS, 4 per scope: tpm window, inflight, spend, reserved.
// ARGV: tokens, cost, scope count, window TTL, epsilon, then 3 per scope: reservation, baseline, spend expiry.
const settleSource = luaPrelude + `
local tokens, cost, n = num(ARGV[1]), ARGV[2], num(ARGV[3])
local windowTTL, eps = num(ARGV[4]), num(ARGV[5])
for i = 1, n do
  local k, a = (i - 1) * 4, 5 + (i - 1) * 3
  if tokens > 0 and redis.call('INCRBY', KEYS[k + 1], tokens) == tokens then
    redis.call('EXPIRE', KEYS[k + 1], windowTTL)
  end
  lower(KEYS[k + 2], 1)
  unreserve(KEYS[k + 4], num(ARGV[a + 1]), eps)
  if num(cost) > 0 then
    seed(KEYS[k + 3], ARGV[a + 2], num(ARGV[a + 3]))
    redis.call('INCRBYFLOAT', KEYS[k + 3], cost)
  end
end
return 1
`

// The batched scripts' digests, for EVALSHA.
var (
	admitSHA  = redis.NewScript(admitSource).Hash()
	settleSHA = redis.NewScript(settleSource).Hash()
)

// Script arguments that never change, boxed once.
var (
	windowTTLArg any = int64(windowTTL / time.Second)
	holdTTLArg   any = int64(holdTTL / time.Second)
	epsilonArg   any = formatFloat(headroomEpsilon)
)

// spendScript reads a period's spend, seeding it from the baseline first.
// KEYS: spend. ARGV: baseline, spend expiry.
var spendScript = redis.NewScript(luaPrelude + `
return fmt(seed(KEYS[1], ARGV[1], num(ARGV[2])))
`)

// setSpendScript overwrites a period's spend. KEYS: spend. ARGV: spend, spend expiry.
var setSpendScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1])
local expireAt = tonumber(ARGV[2]) or 0
if expireAt > 0 then redis.call('EXPIREAT', KEYS[1], expireAt) end
return 1
`)

// key returns "<prefix>q:{<id>}:<kind>" followed by ":<n>" when withN. It allocates once: the Builder's
// buffer becomes the string.
func (r *Redis) key(id, kind string, n int64, withN bool) string {
	var num [20]byte
	digits := num[:0]
	if withN {
		digits = strconv.AppendInt(digits, n, 10)
	}
	var b strings.Builder
	b.Grow(len(r.prefix) + len(id) + len(kind) + len(digits) + 6)
	b.WriteString(r.prefix)
	b.WriteString("q:{")
	b.WriteString(id)
	b.WriteString("}:")
	b.WriteString(kind)
	if withN {
		b.WriteByte(':')
		b.Write(digits)
	}
	return b.String()
}

// spendExpiry is when a period's spend key expires (Unix seconds), 0 for never.
func spendExpiry(period int64) int64 {
	if period == 0 {
		return 0
	}
	return period + int64(spendGrace/time.Second)
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// call returns a context for one direct round trip (Spend, SetSpend): detached from the caller's cancellation (keeping its values) and
// bounded by the timeout.
func (r *Redis) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
}

// run sends one EVALSHA (its whole argument list) through the batcher and returns the command holding its
// reply, or the error. After an error the command may still be in the sender's hands: it must not be used.
func (r *Redis) run(args []any) (*redis.Cmd, error) {
	cmd := redis.NewCmd(context.Background(), args...)
	cmd.SetFirstKeyPos(3)
	return cmd, r.batch.run(cmd, r.timeout)
}

// Admit implements Counters.
func (r *Redis) Admit(ctx context.Context, req Request) (*Ticket, error) {
	now := req.Now
	if now.IsZero() {
		now = r.now()
	}
	minute := minuteOf(now)
	n := len(req.Scopes)
	if n == 0 {
		var tight tightest
		t := newTicket(req.Scopes, minute)
		t.Remaining = tight.result(minute, true)
		return t, nil
	}
	// EVALSHA sha numkeys KEYS... ARGV...: KEYS from 3, ARGV from 3+5n.
	args := make([]any, 3+5*n+5+6*n)
	args[0], args[1], args[2] = "evalsha", admitSHA, 5*n
	a := args[3+5*n:]
	a[0], a[1], a[2], a[3], a[4] = formatFloat(amount(req.Reserve)), n, windowTTLArg, holdTTLArg, epsilonArg
	for i := range req.Scopes {
		sc := &req.Scopes[i]
		k := args[3+5*i:]
		k[0] = r.key(sc.ID, "rpm", minute, true)
		k[1] = r.key(sc.ID, "tpm", minute, true)
		k[2] = r.key(sc.ID, "inflight", 0, false)
		k[3] = r.key(sc.ID, "spend", sc.Period, true)
		k[4] = r.key(sc.ID, "reserved", sc.Period, true)
		budget := ""
		if b, ok := budgetOf(sc); ok {
			budget = formatFloat(b)
		}
		v := a[5+6*i:]
		v[0], v[1], v[2], v[3], v[4], v[5] = sc.RPM, sc.TPM, sc.Parallel, budget, formatFloat(amount(sc.Baseline)),
			spendExpiry(sc.Period)
	}
	cmd, err := r.run(args)
	var reply []any
	if err == nil {
		reply, err = cmd.Slice()
	}
	if err != nil {
		return nil, fmt.Errorf("quota: redis admit: %w", err)
	}
	return parseAdmit(req.Scopes, minute, reply)
}

// parseAdmit turns the admit script's reply into a ticket or a denial.
func parseAdmit(scopes []Scope, minute int64, reply []any) (*Ticket, error) {
	const head, each = 5, 3
	if len(reply) != head+each*len(scopes) {
		return nil, fmt.Errorf("quota: redis admit: unexpected reply of %d values", len(reply))
	}
	p := replyParser{reply: reply}
	admitted := p.int(0) == 1
	var tight tightest
	for i := range scopes {
		tight.add(&scopes[i], p.int(head+each*i), p.int(head+each*i+1))
	}
	if !admitted {
		i := int(p.int(1)) - 1
		if i < 0 || i >= len(scopes) {
			return nil, fmt.Errorf("quota: redis admit: refusing scope %d out of range", i+1)
		}
		d := &Denial{Scope: scopes[i], Reason: Reason(p.str(2)), Remaining: tight.result(minute, false)}
		if _, ok := budgetOf(&scopes[i]); ok {
			d.Spend, d.Reserved = p.float(3), p.float(4)
		}
		if p.err != nil {
			return nil, p.err
		}
		return nil, d
	}
	t := newTicket(scopes, minute)
	t.Remaining = tight.result(minute, true)
	for i := range scopes {
		t.Reserved[i] = p.float(head + each*i + 2)
	}
	if p.err != nil {
		return nil, p.err
	}
	return t, nil
}

// replyParser reads a script's reply, keeping the first malformed value's error.
type replyParser struct {
	reply []any
	err   error
}

func (p *replyParser) fail(i int, want string) {
	if p.err == nil {
		p.err = fmt.Errorf("quota: redis: reply value %d is %T, not %s", i, p.reply[i], want)
	}
}

func (p *replyParser) int(i int) int64 {
	v, ok := p.reply[i].(int64)
	if !ok {
		p.fail(i, "an integer")
	}
	return v
}

func (p *replyParser) str(i int) string {
	v, ok := p.reply[i].(string)
	if !ok {
		p.fail(i, "a string")
	}
	return v
}

func (p *replyParser) float(i int) float64 {
	v, err := strconv.ParseFloat(p.str(i), 64)
	if err != nil && p.err == nil {
		p.err = fmt.Errorf("quota: redis: reply value %d: %w", i, err)
	}
	return v
}

// Settle implements Counters.
func (r *Redis) Settle(ctx context.Context, t *Ticket, tokens int64, cost float64) error {
	if !t.MarkSettled() {
		return nil
	}
	n := len(t.Scopes)
	if n == 0 {
		return nil
	}
	if len(t.Reserved) != n {
		return errors.New("quota: redis settle: ticket reservations do not match its scopes")
	}
	minute := max(minuteOf(r.now()), t.Minute)
	// EVALSHA sha numkeys KEYS... ARGV...: KEYS from 3, ARGV from 3+4n.
	args := make([]any, 3+4*n+5+3*n)
	args[0], args[1], args[2] = "evalsha", settleSHA, 4*n
	a := args[3+4*n:]
	a[0], a[1], a[2], a[3], a[4] = max(0, tokens), formatFloat(amount(cost)), n, windowTTLArg, epsilonArg
	for i := range t.Scopes {
		sc := &t.Scopes[i]
		k := args[3+4*i:]
		k[0] = r.key(sc.ID, "tpm", minute, true)
		k[1] = r.key(sc.ID, "inflight", 0, false)
		k[2] = r.key(sc.ID, "spend", sc.Period, true)
		k[3] = r.key(sc.ID, "reserved", sc.Period, true)
		v := a[5+3*i:]
		v[0], v[1], v[2] = formatFloat(amount(t.Reserved[i])), formatFloat(amount(sc.Baseline)), spendExpiry(sc.Period)
	}
	if _, err := r.run(args); err != nil {
		return fmt.Errorf("quota: redis settle: %w", err)
	}
	return nil
}

// Spend implements Counters.
func (r *Redis) Spend(ctx context.Context, id string, period int64, baseline float64) (float64, error) {
	cctx, cancel := r.call(ctx)
	defer cancel()
	s, err := spendScript.Run(cctx, r.client, []string{r.key(id, "spend", period, true)},
		formatFloat(amount(baseline)), spendExpiry(period)).Text()
	if err != nil {
		return 0, fmt.Errorf("quota: redis spend: %w", err)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("quota: redis spend: %w", err)
	}
	return v, nil
}

// SetSpend implements Counters.
func (r *Redis) SetSpend(ctx context.Context, id string, period int64, spend float64) error {
	cctx, cancel := r.call(ctx)
	defer cancel()
	err := setSpendScript.Run(cctx, r.client, []string{r.key(id, "spend", period, true)},
		formatFloat(amount(spend)), spendExpiry(period)).Err()
	if err != nil {
		return fmt.Errorf("quota: redis set spend: %w", err)
	}
	return nil
}
