-- mediz_infra cache: store a computed value and release the caller's lock in one round trip.
-- KEYS[1] value key; KEYS[2] lock key (same hash slot).
-- ARGV[1] value; ARGV[2] value PX (ms); ARGV[3] the lock owner's token.
-- Returns 1 if the lock was still ours and is released, 0 otherwise (the value is stored anyway).
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[3] then
  return redis.call('DEL', KEYS[2])
end
return 0
