-- mediz_infra cache: drop one value and mark its lock key as invalidated, in one round trip.
-- KEYS[1] value key; KEYS[2] lock key (same hash slot).
-- ARGV[1] marker PX (ms): the lock's TTL, so the marker outlives any lock taken before it.
-- A computation that held the lock finds the marker instead of its token and does not store
-- (cache_store.lua); the next caller takes the lock as if it were free (cache_lock.lua).
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], '!', 'PX', ARGV[1])
return 1
