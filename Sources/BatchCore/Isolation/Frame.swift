import Glibc

/// The protocol between the engine and a worker process, over a socketpair;
/// docs/worker-protocol.md is its definition, shared with the Python worker
/// (bindings/python/src/batchcore/_frames.py).
///
/// Every message is one frame: a 4-byte length (of what follows), a 1-byte
/// kind, then the kind's fields. Integers are in host byte order — both
/// ends run on one machine — strings and byte strings carry a 4-byte length,
/// optional values a 1-byte presence flag.
///
///     engine                         worker
///     start ───────────────────────▶ loads the processor, runs prepare() if the
///                                    start carries no shared bytes, then create()
///           ◀─────────────────────── ready(prices?, prepared?) | refused(message)
///     process(doc) ────────────────▶
///           ◀─────────────────────── log(level, message)…, result
///     estimate(doc) ───────────────▶
///           ◀─────────────────────── estimated
///     (closes its end)             ─▶ runs destroy(), exits 0
///
/// A worker dying of a fatal signal first writes `dying` (see
/// `bc_shim_install_crash_report`, which builds that frame in C).
enum FrameKind: UInt8 {
    case start = 1
    case process = 2
    case estimate = 3
    case ready = 10
    case refused = 11
    case log = 12
    case result = 13
    case estimated = 14
    case dying = 15
}

/// Frames larger than this are refused: a corrupt length must not make the
/// reader allocate gigabytes.
let maxFrameBytes = 1 << 31 - 1

/// Builds one frame.
struct FrameWriter {
    private(set) var bytes: [UInt8]

    init(_ kind: FrameKind) {
        bytes = [0, 0, 0, 0, kind.rawValue]
    }

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }
    mutating func u32(_ value: UInt32) { withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) } }
    mutating func i32(_ value: Int32) { u32(UInt32(bitPattern: value)) }
    mutating func u64(_ value: UInt64) { withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) } }

    mutating func data<Bytes: Collection<UInt8>>(_ value: Bytes) {
        u32(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    mutating func string(_ value: String) { data(Array(value.utf8)) }

    mutating func optional<T>(_ value: T?, _ write: (inout FrameWriter, T) -> Void) {
        bool(value != nil)
        if let value { write(&self, value) }
    }

    /// The finished frame, its length filled in.
    var frame: [UInt8] {
        var out = bytes
        let length = UInt32(out.count - 4)
        withUnsafeBytes(of: length) { for k in 0..<4 { out[k] = $0[k] } }
        return out
    }
}

/// A frame that does not hold what its kind promises.
struct MalformedFrame: Error {}

/// Reads the fields of one frame (without its length and kind).
struct FrameReader {
    let kind: FrameKind
    private let bytes: [UInt8]
    private var offset = 0

    init(kind: FrameKind, payload: [UInt8]) {
        self.kind = kind
        self.bytes = payload
    }

    private mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count - offset >= count else { throw MalformedFrame() }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    private mutating func fixed<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let slice = try take(MemoryLayout<T>.size)
        var value: T = 0
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: slice) }
        return value
    }

    mutating func u8() throws -> UInt8 { try fixed(UInt8.self) }
    mutating func bool() throws -> Bool { try u8() != 0 }
    mutating func u32() throws -> UInt32 { try fixed(UInt32.self) }
    mutating func i32() throws -> Int32 { try fixed(Int32.self) }
    mutating func u64() throws -> UInt64 { try fixed(UInt64.self) }
    mutating func data() throws -> [UInt8] { Array(try take(Int(try u32()))) }
    mutating func string() throws -> String { String(decoding: try data(), as: UTF8.self) }

    mutating func optional<T>(_ read: (inout FrameReader) throws -> T) throws -> T? {
        try bool() ? try read(&self) : nil
    }
}

/// Splits a stream of bytes into frames.
struct FrameBuffer {
    private var pending: [UInt8] = []
    private var start = 0

    mutating func append(_ chunk: UnsafeRawBufferPointer) { pending.append(contentsOf: chunk) }

    /// The next whole frame, or nil when more bytes are needed.
    mutating func next() throws -> FrameReader? {
        guard pending.count - start >= 5 else { return nil }
        var length: UInt32 = 0
        withUnsafeMutableBytes(of: &length) { $0.copyBytes(from: pending[start..<start + 4]) }
        guard length >= 1, Int(length) <= maxFrameBytes else { throw MalformedFrame() }
        guard pending.count - start >= 4 + Int(length) else { return nil }
        guard let kind = FrameKind(rawValue: pending[start + 4]) else { throw MalformedFrame() }
        let payload = Array(pending[start + 5..<start + 4 + Int(length)])
        start += 4 + Int(length)
        if start == pending.count {
            pending.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 1 << 20 {
            pending.removeFirst(start)
            start = 0
        }
        return FrameReader(kind: kind, payload: payload)
    }
}

// MARK: - Messages

/// What a worker loads: a plugin or declared processor file (batchcore-worker),
/// or a Python function named `module:qualname` (python -m batchcore.worker).
enum WorkerKind: String {
    case plugin, declared, python
}

/// What a worker needs to start a stage: the processor's file and the
/// stage's options.
struct StartRequest {
    var kind: WorkerKind
    var path: String
    var label: String
    var options: [String: String]
    /// RLIMIT_AS for the worker; 0 for none.
    var memoryLimit: UInt64
    /// What the plugin's prepare() handed over in the engine; nil when it
    /// has none (the worker then runs no prepare() either).
    var shared: [UInt8]? = nil

