/// The scripts of `RedisWorkQueue`. KEYS of each: the jobs stream, the delayed ZSET.
enum QueueScripts {
    /// ARGV: group, consumer, entry ids. Resets the idle time of the entries this
    /// consumer still holds (XCLAIM JUSTID by the same consumer), leaving alone those
    /// another consumer has reclaimed. Returns the ids still held.
    static let renew = RedisScript(name: "queue renew", source: #"""
    local held = {}
    for i = 3, #ARGV do
      if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2]) > 0 then
        redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
        held[#held + 1] = ARGV[i]
      end
    end
    return held
    """#)

    /// ARGV: group, consumer, entry id, job, delay ms. If the consumer still holds
    /// the entry: acks and deletes it and schedules the job in the delayed ZSET at
    /// now + delay (server clock). Returns 1 when given back, 0 when no longer held.
    static let giveBack = RedisScript(name: "queue give back", source: LuaSnippets.serverNow + #"""
    if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2]) == 0 then return 0 end
    redis.call('XACK', KEYS[1], ARGV[1], ARGV[3])
    redis.call('XDEL', KEYS[1], ARGV[3])
    redis.call('ZADD', KEYS[2], serverNow() + tonumber(ARGV[5]), ARGV[4])
    return 1
    """#)

    /// ARGV: the most jobs to move. Moves jobs whose due time has come from the
    /// delayed ZSET to the stream. Returns how many moved.
    static let moveDue = RedisScript(name: "queue move due", source: LuaSnippets.serverNow + #"""
    local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', serverNow(), 'LIMIT', 0, tonumber(ARGV[1]))
    for _, job in ipairs(due) do
      redis.call('XADD', KEYS[1], '*', 'job', job)
      redis.call('ZREM', KEYS[2], job)
    end
    return #due
    """#)
}
