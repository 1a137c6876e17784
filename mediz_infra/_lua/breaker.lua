-- One circuit breaker's shared state: a hash {v, s, until, left, ok} on KEYS[1].
--   v      version, bumped by every transition (processes adopt only newer versions)
--   s      closed | open | half_open (no key: closed, version 0)
--   until  when an open breaker lets trials through, in ms of the server's clock
--   left   trial slots still free in half_open; ok: trials that succeeded
-- ARGV: op, seen version, open_for ms, trial calls, key ttl ms, channel
-- op: read | open | trial | trial_ok | trial_failed | trial_void | close
-- Reply: {v, s, ms until trials (0 unless open), granted (trial: 1 = go ahead)}
-- Every transition is published on the channel as "v s ms".
local key = KEYS[1]
local op, seen = ARGV[1], tonumber(ARGV[2])
local open_for, trials, ttl, channel = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local h = redis.call('HMGET', key, 'v', 's', 'until', 'left', 'ok')
local v, s = tonumber(h[1]) or 0, h[2] or 'closed'
local untl, left, ok = tonumber(h[3]) or 0, tonumber(h[4]) or 0, tonumber(h[5]) or 0
local granted = 0

local function move(state)
  v = v + 1
  s = state
  if state == 'open' then untl = now + open_for end
  if state == 'half_open' then left = trials; ok = 0 end
  redis.call('HSET', key, 'v', v, 's', s, 'until', untl, 'left', left, 'ok', ok)
  redis.call('PEXPIRE', key, ttl)
  local wait = 0
  if s == 'open' then wait = untl - now end
  redis.call('PUBLISH', channel, v .. ' ' .. s .. ' ' .. wait)
end

if op == 'open' then
  if s ~= 'open' then move('open') end
elseif op == 'close' then
  if s ~= 'closed' then move('closed') end
elseif op == 'trial' then
  if s == 'open' and now >= untl then move('half_open') end
  if s == 'half_open' and left > 0 then
    left = left - 1
    redis.call('HSET', key, 'left', left)
    granted = 1
  elseif s == 'closed' then
    granted = 1
  end
elseif s == 'half_open' and v == seen then
  if op == 'trial_ok' then
    ok = ok + 1
    if ok >= trials then move('closed') else redis.call('HSET', key, 'ok', ok) end
  elseif op == 'trial_failed' then
    move('open')
  elseif op == 'trial_void' then
    redis.call('HSET', key, 'left', left + 1)
  end
end

local wait = 0
if s == 'open' and untl > now then wait = untl - now end
return {v, s, wait, granted}
