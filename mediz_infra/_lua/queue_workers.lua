-- Live workers of a queue, for the monitor: each registers a key that expires unless refreshed.
-- KEYS: the workers set (ids)
-- ARGV: action (beat|leave|list), key base, then for beat: id, info JSON, ttl_ms; leave: id
-- A worker's key (base:worker:<id>) is named inside the script: it shares the queue's hash
-- tag. The set has a TTL too, kept at least as long as its longest-lived member's.
local base = ARGV[2]
if ARGV[1] == 'beat' then
  local ttl = tonumber(ARGV[5])
  redis.call('SET', base .. ':worker:' .. ARGV[3], ARGV[4], 'PX', ttl)
  redis.call('SADD', KEYS[1], ARGV[3])
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
  return 1
elseif ARGV[1] == 'leave' then
  redis.call('DEL', base .. ':worker:' .. ARGV[3])
  redis.call('SREM', KEYS[1], ARGV[3])
  return 1
end
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local info = redis.call('GET', base .. ':worker:' .. id)
  if info then table.insert(out, info) else redis.call('SREM', KEYS[1], id) end
end
return out
