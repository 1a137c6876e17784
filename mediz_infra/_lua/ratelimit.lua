-- mediz-infra rate limiter: one decision for every limit of a rule, in one round trip.
--
-- KEYS[i]   one key per limit, all sharing one hash tag (one slot on Redis Cluster)
-- ARGV[1]   strategy: f = fixed window, m = moving window, s = sliding-window counter, g = GCRA
-- ARGV[2]   cost of this request (units)
-- ARGV[3i .. 3i+2]  amount, window (microseconds), unused, of limit i; for GCRA: emission
--                   interval in ticks, tick (nanoseconds: 1 or 1000), burst
--
-- Returns "allowed remaining_1 reset_ms_1 retry_ms_1 ..." as one string (one bulk reply parses
-- far faster on the client than an array of integers). All limits are checked first and
-- written only when every one allows: a denied request consumes nothing. The clock is the
-- server's TIME, so every process and host decides on the same clock. The fixed window needs
-- no clock (the key's TTL is the window): it counts first and takes the count back when the
-- request is denied, which keeps the allowed path at the floor's INCRBY + PTTL.
-- mediz_infra/ratelimit/windows.py and gcra.py are the same arithmetic in Python.

local code = ARGV[1]
local cost = tonumber(ARGV[2])
local now, now_s, now_us = 0, 0, 0
if code ~= 'f' then
  local t = redis.call('TIME')
  now_s, now_us = tonumber(t[1]), tonumber(t[2])
  now = now_s * 1000000 + now_us
end
local out = {1}
local writes = {}
local counted = {}
local held = {}
local allowed = true

local function reply(values)
  for i = 1, #values do values[i] = string.format('%d', values[i]) end
  return table.concat(values, ' ')
end

local function ms(us)
  if us <= 0 then return 0 end
  return math.ceil(us / 1000)
end

-- floor(a / b) for integers a >= 0, b > 0 with a + b < 2^53, exactly: the double quotient
-- can round up to the next integer when b is large
local function idiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end
  return q
end

-- whole milliseconds, rounded up, in ticks of tick nanoseconds (1 or 1000)
local function ticks_ms(ticks, tick)
  if ticks <= 0 then return 0 end
  local per_ms = 1000000 / tick
  return idiv(ticks + per_ms - 1, per_ms)
end

for i = 1, #KEYS do
  local key = KEYS[i]
  local amount = tonumber(ARGV[3 * i])
  local window = tonumber(ARGV[3 * i + 1])
  local burst = tonumber(ARGV[3 * i + 2])
  local ok, remaining, reset, retry

  if code == 'f' then
    local count = redis.call('INCRBY', key, cost)
    local ttl = window
    if count == cost then
      redis.call('PEXPIRE', key, ms(window))
    else
      local pttl = redis.call('PTTL', key)
      if pttl > 0 then ttl = pttl * 1000 else redis.call('PEXPIRE', key, ms(window)) end
    end
    reset = ttl
    counted[i] = count
    if count > amount then
      ok, remaining = false, math.max(0, amount - count + cost)
      if cost > amount then retry = window else retry = ttl end
    else
      ok, remaining, retry = true, amount - count, 0
      writes[i] = count
    end

  elseif code == 'm' then
    -- a list of hit times (µs), oldest first: RPUSH appends, the expired prefix is trimmed.
    -- Every step is O(1) near the head, where a sorted set paid O(log n) per command (a
    -- large amount means a long log). TIME only goes back if the server's clock is set back:
    -- a hit then sits behind newer ones and keeps older ones counted until it expires itself,
    -- so the limit errs towards refusing, never towards letting more through.
    local horizon = now - window
    local first = tonumber(redis.call('LINDEX', key, 0))
    local count = 0
    if first and first <= horizon then
      -- find the first live index: probe 1, 2, 4, ... up to the last entry (one step in
      -- steady traffic), then halve the gap between the last expired and the first live
      local len = redis.call('LLEN', key)
      local dead, probe, live = 0, 1, nil
      first = nil
      while probe < len do
        local at = tonumber(redis.call('LINDEX', key, probe))
        if at > horizon then
          live, first = probe, at
          break
        end
        dead = probe
        if probe == len - 1 then break end
        probe = math.min(probe * 2, len - 1)
      end
      if live == nil then  -- every entry expired
        redis.call('DEL', key)
      else
        while live - dead > 1 do
          local mid = math.floor((dead + live) / 2)
          local at = tonumber(redis.call('LINDEX', key, mid))
          if at > horizon then live, first = mid, at else dead = mid end
        end
        redis.call('LTRIM', key, live, -1)
        count = len - live
      end
    elseif first then
      count = redis.call('LLEN', key)
    end
    reset = window
    if first then reset = first + window - now end
    if count + cost > amount then
      ok, remaining = false, math.max(0, amount - count)
      if cost > amount then
        retry = window
      else  -- when enough of the oldest entries have expired
        retry = tonumber(redis.call('LINDEX', key, count + cost - amount - 1)) + window - now
      end
    else
      ok, remaining, retry = true, amount - count - cost, 0
      writes[i] = count
    end

  elseif code == 's' then
    local h = redis.call('HMGET', key, 'i', 'c', 'p')
    local index = tonumber(h[1] or '-1')
    local live = math.floor(now / window)
    local elapsed = now - live * window
    local cur, prev = 0, 0
    if index == live then
      cur, prev = tonumber(h[2]), tonumber(h[3])
    elseif index == live - 1 then
      prev = tonumber(h[2])
    end
    local weighted = prev * (window - elapsed) / window + cur
    reset = window - elapsed
    if weighted + cost > amount then
      local need = amount - cost
      ok = false
      if cost > amount then
        retry = window
      elseif cur <= need then
        retry = math.ceil(window - (need - cur) * window / prev - elapsed)
      else
        retry = math.ceil(window - elapsed + window - need * window / cur)
      end
      if retry < 1 then retry = 1 end
      remaining = math.max(0, math.floor(amount - weighted))
    else
      ok, retry = true, 0
      remaining = math.max(0, math.floor(amount - weighted - cost))
      writes[i] = {live, cur + cost, prev}
    end

  else -- 'g': integer ticks, every value below 2^53 (gcra.py; the limiter checks the bounds)
    local interval, tick = amount, window
    local per_s = 1000000000 / tick
    local sub = now_us * (1000 / tick)  -- ticks since the current second began
    local tolerance = burst * interval
    -- the TAT is stored as "seconds ticks": an absolute time in ns would exceed 2^53, the
    -- debt (TAT - now) never does
    local debt = 0
    local v = redis.call('GET', key)
    if v then
      local s, n = string.match(v, '^(%d+) (%d+)$')
      if s then
        debt = (tonumber(s) - now_s) * per_s + tonumber(n) - sub
        if debt < 0 then debt = 0 end
      end
    end
    held[i] = ticks_ms(debt, tick)
    remaining = math.max(0, idiv(math.max(0, tolerance - debt), interval))
    local new = debt + cost * interval
    if cost > burst or new > tolerance then
      ok = false
      reset, retry = debt, tolerance
      if cost <= burst then retry = new - tolerance end
    else
      ok, retry, reset = true, 0, new
      remaining = idiv(tolerance - new, interval)
      local x = sub + new
      local whole = idiv(x, per_s)
      writes[i] = {now_s + whole, x - whole * per_s, ticks_ms(new, tick)}
    end
    -- in ms already: as µs for the common conversion below (exact multiples of 1000)
    reset, retry = ticks_ms(reset, tick) * 1000, ticks_ms(retry, tick) * 1000
  end

  if not ok then allowed = false end
  out[3 * i - 1] = remaining
  out[3 * i] = ms(reset)
  out[3 * i + 1] = ms(retry)
end

if not allowed then
  -- nothing is consumed: a limit that would have allowed still has its units
  for i = 1, #KEYS do
    if writes[i] ~= nil then
      out[3 * i - 1] = out[3 * i - 1] + cost
      if held[i] ~= nil then out[3 * i] = held[i] end  -- GCRA: the previous TAT's reset
    end
    if counted[i] ~= nil then  -- take the fixed window's optimistic count back
      if counted[i] == cost then
        redis.call('DEL', KEYS[i])
      else
        redis.call('DECRBY', KEYS[i], cost)
      end
    end
  end
  out[1] = 0
  return reply(out)
end

for i = 1, #KEYS do
  local key = KEYS[i]
  local window = tonumber(ARGV[3 * i + 1])
  local w = writes[i]
  if code == 'f' then
    -- already counted
  elseif code == 'm' then
    local at = string.format('%d', now)
    local left = cost
    while left > 0 do  -- in chunks: unpack() refuses a few thousand values at once
      local n = math.min(left, 1000)
      local args = {}
      for k = 1, n do args[k] = at end
      redis.call('RPUSH', key, unpack(args))
      left = left - n
    end
    redis.call('PEXPIRE', key, ms(window))
  elseif code == 's' then
    redis.call('HSET', key, 'i', string.format('%d', w[1]), 'c', w[2], 'p', w[3])
    redis.call('PEXPIRE', key, ms(2 * window))
  else
    redis.call('SET', key, string.format('%d %d', w[1], w[2]), 'PX', math.max(1, w[3]))
  end
end
return reply(out)
