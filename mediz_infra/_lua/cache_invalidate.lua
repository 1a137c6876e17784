-- mediz_infra cache: drop one value and mark the key as invalidated, in one round trip.
-- KEYS[1] value key; KEYS[2] invalidation marker key (one hash slot).
-- ARGV[1] a new random marker; ARGV[2] its PX (ms); ARGV[3] the L1 channel ('' for none);
-- ARGV[4] the L1 message.
-- The marker is not a lock: the next miss computes at once. A computation that began before
-- (it read the old marker in cache_lock.lua) finds another one when it stores and is refused
-- (cache_store.lua), however many callers computed and stored in between.
-- Returns 1 if a value was deleted, else 0.
local deleted = redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return deleted
