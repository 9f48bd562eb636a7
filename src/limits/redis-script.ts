/**
 * The Redis side of the algorithms: one script evaluates every limit of a request in one
 * round trip, atomically (Redis runs a script to completion before anything else).
 *
 * Each function below repeats its TypeScript twin in ./algorithms (same operations in the
 * same order, integers below 2^53, divisions immediately floored or ceiled) so both
 * backends decide identically; test/limits/model.ts replays random sequences on both
 * against a reference implementation to prove it.
 *
 * Time: `redis.call('TIME')`, the Redis server's clock, never an instance's (instances'
 * clocks differ, and a limit shared by instances must have one time). ARGV[1] overrides it
 * for tests only (RedisLimiter's `testClock`); ARGV[2] then adds slack to every expiry,
 * because keys still expire in real time while the test's time jumps (the state itself is
 * self-describing: window starts and TATs are stored, so expiry is only garbage collection).
 *
 * KEYS: one per check (a key may repeat: later checks see earlier ones' consumption).
 * ARGV: [1] time override in ms or '', [2] expiry slack in ms, [3] 'check' | 'refund', then
 * 7 per check: tag, limit, cost, a, b, c, d where
 *   tb  (token bucket, GCRA)  a = emission interval in µs
 *   sw  (sliding window)      a = window in ms
 *   fw  (fixed window)        a = window in ms
 *   cal (calendar quota)      a..d = previous start, start, end, next end (epoch ms), from the
 *                             instance's clock; the window holding the server time is picked
 *   cc  (concurrency)         a = lease TTL in ms, b = the lease id to add
 *
 * 'check' returns { all allowed (1/0), then per check: allowed, remaining, reset ms, retry ms
 * (-1 when allowed), remaining and reset ms of the untouched state }, and writes only when
 * every check allowed. Every key written gets an expiry.
 *
 * 'refund' gives units back and removes the lease `b` of a concurrency check (a Cluster
 * request denied in another slot group undoes its 'check' with the same arguments).
 */
export const ARGS_PER_CHECK = 7;
export const REPLY_PER_CHECK = 6;

