-- mediz_infra cache: a read that, on a miss, also begins the computation (cache_lock.lua), so
-- a miss costs two round trips in all: this one and cache_store.lua.
-- KEYS[1] value key; KEYS[2] lock key; KEYS[3] invalidation marker key (one hash slot).
-- ARGV[1] lock token ('' to take no lock); ARGV[2] lock PX (ms).
-- Returns the stored value (bytes) if there is one; else {state, marker} as cache_lock.lua:
-- state 1 go ahead (locked if a token was given), 0 another caller holds the lock.
local value = redis.call('GET', KEYS[1])
if value then
  return value
end
local marker = redis.call('GET', KEYS[3]) or ''
if ARGV[1] == '' then
  return {1, marker}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, marker}
end
return {0, marker}
