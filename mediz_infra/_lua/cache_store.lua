-- mediz_infra cache: store a computed value (and release the caller's lock) in one round trip.
-- KEYS[1] value key; KEYS[2] lock key; KEYS[3] invalidation marker key (one hash slot).
-- ARGV[1] value; ARGV[2] value PX (ms); ARGV[3] the caller's lock token ('' if it took none);
-- ARGV[4] the marker the caller read when its computation began (cache_lock.lua).
-- Refuses when the marker has changed: the key was invalidated while the value was computed,
-- so it may predate the invalidation (whoever stored or read in between). Otherwise stores
-- when the lock is the caller's (and releases it) or free (a lock-free caller, or a lock that
-- expired during a computation slower than its TTL), and refuses when another caller holds
-- the lock: theirs began later. The caller's lock is released whatever the outcome.
-- Returns 1 stored, 0 refused.
local current = redis.call('GET', KEYS[2])
local mine = ARGV[3] ~= '' and current == ARGV[3]
if (redis.call('GET', KEYS[3]) or '') ~= ARGV[4] then
  if mine then
    redis.call('DEL', KEYS[2])
  end
  return 0
end
if mine then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('DEL', KEYS[2])
  return 1
end
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