export const LIMIT_SCRIPT = `
if redis.replicate_commands then redis.replicate_commands() end
local now_us
if ARGV[1] ~= '' then
  now_us = tonumber(ARGV[1]) * 1000
else
  local t = redis.call('TIME')
  now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local now = math.floor(now_us / 1000)
local slack = tonumber(ARGV[2])
local mode = ARGV[3]
local HINT = 1000

local function int(x)
  return string.format('%d', x)
end

local function load(key, tag, a, b, c, d)
  local st = { existed = false }
  if tag == 'tb' then
    local v = redis.call('GET', key)
    st.t = now_us
    if v then
      st.existed = true
      local stored = tonumber(v)
      if stored > now_us then st.t = stored end
    end
  elseif tag == 'sw' then
    local w = tonumber(a)
    local start = math.floor(now / w) * w
    local v = redis.call('HMGET', key, 's', 'p', 'c')
    local s = tonumber(v[1])
    st.s = start
    st.p = 0
    st.c = 0
    if s then st.existed = true end
    if s == start then
      st.p = tonumber(v[2]) or 0
      st.c = tonumber(v[3]) or 0
    elseif s == start - w then
      st.p = tonumber(v[3]) or 0
    end
  elseif tag == 'fw' or tag == 'cal' then
    if tag == 'fw' then
      local w = tonumber(a)
      st.s = math.floor(now / w) * w
      st.e = st.s + w
    else
      local b0, b1, b2, b3 = tonumber(a), tonumber(b), tonumber(c), tonumber(d)
      if now < b1 then
        st.s, st.e = b0, b1
      elseif now >= b2 then
        st.s, st.e = b2, b3
      else
        st.s, st.e = b1, b2
      end
    end
    local v = redis.call('HMGET', key, 's', 'n')
    local s = tonumber(v[1])
    st.n = 0
    if s then st.existed = true end
    if s == st.s then st.n = tonumber(v[2]) or 0 end
  else
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
    st.n = redis.call('ZCARD', key)
    st.first = 0
    if st.n > 0 then
      st.existed = true
      st.first = tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
    end
    st.adds = {}
  end
  return st
end

local function copy(st)
  return { t = st.t, s = st.s, e = st.e, p = st.p, c = st.c, n = st.n, first = st.first }
end

-- gcraConsume, slidingConsume, fixedConsume, concurrencyConsume
local function consume(st, tag, limit, cost, a, lease)
  if tag == 'tb' then
    local T = tonumber(a)
    local new_t = st.t + T * cost
    local allow_at = new_t - T * limit
    if now_us < allow_at then return false, math.ceil((allow_at - now_us) / 1000) end
    st.t = new_t
  elseif tag == 'sw' then
    local w = tonumber(a)
    local e = now - st.s
    if st.p * (w - e) + (st.c + cost) * w <= limit * w then
      st.c = st.c + cost
    else
      local retry
      if cost > limit then
        retry = 2 * w - e
      elseif st.c + cost <= limit then
        retry = w - math.floor(((limit - st.c - cost) * w) / st.p) - e
      else
        retry = w - e
        if st.c > 0 then retry = retry + w - math.floor(((limit - cost) * w) / st.c) end
      end
      return false, retry
    end
  elseif tag == 'fw' or tag == 'cal' then
    if st.n + cost <= limit then
      st.n = st.n + cost
    else
      return false, st.e - now
    end
  else
    if st.n + 1 <= limit then
      if st.n == 0 then st.first = now + tonumber(a) end
      st.n = st.n + 1
      st.adds[#st.adds + 1] = lease
    else
      local until_expiry = st.first - now
      if until_expiry < HINT then return false, until_expiry end
      return false, HINT
    end
  end
  return true, -1
end

-- gcraDescribe, slidingDescribe, fixedDescribe, concurrencyDescribe
local function describe(st, tag, limit, a)
  local remaining, reset
  if tag == 'tb' then
    local T = tonumber(a)
    local level = st.t - now_us
    remaining = math.floor((T * limit - level) / T)
    reset = math.ceil(level / 1000)
  elseif tag == 'sw' then
    local w = tonumber(a)
    local e = now - st.s
    remaining = math.floor((limit * w - st.p * (w - e) - st.c * w) / w)
    reset = 0
    if st.c > 0 then
      reset = 2 * w - e
    elseif st.p > 0 then
      reset = w - e
    end
  elseif tag == 'fw' or tag == 'cal' then
    remaining = limit - st.n
    reset = 0
    if st.n > 0 then reset = st.e - now end
  else
    remaining = limit - st.n
    reset = 0
    if st.n >= limit then reset = st.first - now end
  end
  if remaining < 0 then remaining = 0 end
  return remaining, reset
end

-- gcraRefund, slidingRefund, fixedRefund (concurrency has nothing to refund)
local function refund(st, tag, cost, a)
  if tag == 'tb' then
    st.t = st.t - tonumber(a) * cost
    if st.t < now_us then st.t = now_us end
  elseif tag == 'sw' then
    local left = cost
    local from = st.c
    if from > left then from = left end
    st.c = st.c - from
    left = left - from
    from = st.p
    if from > left then from = left end
    st.p = st.p - from
  elseif tag == 'fw' or tag == 'cal' then
    if st.n < cost then st.n = 0 else st.n = st.n - cost end
  end
end

local function write(key, st, tag, a)
  if tag == 'tb' then
    if st.t <= now_us then
      redis.call('DEL', key)
    else
      redis.call('SET', key, int(st.t), 'PX', int(math.ceil((st.t - now_us) / 1000) + slack))
    end
  elseif tag == 'sw' then
    local w = tonumber(a)
    redis.call('HSET', key, 's', int(st.s), 'p', int(st.p), 'c', int(st.c))
    redis.call('PEXPIRE', key, int(st.s + 2 * w - now + slack))
  elseif tag == 'fw' or tag == 'cal' then
    redis.call('HSET', key, 's', int(st.s), 'n', int(st.n))
    redis.call('PEXPIRE', key, int(st.e - now + slack))
  else
    local ttl = tonumber(a)
    for _, id in ipairs(st.adds) do
      redis.call('ZADD', key, int(now + ttl), id)
    end
    redis.call('PEXPIRE', key, int(ttl + slack))
  end
end

local states = {}
local touched = {}
local out = { 1 }
local all = true
for i = 1, #KEYS do
  local key = KEYS[i]
  local base = 3 + (i - 1) * ${ARGS_PER_CHECK}
  local tag = ARGV[base + 1]
  local limit = tonumber(ARGV[base + 2])
  local cost = tonumber(ARGV[base + 3])
  local a = ARGV[base + 4]
  local st = states[key]
  if not st then
    st = load(key, tag, a, ARGV[base + 5], ARGV[base + 6], ARGV[base + 7])
    st.orig = copy(st)
    states[key] = st
    touched[#touched + 1] = { key, tag, a }
  end
  if mode == 'check' then
    local ok, retry = consume(st, tag, limit, cost, a, ARGV[base + 5])
    if not ok then all = false end
    local remaining, reset = describe(st, tag, limit, a)
    local orig_remaining, orig_reset = describe(st.orig, tag, limit, a)
    out[#out + 1] = ok and 1 or 0
    out[#out + 1] = remaining
    out[#out + 1] = reset
    out[#out + 1] = retry
    out[#out + 1] = orig_remaining
    out[#out + 1] = orig_reset
  elseif tag ~= 'cc' then
    refund(st, tag, cost, a)
  elseif ARGV[base + 5] ~= '' then
    redis.call('ZREM', key, ARGV[base + 5])
  end
end

if mode == 'check' then
  if not all then
    out[1] = 0
    return out
  end
  for _, k in ipairs(touched) do
    write(k[1], states[k[1]], k[2], k[3])
  end
  return out
end

-- refund: nothing was counted under a key that did not exist, so it is left alone (a lease
-- was removed above)
for _, k in ipairs(touched) do
  local st = states[k[1]]
  if k[2] == 'tb' or (k[2] ~= 'cc' and st.existed) then write(k[1], st, k[2], k[3]) end
end
return 0
`;
