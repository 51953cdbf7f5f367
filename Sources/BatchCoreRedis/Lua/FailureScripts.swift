/// The scripts of `RedisFailures`. KEYS of both: the groups hash (group →
/// count), the examples hash (group → JSON array of ids), the failed ids hash
/// (id → group), the failed ids in id order (a ZSET, every score 0).
enum FailureScripts {
    /// ARGV: most groups, most examples per group, then (id, group) repeated.
    /// Counts each id once; past the most groups, new errors count in the group ''.
    static let record = RedisScript(name: "record failures", source: #"""
    local maxGroups, maxExamples = tonumber(ARGV[1]), tonumber(ARGV[2])
    for i = 3, #ARGV, 2 do
      local id, group = ARGV[i], ARGV[i + 1]
      if redis.call('HEXISTS', KEYS[1], group) == 0 and redis.call('HLEN', KEYS[1]) >= maxGroups then group = '' end
      if redis.call('HSETNX', KEYS[3], id, group) == 1 then
        redis.call('ZADD', KEYS[4], 0, id)
        redis.call('HINCRBY', KEYS[1], group, 1)
        local examples = cjson.decode(redis.call('HGET', KEYS[2], group) or '[]')
        if #examples < maxExamples then
          examples[#examples + 1] = id
          redis.call('HSET', KEYS[2], group, cjson.encode(examples))
        end
      end
    end
    return 0
    """#)

    /// ARGV: ids run again. Uncounts each from its group (dropping a group at zero).
    static let forget = RedisScript(name: "forget failures", source: #"""
    for i = 1, #ARGV do
      local group = redis.call('HGET', KEYS[3], ARGV[i])
      if group then
        redis.call('HDEL', KEYS[3], ARGV[i])
        redis.call('ZREM', KEYS[4], ARGV[i])
        local kept = {}
        if redis.call('HINCRBY', KEYS[1], group, -1) > 0 then
          for _, id in ipairs(cjson.decode(redis.call('HGET', KEYS[2], group) or '[]')) do
            if id ~= ARGV[i] then kept[#kept + 1] = id end
          end
        else
          redis.call('HDEL', KEYS[1], group)
        end
        if #kept > 0 then redis.call('HSET', KEYS[2], group, cjson.encode(kept)) else redis.call('HDEL', KEYS[2], group) end
      end
    end
    return 0
    """#)
}
