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

// Lease sets (a counting semaphore): a sorted set of owner tokens scored by expiry in ms of the Redis
// server's TIME, so every process agrees when a lease has run out. Expired members are removed before
// counting, and the key itself expires with its last lease, so a dead process leaves nothing behind.
const NOW_MS = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`;
const EXPIRE_WITH_LAST_LEASE = `
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIRE', KEYS[1], math.max(1, tonumber(last[2]) - now)) end`;

/** ARGV: limit, ttlMs, token. Returns 1 when the token now holds a slot, 0 when all are taken. */
export const acquireLeaseLua = `${NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
${EXPIRE_WITH_LAST_LEASE}
return 1`;

/** ARGV: token, ttlMs. Extends an unexpired lease; 0 when it expired (the slot may be someone else's now). */
export const renewLeaseLua = `${NOW_MS}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
${EXPIRE_WITH_LAST_LEASE}
return 1`;

/** ARGV: token. 1 when an unexpired lease was given back. */
export const releaseLeaseLua = `${NOW_MS}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
if score and tonumber(score) > now then return 1 end
return 0`;

/**
 * A "not before" floor kept as the key's remaining TTL (PTTL), so it is measured on the server's clock:
 * raised to ARGV[1] ms when that is later than what remains, never lowered. Returns the ms remaining.
 */
export const raiseFloorLua = `
local delay = tonumber(ARGV[1])
local remaining = redis.call('PTTL', KEYS[1])
if remaining >= delay then return remaining end
redis.call('SET', KEYS[1], '1', 'PX', delay)
return delay`;

/**
 * One admission (Store.admit) in one round trip. KEYS: floor, lease set, GCRA state. ARGV: lease limit,
 * lease ttlMs, token, rate limit, emission interval in µs. The floor first (nothing else is read while a
 * Retry-After holds), then a free slot, then the rate token (gcraLua's rule); only when all three pass is
 * anything written. Returns {0, 0} admitted, {1, floorMs}, {2, 0} no slot, {3, rateWaitUs}.
 */
export const admitLua = `
local floor = redis.call('PTTL', KEYS[1])
if floor > 0 then return {1, floor} end
local time = redis.call('TIME')
local now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
local now = math.floor(now_us / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then return {2, 0} end
local limit = tonumber(ARGV[4])
local interval = tonumber(ARGV[5])
local tat = tonumber(redis.call('GET', KEYS[3]) or now_us) or now_us
if tat < now_us then tat = now_us end
local next_tat = tat + interval
local allow_at = next_tat - interval * limit
if now_us < allow_at then return {3, allow_at - now_us} end
redis.call('SET', KEYS[3], next_tat, 'PX', math.ceil((next_tat - now_us) / 1000))
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
${EXPIRE_WITH_LAST_LEASE.replace(/KEYS\[1\]/g, 'KEYS[2]')}
return {0, 0}`;

/** SET every key to ARGV[1] with a PX of ARGV[2] (Store.setMany: one round trip for any number of keys). */
export const setManyLua = `
for _, key in ipairs(KEYS) do redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) end
return #KEYS`;
