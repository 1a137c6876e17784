-- Enqueue one job unless its id exists (idempotent _job_id) or its dedup key says otherwise.
-- KEYS: job hash, waiting list, delayed zset, notify list[, dedup hash]
-- ARGV: id, task, payload, max_attempts, enqueued_at_ms, eta_ms[, mode, window_ms, key base]
-- Returns 1 (created) or 0 (the id exists); with a dedup key {outcome, job id}: a throttle
-- key held until a later time ignores the job; a debounce key whose job is still pending
-- (delayed, due later, never started) takes its payload and due time: replaced.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = tonumber(ARGV[5])
local eta = tonumber(ARGV[6])
local dedup = KEYS[5]
if dedup then
  local held = redis.call('HMGET', dedup, 'job', 'until')
  local window = tonumber(ARGV[8])
  if held[1] then
    if ARGV[7] == 'throttle' then
      if tonumber(held[2]) > now then return {'ignored', held[1]} end
    else
      local due = redis.call('ZSCORE', KEYS[3], held[1])
      local job = ARGV[9] .. ':job:' .. held[1]
      if due and tonumber(due) > now and redis.call('HGET', job, 'attempts') == '0' then
        redis.call('HSET', job, 'payload', ARGV[3])
        redis.call('ZADD', KEYS[3], eta, held[1])
        redis.call('HSET', dedup, 'until', eta)
        redis.call('PEXPIRE', dedup, window + 1000)
        return {'replaced', held[1]}
      end
    end
  end
  redis.call('HSET', dedup, 'job', ARGV[1], 'until', now + window)
  redis.call('PEXPIRE', dedup, window + 1000)
end
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
