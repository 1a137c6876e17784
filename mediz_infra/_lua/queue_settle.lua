-- Settle a leased job: complete, retry later, dead-letter or hand back. Fenced: refused (0,
-- counted as stale_refused) unless the caller's token is the job's current lease and the job
-- is still in flight, so a worker that lost its lease can neither complete nor overwrite it.
-- KEYS: job hash, active zset, waiting list, delayed zset, dead zset, done zset, stats, notify
-- ARGV: id, token, outcome (complete|retry|dead|release), now_ms, result_ttl_ms, value,
--       error, traceback, retry_at_ms
local id = ARGV[1]
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
