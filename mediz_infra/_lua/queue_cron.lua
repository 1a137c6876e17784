-- Advance a cron schedule's last tick from the value the caller read to the tick it claims.
-- Compare-and-set on the exact previous value, so each tick is claimed by one worker only and
-- no tick is skipped when several workers catch up at once.
-- KEYS: the schedule's last-tick key
-- ARGV: expected previous value ('' for none), new tick (ms)
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
