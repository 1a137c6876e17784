-- Enqueue one job unless its id exists (idempotent _job_id).
-- KEYS: job hash, waiting list, delayed zset, notify list
-- ARGV: id, task, payload, max_attempts, enqueued_at_ms, eta_ms
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = tonumber(ARGV[5])
local eta = tonumber(ARGV[6])
local status = 'waiting'
if eta > now then status = 'delayed' end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'task', ARGV[2], 'payload', ARGV[3],
  'max_attempts', ARGV[4], 'enqueued_at', ARGV[5], 'attempts', 0, 'stalls', 0, 'lease', 0,
  'status', status)
if status == 'delayed' then
  redis.call('ZADD', KEYS[3], eta, ARGV[1])
else
  redis.call('LPUSH', KEYS[2], ARGV[1])
  redis.call('LPUSH', KEYS[4], 1)
  redis.call('LTRIM', KEYS[4], 0, 0)
end
return 1
