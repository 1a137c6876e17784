-- mediz_infra cache: store a computed value and release the caller's lock in one round trip.
-- KEYS[1] value key; KEYS[2] lock key (same hash slot).
-- ARGV[1] value; ARGV[2] value PX (ms); ARGV[3] the lock owner's token.
-- Stores when the lock is still the caller's (and releases it), or when the lock key is empty
-- (the caller's lock expired during a computation slower than its TTL, and nobody else's
-- followed). Refuses when the key holds an invalidation marker: the value was computed across
-- an invalidation and may predate it; and when another caller holds the lock: theirs is newer.
-- Returns 1 stored, 0 refused.
local current = redis.call('GET', KEYS[2])
if current == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('DEL', KEYS[2])
  return 1
end
if current == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
