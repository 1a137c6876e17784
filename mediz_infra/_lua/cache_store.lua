-- mediz_infra cache: store a computed value and release the caller's lock in one round trip.
-- KEYS[1] value key; KEYS[2] lock key (same hash slot).
-- ARGV[1] value; ARGV[2] value PX (ms); ARGV[3] the lock owner's token.
-- Stores only while the caller still owns the lock: an invalidation deletes the lock with the
-- value, so a computation that started before it cannot write its (possibly outdated) value
-- back afterwards; neither can one that outlived its lock.
-- Returns 1 if the value was stored and the lock released, 0 if the lock was no longer ours.
if redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return redis.call('DEL', KEYS[2])
end
return 0
