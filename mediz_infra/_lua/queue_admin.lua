-- Retry a dead job (back to waiting, attempts reset) or delete a job from every set.
-- KEYS: job hash, waiting, delayed, active, dead, done, notify
-- ARGV: id, action (retry|delete)
local id = ARGV[1]
if ARGV[2] == 'retry' then
  if redis.call('ZREM', KEYS[5], id) == 0 then return 0 end
  redis.call('HSET', KEYS[1], 'status', 'waiting', 'attempts', 0, 'stalls', 0)
  redis.call('LPUSH', KEYS[2], id)
  redis.call('LPUSH', KEYS[7], 1)
  redis.call('LTRIM', KEYS[7], 0, 0)
  return 1
end
local existed = redis.call('DEL', KEYS[1])
redis.call('LREM', KEYS[2], 0, id)
redis.call('ZREM', KEYS[3], id)
redis.call('ZREM', KEYS[4], id)
redis.call('ZREM', KEYS[5], id)
redis.call('ZREM', KEYS[6], id)
return existed
