-- mediz_infra cache: take the compute lock for a value, unless the value has been stored since
-- the caller's miss (another holder finished in between: the caller should read it instead).
-- KEYS[1] value key; KEYS[2] lock key (same hash slot).
-- ARGV[1] token; ARGV[2] lock PX (ms); ARGV[3] "1" to ignore a stored value (known unusable).
-- An invalidation marker ('!', see cache_invalidate.lua) in the lock key counts as free.
-- Returns 1 locked, 0 held by another caller, 2 a value is stored.
if ARGV[3] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then
  return 2
end
local current = redis.call('GET', KEYS[2])
if current == false or current == '!' then
  redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
