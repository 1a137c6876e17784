-- Promote due delayed jobs, take back expired leases, then lease up to `count` waiting jobs.
-- KEYS: waiting list, delayed zset, active zset, dead zset, stats hash, paused flag
--       [, start-rate bucket hash]
-- ARGV: key base (prefix:queue:{name}), now_ms, lease deadline_ms, count, max_stalls
--       [, starts per second, burst]
-- With the bucket (a token bucket shared by every worker of the queue) no more jobs are leased
-- than it holds tokens, and the reply ends with the ms until the next token when jobs are
-- left waiting for one (else 0).
-- Job hashes are named from the base inside the script: they share the queue's hash tag, so
-- every key lives in one Cluster slot.
local base = ARGV[1]
local now = tonumber(ARGV[2])
local deadline = ARGV[3]
local count = tonumber(ARGV[4])
local max_stalls = tonumber(ARGV[5])

local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[2], id)
  local key = base .. ':job:' .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'status', 'waiting')
    redis.call('LPUSH', KEYS[1], id)
  end
end

local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
for _, id in ipairs(stale) do
  redis.call('ZREM', KEYS[3], id)
  local key = base .. ':job:' .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HINCRBY', KEYS[5], 'reclaimed', 1)
    -- a stalled pickup is no failed attempt: it does not use up the task's retries
    redis.call('HINCRBY', key, 'attempts', -1)
    local stalls = redis.call('HINCRBY', key, 'stalls', 1)
    if stalls > max_stalls then
      redis.call('HSET', key, 'status', 'dead', 'finished_at', now, 'traceback', '',
        'error', 'LeaseLost: the job\'s worker stopped heart-beating ' .. stalls ..
        ' times (killed, or blocked the event loop past the lease); fix the task, then retry it')
      redis.call('ZADD', KEYS[4], now, id)
      redis.call('HINCRBY', KEYS[5], 'dead', 1)
    else
      redis.call('HSET', key, 'status', 'waiting')
      redis.call('RPUSH', KEYS[1], id)  -- to the front: it has waited already
    end
  end
end

local bucket = KEYS[7]
local tokens, rate, burst, since
if bucket then
  rate = tonumber(ARGV[6]) / 1000  -- tokens per ms
  burst = tonumber(ARGV[7])
  local b = redis.call('HMGET', bucket, 'tokens', 'since')
  tokens = tonumber(b[1]) or burst
  since = tonumber(b[2]) or now
  if now > since then
    tokens = math.min(burst, tokens + (now - since) * rate)
    since = now
  end
  count = math.min(count, math.floor(tokens + 1e-9))  -- 1e-9: float drift
end

local out = {}
if redis.call('EXISTS', KEYS[6]) == 1 then return out end
local leased = 0
for _ = 1, count do
  local id = redis.call('RPOP', KEYS[1])
  if not id then break end
  local key = base .. ':job:' .. id
  if redis.call('EXISTS', key) == 1 then
    local token = redis.call('HINCRBY', key, 'lease', 1)
    local attempts = redis.call('HINCRBY', key, 'attempts', 1)
    redis.call('HSET', key, 'status', 'active', 'started_at', now)
    redis.call('ZADD', KEYS[3], deadline, id)
    local f = redis.call('HMGET', key, 'task', 'payload', 'max_attempts', 'enqueued_at')
    table.insert(out, id)
    table.insert(out, token)
    table.insert(out, attempts)
    table.insert(out, f[1] or '')
    table.insert(out, f[2] or '')
    table.insert(out, f[3] or '1')
    table.insert(out, f[4] or '0')
    leased = leased + 1
  end
end
if bucket then
  tokens = tokens - leased
  redis.call('HSET', bucket, 'tokens', tostring(tokens), 'since', since)
  redis.call('PEXPIRE', bucket, math.ceil(burst / rate) + 60000)
  if tokens + 1e-9 < 1 and redis.call('LLEN', KEYS[1]) > 0 then
    table.insert(out, math.ceil((1 - tokens) / rate))
  else
    table.insert(out, 0)
  end
end
return out
