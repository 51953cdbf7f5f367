/// A value that can be sent as one argument of a Redis command, byte for byte.
public protocol RedisArgument {
    func appendRedisBytes(to buffer: inout [UInt8])
}

extension String: RedisArgument {
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Substring: RedisArgument {
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}

extension Array: RedisArgument where Element == UInt8 {
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
}

extension Int: RedisArgument {
    public func appendRedisBytes(to buffer: inout [UInt8]) { String(self).appendRedisBytes(to: &buffer) }
}

extension Int64: RedisArgument {
    public func appendRedisBytes(to buffer: inout [UInt8]) { String(self).appendRedisBytes(to: &buffer) }
}

extension Double: RedisArgument {
    /// The shortest text that reads back as the same number (Lua's `tonumber` reads it).
    public func appendRedisBytes(to buffer: inout [UInt8]) { description.appendRedisBytes(to: &buffer) }
}

/// A command's arguments laid out in one buffer, with the pointers and lengths
/// `redisCommandArgv` and `redisAppendCommandArgv` take.
struct EncodedCommand {
    private var bytes: [UInt8] = []
    private var ends: [Int] = []

    init(_ arguments: [any RedisArgument]) {
        for argument in arguments {
            argument.appendRedisBytes(to: &bytes)
            ends.append(bytes.count)
        }
        bytes.append(0)  // never an empty buffer, so there is always a base address
    }

    /// The command's name, for error messages.
    var name: String {
        String(decoding: bytes[..<(ends.first ?? 0)], as: UTF8.self).uppercased()
    }

    func withArgv<T>(_ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> T) -> T {
        bytes.withUnsafeBufferPointer { buffer in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var starts: [UnsafePointer<CChar>?] = []
            var lengths: [Int] = []
            var start = 0
            for end in ends {
                starts.append(base + start)
                lengths.append(end - start)
                start = end
            }
            return starts.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { argvlen in
                    body(Int32(ends.count), argv.baseAddress!, argvlen.baseAddress!)
                }
            }
        }
    }
}
