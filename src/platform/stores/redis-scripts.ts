/**
 * Lua scripts of the Redis store. Each runs atomically on the server, which is what makes increment, GCRA
 * and lock ownership checks safe across any number of API processes. KEYS[1] gets ioredis' keyPrefix.
 */

/** INCR, then set the expiry only when the key has none (just created), so later calls never extend it. */
export const incrementLua = `
local value = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return value`;

/**
 * GCRA, the same rule as gcra.ts, on the Redis server's TIME so every process agrees on "now".
 * ARGV: limit, emission interval in microseconds. Returns {allowed, remaining, resetUs, retryUs}.
 */
export const gcraLua = `
local limit = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local capacity = interval * limit
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - capacity
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], next_tat, 'PX', math.ceil((next_tat - now) / 1000))
return {1, math.floor((capacity - (next_tat - now)) / interval), next_tat - now, 0}`;

/** Resets the lock's expiry only if ARGV[1] (the owner token) still holds it. */
export const extendLockLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** Compare-and-delete: only the owner token releases the lock. */
export const releaseLockLua = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;
