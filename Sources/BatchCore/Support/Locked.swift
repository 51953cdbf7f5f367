import Glibc

/// A value behind a pthread mutex. Preferred over Synchronization's `Mutex`
/// because ThreadSanitizer understands pthread locks, not raw futexes.
public final class Locked<Value>: @unchecked Sendable {  // unchecked: the value is only reached under the mutex
    private var value: Value
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    public init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    @inline(__always)
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
