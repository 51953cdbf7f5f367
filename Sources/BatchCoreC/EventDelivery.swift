import BatchCore
import CBatchCore

/// Turns engine events into bc_event structs for a C callback.
final class EventDelivery: @unchecked Sendable {
    // @unchecked: constants; the callback and its user_data are the host's, called from the one event thread.
    private let callback: bc_event_fn
    private let userData: UnsafeMutableRawPointer?

    init(callback: bc_event_fn, userData: UnsafeMutableRawPointer?) {
        self.callback = callback
        self.userData = userData
    }

    func deliver(_ event: BatchEvent) {
        switch event {
        case .documentFinished(let result, let stats):
            send(.init(BC_EVENT_DOC_FINISHED.rawValue), stats, document: result.document,
                 status: UInt32(result.status.rawValue), attempts: UInt32(result.attempts),
                 error: result.error, duration: result.durationMs)
        case .progress(let stats):
            send(.init(BC_EVENT_PROGRESS.rawValue), stats)
        case .log(let level, let message, let document, let stats):
            send(.init(BC_EVENT_LOG.rawValue), stats, document: document, level: level.rawValue, message: message)
        case .finished(let stats):
            send(.init(BC_EVENT_FINISHED.rawValue), stats)
        case .notice:
            break  // for logs of the CLI; C hosts see retries in the stats
        }
    }

    private func send(_ type: UInt32, _ stats: BatchStats, document: Document? = nil, status: UInt32 = 0,
                      attempts: UInt32 = 0, error: String? = nil, duration: Double = 0,
                      level: Int32 = 0, message: String? = nil) {
        var cstats = bc_stats(stats)
        withCStrings(document?.id, document?.path, error, message) { id, path, error, message in
            withUnsafePointer(to: &cstats) { statsPointer in
                var event = bc_event(
                    struct_size: UInt32(MemoryLayout<bc_event>.size), type: type, stats: statsPointer,
                    doc_id: id, doc_path: path, status: status, attempts: attempts, error: error,
                    duration_ms: duration, log_level: level, message: message)
                callback(&event, userData)
            }
        }
    }
}

/// Four optional strings as C strings, valid during `body`.
func withCStrings<R>(_ a: String?, _ b: String?, _ c: String?, _ d: String?,
                     _ body: (UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> R) -> R {
    func with(_ s: String?, _ inner: (UnsafePointer<CChar>?) -> R) -> R {
        guard let s else { return inner(nil) }
        return FileNameBytes.withCString(s) { inner($0) }  // a file name's exact bytes
    }
    return with(a) { a in with(b) { b in with(c) { c in with(d) { d in body(a, b, c, d) } } } }
}
