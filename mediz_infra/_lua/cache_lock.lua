-- mediz_infra cache: begin a computation: read the key's invalidation marker and, for a caller
-- that wants it, take the compute lock; unless a usable value is stored meanwhile.
-- KEYS[1] value key; KEYS[2] lock key; KEYS[3] invalidation marker key (one hash slot).
-- ARGV[1] token ('' to take no lock); ARGV[2] lock PX (ms); ARGV[3] what stored value stops
-- the caller: '0' any (a miss: another caller stored it since), '1' none (the stored one is
-- known unusable), else a fresh-until in ms (a refresh: a value fresher than the one the
-- caller saw means another caller has refreshed it already).
-- Returns {state, marker}: state 1 go ahead (locked if a token was given), 0 the lock is held
-- by another caller, 2 a value is stored (read it instead); marker is the marker key's value
-- ('' if none), which the caller hands back to cache_store.lua: if it has changed by then,
-- the key was invalidated while the caller computed and the value is not stored.
local marker = redis.call('GET', KEYS[3]) or ''
local stop = ARGV[3]
if stop ~= '1' then
  local value = redis.call('GET', KEYS[1])
  if value then
    if stop == '0' then
      return {2, marker}
    end
    local fresh = string.match(value, '^m1|(%d+)|')
    if fresh == nil or tonumber(fresh) > tonumber(stop) then
      return {2, marker}
    end
  end
end
if ARGV[1] == '' then
  return {1, marker}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, marker}
end
return {0, marker}
