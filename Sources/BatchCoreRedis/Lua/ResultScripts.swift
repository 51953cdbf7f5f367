/// The scripts of `RedisResults`.
enum ResultScripts {
    /// KEYS: results hash, counts hash, unfinished ids ZSET. ARGV: (id, status,
    /// result) repeated. Each id is written only if absent (first commit wins);
    /// each newly written result adds one to its status' count and leaves the
    /// unfinished ids. Returns {newly committed ids, ids that already had a result}.
    static let commit = RedisScript(name: "commit results", source: #"""
    local committed, existing = {}, {}
    for i = 1, #ARGV, 3 do
      if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 2]) == 1 then
        redis.call('HINCRBY', KEYS[2], ARGV[i + 1], 1)
        redis.call('ZREM', KEYS[3], ARGV[i])
        committed[#committed + 1] = ARGV[i]
      else
        existing[#existing + 1] = ARGV[i]
      end
    end
    return {committed, existing}
    """#)

    /// KEYS: content hash → result. ARGV: content hash, result. Stores the result if
    /// none is there; returns nil when it was stored, else the result already there.
    static let firstForContent = RedisScript(name: "first result for content", source: #"""
    if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then return false end
    return redis.call('HGET', KEYS[1], ARGV[1])
    """#)
}
