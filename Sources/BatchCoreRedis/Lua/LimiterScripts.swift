/// The scripts of `RedisLimiter`.
enum LimiterScripts {
    /// GCRA. KEYS: the theoretical arrival time (TAT, ms), paused-until.
    /// ARGV: units, rate per second, burst. Returns 0 when granted, else the ms to wait.
    static let acquire = RedisScript(name: "limiter acquire", source: LuaSnippets.serverNow + LuaSnippets.pausedWait + #"""
    local now = serverNow()
    local paused = pausedWait(KEYS[2], now)
    if paused then return paused end
    local units, interval, burst = tonumber(ARGV[1]), 1000 / tonumber(ARGV[2]), tonumber(ARGV[3])
    local tat = math.max(tonumber(redis.call('GET', KEYS[1])) or now, now)
    local newTat = tat + units * interval
    local wait = newTat - burst * interval - now
    if wait > 0 then return math.max(1, math.ceil(wait)) end
    redis.call('SET', KEYS[1], string.format('%.17g', newTat), 'PX', math.max(1, math.ceil(newTat - now)))
    return 0
    """#)

    /// KEYS: paused-until. ARGV: pause length in ms. Only ever extends; returns the
    /// time paused until (ms, server clock).
    static let pause = RedisScript(name: "limiter pause", source: LuaSnippets.serverNow + #"""
    local untilMs = math.ceil(serverNow() + tonumber(ARGV[1]))
    local current = tonumber(redis.call('GET', KEYS[1]))
    if current and current >= untilMs then return current end
    redis.call('SET', KEYS[1], string.format('%.0f', untilMs), 'PXAT', string.format('%.0f', untilMs))
    return untilMs
    """#)

    /// A token bucket in a hash (`tokens`, `at`), refilled at a rate up to a capacity.
    /// A missing bucket is full; tokens may go below zero when estimates were short.
    private static let bucket = #"""
    local function refilled(key, now, rate, capacity)
      local state = redis.call('HMGET', key, 'tokens', 'at')
      local tokens = tonumber(state[1]) or capacity
      local at = tonumber(state[2]) or now
      return math.min(capacity, tokens + math.max(0, now - at) * rate / 1000)
    end
    local function store(key, tokens, now, rate, capacity)
      if tokens >= capacity then redis.call('DEL', key) return end
      redis.call('HSET', key, 'tokens', string.format('%.17g', tokens), 'at', string.format('%.17g', now))
      redis.call('PEXPIRE', key, math.ceil((capacity - tokens) * 1000 / rate) + 1)
    end

    """#

    /// KEYS: bucket, paused-until. ARGV: estimated tokens, rate per second, capacity.
    /// Grants when the bucket holds the estimate (or is full, for an estimate above
    /// the capacity). Returns 0 when granted, else the ms to wait.
    static let acquireTokens = RedisScript(name: "limiter acquire tokens", source: LuaSnippets.serverNow + LuaSnippets.pausedWait + bucket + #"""
    local now = serverNow()
    local paused = pausedWait(KEYS[2], now)
    if paused then return paused end
    local estimate, rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    local tokens = refilled(KEYS[1], now, rate, capacity)
    local needed = math.min(estimate, capacity)
    if tokens < needed then return math.max(1, math.ceil((needed - tokens) * 1000 / rate)) end
    store(KEYS[1], tokens - estimate, now, rate, capacity)
    return 0
    """#)

    /// KEYS: bucket. ARGV: correction (estimate - actual: positive gives tokens back,
    /// negative takes more), rate per second, capacity.
    static let settleTokens = RedisScript(name: "limiter settle tokens", source: LuaSnippets.serverNow + bucket + #"""
    local now = serverNow()
    local correction, rate, capacity = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
    local tokens = refilled(KEYS[1], now, rate, capacity)
    store(KEYS[1], math.min(capacity, tokens + correction), now, rate, capacity)
    return 0
    """#)
}
