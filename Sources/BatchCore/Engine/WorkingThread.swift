import Glibc

/// Which run the calling thread is processing a document for, if any.
/// Waiting for that batch from inside its own processor call would wait for
/// the call itself: the batch refuses instead (BC_ESTATE).
enum WorkingThread {
    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Runs `body` marked as working for `batch`.
    static func working<R>(for batch: AnyObject, _ body: () -> R) -> R {
        let previous = pthread_getspecific(key)
        pthread_setspecific(key, Unmanaged.passUnretained(batch).toOpaque())
        defer { pthread_setspecific(key, previous) }
        return body()
    }

    static func isWorking(for batch: AnyObject) -> Bool {
        pthread_getspecific(key) == Unmanaged.passUnretained(batch).toOpaque()
    }
}