    func encode() -> [UInt8] {
        var w = FrameWriter(.start)
        w.string(kind.rawValue)
        w.string(path)
        w.string(label)
        w.u32(UInt32(options.count))
        for (key, value) in options.sorted(by: { $0.key < $1.key }) {
            w.string(key)
            w.string(value)
        }
        w.u64(memoryLimit)
        w.optional(shared) { w, bytes in w.data(bytes) }
        return w.frame
    }

    init(kind: WorkerKind, path: String, label: String, options: [String: String], memoryLimit: UInt64) {
        self.kind = kind
        self.path = path
        self.label = label
        self.options = options
        self.memoryLimit = memoryLimit
    }

    init(_ r: inout FrameReader) throws {
        guard let kind = WorkerKind(rawValue: try r.string()) else { throw MalformedFrame() }
        self.kind = kind
        path = try r.string()
        label = try r.string()
        var options: [String: String] = [:]
        for _ in 0..<(try r.u32()) {
            let key = try r.string()
            options[key] = try r.string()
        }
        self.options = options
        memoryLimit = try r.u64()
        shared = try r.optional { try $0.data() }
    }
}

/// The worker's answer to `start`: the list price its create() gave, and
/// the bytes its prepare() made when the start carried none.
struct ReadyReport {
    var prices: TokenPrices?
    var prepared: [UInt8]?

    func encode() -> [UInt8] {
        var w = FrameWriter(.ready)
        w.optional(prices) { w, p in
            w.u64(p.input.bitPattern)
            w.u64(p.output.bitPattern)
        }
        w.optional(prepared) { w, bytes in w.data(bytes) }
        return w.frame
    }

    init(prices: TokenPrices?, prepared: [UInt8]?) {
        self.prices = prices
        self.prepared = prepared
    }

    init(_ r: inout FrameReader) throws {
        prices = try r.optional { TokenPrices(input: Double(bitPattern: try $0.u64()), output: Double(bitPattern: try $0.u64())) }
        prepared = try r.optional { try $0.data() }
    }
}

/// A document for `process` and `estimate` frames.
enum DocumentFrame {
    static func encode(_ kind: FrameKind, _ doc: DocumentInput) -> [UInt8] {
        var w = FrameWriter(kind)
        w.string(doc.document.id)
        w.optional(doc.document.path) { $0.string($1) }
        w.string(doc.document.metadata)
        w.u32(UInt32(doc.stage))
        w.u32(UInt32(doc.attempt))
        w.optional(doc.input) { $0.data($1) }
        w.optional(doc.document.content) { $0.data($1) }
        return w.frame
    }

    static func decode(_ r: inout FrameReader) throws -> DocumentInput {
        let id = try r.string()
        let path = try r.optional { try $0.string() }
        let metadata = try r.string()
        let stage = Int(try r.u32())
        let attempt = Int(try r.u32())
        let input = try r.optional { try $0.data() }
        let content = try r.optional { try $0.data() }
        return DocumentInput(document: Document(id: id, path: path, metadata: metadata, content: content),
                             stage: stage, attempt: attempt, input: input)
    }
}

/// Everything a `CallContext` collected in the worker, and the outcome.
enum ResultFrame {
    static func encode(_ outcome: Outcome, _ call: CallContext) -> [UInt8] {
        var w = FrameWriter(.result)
        w.i32(outcome.rawValue)
        w.optional(call.output) { $0.data($1) }
        w.bool(call.outputIsJSON)
        w.optional(call.error) { $0.string($1) }
        w.u64(call.inputTokens)
        w.u64(call.outputTokens)
        w.u64(call.units)
        w.optional(call.retryAfterMs) { $0.u64($1) }
        return w.frame
    }

    /// Copies the worker's report into the engine's `call`.
    static func decode(_ r: inout FrameReader, into call: CallContext) throws -> Outcome {
        guard let outcome = Outcome(rawValue: try r.i32()) else { throw MalformedFrame() }
        call.output = try r.optional { try $0.data() }
        call.outputIsJSON = try r.bool()
        call.error = try r.optional { try $0.string() }
        call.addUsage(input: try r.u64(), output: try r.u64())
        call.addUnits(try r.u64())
        call.retryAfterMs = try r.optional { try $0.u64() }
        return outcome
    }
}

/// What the worker's crash handler says before it dies.
struct DyingReport {
    var signal: Int32
    var errno: Int32
    var addressSpace: UInt64

    init(_ r: inout FrameReader) throws {
        signal = try r.i32()
        errno = try r.i32()
        addressSpace = try r.u64()
    }
}
