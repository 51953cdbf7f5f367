import BatchCore
import Glibc

/// Turns SIGINT and SIGTERM into calls on a thread of its own (signal
/// handlers may not run Swift code). Create it before the engine starts any
/// thread: the signals are blocked in every thread started afterwards and
/// only this one takes them. Children of the exec processor get a clean mask.
enum SignalWatcher {
    static func start(_ onSignal: @escaping @Sendable (Int) -> Void) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let signals = set
        startThread(name: "bc-signals") {
            var count = 0
            while true {
                var set = signals
                var signal: Int32 = 0
                guard sigwait(&set, &signal) == 0 else { continue }
                count += 1
                onSignal(count)
            }
        }
    }
}
