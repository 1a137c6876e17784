-- Extend the leases a worker still holds; 0 for each it lost (reclaimed, re-leased, deleted).
-- KEYS: active zset
-- ARGV: key base, deadline_ms, id1, token1, id2, token2, ...
local base = ARGV[1]
local out = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', base .. ':job:' .. id, 'lease') == ARGV[i + 1]
      and redis.call('ZSCORE', KEYS[1], id) then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)
    table.insert(out, 1)
  else
    table.insert(out, 0)
  end
end
return out
