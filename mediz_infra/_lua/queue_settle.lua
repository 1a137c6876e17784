-- Settle a leased job: complete, retry later, dead-letter or hand back. Fenced: refused (0,
-- counted as stale_refused) unless the caller's token is the job's current lease and the job
-- is still in flight, so a worker that lost its lease can neither complete nor overwrite it.
-- KEYS: job hash, active zset, waiting list, delayed zset, dead zset, done zset, stats, notify,
--       this minute's throughput hash, recent failures list
-- ARGV: id, token, outcome (complete|retry|dead|release), now_ms, result_ttl_ms, value,
--       error, traceback, retry_at_ms, minute_ttl_ms, failures_kept, failures_ttl_ms
local id = ARGV[1]
-- the monitor's throughput: one hash per minute, expiring on its own
local function per_minute(field)
  redis.call('HINCRBY', KEYS[9], field, 1)
  redis.call('PEXPIRE', KEYS[9], tonumber(ARGV[10]))
end
if redis.call('HGET', KEYS[1], 'lease') ~= ARGV[2] or not redis.call('ZSCORE', KEYS[2], id) then
  redis.call('HINCRBY', KEYS[7], 'stale_refused', 1)
  return 0
end
redis.call('ZREM', KEYS[2], id)
local outcome = ARGV[3]
local now = tonumber(ARGV[4])
if outcome == 'complete' then
  local ttl = tonumber(ARGV[5])
  redis.call('HSET', KEYS[1], 'status', 'complete', 'result', ARGV[6], 'finished_at', now)
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[6], now, id)
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - ttl)
  redis.call('HINCRBY', KEYS[7], 'completed', 1)
  per_minute('completed')
elseif outcome == 'release' then
  redis.call('HINCRBY', KEYS[1], 'attempts', -1)
  redis.call('HSET', KEYS[1], 'status', 'waiting')
  redis.call('RPUSH', KEYS[3], id)
  redis.call('LPUSH', KEYS[8], 1)
  redis.call('LTRIM', KEYS[8], 0, 0)
  redis.call('HINCRBY', KEYS[7], 'released', 1)
else
  redis.call('HINCRBY', KEYS[7], 'failed', 1)
  redis.call('HSET', KEYS[1], 'error', ARGV[7], 'traceback', ARGV[8])
  per_minute('failed')
  local f = redis.call('HMGET', KEYS[1], 'task', 'attempts')
  redis.call('LPUSH', KEYS[10], cjson.encode({id = id, task = f[1] or '', at = now,
    attempt = tonumber(f[2] or '0'), outcome = outcome, error = string.sub(ARGV[7], 1, 2000)}))
  redis.call('LTRIM', KEYS[10], 0, tonumber(ARGV[11]) - 1)
  redis.call('PEXPIRE', KEYS[10], tonumber(ARGV[12]))
  if outcome == 'retry' then
    redis.call('HSET', KEYS[1], 'status', 'delayed')
    redis.call('ZADD', KEYS[4], tonumber(ARGV[9]), id)
    redis.call('HINCRBY', KEYS[7], 'retried', 1)
  else
    redis.call('HSET', KEYS[1], 'status', 'dead', 'finished_at', now)
    redis.call('ZADD', KEYS[5], now, id)
    redis.call('HINCRBY', KEYS[7], 'dead', 1)
  end
end
return 1
