import CBatchCore
import Glibc
import Synchronization

/// Started calls waiting for a host's event loop (bc_call_queue). Engine
/// threads push a call and a copy of its document; the loop's thread takes
/// them in batches, so no engine thread ever enters the host's runtime.
/// The eventfd is readable exactly while calls wait: a push that makes the
/// queue non-empty raises it, a take that empties it lowers it.
final class CallQueue: Sendable {
    let fd: Int32
    private let state = Mutex(State())

    private struct State: ~Copyable {
        var waiting: [QueuedCall] = []
        /// The last take's documents, kept until the next take.
        var handedOut: [QueuedCall] = []
    }

    init?() {
        fd = bc_shim_eventfd()
        guard fd >= 0 else { return nil }
    }

    deinit {
        state.withLock { state in
            for queued in state.waiting + state.handedOut { queued.free() }
        }
        close(fd)
    }

    func push(_ call: OpaquePointer, _ doc: UnsafePointer<bc_doc>) {
        let queued = QueuedCall(call: call, doc: DocumentCopy.make(doc))
        state.withLock { state in
            state.waiting.append(queued)
            if state.waiting.count == 1 { signal() }
        }
    }

    /// Moves up to `max` waiting calls out; frees the documents of the take before.
    func take(_ max: Int, into calls: UnsafeMutablePointer<OpaquePointer?>,
              docs: UnsafeMutablePointer<UnsafePointer<bc_doc>?>?) -> Int {
        state.withLock { state in
            for queued in state.handedOut { queued.free() }
            let count = min(max, state.waiting.count)
            if count == state.waiting.count {
                state.handedOut = state.waiting
                state.waiting = []
                if count > 0 { unsignal() }
            } else {
                state.handedOut = Array(state.waiting[..<count])
                state.waiting.removeFirst(count)
            }
            for (i, queued) in state.handedOut.enumerated() {
                calls[i] = queued.call
                docs?[i] = UnsafePointer(queued.doc)
            }
            return count
        }
    }

    private func signal() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    private func unsignal() {
        var value: UInt64 = 0
        _ = read(fd, &value, 8)
    }
}

/// A waiting call and its document's copy (one allocation, see DocumentCopy).
struct QueuedCall: @unchecked Sendable {
    let call: OpaquePointer
    let doc: UnsafeMutablePointer<bc_doc>

    func free() { Glibc.free(doc) }
}

/// A bc_doc copied into one allocation: the struct, then its strings and
/// bytes, so it outlives the process() call that received the original.
enum DocumentCopy {
    static func make(_ doc: UnsafePointer<bc_doc>) -> UnsafeMutablePointer<bc_doc> {
        let source = doc.pointee
        let hasContent = Int(source.struct_size) >= MemoryLayout<bc_doc>.size && source.content != nil
        let parts: [(UnsafeRawPointer?, Int)] = [
            (UnsafeRawPointer(source.id), source.id.map { strlen($0) + 1 } ?? 0),
            (UnsafeRawPointer(source.path), source.path.map { strlen($0) + 1 } ?? 0),
            (UnsafeRawPointer(source.metadata_json), source.metadata_json.map { strlen($0) + 1 } ?? 0),
            (UnsafeRawPointer(source.input), source.input == nil ? 0 : source.input_len),
            (UnsafeRawPointer(hasContent ? source.content : nil), hasContent ? source.content_len : 0),
        ]
        let header = MemoryLayout<bc_doc>.stride
        let block = malloc(header + parts.reduce(0) { $0 + $1.1 })!
        var cursor = block + header
        var copied: [UnsafeRawPointer?] = []
        for (bytes, length) in parts {
            guard let bytes else { copied.append(nil); continue }
            memcpy(cursor, bytes, length)
            copied.append(UnsafeRawPointer(cursor))
            cursor += length
        }
        let copy = block.bindMemory(to: bc_doc.self, capacity: 1)
        copy.initialize(to: bc_doc(
            struct_size: UInt32(MemoryLayout<bc_doc>.size), stage: source.stage, attempt: source.attempt, reserved: 0,
            id: copied[0]?.assumingMemoryBound(to: CChar.self),
            path: copied[1]?.assumingMemoryBound(to: CChar.self),
            metadata_json: copied[2]?.assumingMemoryBound(to: CChar.self),
            input: copied[3]?.assumingMemoryBound(to: UInt8.self), input_len: source.input == nil ? 0 : source.input_len,
            content: copied[4]?.assumingMemoryBound(to: UInt8.self), content_len: hasContent ? source.content_len : 0))
        return copy
    }
}
