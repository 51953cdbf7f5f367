/// The scripts of `RedisBudgetLedger`. KEYS of each: the budget hash (`spent`,
/// `reserved`), the leases ZSET (reservation → expiry ms) and the reservations hash
/// (reservation → amount held, or `settled` once committed, kept for a lease so a
/// resent commit is not counted twice). Every script first releases expired leases.
enum BudgetScripts {
    private static let releaseExpired = LuaSnippets.serverNow + #"""
    local function releaseExpired(now)
      local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
      for _, id in ipairs(expired) do
        local held = redis.call('HGET', KEYS[3], id)
        if held and held ~= 'settled' then redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(held)) end
        redis.call('HDEL', KEYS[3], id)
      end
      if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
    end
    local now = serverNow()
    releaseExpired(now)

    """#

    /// ARGV: reservation id, amount, limit, lease ms. Returns 1 when reserved (or
    /// already reserved under this id), 0 when spent + reserved + amount > limit.
    static let reserve = RedisScript(name: "budget reserve", source: releaseExpired + #"""
    local id, amount, limit, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
    if redis.call('HEXISTS', KEYS[3], id) == 1 then
      redis.call('ZADD', KEYS[2], now + lease, id)
      return 1
    end
    local spent = tonumber(redis.call('HGET', KEYS[1], 'spent')) or 0
    local reserved = tonumber(redis.call('HGET', KEYS[1], 'reserved')) or 0
    if spent + reserved + amount > limit then return 0 end
    redis.call('HSET', KEYS[3], id, ARGV[2])
    redis.call('ZADD', KEYS[2], now + lease, id)
    redis.call('HINCRBY', KEYS[1], 'reserved', ARGV[2])
    return 1
    """#)

    /// ARGV: reservation id, actual amount, lease ms. Frees the reservation and adds
    /// the actual amount to `spent` (even when the lease had expired: it was spent).
    static let commit = RedisScript(name: "budget commit", source: releaseExpired + #"""
    local id = ARGV[1]
    local held = redis.call('HGET', KEYS[3], id)
    if held == 'settled' then return 0 end
    if held then redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(held)) end
    redis.call('HINCRBY', KEYS[1], 'spent', ARGV[2])
    redis.call('HSET', KEYS[3], id, 'settled')
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), id)
    return 0
    """#)

    /// ARGV: reservation id. Frees a reservation that was not committed.
    static let release = RedisScript(name: "budget release", source: releaseExpired + #"""
    local held = redis.call('HGET', KEYS[3], ARGV[1])
    if held and held ~= 'settled' then
      redis.call('HINCRBY', KEYS[1], 'reserved', -tonumber(held))
      redis.call('HDEL', KEYS[3], ARGV[1])
      redis.call('ZREM', KEYS[2], ARGV[1])
    end
    return 0
    """#)

    /// ARGV: reservation id, lease ms. Returns 1 when the lease was extended, 0 when
    /// the reservation is gone (expired or settled).
    static let renew = RedisScript(name: "budget renew", source: releaseExpired + #"""
    local held = redis.call('HGET', KEYS[3], ARGV[1])
    if not held or held == 'settled' then return 0 end
    redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
    return 1
    """#)

    /// Returns {spent, reserved} after releasing expired leases.
    static let state = RedisScript(name: "budget state", source: releaseExpired + #"""
    return {tonumber(redis.call('HGET', KEYS[1], 'spent')) or 0, tonumber(redis.call('HGET', KEYS[1], 'reserved')) or 0}
    """#)
}
