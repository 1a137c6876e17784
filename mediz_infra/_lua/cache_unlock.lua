-- mediz_infra cache: release a lock only if this caller still owns it.
-- KEYS[1] lock key; ARGV[1] the owner's token. Returns 1 if released, 0 if not ours (expired,
-- or taken over by another caller after our PX ran out).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
