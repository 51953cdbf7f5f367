/// Lua functions shared by several scripts, prepended to their source.
enum LuaSnippets {
    /// The server's clock in milliseconds (with a fraction): every worker sees one time.
    static let serverNow = #"""
    local function serverNow()
      local t = redis.call('TIME')
      return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
    end

    """#

    /// Milliseconds left of a pause set after a Retry-After, or nil when not paused.
    static let pausedWait = #"""
    local function pausedWait(key, now)
      local untilMs = tonumber(redis.call('GET', key))
      if untilMs and untilMs > now then return math.ceil(untilMs - now) end
      return nil
    end

    """#
}
