package quota

import (
	"strconv"

	"github.com/redis/go-redis/v9"
)

// leaseShare is the share of a limit's headroom one grant may take: a lease is at most 1/leaseShare of what is
// left, so the unused leases of every replica together stay a small part of a limit, and leases shrink to
// nothing as a limit nears (the requests then go to Redis one by one, as without leases).
const leaseShare = 32

// leaseSource gives back and flushes what replicas' leases hold, admits one request across its scopes (as
// admitSource does), and grants new leases.
//
// For every scope, first: unused requests go back to the window (return reqs), unused in-flight places to the
// in-flight count (return slots), and reserved money no longer held to the reservations (return money); settled
// tokens go into the window and settled cost into the spend. Then, when ARGV[1] is 1, the request is checked and
// counted in every scope, all or nothing (a denial leaves the give-backs done); when it is 0 there is no request.
// Last, if the request was admitted or there was none, each scope grants what was asked for, each kind at most
// 1/leaseShare of its headroom: requests of the window (scopes with an RPM limit), in-flight places (with a
// parallel limit) and reserved money (with a budget), and nothing of a kind when that share is under the least
// grant asked for (so a limit with little left is enforced per request, by Redis alone). The keys a lease holds (in-flight, reservations) get the
// hold TTL again when keep is 1, so that what a live replica holds does not expire.
//
// KEYS, 5 per scope: rpm window, tpm window, inflight, spend, reserved.
// ARGV: admit (1/0), reserve, scope count, window TTL, hold TTL, epsilon, then 15 per scope: rpm, tpm,
// parallel, budget ("" for none), baseline, spend expiry, return reqs, return slots, return money, tokens, cost,
// want reqs, want slots, want money, keep (1/0), least requests or places, least money.
// Reply: admitted (1/0), refusing scope (1-based, 0 if none), reason, its spend, its reserved, then 6 per scope:
// window requests (before the request), window tokens, reservation, granted reqs, granted slots, granted money.
var leaseSource = luaPrelude + luaAdmission + `
local admit, reserve, n = ARGV[1] == '1', num(ARGV[2]), num(ARGV[3])
local windowTTL, holdTTL, eps = num(ARGV[4]), num(ARGV[5]), num(ARGV[6])
local H, E = 6, 17
for i = 1, n do
  local k, a = (i - 1) * 5, H + (i - 1) * E
  lower(KEYS[k + 1], num(ARGV[a + 7]))
  lower(KEYS[k + 3], num(ARGV[a + 8]))
  unreserve(KEYS[k + 5], num(ARGV[a + 9]), eps)
  local toks = num(ARGV[a + 10])
  if toks > 0 and redis.call('INCRBY', KEYS[k + 2], toks) == toks then
    redis.call('EXPIRE', KEYS[k + 2], windowTTL)
  end
  if num(ARGV[a + 11]) > 0 then
    seed(KEYS[k + 4], ARGV[a + 5], num(ARGV[a + 6]))
    redis.call('INCRBYFLOAT', KEYS[k + 4], ARGV[a + 11])
  end
  if ARGV[a + 15] == '1' then
    redis.call('EXPIRE', KEYS[k + 3], holdTTL)
    redis.call('EXPIRE', KEYS[k + 5], holdTTL)
  end
end
local out = {1, 0, '', '0', '0'}
local per, res = {}, {}
for i = 1, n do
  local k, a = (i - 1) * 5, H + (i - 1) * E
  res[i] = 0
  if admit then
    local reason, spend, reserved, _, _, r = judge(k, a, reserve, eps)
    res[i] = r
    if reason ~= '' and out[1] == 1 then out = {0, i, reason, fmt(spend), fmt(reserved)} end
  end
  per[i] = {num(redis.call('GET', KEYS[k + 1])), num(redis.call('GET', KEYS[k + 2]))}
end
if admit and out[1] == 1 then
  for i = 1, n do count((i - 1) * 5, res[i], windowTTL, holdTTL) end
end
for i = 1, n do
  local k, a = (i - 1) * 5, H + (i - 1) * E
  local gr, gs, gm = 0, 0, 0
  if out[1] == 1 then
    local rpm, parallel = num(ARGV[a + 1]), num(ARGV[a + 3])
    local wr, ws, wm = num(ARGV[a + 12]), num(ARGV[a + 13]), num(ARGV[a + 14])
    local least, leastMoney = num(ARGV[a + 16]), num(ARGV[a + 17])
    if wr > 0 and rpm > 0 then
      gr = math.min(wr, math.floor((rpm - num(redis.call('GET', KEYS[k + 1]))) / ` + strconv.Itoa(leaseShare) + `))
      if gr >= least and gr > 0 then
        if redis.call('INCRBY', KEYS[k + 1], gr) == gr then redis.call('EXPIRE', KEYS[k + 1], windowTTL) end
      else
        gr = 0
      end
    end
    if ws > 0 and parallel > 0 then
      local flight = math.max(0, num(redis.call('GET', KEYS[k + 3])))
      gs = math.min(ws, math.floor((parallel - flight) / ` + strconv.Itoa(leaseShare) + `))
      if gs >= least and gs > 0 then
        redis.call('INCRBY', KEYS[k + 3], gs)
        redis.call('EXPIRE', KEYS[k + 3], holdTTL)
      else
        gs = 0
      end
    end
    if wm > 0 and ARGV[a + 4] ~= '' then
      local budget = num(ARGV[a + 4])
      local spend = seed(KEYS[k + 4], ARGV[a + 5], num(ARGV[a + 6]))
      local reserved = math.max(0, num(redis.call('GET', KEYS[k + 5])))
      gm = math.min(wm, (budget - spend - reserved) / ` + strconv.Itoa(leaseShare) + `)
      if gm > eps and gm >= leastMoney then
        redis.call('INCRBYFLOAT', KEYS[k + 5], fmt(gm))
        redis.call('EXPIRE', KEYS[k + 5], holdTTL)
      else
        gm = 0
      end
    end
  end
  out[#out + 1] = per[i][1]
  out[#out + 1] = per[i][2]
  out[#out + 1] = fmt(res[i])
  out[#out + 1] = gr
  out[#out + 1] = gs
  out[#out + 1] = fmt(gm)
end
return out
`

var leaseSHA = redis.NewScript(leaseSource).Hash()
